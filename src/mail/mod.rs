//! Mail (docs/API.md, "Email: verification, password reset, email change"): requests only put mail into the outbox in the store; a background
//! worker on each instance claims and sends it with retries, so an SMTP outage delays mail and
//! loses none, a slow SMTP server never slows a request, and two instances never send one mail
//! twice.

pub mod templates;
pub mod transport;

use std::sync::Arc;

use chrono::{Duration, Utc};
use lettre::message::Mailbox;
use tokio::sync::Notify;

use crate::config::Settings;
use crate::domain::mail::{OutboxKind, OutboxMail};
use crate::domain::new_id;
use crate::domain::principal::ClientInfo;
use crate::store::{Store, StoreResult};
use templates::Rendered;
use transport::Transport;

/// How long the outbox keeps the record of a mail (sent or not) before the store deletes it.
const OUTBOX_RETENTION: Duration = Duration::days(7);

/// The mail side of the application: whether mail is on, and the queue's doorbell.
pub struct Mailer {
    transport: Option<Arc<Transport>>,
    from: Mailbox,
    /// Rung on every enqueue, so the local worker sends at once instead of at its next poll.
    wake: Notify,
}

impl Mailer {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            transport: Transport::from_settings(settings)?.map(Arc::new),
            from: settings
                .mail
                .from
                .parse()
                .map_err(|_| anyhow::anyhow!("MAIL_FROM is not an address"))?,
            wake: Notify::new(),
        })
    }

    /// The way out, if mail is on; the outbox worker sends through it.
    pub fn transport(&self) -> Option<Arc<Transport>> {
        self.transport.clone()
    }

    /// The From of every mail.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Resolves when a mail was put into the outbox by this process since the last call.
    pub async fn mail_queued(&self) {
        self.wake.notified().await
    }

    /// Whether mail can be sent at all (SMTP configured, or the log in development).
    pub fn is_enabled(&self) -> bool {
        self.transport.is_some()
    }

    /// Whether mail really leaves (SMTP is configured). Only then does a new address wait for
    /// its confirmation: without SMTP it changes at once, as the template's clients expect.
    pub fn delivers(&self) -> bool {
        matches!(self.transport.as_deref(), Some(Transport::Smtp(_)))
    }

    /// Puts a mail into the outbox; the worker sends it.
    pub async fn enqueue(&self, store: &dyn Store, to: &str, mail: Rendered) -> StoreResult<()> {
        self.put(store, OutboxKind::Mail, to, mail).await
    }

    /// Puts a request for a mail (a reset, a verification) for whatever account `email` names
    /// into the outbox: the same single write whether or not there is one. The worker looks the
    /// address up and mails it if it should (`service::recovery::fulfil`).
    pub async fn request(
        &self,
        store: &dyn Store,
        kind: OutboxKind,
        email_lower: &str,
        requester: &ClientInfo,
    ) -> StoreResult<()> {
        let requester = serde_json::json!({
            "ip": requester.ip.to_string(),
            "user_agent": requester.user_agent,
        });
        let payload = Rendered {
            subject: String::new(),
            text: requester.to_string(),
            html: String::new(),
        };
        self.put(store, kind, email_lower, payload).await
    }

    async fn put(
        &self,
        store: &dyn Store,
        kind: OutboxKind,
        to: &str,
        mail: Rendered,
    ) -> StoreResult<()> {
        let now = Utc::now();
        let queued = OutboxMail {
            id: new_id(),
            kind,
            to: to.to_string(),
            subject: mail.subject,
            text: mail.text,
            html: mail.html,
            attempts: 0,
            next_attempt_at: now,
            lease_until: chrono::DateTime::<Utc>::UNIX_EPOCH,
            created_at: now,
            expires_at: now + OUTBOX_RETENTION,
        };
        store.enqueue_mail(&queued).await?;
        self.wake.notify_one();
        Ok(())
    }
}
