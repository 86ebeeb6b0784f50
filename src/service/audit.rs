//! Recording security events (docs/API.md, "Security events"): the flow that causes an event
//! describes it with [`NewEvent`] and hands it to [`record`], which writes one `audit` log line
//! and stores it.
//!
//! Recording never fails the act it describes: the act has already happened, and answering it
//! with an error would make the client retry something that succeeded. A failed store write is
//! logged and counted (`authkit_audit_write_failures_total`); the log line went out before the
//! write was tried, so a log pipeline still has the event while the database is down.
//!
//! No secret can reach an event: `detail` is filled only through the methods below, which take
//! names fixed in the code, counts and field names, never a value from a request.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use crate::context::AppContext;
use crate::domain::event::{EventCursor, EventFilter, EventType, SecurityEvent};
use crate::domain::new_id;
use crate::domain::principal::{ClientInfo, Principal};
use crate::error::AppResult;
use crate::security::device;

/// An event being described by the flow that causes it.
#[must_use = "an event is only recorded by `audit::record`"]
pub struct NewEvent {
    kind: EventType,
    user_id: Option<String>,
    actor_id: Option<String>,
    session_id: Option<String>,
    org_id: Option<String>,
    client: Option<ClientInfo>,
    detail: Map<String, Value>,
}

impl NewEvent {
    pub fn new(kind: EventType) -> Self {
        Self {
            kind,
            user_id: None,
            actor_id: None,
            session_id: None,
            org_id: None,
            client: None,
            detail: Map::new(),
        }
    }

    /// The account the event is about.
    pub fn user(mut self, user_id: &str) -> Self {
        self.user_id = Some(user_id.to_string());
        self
    }

    /// The account the event is about, which is also the one that acted.
    pub fn own(self, user_id: &str) -> Self {
        self.user(user_id).actor(user_id)
    }

    pub fn actor(mut self, actor_id: &str) -> Self {
        self.actor_id = Some(actor_id.to_string());
        self
    }

    /// The session the event is about (opened, ended, or acting).
    pub fn session(mut self, session_id: &str) -> Self {
        self.session_id = Some(session_id.to_string());
        self
    }

    /// The organization the event is about.
    pub fn org(mut self, org_id: &str) -> Self {
        self.org_id = Some(org_id.to_string());
        self
    }

    /// Where the request came from.
    pub fn from(mut self, client: &ClientInfo) -> Self {
        self.client = Some(client.clone());
        self
    }

    /// Acted by an authenticated caller, from their session and address.
    pub fn by(self, principal: &Principal) -> Self {
        self.actor(&principal.user.id)
            .session(&principal.session_id)
            .from(&principal.client)
    }

    /// Why it happened, from a fixed vocabulary (`invalid_credentials`, `revoked_by_admin`, ...).
    pub fn reason(mut self, reason: &'static str) -> Self {
        self.detail.insert("reason".into(), reason.into());
        self
    }

    /// How a sign-in was made: `password`, `provider`, `email` or `passkey`.
    pub fn method(mut self, method: &'static str) -> Self {
        self.detail.insert("method".into(), method.into());
        self
    }

    /// The names of the fields an update changed (never their values).
    pub fn fields(mut self, fields: &[&'static str]) -> Self {
        self.detail.insert("fields".into(), fields.into());
        self
    }

    /// A count, such as how many sessions an act revoked.
    pub fn count(mut self, name: &'static str, n: u64) -> Self {
        self.detail.insert(name.into(), n.into());
        self
    }

    /// A public identifier (a key id). Never a secret, a token or anything a client sent.
    pub fn public_id(mut self, name: &'static str, id: &str) -> Self {
        self.detail.insert(name.into(), id.into());
        self
    }

    fn into_event(self, now: DateTime<Utc>, retention: Duration) -> SecurityEvent {
        let (ip, device, user_agent) = match &self.client {
            Some(c) => (
                Some(c.ip.to_string()),
                Some(device::describe(&c.user_agent)),
                Some(device::truncate_user_agent(&c.user_agent)),
            ),
            None => (None, None, None),
        };
        SecurityEvent {
            id: new_id(),
            at: now,
            kind: self.kind.as_str().to_string(),
            user_id: self.user_id,
            actor_id: self.actor_id,
            session_id: self.session_id,
            org_id: self.org_id,
            ip,
            device,
            user_agent,
            detail: self.detail,
            expires_at: now + retention,
        }
    }
}

/// Logs the event on the `audit` target and stores it. The store write runs to its end even if
/// the request that caused it is dropped; its failure is logged and counted, never returned.
pub async fn record(ctx: &AppContext, event: NewEvent) {
    // Milliseconds: what both stores keep, so a cursor made from this event matches it exactly.
    let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap_or_default();
    let retention =
        Duration::from_std(ctx.settings.store.audit_retention).unwrap_or(Duration::days(90));
    let event = event.into_event(now, retention);
    log_line(&event);
    let store = ctx.store.clone();
    let write = tokio::spawn(async move { store.insert_event(&event).await });
    let failure = match write.await {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    ctx.metrics.audit_write_failure();
    tracing::warn!(error = %failure, "could not store a security event (it is in the audit log)");
}

fn log_line(event: &SecurityEvent) {
    let optional = |v: &Option<String>| v.clone().unwrap_or_default();
    tracing::info!(
        target: "audit",
        event_id = %event.id,
        event = %event.kind,
        user_id = %optional(&event.user_id),
        actor_id = %optional(&event.actor_id),
        session_id = %optional(&event.session_id),
        org_id = %optional(&event.org_id),
        ip = %optional(&event.ip),
        device = %optional(&event.device),
        user_agent = %optional(&event.user_agent),
        detail = %serde_json::Value::Object(event.detail.clone()),
        "security event"
    );
}

/// Largest page of a listing.
pub const MAX_PAGE_SIZE: u64 = 100;

/// One page of events, newest first, and where the next one starts (`None` on the last page).
pub struct EventPage {
    pub events: Vec<SecurityEvent>,
    pub next: Option<EventCursor>,
}

/// A page of the events matching `filter`. One more event than asked is read, so the last page
/// is known to be the last (no empty page follows it).
pub async fn list(ctx: &AppContext, filter: &EventFilter, limit: u64) -> AppResult<EventPage> {
    let limit = limit.clamp(1, MAX_PAGE_SIZE);
    let mut events = ctx.store.list_events(filter, limit + 1, Utc::now()).await?;
    let next = if events.len() as u64 > limit {
        events.truncate(limit as usize);
        events.last().map(EventCursor::after)
    } else {
        None
    };
    Ok(EventPage { events, next })
}
