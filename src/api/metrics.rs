//! `/metrics` in the Prometheus text format. Guarded by METRICS_TOKEN when set; without a token
//! it is served only to loopback clients in development and switched off (404) in production, so
//! it never leaks by default. (Its counters move with what requests do: the store and mail
//! counters after a forgot-password request tell a known address from an unknown one, so an open
//! `/metrics` would undo the forgot route's equal answers.)

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::api::extract::ClientIp;
use crate::context::AppContext;
use crate::error::{AppError, ErrorBody};

/// Prometheus metrics: requests and latency by route and status, login outcomes, rate-limit
/// rejections, store operations and errors, MongoDB commands.
#[utoipa::path(get, path = "/metrics", tag = "health",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "METRICS_TOKEN is set and the Bearer token does not match", body = ErrorBody),
        (status = 403, description = "Development without METRICS_TOKEN, and the client is not on the loopback", body = ErrorBody),
        (status = 404, description = "Disabled: production without METRICS_TOKEN", body = ErrorBody),
    ))]
pub async fn metrics(
    State(ctx): State<AppContext>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
) -> Response {
    match &ctx.settings.server.metrics_token {
        Some(expected) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            if !constant_time_eq(given.as_bytes(), expected.expose().as_bytes()) {
                return AppError::Unauthorized("Invalid metrics token".into()).into_response();
            }
        }
        None if ctx.settings.is_production() => {
            return AppError::NotFound("Not found".into()).into_response();
        }
        None if !client.is_loopback() => {
            return AppError::Forbidden(
                "Metrics are served to loopback clients only; set METRICS_TOKEN to read them \
                 from elsewhere"
                    .into(),
            )
            .into_response();
        }
        None => {}
    }
    let body = ctx.metrics.render(&ctx.store.command_counts());
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Compares without an early exit, so timing does not reveal how much of the token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
