//! Bounds on the work one server takes on: a per-request timeout and a cap on requests in flight.
//! Over the cap, requests are shed at once with 503 rather than queued without bound, so an
//! overloaded instance answers quickly and a load balancer can send the work elsewhere.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::AppError;

/// Answers 503 in the envelope when a request runs longer than `limit`.
pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => AppError::RequestTimeout.into_response(),
    }
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
