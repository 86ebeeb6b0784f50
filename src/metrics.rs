//! Prometheus metrics, kept in memory per server and rendered in the text exposition format at
//! `/metrics`: requests and latency by route and status, login outcomes, rate-limit rejections,
//! store operations and errors. Hand-rolled (a few atomics and maps) rather than a metrics crate:
//! the set is small and fixed, and this keeps the build lean.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::Method;

/// Upper bounds of the latency histogram buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    count: AtomicU64,
    sum_micros: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Relaxed,
        );
        let secs = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
    }
}

/// Counters keyed by a label set; a read lock on the hot path, a write lock only for a new key.
struct Family<K, V> {
    series: RwLock<HashMap<K, Arc<V>>>,
}

impl<K: std::hash::Hash + Eq + Clone + Ord, V: Default> Family<K, V> {
    fn new() -> Self {
        Self {
            series: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K) -> Arc<V> {
        if let Some(v) = self
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
        {
            return v.clone();
        }
        let mut map = self.series.write().unwrap_or_else(|e| e.into_inner());
        map.entry(key.clone()).or_default().clone()
    }

    /// A stable (sorted) snapshot for rendering.
    fn snapshot(&self) -> Vec<(K, Arc<V>)> {
        let map = self.series.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// Latency histograms of one route, by method and status.
type ByMethodAndStatus = Family<(&'static str, u16), Histogram>;

/// (method, route, status) and its histogram, for rendering.
type RequestSeries = ((&'static str, String, u16), Arc<Histogram>);

/// How a login attempt ended.
#[derive(Debug, Clone, Copy)]
pub enum LoginOutcome {
    Success,
    InvalidCredentials,
    Inactive,
    RateLimited,
}

impl LoginOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Inactive => "inactive",
            Self::RateLimited => "rate_limited",
        }
    }
}

pub struct Metrics {
    /// Route template -> (method, status) -> latency. Nested so that recording a request looks
    /// up by `&str` without allocating a key.
    requests: RwLock<HashMap<String, ByMethodAndStatus>>,
    logins: Family<&'static str, AtomicU64>,
    rate_limited: Family<&'static str, AtomicU64>,
    store_operations: Family<&'static str, AtomicU64>,
    store_errors: Family<(&'static str, &'static str), AtomicU64>,
    audit_write_failures: AtomicU64,
    mail_deliveries: Family<&'static str, AtomicU64>,
    breach_checks: Family<&'static str, AtomicU64>,
    /// Passkey assertions checked (the signature and the rest), and the time spent on them.
    passkey_verifications: AtomicU64,
    passkey_verify_micros: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: RwLock::new(HashMap::new()),
            logins: Family::new(),
            rate_limited: Family::new(),
            store_operations: Family::new(),
            store_errors: Family::new(),
            audit_write_failures: AtomicU64::new(0),
            mail_deliveries: Family::new(),
            breach_checks: Family::new(),
            passkey_verifications: AtomicU64::new(0),
            passkey_verify_micros: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// One finished request; `route` is the matched route template, never the raw path, so the
    /// number of series stays bounded.
    pub fn request(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let key = (method_label(method), status);
        if let Some(family) = self
            .requests
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(route)
        {
            family.get(&key).observe(elapsed);
            return;
        }
        let mut routes = self.requests.write().unwrap_or_else(|e| e.into_inner());
        routes
            .entry(route.to_string())
            .or_insert_with(Family::new)
            .get(&key)
            .observe(elapsed);
    }

    pub fn login(&self, outcome: LoginOutcome) {
        self.logins.get(&outcome.label()).fetch_add(1, Relaxed);
    }

    pub fn rate_limited(&self, scope: &'static str) {
        self.rate_limited.get(&scope).fetch_add(1, Relaxed);
    }

    pub fn store_operation(&self, operation: &'static str) {
        self.store_operations.get(&operation).fetch_add(1, Relaxed);
    }

    pub fn store_error(&self, operation: &'static str, kind: &'static str) {
        self.store_errors
            .get(&(operation, kind))
            .fetch_add(1, Relaxed);
    }

    /// A security event that could not be stored (it still reached the log).
    pub fn audit_write_failure(&self) {
        self.audit_write_failures.fetch_add(1, Relaxed);
    }

    /// How a mail delivery attempt ended: `sent`, `retried` or `failed`.
    pub fn mail_delivery(&self, outcome: &'static str) {
        self.mail_deliveries.get(&outcome).fetch_add(1, Relaxed);
    }

    /// One look-up of a new password in the breach service, by outcome (`breached`, `clear`,
    /// `unavailable`). The outcome only: never the password or anything derived from it.
    pub fn breach_check(&self, outcome: &'static str) {
        self.breach_checks.get(&outcome).fetch_add(1, Relaxed);
    }

    /// One passkey assertion checked by the WebAuthn library, and how long that took.
    pub fn passkey_verification(&self, elapsed: Duration) {
        self.passkey_verifications.fetch_add(1, Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.passkey_verify_micros.fetch_add(micros, Relaxed);
    }

    /// Total store operations so far (each is one call into the database).
    pub fn store_operations_total(&self) -> u64 {
        self.store_operations
            .snapshot()
            .iter()
            .map(|(_, v)| v.load(Relaxed))
            .sum()
    }

    /// The Prometheus text format; `extra` appends backend-specific counters.
    pub fn render(&self, extra: &[(String, u64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP authkit_http_requests_total Requests by method, route and status.\n");
        out.push_str("# TYPE authkit_http_requests_total counter\n");
        let requests: Vec<RequestSeries> = {
            let routes = self.requests.read().unwrap_or_else(|e| e.into_inner());
            let mut all: Vec<_> = routes
                .iter()
                .flat_map(|(route, family)| {
                    family
                        .snapshot()
                        .into_iter()
                        .map(move |((method, status), h)| ((method, route.clone(), status), h))
                })
                .collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            all
        };
        for ((method, route, status), h) in &requests {
            let _ = writeln!(
                out,
                "authkit_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                h.count.load(Relaxed)
            );
        }
        out.push_str("# HELP authkit_http_request_duration_seconds Request latency by method, route and status.\n");
        out.push_str("# TYPE authkit_http_request_duration_seconds histogram\n");
        for ((method, route, status), h) in &requests {
            let labels = format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape(route)
            );
            let mut cumulative = 0;
            for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&h.buckets) {
                cumulative += bucket.load(Relaxed);
                let _ = writeln!(
                    out,
                    "authkit_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Relaxed);
            let _ = writeln!(
                out,
                "authkit_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let sum = h.sum_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "authkit_http_request_duration_seconds_sum{{{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "authkit_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        counter(
            &mut out,
            "authkit_logins_total",
            "Login attempts by outcome.",
            "outcome",
            &self.logins,
        );
        counter(
            &mut out,
            "authkit_rate_limited_total",
            "Requests refused by a rate limit, by limit.",
            "limit",
            &self.rate_limited,
        );
        counter(
            &mut out,
            "authkit_store_operations_total",
            "Store operations by operation.",
            "operation",
            &self.store_operations,
        );
        out.push_str(
            "# HELP authkit_store_errors_total Failed store operations by operation and kind.\n",
        );
        out.push_str("# TYPE authkit_store_errors_total counter\n");
        for ((operation, kind), v) in self.store_errors.snapshot() {
            let _ = writeln!(
                out,
                "authkit_store_errors_total{{operation=\"{operation}\",kind=\"{kind}\"}} {}",
                v.load(Relaxed)
            );
        }
        counter(
            &mut out,
            "authkit_mail_deliveries_total",
            "Mail delivery attempts by outcome (sent, retried, failed).",
            "outcome",
            &self.mail_deliveries,
        );
        counter(
            &mut out,
            "authkit_password_breach_checks_total",
            "New passwords looked up in the breach service (PASSWORD_BREACH_CHECK), by outcome (breached, clear, unavailable).",
            "outcome",
            &self.breach_checks,
        );
        out.push_str("# HELP authkit_audit_write_failures_total Security events that could not be stored (each still reached the log).\n");
        out.push_str("# TYPE authkit_audit_write_failures_total counter\n");
        let _ = writeln!(
            out,
            "authkit_audit_write_failures_total {}",
            self.audit_write_failures.load(Relaxed)
        );
        out.push_str("# HELP authkit_passkey_verifications_total Passkey assertions checked (signature, origin, RP id, user verification, counter).\n");
        out.push_str("# TYPE authkit_passkey_verifications_total counter\n");
        let _ = writeln!(
            out,
            "authkit_passkey_verifications_total {}",
            self.passkey_verifications.load(Relaxed)
        );
        out.push_str(
            "# HELP authkit_passkey_verify_seconds_total Time spent checking passkey assertions.\n",
        );
        out.push_str("# TYPE authkit_passkey_verify_seconds_total counter\n");
        let _ = writeln!(
            out,
            "authkit_passkey_verify_seconds_total {:.6}",
            self.passkey_verify_micros.load(Relaxed) as f64 / 1e6
        );
        if !extra.is_empty() {
            out.push_str("# HELP authkit_mongodb_commands_total Commands sent to MongoDB (round trips), by command.\n");
            out.push_str("# TYPE authkit_mongodb_commands_total counter\n");
            for (command, n) in extra {
                let _ = writeln!(
                    out,
                    "authkit_mongodb_commands_total{{command=\"{}\"}} {n}",
                    escape(command)
                );
            }
        }
        out
    }
}

fn counter(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    family: &Family<&'static str, AtomicU64>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (value, n) in family.snapshot() {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {}", n.load(Relaxed));
    }
}

/// Standard methods by name; anything else shares one label so clients cannot add series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Label values are route templates and command names; escape what the format reserves anyway.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request(&Method::GET, "/health", 200, Duration::from_micros(500));
        m.request(&Method::GET, "/health", 200, Duration::from_millis(30));
        m.login(LoginOutcome::Success);
        m.rate_limited("login_ip");
        let text = m.render(&[("find".into(), 3)]);
        assert!(text.contains(
            r#"authkit_http_requests_total{method="GET",route="/health",status="200"} 2"#
        ));
        assert!(text.contains(r#"authkit_http_request_duration_seconds_bucket{method="GET",route="/health",status="200",le="0.001"} 1"#));
        assert!(text.contains(r#"authkit_http_request_duration_seconds_bucket{method="GET",route="/health",status="200",le="0.05"} 2"#));
        assert!(text.contains(r#"authkit_logins_total{outcome="success"} 1"#));
        assert!(text.contains(r#"authkit_rate_limited_total{limit="login_ip"} 1"#));
        assert!(text.contains(r#"authkit_mongodb_commands_total{command="find"} 3"#));
    }
}
