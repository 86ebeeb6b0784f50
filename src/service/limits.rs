//! Abuse limits, counted in the store so that every server instance behind a load balancer
//! shares them: login and registration per client IP (an IPv6 client by its network), refresh
//! per session, and password checks per account with a growing backoff and then a temporary lock.
//!
//! Counters are fixed windows that start at the first event. An account's budget is keyed by its
//! user id, so typing the login as username or as email draws on one budget; a login that names
//! no account gets a budget of its own keyed by the login as typed (lower-cased), which backs off
//! and locks exactly alike, so a lock reveals nothing about existence.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

use crate::config::Limit;
use crate::context::AppContext;
use crate::domain::Counter;
use crate::error::{AppError, AppResult};
use crate::security::client_ip;

/// Counts one event against `limit` under `key`; refuses it with 429 when over.
async fn count(
    ctx: &AppContext,
    scope: &'static str,
    subject: &str,
    limit: Option<Limit>,
    message: &str,
) -> AppResult<()> {
    let Some(limit) = limit else { return Ok(()) };
    let key = format!("{scope}:{subject}");
    let now = Utc::now();
    let counter = ctx
        .store
        .hit_counter(&key, now + window(limit), now)
        .await?;
    if counter.count > limit.max {
        ctx.metrics.rate_limited(scope);
        tracing::info!(scope, count = counter.count, "rate limit exceeded");
        return Err(too_many(message, counter.expires_at, now));
    }
    Ok(())
}

fn window(limit: Limit) -> Duration {
    Duration::from_std(limit.window).unwrap_or(Duration::minutes(5))
}

fn too_many(message: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> AppError {
    let millis = u64::try_from((until - now).num_milliseconds()).unwrap_or(0);
    AppError::TooManyRequests {
        message: message.to_string(),
        retry_after_secs: millis.div_ceil(1000).max(1),
    }
}

fn ip_key(ctx: &AppContext, ip: IpAddr) -> String {
    client_ip::limit_key(ip, ctx.settings.limits.ipv6_prefix)
}

pub async fn login_from_ip(ctx: &AppContext, ip: IpAddr) -> AppResult<()> {
    count(
        ctx,
        "login_ip",
        &ip_key(ctx, ip),
        ctx.settings.limits.login,
        "Too many login attempts, try again later",
    )
    .await
}

pub async fn register_from_ip(ctx: &AppContext, ip: IpAddr) -> AppResult<()> {
    count(
        ctx,
        "register_ip",
        &ip_key(ctx, ip),
        ctx.settings.limits.register,
        "Too many registrations, try again later",
    )
    .await
}

pub async fn refresh_of_session(ctx: &AppContext, session_id: &str) -> AppResult<()> {
    count(
        ctx,
        "refresh_session",
        session_id,
        ctx.settings.limits.refresh,
        "Too many refreshes, try again later",
    )
    .await
}

/// Tries to change one's username or email address, per account and per client IP. Each try
/// answers whether the name or address is taken, so it is limited as registering is.
pub async fn account_change(ctx: &AppContext, user_id: &str, ip: IpAddr) -> AppResult<()> {
    let limit = ctx.settings.limits.account_change;
    let message = "Too many username or email changes, try again later";
    count(ctx, "change_account", user_id, limit, message).await?;
    count(ctx, "change_ip", &ip_key(ctx, ip), limit, message).await
}

/// Invitations sent for one organization (`RATE_LIMIT_INVITES`).
pub async fn invitation_of_org(ctx: &AppContext, org_id: &str) -> AppResult<()> {
    let limit = ctx.settings.limits.invites;
    count(
        ctx,
        "invite_org",
        org_id,
        limit,
        "Too many invitations, try again later",
    )
    .await
}

/// Mail-sending requests (forgot, resend, an admin's reset) from one client IP. Callers answer
/// alike whether or not a mail goes out, so going over it changes nothing a client can see.
pub async fn mail_from_ip(ctx: &AppContext, ip: IpAddr) -> AppResult<()> {
    let limit = ctx.settings.mail.ip_limit;
    count(ctx, "mail_ip", &ip_key(ctx, ip), limit, "Too many mails").await
}

/// Mails to one address, and at most one verification mail a minute to it.
pub async fn mail_to_address(ctx: &AppContext, email_lower: &str, resend: bool) -> AppResult<()> {
    let limit = ctx.settings.mail.address_limit;
    count(ctx, "mail_address", email_lower, limit, "Too many mails").await?;
    if resend {
        let cooldown = Some(Limit {
            max: 1,
            window: std::time::Duration::from_secs(60),
        });
        count(ctx, "mail_resend", email_lower, cooldown, "Too many mails").await?;
    }
    Ok(())
}

const ACCOUNT_LOCKED: &str = "Too many failed login attempts for this account, try again later";

/// Whose failure budget a password check draws on.
#[derive(Debug, Clone, Copy)]
pub enum Account<'a> {
    /// An existing account, by user id: every way of naming it shares one budget.
    Id(&'a str),
    /// A login (lower-cased) that names no account.
    UnknownLogin(&'a str),
}

impl Account<'_> {
    fn key(self) -> String {
        match self {
            Self::Id(id) => format!("account:{id}"),
            Self::UnknownLogin(login) => format!("account_login:{login}"),
        }
    }
}

/// An admitted password check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attempt {
    /// This check used the last attempt of the account's budget: if the password is wrong, the
    /// account is locked from now on (worth a `login.locked` event).
    pub locks_on_failure: bool,
}

