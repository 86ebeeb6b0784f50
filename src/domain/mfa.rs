//! A user's second factor (docs/API.md, "Second factor"): one TOTP factor per user, pending until its
//! first code confirms it, and the recovery codes that stand in for it once.

use chrono::{DateTime, Utc};

use crate::domain::REDACTED;

/// The TOTP factor of a user. `secret` is sealed (see `security::encryption`): the store never
/// holds it in clear.
#[derive(Clone, PartialEq)]
pub struct MfaFactor {
    pub user_id: String,
    pub secret: String,
    pub active: bool,
    /// The last TOTP step accepted (Unix time / 30); a code at or before it is refused.
    pub last_step: i64,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// A pending factor dies at this time unless confirmed; an active one has none.
    pub expires_at: Option<DateTime<Utc>>,
}

impl MfaFactor {
    /// Usable for a login: confirmed. (A pending one only counts for its confirmation.)
    pub fn is_pending_at(&self, now: DateTime<Utc>) -> bool {
        !self.active && self.expires_at.is_some_and(|at| at > now)
    }
}

impl std::fmt::Debug for MfaFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaFactor")
            .field("user_id", &self.user_id)
            .field("secret", &REDACTED)
            .field("active", &self.active)
            .field("last_step", &self.last_step)
            .field("created_at", &self.created_at)
            .field("confirmed_at", &self.confirmed_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}
