//! Bounds on the work one server takes on: a per-request timeout, a body size and a cap on
//! requests in flight. Over the cap, requests are shed at once with 503 rather than queued
//! without bound, so an overloaded instance answers quickly and a load balancer can send the work
//! elsewhere.
//!
//! Why these are written here rather than taken from tower (`TimeoutLayer`, `LoadShedLayer` over
//! `ConcurrencyLimitLayer`), which the project already depends on: tower's answer a timeout or a
//! shed request with an error (or tower-http's with an empty 408), where the contract wants a
//! 503 in the JSON envelope with `Retry-After`, which needs a `HandleErrorLayer` and a boxed error
//! per request; the probes must be exempt from shedding (an overloaded instance is alive); and a
//! declared-too-large body must be read before its 413 (see `DRAIN_LIMIT`). Each is a few lines of
//! one `from_fn` middleware on the existing stack.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::Semaphore;

use crate::error::AppError;

/// The per-request bounds of [`bound_request`].
#[derive(Clone, Copy)]
pub struct RequestBounds {
    pub timeout: Duration,
    pub max_body_bytes: usize,
}

/// How much of a body declared too large is read (and thrown away) before the 413 is sent.
///
/// Answering at once and closing while the client is still sending makes the kernel reset the
/// connection, and the client often reports that reset instead of reading the 413. Reading the
/// rest first lets it read the answer. Beyond this bound the client is past reasonable and gets
/// the answer with the reset risk.
const DRAIN_LIMIT: u64 = 8 * 1024 * 1024;

/// Answers 503 in the envelope when a request runs longer than the timeout, and 413 (readably,
/// see [`DRAIN_LIMIT`]) when its declared `Content-Length` is over the body limit. A body of
/// undeclared length is cut off where it passes the limit by the body-limit layer instead.
pub async fn bound_request(
    State(bounds): State<RequestBounds>,
    req: Request,
    next: Next,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let work = async {
        match declared {
            Some(length) if length > bounds.max_body_bytes as u64 => {
                if length <= DRAIN_LIMIT {
                    drain(req.into_body()).await;
                }
                let mut response = AppError::PayloadTooLarge.into_response();
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                response
            }
            _ => next.run(req).await,
        }
    };
    match tokio::time::timeout(bounds.timeout, work).await {
        Ok(response) => response,
        Err(_) => AppError::RequestTimeout.into_response(),
    }
}

/// Reads a body to its end, keeping none of it.
async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    while let Some(Ok(_)) = stream.next().await {}
}

#[derive(Clone)]
pub struct InFlight(Arc<Semaphore>);

impl InFlight {
    pub fn new(max: usize) -> Self {
        Self(Arc::new(Semaphore::new(max)))
    }
}

/// Sheds load beyond the in-flight cap. The probes are exempt: an overloaded instance is still
/// alive, and its orchestrator should not restart it for being busy.
pub async fn shed_load(
    State(InFlight(slots)): State<InFlight>,
    req: Request,
    next: Next,
) -> Response {
    if matches!(req.uri().path(), "/health" | "/ready") {
        return next.run(req).await;
    }
    match slots.try_acquire() {
        Ok(_permit) => next.run(req).await,
        Err(_) => AppError::Busy.into_response(),
    }
}