/// Admits one password check on an account (a login, a `current_password`, later a second
/// factor), or refuses it with 429 while the account is backing off or locked. Attempts are
/// counted before the password is checked, so parallel guesses cannot slip past the lock; a
/// correct password clears the count ([`password_accepted`]).
pub async fn password_attempt(ctx: &AppContext, account: Account<'_>) -> AppResult<Attempt> {
    let Some(limit) = ctx.settings.limits.login_lockout else {
        return Ok(Attempt::default());
    };
    let key = account.key();
    let now = Utc::now();
    let previous = ctx.store.get_counter(&key, now).await?;
    if let Some(wait_until) = previous.and_then(|p| backoff_until(&p, limit))
        && wait_until > now
    {
        ctx.metrics.rate_limited("login_account");
        return Err(too_many(ACCOUNT_LOCKED, wait_until, now));
    }
    let counter = ctx
        .store
        .hit_counter(&key, now + window(limit), now)
        .await?;
    if counter.count > limit.max {
        ctx.metrics.rate_limited("login_account");
        tracing::info!(attempts = counter.count, "login locked for an account");
        return Err(too_many(ACCOUNT_LOCKED, counter.expires_at, now));
    }
    Ok(Attempt {
        locks_on_failure: counter.count == limit.max,
    })
}

/// After `max / 2` attempts each further one waits 1, 2, 4, ... seconds after the previous;
/// after `max` the account waits for the window to end.
fn backoff_until(previous: &Counter, limit: Limit) -> Option<DateTime<Utc>> {
    if previous.count >= limit.max {
        return Some(previous.expires_at);
    }
    let free = (limit.max / 2).max(1);
    if previous.count < free {
        return None;
    }
    let exponent = u32::try_from(previous.count - free)
        .unwrap_or(u32::MAX)
        .min(16);
    let delay = Duration::seconds(1_i64 << exponent);
    Some((previous.last_hit_at + delay).min(previous.expires_at))
}

/// A correct password resets the account's attempt count.
pub async fn password_accepted(ctx: &AppContext, account: Account<'_>) -> AppResult<()> {
    if ctx.settings.limits.login_lockout.is_some() {
        ctx.store.delete_counter(&account.key()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(count: u64, last_hit_secs_ago: i64) -> Counter {
        let now = Utc::now();
        Counter {
            count,
            last_hit_at: now - Duration::seconds(last_hit_secs_ago),
            expires_at: now + Duration::minutes(10),
        }
    }

    #[test]
    fn backoff_grows_then_locks() {
        let limit = Limit {
            max: 10,
            window: std::time::Duration::from_secs(900),
        };
        assert_eq!(backoff_until(&counter(4, 0), limit), None);
        let c = counter(5, 0);
        assert_eq!(
            backoff_until(&c, limit),
            Some(c.last_hit_at + Duration::seconds(1))
        );
        let c = counter(8, 0);
        assert_eq!(
            backoff_until(&c, limit),
            Some(c.last_hit_at + Duration::seconds(8))
        );
        let c = counter(10, 0);
        assert_eq!(backoff_until(&c, limit), Some(c.expires_at));
    }
}
