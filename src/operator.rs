//! The operator's one-shot commands that need no runtime: `check-config`, `backup` and
//! `healthcheck`. Each prints what it found for a person (or a container runtime) and returns
//! the exit status.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::{JwtAlg, Settings};
use crate::security::encryption::Keyring;
use crate::store;

/// The exit status of a configuration problem, as the server's own start uses.
const BAD_CONFIG: u8 = 2;

/// `check-config`: the settings read cleanly (the caller printed every problem otherwise); this
/// adds the checks the server makes when it starts, short of connecting to anything, and
/// summarises what the server would run with. Writes nothing but a probe file it removes.
pub fn check_config(settings: &Settings) -> ExitCode {
    let problems = start_problems(settings);
    for problem in &problems {
        eprintln!("error: invalid configuration: {problem}");
    }
    if !problems.is_empty() {
        return ExitCode::from(BAD_CONFIG);
    }
    for (what, value) in summary(settings) {
        println!("{what:<10} {value}");
    }
    println!("configuration OK");
    ExitCode::SUCCESS
}

/// What `Application::build` would refuse beyond the variables' own checks.
fn start_problems(settings: &Settings) -> Vec<String> {
    let mut problems = Vec::new();
    // With a configured key this only decodes; without one, development would make a key file,
    // which a check must not do.
    if (settings.encryption.key.is_some() || !settings.encryption.previous.is_empty())
        && let Err(e) = Keyring::from_settings(settings)
    {
        problems.push(format!("{e:#}"));
    }
    if settings.store.mongo_url.is_none()
        && let Err(e) = writable_store(&store::sqlite_path(settings))
    {
        problems.push(format!(
            "DATA_DIR: {} is not usable for the embedded store: {e}",
            settings.store.data_dir.display()
        ));
    }
    problems
}

/// Whether the embedded store's file `db` could be opened and written (its directory made if
/// missing).
fn writable_store(db: &Path) -> std::io::Result<()> {
    if db.exists() {
        return std::fs::OpenOptions::new().write(true).open(db).map(drop);
    }
    let dir = db.parent().unwrap_or(Path::new("."));
    // A relative path's last ancestor is "", which stands for the working directory.
    let existing = dir
        .ancestors()
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .find(|d| d.exists())
        .unwrap_or(dir);
    let probe = existing.join(".authkit-check-config");
    std::fs::File::create(&probe)?;
    std::fs::remove_file(&probe)
}

fn summary(settings: &Settings) -> Vec<(&'static str, String)> {
    let environment = if settings.is_production() {
        "production"
    } else {
        "development"
    };
    let store = match &settings.store.mongo_url {
        Some(_) => format!("MongoDB, database {}", settings.store.mongodb_name),
        None => format!(
            "embedded SQLite at {}",
            store::sqlite_path(settings).display()
        ),
    };
    let tokens = match settings.signing.alg {
        JwtAlg::Hs256 if settings.tokens.secret_key.is_none() => {
            "HS256 under a key generated in DATA_DIR (development)".to_string()
        }
        JwtAlg::Hs256 => "HS256 under SECRET_KEY".to_string(),
        JwtAlg::EdDsa => "EdDSA, keys sealed under ENCRYPTION_KEY".to_string(),
    };
    let mail = match &settings.mail.smtp_url {
        Some(_) => format!("SMTP, from {}", settings.mail.from),
        None => "written to the log (SMTP_URL unset)".to_string(),
    };
    let providers: Vec<&str> = settings
        .oauth
        .providers
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    vec![
        ("mode", environment.to_string()),
        (
            "listen",
            SocketAddr::new(settings.server.host, settings.server.port).to_string(),
        ),
        ("public", settings.mail.public_url.clone()),
        ("store", store),
        ("tokens", tokens),
        ("mail", mail),
        (
            "providers",
            if providers.is_empty() {
                "none".to_string()
            } else {
                providers.join(", ")
            },
        ),
        ("passkeys", format!("RP id {}", settings.passkeys.rp_id)),
    ]
}

/// `backup FILE`: a consistent copy of the embedded store (see [`store::sqlite::backup`]).
pub fn backup(settings: &Settings, file: &Path) -> ExitCode {
    if settings.store.mongo_url.is_some() {
        eprintln!(
            "error: MONGO_URL is set, so the data is in MongoDB: back it up with mongodump \
             (or your provider's snapshots); this command copies the embedded store"
        );
        return ExitCode::from(BAD_CONFIG);
    }
    let source = store::sqlite_path(settings);
    match store::sqlite::backup(&source, file) {
        Ok(bytes) => {
            println!(
                "Backed up {} to {} ({bytes} bytes). To restore: stop the server, put the file \
                 in place as DATA_DIR/authkit.db (removing authkit.db-wal and authkit.db-shm), \
                 start it with the same SECRET_KEY and ENCRYPTION_KEY.",
                source.display(),
                file.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: backup failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `healthcheck`: a minimal HTTP/1.1 GET of /health on the local port, with a short timeout,
/// so the runtime image needs no curl.
pub fn healthcheck(settings: &Settings) -> ExitCode {
    let host = if settings.server.host.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        settings.server.host
    };
    let addr = SocketAddr::new(host, settings.server.port);
    let timeout = Duration::from_secs(3);
    let check = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.1 200"))
    };
    match check() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("unhealthy: /health did not answer 200");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("unhealthy: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}
