//! One log line per request (method, path, status, latency, client IP, request id), the request
//! id itself (accepted from `X-Request-Id` when sane, else generated, and always returned), the
//! resolved client IP for handlers.
//!
//! Why not tower-http's `SetRequestIdLayer` + `PropagateRequestIdLayer` + `TraceLayer`: a client's
//! id is kept only when it is short and plain (it lands in log lines, which it must not be able to
//! forge), which those layers do not check; and one middleware doing all three keeps one pass
//! over the request instead of three layers (docs/PERFORMANCE.md: merging the layers into one
//! stack took /health from 155 to 57 allocations per request).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::api::extract::ClientIp;
use crate::context::AppContext;
use crate::security::client_ip;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A client-supplied id is kept only if it is short and plain, so it cannot forge log lines.
fn sane_request_id(value: &HeaderValue) -> Option<&str> {
    let id = value.to_str().ok()?;
    (!id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')))
    .then_some(id)
}

pub async fn log_request(State(ctx): State<AppContext>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(sane_request_id)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let ip =
        peer.map(|p| client_ip::resolve(p, req.headers(), &ctx.settings.server.trusted_proxies));
    if let Some(ip) = ip {
        req.extensions_mut().insert(ClientIp(ip));
    }
    let header_value = HeaderValue::from_str(&request_id).expect("request id is plain ASCII");
    req.headers_mut()
        .insert(REQUEST_ID_HEADER, header_value.clone());

    let method = req.method().clone();
    // A cheap clone: `Uri` shares its bytes.
    let uri = req.uri().clone();
    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = next.run(req).instrument(span).await;
    response
        .headers_mut()
        .insert(REQUEST_ID_HEADER, header_value);

    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    ctx.metrics.request(&method, route, status, elapsed);
    let latency_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
    let client_ip = LoggedIp(ip);
    let path = uri.path();
    if status >= 500 {
        tracing::warn!(target: "http", %method, %path, status, latency_ms, %client_ip, %request_id, "request");
    } else {
        tracing::info!(target: "http", %method, %path, status, latency_ms, %client_ip, %request_id, "request");
    }
    response
}

/// The client IP in a log line, empty when unknown; formatted only when the line is written.
struct LoggedIp(Option<IpAddr>);

impl fmt::Display for LoggedIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => Ok(()),
        }
    }
}

/// Copies the matched route template onto the response (a layer inside the router): the logging
/// layer runs outside the router, where the request's `MatchedPath` is not yet known. A
/// `MatchedPath` is a shared string, so the copy allocates nothing.
pub async fn remember_route(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(req).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// API answers can carry tokens or personal data: no cache may keep them.
pub async fn no_store_on_api(req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let mut response = next.run(req).await;
    if is_api {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
