//! The outbox worker: claims one due mail at a time, sends it, and records the outcome. Every
//! instance runs one; the store's claim makes sure each mail goes to one of them, and the lease
//! (longer than an SMTP conversation may take) makes sure a mail whose sender died is taken over.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use crate::context::AppContext;
use crate::domain::mail::{MailOutcome, OutboxKind, OutboxMail};
use crate::mail::transport::{SMTP_TIMEOUT, SendError, Transport};

/// How often an idle worker looks for mail another instance queued (its own wake it at once).
const POLL: Duration = Duration::from_secs(1);
/// Twice the SMTP timeout: a claim outlives any conversation about it.
const LEASE: Duration = Duration::from_secs(2 * SMTP_TIMEOUT.as_secs());
/// Attempts before a mail is given up on; with the backoff below, about 17 minutes of outage.
pub const MAX_ATTEMPTS: u32 = 10;
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(5 * 60);

/// When to try a mail again after `attempts` failed deliveries: 1 s, 2 s, 4 s, ... up to 5 min.
fn retry_delay(attempts: u32) -> Duration {
    let doubled = RETRY_FIRST.saturating_mul(1 << attempts.saturating_sub(1).min(16));
    doubled.min(RETRY_MAX)
}

/// Runs until `stop` turns true; a delivery under way is finished first, so stopping never
/// leaves a mail sent but recorded as pending.
pub async fn run(ctx: AppContext, mut stop: watch::Receiver<bool>) {
    let Some(transport) = ctx.mailer.transport() else {
        return;
    };
    while !*stop.borrow() {
        let now = Utc::now();
        let lease = chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::seconds(40));
        match ctx.store.claim_mail(now, now + lease).await {
            Ok(Some(mail)) if mail.kind == OutboxKind::Mail => {
                deliver(&ctx, &transport, mail).await
            }
            Ok(Some(request)) => fulfil(&ctx, request).await,
            Ok(None) => {
                tokio::select! {
                    _ = ctx.mailer.mail_queued() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the mail outbox");
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

/// Turns a mail request into the mail (if the address names an account that should get it).
async fn fulfil(ctx: &AppContext, request: OutboxMail) {
    let outcome = match super::recovery::fulfil(ctx, &request).await {
        Ok(()) => MailOutcome::Sent { at: Utc::now() },
        Err(e) if request.attempts < MAX_ATTEMPTS => {
            let delay = retry_delay(request.attempts);
            tracing::warn!(request_id = %request.id, error = %e, "a mail request failed; will retry");
            let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            MailOutcome::Retry {
                at,
                error: e.to_string(),
            }
        }
        Err(e) => {
            tracing::error!(request_id = %request.id, error = %e, "a mail request given up on");
            MailOutcome::Failed {
                at: Utc::now(),
                error: e.to_string(),
            }
        }
    };
    if let Err(e) = ctx.store.finish_mail(&request, &outcome).await {
        tracing::warn!(request_id = %request.id, error = %e, "could not record a mail request's outcome");
    }
}

async fn deliver(ctx: &AppContext, transport: &Transport, mail: OutboxMail) {
    let result = transport.send(ctx.mailer.from(), &mail).await;
    let now = Utc::now();
    let outcome = match result {
        Ok(()) => {
            ctx.metrics.mail_delivery("sent");
            MailOutcome::Sent { at: now }
        }
        Err(SendError::Temporary(error)) if mail.attempts < MAX_ATTEMPTS => {
            let delay = retry_delay(mail.attempts);
            tracing::warn!(mail_id = %mail.id, attempts = mail.attempts, retry_in_s = delay.as_secs(), %error, "mail not sent; will retry");
            ctx.metrics.mail_delivery("retried");
            let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
            MailOutcome::Retry { at, error }
        }
        Err(SendError::Temporary(error) | SendError::Permanent(error)) => {
            tracing::error!(mail_id = %mail.id, attempts = mail.attempts, %error, "mail given up on");
            ctx.metrics.mail_delivery("failed");
            MailOutcome::Failed { at: now, error }
        }
    };
    if let Err(e) = ctx.store.finish_mail(&mail, &outcome).await {
        // The lease runs out and the mail is tried again: a rare duplicate rather than a loss.
        tracing::warn!(mail_id = %mail.id, error = %e, "could not record a mail's delivery");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_ceiling() {
        let delays: Vec<u64> = (1..=12).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert!(LEASE > SMTP_TIMEOUT);
    }
}
