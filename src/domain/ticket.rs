//! Tickets: what a sign-in ceremony keeps in the store between two requests (the state of a
//! provider's authorization request, the code a callback hands back to the app, a link flow's
//! start, a passkey ceremony's state).
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
    /// A passkey registration waiting for the authenticator.
    PasskeyRegistration,
    /// A passkey sign-in waiting for the authenticator.
    PasskeySignIn,
}

impl TicketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flow => "flow",
            Self::Grant => "grant",
            Self::Link => "link",
            Self::PasskeyRegistration => "passkey_registration",
            Self::PasskeySignIn => "passkey_sign_in",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Flow,
            Self::Grant,
            Self::Link,
            Self::PasskeyRegistration,
            Self::PasskeySignIn,
        ]
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
