//! Liveness, readiness and the root document. Not enveloped, as in the template.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::extract::ClientIp;
use crate::context::AppContext;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long /ready waits for the database before answering 503.
const READY_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Serialize, ToSchema)]
pub struct HealthView {
    #[schema(example = "healthy")]
    status: &'static str,
    #[schema(example = "0.1.0")]
    version: &'static str,
    #[schema(example = "2025-12-27T19:04:57.690Z")]
    timestamp: String,
}

/// Liveness: the process answers. Never touches the database.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The process is alive", body = HealthView)))]
pub async fn health() -> Json<HealthView> {
    Json(HealthView {
        status: "healthy",
        version: VERSION,
        timestamp: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
    })
}

#[derive(Serialize, ToSchema)]
pub struct ReadyView {
    /// `ready` or `unavailable`.
    #[schema(example = "ready")]
    status: &'static str,
}

/// Readiness: the database answers a ping within 1.5 s (and, with `JWT_ALG=EdDSA`, the signing
/// keys are loaded).
#[utoipa::path(get, path = "/ready", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = ReadyView),
        (status = 503, description = "Database unreachable, or signing keys not loaded yet", body = ReadyView),
    ))]
pub async fn ready(State(ctx): State<AppContext>) -> Response {
    let keys_loaded = !ctx.tokens.uses_ed25519() || ctx.tokens.key_set().is_some();
    match tokio::time::timeout(READY_TIMEOUT, ctx.store.ping()).await {
        Ok(Ok(())) if keys_loaded => Json(ReadyView { status: "ready" }).into_response(),
        Ok(Ok(())) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ReadyView {
                status: "unavailable",
            }),
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(ReadyView {
                    status: "unavailable",
                }),
            )
                .into_response()
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(ReadyView {
                    status: "unavailable",
                }),
            )
                .into_response()
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RootView {
    message: &'static str,
    version: &'static str,
    docs: &'static str,
    health: &'static str,
    ready: &'static str,
    /// The caller's address as the server sees it (trusted proxies honoured).
    client_ip: String,
}

/// Service information and the caller's IP.
#[utoipa::path(get, path = "/", tag = "health",
    responses((status = 200, description = "Service information", body = RootView)))]
pub async fn root(ClientIp(ip): ClientIp) -> Json<RootView> {
    Json(RootView {
        message: "authkit API",
        version: VERSION,
        docs: "/docs",
        health: "/health",
        ready: "/ready",
        client_ip: ip.to_string(),
    })
}
