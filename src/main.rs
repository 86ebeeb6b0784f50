//! The `authkit` binary: `serve` (the default) runs the API; the operator's commands
//! (`create-admin`, `rotate-keys`, `backup`, `check-config`, `healthcheck`) do one thing and
//! exit. All read the same configuration.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use authkit::service::accounts::{self, AdminOutcome};
use authkit::service::signing_keys;
use authkit::{Application, Settings, app, operator, telemetry};

#[derive(Parser)]
#[command(name = "authkit", version, about = "Auth-and-accounts API server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Create a SUPER_ADMIN account, or promote an existing account with this email or username.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        /// Read the password from standard input (first line) instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Rotate the Ed25519 signing keys (JWT_ALG=EdDSA): the published next key starts signing,
    /// the active one retires, a new next key is published. Running servers pick it up within
    /// a minute.
    RotateKeys {
        /// For a key that leaked: withdraw every published key now and sign with a fresh one.
        /// Every access token issued before is refused (clients refresh on their next 401).
        #[arg(long)]
        revoke_now: bool,
    },
    /// Copy the embedded (SQLite) store to FILE while servers keep running: one consistent
    /// snapshot, every write acknowledged before it began included. FILE must not exist.
    Backup { file: PathBuf },
    /// Read the configuration as the server would and report every problem, not only the
    /// first; exit status 2 when there is any. Nothing is started or written.
    CheckConfig,
    /// Exit 0 if the server on this machine answers GET /health with 200 (for container
    /// HEALTHCHECKs, so the runtime image needs no curl).
    Healthcheck,
}

fn main() -> ExitCode {
    // First thing, before any other thread exists (see the module).
    authkit::malloc_tuning::apply();
    authkit::files::restrict_umask();
    let cli = Cli::parse();
    let settings = match Settings::check_env() {
        Ok(s) => s,
        Err(problems) => {
            for problem in &problems {
                eprintln!("error: {problem}");
            }
            return ExitCode::from(2);
        }
    };
    match &cli.command {
        Some(Command::Healthcheck) => return operator::healthcheck(&settings),
        Some(Command::CheckConfig) => return operator::check_config(&settings),
        Some(Command::Backup { file }) => return operator::backup(&settings, file),
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.server.workers)
        // The blocking pool runs SQLite writes (one writer at a time) and slow reads; hundreds of
        // threads queued on one mutex would only cost memory.
        .max_blocking_threads(8)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(settings)),
        Command::CreateAdmin {
            email,
            username,
            password_stdin,
        } => runtime.block_on(create_admin(settings, email, username, password_stdin)),
        Command::RotateKeys { revoke_now } => runtime.block_on(rotate_keys(settings, revoke_now)),
        Command::Healthcheck | Command::CheckConfig | Command::Backup { .. } => {
            unreachable!("handled before the runtime starts")
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let _log_guard = telemetry::init(&settings)?;
    tracing::info!(?settings, "starting");
    let application = Application::build(settings).await?;
    tracing::info!(
        address = %application.local_addr(),
        store = application.context().store.backend(),
        "listening (store: {})",
        application.context().store.backend()
    );
    application.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

async fn create_admin(
    settings: Settings,
    email: String,
    username: String,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let password = read_password(password_stdin)?;
    let ctx = app::context(settings).await?;
    let outcome = accounts::create_or_promote_admin(&ctx, &email, &username, password).await;
    ctx.store.shutdown().await;
    let outcome = outcome.map_err(|e| anyhow::anyhow!(describe_error(e)))?;
    match outcome {
        AdminOutcome::Created(u) => println!(
            "Created SUPER_ADMIN {} <{}> (id {}) in the {} store.",
            u.username,
            u.email,
            u.id,
            ctx.store.backend()
        ),
        AdminOutcome::Promoted(u) => println!(
            "Promoted {} <{}> (id {}) to SUPER_ADMIN.",
            u.username, u.email, u.id
        ),
        AdminOutcome::AlreadyAdmin(u) => println!(
            "{} <{}> is already an active SUPER_ADMIN; nothing to do.",
            u.username, u.email
        ),
    }
    Ok(())
}

async fn rotate_keys(settings: Settings, revoke_now: bool) -> anyhow::Result<()> {
    let ctx = app::context(settings).await?;
    if revoke_now {
        let revocation = signing_keys::revoke_now(&ctx, None).await;
        ctx.store.shutdown().await;
        let revocation = revocation.map_err(|e| anyhow::anyhow!(describe_error(e)))?;
        let withdrawn = if revocation.withdrawn_kids.is_empty() {
            "No signing key was published, so none was revoked".to_string()
        } else {
            format!(
                "Revoked the signing keys {}",
                revocation.withdrawn_kids.join(", ")
            )
        };
        println!(
            "{withdrawn}: {} signs from now on; {} is published as the next key.\n\
             {} Running servers refuse the revoked keys within {} s.",
            revocation.active_kid,
            revocation.next_kid,
            revocation.effect,
            revocation.other_instances_within_seconds,
        );
        return Ok(());
    }
    let rotation = signing_keys::rotate(&ctx, None).await;
    ctx.store.shutdown().await;
    let rotation = rotation.map_err(|e| anyhow::anyhow!(describe_error(e)))?;
    println!(
        "Rotated the signing keys: {} signs from now on; {} is published as the next key.",
        rotation.active_kid, rotation.next_kid
    );
    Ok(())
}

fn describe_error(e: authkit::error::AppError) -> String {
    match e {
        authkit::error::AppError::Validation(problems) => problems
            .iter()
            .map(|p| format!("{}: {}", p.loc.last().map_or("", String::as_str), p.msg))
            .collect::<Vec<_>>()
            .join("; "),
        authkit::error::AppError::Unavailable(cause) => format!("database unavailable: {cause}"),
        authkit::error::AppError::Internal(cause) => cause,
        other => other.to_string(),
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        anyhow::ensure!(!password.is_empty(), "no password on standard input");
        return Ok(password);
    }
    let password = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Repeat password: ")?;
    anyhow::ensure!(password == again, "the passwords differ");
    Ok(password)
}
