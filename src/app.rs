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

/// Opens the configured store and builds the shared context.
pub async fn context(settings: Settings) -> anyhow::Result<AppContext> {
    let metrics = Arc::new(Metrics::default());
    let store = store::open(&settings, metrics.clone()).await?;
    let secret = security::secret::resolve(&settings)?;
    AppContext::new(settings, store, metrics, &secret).await
}

impl Application {
    /// Opens the store and binds `HOST:PORT` (port 0 picks a free port, as tests do).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let addr = SocketAddr::new(settings.host, settings.port);
        let ctx = context(settings).await?;
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
        let sweeper = tokio::spawn(sweep_expired_sessions(self.ctx.clone()));
        let header_read_timeout = self.ctx.settings.header_read_timeout;
        let result =
            http::serve::serve(self.listener, app(self.ctx), header_read_timeout, shutdown).await;
        sweeper.abort();
        result
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
