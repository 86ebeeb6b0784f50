//! Building and running the application: open the store, resolve the secret, bind the listener,
//! serve until a shutdown signal. `main` and the tests both go through [`Application`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::Settings;
use crate::context::AppContext;
use crate::http::{self, AppService};
use crate::metrics::Metrics;
use crate::service::signing_keys;
use crate::{api, security, store};

/// How often expired sessions are swept from stores without a TTL index.
const SESSION_SWEEP_INTERVAL: Duration = Duration::from_secs(600);

pub struct Application {
    listener: TcpListener,
    ctx: AppContext,
}

/// The complete HTTP application for a context: routes, layers and the trailing-slash rule.
pub fn app(ctx: AppContext) -> AppService {
    http::app(api::routes(ctx.clone()), &ctx)
}

/// Opens the configured store, prepared (indexes, roles), and builds the shared context. For
/// the operator commands, which need the database now: an unreachable one is an error.
pub async fn context(settings: Settings) -> anyhow::Result<AppContext> {
    let ctx = unprepared_context(settings).await?;
    ctx.store.prepare().await?;
    Ok(ctx)
}

/// With `JWT_ALG=EdDSA`, creates the signing keys if there are none and loads them, so the
/// first login can sign. A failure is retried by the key maintenance task.
async fn load_signing_keys(ctx: &AppContext) {
    if ctx.tokens.uses_ed25519()
        && ctx.store.is_prepared()
        && let Err(e) = signing_keys::refresh(ctx).await
    {
        tracing::warn!(error = %e, "signing keys not loaded yet; retrying in the background");
    }
}

async fn unprepared_context(settings: Settings) -> anyhow::Result<AppContext> {
    let metrics = Arc::new(Metrics::default());
    let store = store::open(&settings, metrics.clone()).await?;
    let secret = security::secret::resolve(&settings)?;
    AppContext::new(settings, store, metrics, &secret).await
}

/// How long to wait between attempts to prepare a database that did not answer at start.
const PREPARE_RETRY_MIN: Duration = Duration::from_millis(500);
const PREPARE_RETRY_MAX: Duration = Duration::from_secs(10);

impl Application {
    /// Opens the store and binds `HOST:PORT` (port 0 picks a free port, as tests do).
    ///
    /// A database that does not answer yet is not an error: the server starts, `/health` says it
    /// lives, `/ready` and everything that needs the database answer 503, and the store is
    /// prepared in the background as soon as the database answers. No crash loop while an
    /// operator's database and server start together.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let addr = SocketAddr::new(settings.server.host, settings.server.port);
        let ctx = unprepared_context(settings).await?;
        if let Err(e) = ctx.store.prepare().await {
            tracing::warn!(error = %e, "the database is not ready; serving /health, answering 503 until it is");
        }
        load_signing_keys(&ctx).await;
        for skipped in &ctx.settings.oauth.skipped {
            tracing::warn!(var = %skipped.var, problem = %skipped.problem, "sign-in provider left out (development; production refuses to start)");
        }
        ctx.providers
            .discover_all(ctx.settings.is_production())
            .await;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("HOST/PORT: cannot listen on {addr}: {e}"))?;
        Ok(Self { listener, ctx })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn context(&self) -> &AppContext {
        &self.ctx
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight requests finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let preparer = tokio::spawn(prepare_when_reachable(self.ctx.clone()));
        let sweeper = tokio::spawn(sweep_expired_sessions(self.ctx.clone()));
        let key_keeper = tokio::spawn(signing_keys::maintain(self.ctx.clone()));
        let (stop_mail, mail_stopped) = tokio::sync::watch::channel(false);
        let mail_worker = tokio::spawn(crate::service::outbox::run(self.ctx.clone(), mail_stopped));
        let header_read_timeout = self.ctx.settings.server.header_read_timeout;
        let result =
            http::serve::serve(self.listener, app(self.ctx), header_read_timeout, shutdown).await;
        sweeper.abort();
        preparer.abort();
        key_keeper.abort();
        // A delivery under way finishes (bounded by the SMTP timeout) and is recorded.
        let _ = stop_mail.send(true);
        let _ = mail_worker.await;
        result
    }
}

/// Retries preparing the store, with a growing pause, until it succeeds (at once if it already has).
async fn prepare_when_reachable(ctx: AppContext) {
    let mut pause = PREPARE_RETRY_MIN;
    while !ctx.store.is_prepared() {
        tokio::time::sleep(pause).await;
        match ctx.store.prepare().await {
            Ok(()) => tracing::info!("the database answers: store prepared, serving"),
            Err(e) => tracing::warn!(error = %e, "the database is still not ready"),
        }
        pause = (pause * 2).min(PREPARE_RETRY_MAX);
    }
}

async fn sweep_expired_sessions(ctx: AppContext) {
    let mut tick = tokio::time::interval(SESSION_SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        match ctx.store.delete_expired(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired sessions and counters removed"),
            Err(e) => tracing::warn!(error = %e, "expired session sweep failed"),
        }
    }
}
