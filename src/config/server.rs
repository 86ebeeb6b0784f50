//! Where the server listens and how it treats each request: address and threads, browsers
//! (CORS), proxies, body size, time and concurrency limits, and the optional surfaces (`/admin`,
//! `/metrics`).

use std::net::IpAddr;
use std::time::Duration;

use super::vars::Vars;
use super::{ConfigError, Secret, bad};
use crate::domain::network::Cidr;

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: IpAddr,
    pub port: u16,
    /// Tokio worker threads, and as many password-hashing threads.
    pub workers: usize,
    /// Exact origins allowed with credentials; also those whose requests may use the refresh
    /// cookie.
    pub cors_origins: Vec<String>,
    /// Request headers a browser may send cross-origin besides the defaults (lower-cased).
    pub cors_allow_headers: Vec<String>,
    /// Proxies whose X-Forwarded-For / X-Real-IP headers are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Longest a request may run before it is answered with 503.
    pub request_timeout: Duration,
    /// How long a client may take to send its request headers before the connection is closed.
    pub header_read_timeout: Duration,
    /// How long after its headers a request's whole body may take to arrive (408 after).
    pub body_read_timeout: Duration,
    /// Requests served at once; beyond it new requests are shed with 503 instead of queueing.
    pub max_in_flight: usize,
    /// Requests served at once for one client address (IPv6 by its network, as the rate limits
    /// count it); beyond it 429, so one address cannot take every slot of `max_in_flight`.
    pub max_in_flight_per_client: usize,
    /// Bearer token that guards `/metrics`. Unset: open in development, off in production.
    pub metrics_token: Option<Secret>,
    /// Serve the admin console at `/admin` (`ADMIN_CONSOLE=off` removes it).
    pub admin_console: bool,
}

/// The port when `PORT` is unset.
pub(super) const DEFAULT_PORT: u16 = 8000;

pub(super) fn read(vars: &Vars) -> Result<ServerSettings, ConfigError> {
    let host = match vars.get("HOST") {
        None => IpAddr::from([127, 0, 0, 1]),
        Some(h) if h == "localhost" => IpAddr::from([127, 0, 0, 1]),
        Some(h) => h
            .parse()
            .map_err(|_| bad("HOST", format!("not an IP address: {h:?}")))?,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = vars.num::<usize>("WORKERS", cores);
    if !(1..=1024).contains(&workers) {
        return Err(bad("WORKERS", "must be between 1 and 1024"));
    }
    Ok(ServerSettings {
        host,
        port: vars.num::<u16>("PORT", DEFAULT_PORT),
        workers,
        cors_origins: cors_origins(vars)?,
        cors_allow_headers: cors_allow_headers(vars)?,
        trusted_proxies: trusted_proxies(vars)?,
        max_body_bytes: vars.positive("MAX_BODY_BYTES", 64 * 1024),
        request_timeout: vars.positive_duration("REQUEST_TIMEOUT", Duration::from_secs(30)),
        header_read_timeout: vars.positive_duration("HEADER_READ_TIMEOUT", Duration::from_secs(10)),
        body_read_timeout: vars.positive_duration("BODY_READ_TIMEOUT", Duration::from_secs(10)),
        max_in_flight: vars.positive("MAX_IN_FLIGHT", 512),
        max_in_flight_per_client: vars.positive("MAX_IN_FLIGHT_PER_CLIENT", 128),
        metrics_token: vars.get("METRICS_TOKEN").map(Secret::new),
        admin_console: vars.bool("ADMIN_CONSOLE", true),
    })
}

/// An origin is `scheme://host[:port]` with nothing after it; `*` is refused because the API
/// sends credentials (the refresh cookie).
fn cors_origins(vars: &Vars) -> Result<Vec<String>, ConfigError> {
    vars.list("CORS_ORIGINS")
        .into_iter()
        .map(|origin| {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .ok_or_else(|| {
                    bad(
                        "CORS_ORIGINS",
                        format!(
                            "{origin:?} must start with http:// or https:// (and `*` is not allowed)"
                        ),
                    )
                })?
                .trim_end_matches('/');
            if rest.is_empty() || rest.contains(['/', '*', ' ', '?', '#']) {
                return Err(bad(
                    "CORS_ORIGINS",
                    format!("{origin:?} is not an origin (scheme://host[:port])"),
                ));
            }
            Ok(origin.trim_end_matches('/').to_string())
        })
        .collect()
}

fn cors_allow_headers(vars: &Vars) -> Result<Vec<String>, ConfigError> {
    vars.list("CORS_ALLOW_HEADERS")
        .into_iter()
        .map(|h| {
            axum::http::HeaderName::from_bytes(h.as_bytes())
                .map(|name| name.as_str().to_string())
                .map_err(|_| bad("CORS_ALLOW_HEADERS", format!("not a header name: {h:?}")))
        })
        .collect()
}

fn trusted_proxies(vars: &Vars) -> Result<Vec<Cidr>, ConfigError> {
    vars.list("TRUSTED_PROXIES")
        .into_iter()
        .map(|c| {
            Cidr::parse(&c)
                .ok_or_else(|| bad("TRUSTED_PROXIES", format!("not an address or CIDR: {c:?}")))
        })
        .collect()
}
