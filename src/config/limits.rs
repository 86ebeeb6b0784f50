//! Abuse limits: attempts per client address, per session and per account, and how much password
//! hashing may queue.

use std::time::Duration;

use super::vars::Vars;
use super::{ConfigError, bad};

/// At most `max` events per `window`; `None` in settings means the limit is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u64,
    pub window: Duration,
}

#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// Login attempts per client IP.
    pub login: Option<Limit>,
    /// Registrations per client IP.
    pub register: Option<Limit>,
    /// Tries to change one's username or email, per account and per client IP (each tells
    /// whether a name or an address is taken).
    pub account_change: Option<Limit>,
    /// Refreshes per session.
    pub refresh: Option<Limit>,
    /// Failed password checks per account (login, current_password, the second factor) before
    /// it is locked for the window; backoff between attempts starts at half of `max`.
    pub login_lockout: Option<Limit>,
    /// Per-IP limits count an IPv6 client by its network of this many bits (IPv4 by address).
    pub ipv6_prefix: u8,
    /// Password hashes that may wait for a hashing thread; more are refused with 503 at once.
    pub password_hash_queue: usize,
    /// `ORG_MAX_PER_USER`: organizations a user may own.
    pub org_max_per_user: usize,
    /// `RATE_LIMIT_INVITES`: invitations per organization.
    pub invites: Option<Limit>,
    /// `ORG_INVITE_TTL`: how long an invitation works.
    pub invite_ttl: std::time::Duration,
}

pub(super) fn read(vars: &Vars) -> Result<LimitSettings, ConfigError> {
    let ipv6_prefix = vars.num::<u8>("RATE_LIMIT_IPV6_PREFIX", 64);
    if !(1..=128).contains(&ipv6_prefix) {
        return Err(bad("RATE_LIMIT_IPV6_PREFIX", "must be between 1 and 128"));
    }
    Ok(LimitSettings {
        login: vars.limit("RATE_LIMIT_LOGIN", "30/5m"),
        register: vars.limit("RATE_LIMIT_REGISTER", "10/5m"),
        account_change: vars.limit("RATE_LIMIT_ACCOUNT_CHANGE", "10/5m"),
        refresh: vars.limit("RATE_LIMIT_REFRESH", "30/5m"),
        login_lockout: vars.limit("LOGIN_LOCKOUT", "10/15m"),
        ipv6_prefix,
        password_hash_queue: vars.positive("PASSWORD_HASH_QUEUE", 256),
        org_max_per_user: vars.positive("ORG_MAX_PER_USER", 10),
        invites: vars.limit("RATE_LIMIT_INVITES", "50/1h"),
        invite_ttl: vars.positive_duration(
            "ORG_INVITE_TTL",
            std::time::Duration::from_secs(7 * 24 * 3600),
        ),
    })
}
