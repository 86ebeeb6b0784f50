//! An identity at a sign-in provider (Google, Apple, Microsoft, GitHub, any OpenID provider)
//! linked to an account: the provider's stable subject, and the address it asserted. One
//! `(provider, subject)` belongs to one account at most (a unique index).

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub id: String,
    pub user_id: String,
    /// The configured provider id (`google`, `github`, ...), lower-case.
    pub provider: String,
    /// The provider's stable id of the person (`sub`; GitHub's numeric user id).
    pub subject: String,
    /// The address the provider asserted when it was linked or last used, if any.
    pub email: Option<String>,
    /// Whether the provider said that address is verified.
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}
