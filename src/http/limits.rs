//! Bounds on the work one server takes on: a per-request timeout, a body size and its arrival
//! time, and caps on requests in flight, overall and per client address. Over the overall cap,
//! requests are shed at once with 503 rather than queued without bound, so an overloaded instance
//! answers quickly and a load balancer can send the work elsewhere. The per-client cap and the
//! body deadline keep one address from holding every slot with requests whose bodies never come
//! (a slow-body attack): it gets 429 beyond its share, and each stalled body ends with 408.
//!
//! Why these are written here rather than taken from tower (`TimeoutLayer`, `LoadShedLayer` over
//! `ConcurrencyLimitLayer`), which the project already depends on: tower's answer a timeout or a
//! shed request with an error (or tower-http's with an empty 408), where the contract wants a
//! 503 in the JSON envelope with `Retry-After`, which needs a `HandleErrorLayer` and a boxed error
//! per request; the probes must be exempt from shedding (an overloaded instance is alive); and a
//! declared-too-large body must be read before its 413 (see `DRAIN_LIMIT`). Each is a few lines of
//! one `from_fn` middleware on the existing stack.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::api::extract::{BodyDeadline, ClientIp};
use crate::error::AppError;
use crate::security::client_ip;

/// The per-request bounds of [`bound_request`].
#[derive(Clone, Copy)]
pub struct RequestBounds {
    pub timeout: Duration,
    pub max_body_bytes: usize,
    pub body_read_timeout: Duration,
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
    mut req: Request,
    next: Next,
) -> Response {
    req.extensions_mut()
        .insert(BodyDeadline(Instant::now() + bounds.body_read_timeout));
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

/// The slots of requests in flight: all of them, and each client address's share.
#[derive(Clone)]
pub struct InFlight {
    slots: Arc<Semaphore>,
    clients: Arc<ClientSlots>,
}

impl InFlight {
    pub fn new(max: usize, max_per_client: usize, ipv6_prefix: u8) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max)),
            clients: Arc::new(ClientSlots {
                max: max_per_client,
                ipv6_prefix,
                held: Mutex::new(HashMap::new()),
            }),
        }
    }
}

/// How many requests each client address has in flight. Only addresses with a request in flight
/// have an entry, so the map is as large as the concurrency, never as the number of clients.
struct ClientSlots {
    max: usize,
    ipv6_prefix: u8,
    held: Mutex<HashMap<IpAddr, usize>>,
}

impl ClientSlots {
    fn try_take(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let key = client_ip::limit_network(ip, self.ipv6_prefix);
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: Arc::clone(self),
            key,
        })
    }
}

/// One request's share of its client's slots, given back when the request ends (or is dropped).
struct ClientSlot {
    clients: Arc<ClientSlots>,
    key: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut held = self.clients.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// Refuses a client beyond its share with 429, then sheds load beyond the overall cap with 503.
/// The probes are exempt: an overloaded instance is still alive, and its orchestrator should not
/// restart it for being busy.
pub async fn shed_load(State(in_flight): State<InFlight>, req: Request, next: Next) -> Response {
    if matches!(req.uri().path(), "/health" | "/ready") {
        return next.run(req).await;
    }
    let client = req.extensions().get::<ClientIp>().map(|ClientIp(ip)| *ip);
    let _client_slot = match client.map(|ip| in_flight.clients.try_take(ip)) {
        Some(None) => {
            return AppError::TooManyRequests {
                message: "Too many requests in flight from this address".into(),
                retry_after_secs: 1,
            }
            .into_response();
        }
        Some(Some(slot)) => Some(slot),
        None => None,
    };
    match in_flight.slots.try_acquire() {
        Ok(_permit) => next.run(req).await,
        Err(_) => AppError::Busy.into_response(),
    }
}
