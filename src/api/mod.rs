//! The HTTP surface: routes, extractors, envelopes and the OpenAPI document. Handlers are thin:
//! extract, call a service, wrap the answer.

pub mod console;
pub mod cookies;
pub mod csrf;
pub mod docs;
pub mod envelope;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod responses;
pub mod v1;
pub mod views;
pub mod well_known;

use axum::Router;
use axum::routing::get;

use crate::context::AppContext;
use crate::error::AppError;

/// All routes, without the cross-cutting layers (see `http::app`).
pub fn routes(ctx: AppContext) -> Router {
    let console = ctx.settings.server.admin_console.then(console::router);
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/", get(health::root))
        .route("/metrics", get(metrics::metrics))
        .merge(v1::router())
        .merge(docs::router(!ctx.settings.is_production()))
        .merge(pages::router())
        .merge(well_known::router())
        .merge(console.unwrap_or_default())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(ctx)
}

async fn not_found() -> AppError {
    AppError::NotFound("Not found".into())
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
