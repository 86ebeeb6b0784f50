//! One-time tokens (the secrets mailed for a password reset or an address check) and the mail
//! outbox (mail waiting to be sent) (docs/API.md, "Email: verification, password reset, email
//! change").

use chrono::{DateTime, Utc};

use crate::domain::REDACTED;

/// What a one-time token allows. A user has at most one live token per purpose: a new request
/// replaces the older one (same store key), which is how "a new request voids older ones" holds
/// even when two requests race.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    PasswordReset,
    VerifyEmail,
    /// Confirms a new address (`new_email`) from that address.
    ChangeEmail,
    /// The second step of a login with a second factor (the `mfa_token`; no mail, no code).
    MfaLogin,
    /// An emailed sign-in link or code. For an address no account holds yet (sign-up on first
    /// use), `user_id` is [`new_account_key`] of the address.
    SignIn,
}

/// The `user_id` a sign-in secret for an address without an account is filed under: one per
/// address, so a newer request replaces the older as it does for an account.
pub fn new_account_key(email_lower: &str) -> String {
    format!("{NEW_ACCOUNT}{email_lower}")
}

/// The address a sign-in secret creates an account for, if it was filed for one.
pub fn new_account_address(user_id: &str) -> Option<&str> {
    user_id.strip_prefix(NEW_ACCOUNT)
}

/// Never a user id (those are UUIDs).
const NEW_ACCOUNT: &str = "new-account:";

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::VerifyEmail => "verify_email",
            Self::ChangeEmail => "change_email",
            Self::MfaLogin => "mfa_login",
            Self::SignIn => "sign_in",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::PasswordReset,
            Self::VerifyEmail,
            Self::ChangeEmail,
            Self::MfaLogin,
            Self::SignIn,
        ]
        .into_iter()
        .find(|p| p.as_str() == name)
    }
}

/// Wrong codes after which a token is dead.
pub const MAX_TOKEN_ATTEMPTS: u32 = 5;

/// A mailed one-time secret, stored hashed only: `token_hash` is the SHA-256 of the link token
/// (32 random bytes, so unguessable as it is), `code_hash` an HMAC of the 6-digit code under a
/// key derived from the server secret (a million codes would be enumerable from a plain hash).
#[derive(Clone, PartialEq)]
pub struct OneTimeToken {
    pub user_id: String,
    pub purpose: TokenPurpose,
    /// The address the mail went to, lower-cased: how a `{email, code}` request finds it.
    pub email_lower: String,
    pub token_hash: String,
    pub code_hash: String,
    /// The address being confirmed (`ChangeEmail` only).
    pub new_email: Option<String>,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

impl OneTimeToken {
    /// The store key: one live token per user and purpose.
    pub fn key(&self) -> String {
        token_key(&self.user_id, self.purpose)
    }
}

pub fn token_key(user_id: &str, purpose: TokenPurpose) -> String {
    format!("{user_id}:{}", purpose.as_str())
}

impl std::fmt::Debug for OneTimeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneTimeToken")
            .field("user_id", &self.user_id)
            .field("purpose", &self.purpose)
            .field("email_lower", &self.email_lower)
            .field("token_hash", &REDACTED)
            .field("code_hash", &REDACTED)
            .field("new_email", &self.new_email)
            .field("attempts", &self.attempts)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .finish()
    }
}

/// What an outbox item is: a mail to send, or a request for one that the worker turns into a
/// mail if the address belongs to an account. Requests let `forgot` and `resend` do the same
/// store work for every address: the lookup, and the writes a known address causes, happen in
/// the worker, where their cost shows in no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    Mail,
    PasswordResetRequest,
    VerificationRequest,
    SignInRequest,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mail => "mail",
            Self::PasswordResetRequest => "password_reset_request",
            Self::VerificationRequest => "verification_request",
            Self::SignInRequest => "sign_in_request",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Mail,
            Self::PasswordResetRequest,
            Self::VerificationRequest,
            Self::SignInRequest,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// An outbox item. For a mail the bodies hold its link and code until it is sent or given up
/// on; then the store clears them, keeping only the record that it went out (or did not). For a
/// request, `to` is the address as typed (lower-cased) and `text` the requester (JSON:
/// `{"ip", "user_agent"}`, for the security event).
#[derive(Clone, PartialEq)]
pub struct OutboxMail {
    pub id: String,
    pub kind: OutboxKind,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Delivery attempts so far (a claim counts one).
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// Until when the instance that claimed it owns it; also the claim's identity when it
    /// reports the outcome.
    pub lease_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// When the store may delete the record.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for OutboxMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxMail")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("text", &REDACTED)
            .field("html", &REDACTED)
            .field("attempts", &self.attempts)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("lease_until", &self.lease_until)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// How a claimed delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub enum MailOutcome {
    Sent {
        at: DateTime<Utc>,
    },
    /// Try again at `at` (a temporary failure).
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// Given up: a permanent refusal, or the last attempt failed.
    Failed {
        at: DateTime<Utc>,
        error: String,
    },
}
