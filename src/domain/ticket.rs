//! Tickets: what a sign-in provider flow keeps in the store between two requests (the state of
//! an authorization request, the code a callback hands back to the app, a link flow's start).
//! Each is filed under the SHA-256 of a secret only its holder has, taken at most once (one
//! conditional delete: of racing requests exactly one gets it), and dead after `expires_at`.
//! The payload is the service's own JSON: the store never looks inside.

use chrono::{DateTime, Utc};

use crate::domain::REDACTED;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketKind {
    /// An authorization request on its way to the provider (`state`).
    Flow,
    /// A finished sign-in waiting for the app's exchange (the `code` of the redirect back).
    Grant,
    /// A link flow started by a signed-in user, waiting for its browser to open it.
    Link,
}

impl TicketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flow => "flow",
            Self::Grant => "grant",
            Self::Link => "link",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Flow, Self::Grant, Self::Link]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

#[derive(Clone, PartialEq)]
pub struct Ticket {
    /// The SHA-256 hex of the secret (never the secret).
    pub id_hash: String,
    pub kind: TicketKind,
    /// JSON; may hold values as sensitive as a PKCE verifier, so `Debug` hides it.
    pub payload: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("id_hash", &self.id_hash)
            .field("kind", &self.kind)
            .field("payload", &REDACTED)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}
