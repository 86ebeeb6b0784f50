//! Domain types shared by the services and the stores. They carry no HTTP or driver types.

pub mod auth_method;
pub mod event;
pub mod identity;
pub mod mail;
pub mod mfa;
pub mod network;
pub mod org;
pub mod passkey;
pub mod permission;
pub mod principal;
pub mod redirect;
pub mod signing_key;
pub mod ticket;
pub mod validate;

use chrono::{DateTime, Duration, Utc};

pub use auth_method::{Amr, Authentication};

/// Which account field a login identifier names. Usernames cannot contain '@' (see
/// [`validate::username`]) and email addresses must, so the identifier alone decides, and a login
/// is one indexed equality lookup rather than an "email or username" query, which some
/// databases answer with a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginField {
    Email,
    Username,
}

impl LoginField {
    pub fn of(login: &str) -> Self {
        if login.contains('@') {
            Self::Email
        } else {
            Self::Username
        }
    }
}

/// What a hand-written `Debug` prints instead of a secret (a password, a hash, a token or its
/// jti), so that formatting a value in a log line or a panic message never leaks one.
pub const REDACTED: &str = "<redacted>";

/// A role as stored and as the template serialises it.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

/// An account. `username_lower` / `email_lower` are what the stores' unique indexes hold,
/// so uniqueness is case-insensitive and enforced by the database, never by find-then-insert.
#[derive(Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    /// The Argon2id hash of the password; empty for an account without a password (one a
    /// provider or an emailed code made), which no password matches: see [`User::stored_hash`].
    pub password_hash: String,
    pub role_id: String,
    pub is_active: bool,
    /// Bumped by every change that must end the user's sessions: a new password, deactivation,
    /// deletion. A session records the epoch it was opened in and is usable only while that is
    /// still the user's epoch, so ending every session is part of the same single-document write
    /// as the change itself: there is no second write that could fail, time out or be cancelled
    /// and leave the old sessions alive, and a login that checked the old password while the
    /// change was landing opens a session that is already dead.
    pub session_epoch: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// The user proved they receive mail at `email`.
    pub email_verified: bool,
    /// A new address waiting for its confirmation (the change happens when it confirms).
    pub pending_email: Option<String>,
    /// A confirmed second factor exists. Shown to the user; the login itself asks the factor
    /// store, so a stale flag can never let a login skip the factor.
    pub mfa_enabled: bool,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("full_name", &self.full_name)
            .field("password_hash", &REDACTED)
            .field("role_id", &self.role_id)
            .field("is_active", &self.is_active)
            .field("session_epoch", &self.session_epoch)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("last_login_at", &self.last_login_at)
            .field("deleted_at", &self.deleted_at)
            .field("email_verified", &self.email_verified)
            .field("pending_email", &self.pending_email)
            .field("mfa_enabled", &self.mfa_enabled)
            .finish()
    }
}

impl User {
    /// A new, active account with a fresh id, made `now`. `password_hash` is empty for an
    /// account without a password.
    pub fn new_account(
        username: String,
        email: String,
        full_name: Option<String>,
        password_hash: String,
        role_id: String,
        email_verified: bool,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: new_id(),
            username,
            email,
            full_name,
            password_hash,
            role_id,
            is_active: true,
            session_epoch: 0,
            created_at: now,
            updated_at: now,
            last_login_at: None,
            deleted_at: None,
            email_verified,
            pending_email: None,
            mfa_enabled: false,
        }
    }

    /// Whether the account has a password at all.
    pub fn has_password(&self) -> bool {
        !self.password_hash.is_empty()
    }

    /// The hash to check a password against, `None` without a password. A password check with
    /// `None` runs against a dummy hash, so an account without a password answers a password
    /// exactly as a wrong one, in the same time, as an unknown account does.
    pub fn stored_hash(&self) -> Option<String> {
        self.has_password().then(|| self.password_hash.clone())
    }

    pub fn username_lower(&self) -> String {
        self.username.to_lowercase()
    }
    pub fn email_lower(&self) -> String {
        self.email.to_lowercase()
    }
}

/// A partial update of a user; `None` leaves a field as it is.
#[derive(Clone, Default)]
pub struct UserChanges {
    pub username: Option<String>,
    pub email: Option<String>,
    /// `Some(None)` clears the full name.
    pub full_name: Option<Option<String>>,
    pub password_hash: Option<String>,
    pub role_id: Option<String>,
    pub is_active: Option<bool>,
    /// Ends every session of the user (bumps `session_epoch`) in the same write.
    pub end_sessions: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub email_verified: Option<bool>,
    /// `Some(None)` clears the pending address.
    pub pending_email: Option<Option<String>>,
    pub mfa_enabled: Option<bool>,
}

impl std::fmt::Debug for UserChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserChanges")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("full_name", &self.full_name)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| REDACTED),
            )
            .field("role_id", &self.role_id)
            .field("is_active", &self.is_active)
            .field("end_sessions", &self.end_sessions)
            .field("last_login_at", &self.last_login_at)
            .field("email_verified", &self.email_verified)
            .field("pending_email", &self.pending_email)
            .field("mfa_enabled", &self.mfa_enabled)
            .finish()
    }
}

impl UserChanges {
    pub fn is_empty(&self) -> bool {
        self.username.is_none()
            && self.email.is_none()
            && self.full_name.is_none()
            && self.password_hash.is_none()
            && self.role_id.is_none()
            && self.is_active.is_none()
            && !self.end_sessions
            && self.last_login_at.is_none()
            && self.email_verified.is_none()
            && self.pending_email.is_none()
            && self.mfa_enabled.is_none()
    }
}

/// Filters of the admin user listing. `prefix` is already lower-cased.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub prefix: Option<String>,
    pub role_id: Option<String>,
    pub is_active: Option<bool>,
    /// A keyset position (a user's `created_at` and `id`): the page holds only users after it
    /// in the newest-first order, so a deep page costs what the first does. The total ignores it.
    pub before: Option<event::EventCursor>,
}

/// A login session: one per successful login, identified in tokens by `sid`.
/// `refresh_jti` is the only refresh token that may rotate it; `previous_jti` and `rotated_at`
/// let a concurrent refresh of the token just rotated be answered within the grace window.
#[derive(Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub refresh_jti: String,
    pub previous_jti: Option<String>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub device: String,
    pub ip_address: String,
    pub user_agent: String,
    /// The user's `session_epoch` when the session was opened (or last carried over).
    pub epoch: i64,
    /// How the session was signed in (`amr` of its tokens).
    pub amr: Amr,
    /// When its user last proved who they are, by any method (`auth_time` of its tokens).
    pub authenticated_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub is_active: bool,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("refresh_jti", &REDACTED)
            .field(
                "previous_jti",
                &self.previous_jti.as_ref().map(|_| REDACTED),
            )
            .field("rotated_at", &self.rotated_at)
            .field("device", &self.device)
            .field("ip_address", &self.ip_address)
            .field("user_agent", &self.user_agent)
            .field("epoch", &self.epoch)
            .field("amr", &self.amr)
            .field("authenticated_at", &self.authenticated_at)
            .field("created_at", &self.created_at)
            .field("last_activity", &self.last_activity)
            .field("expires_at", &self.expires_at)
            .field("is_active", &self.is_active)
            .field("revoked_at", &self.revoked_at)
            .field("revoke_reason", &self.revoke_reason)
            .finish()
    }
}

impl Session {
    pub fn authentication(&self) -> Authentication {
        Authentication {
            amr: self.amr,
            at: self.authenticated_at,
        }
    }

    pub fn is_usable(&self, now: DateTime<Utc>, owner: &User, max_lifetime: Duration) -> bool {
        SessionState::from(self).is_usable(now, owner, max_lifetime)
    }
}

/// What authenticating a request needs to know of its session. No strings: reading it on every
/// request allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionState {
    pub is_active: bool,
    pub epoch: i64,
    pub amr: Amr,
    pub authenticated_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
}

impl SessionState {
    pub fn authentication(&self) -> Authentication {
        Authentication {
            amr: self.amr,
            at: self.authenticated_at,
        }
    }

    /// Usable right now by `owner` (the session's user): not revoked, not past its expiry nor
    /// its absolute lifetime, not ended by a change to the account since it was opened, and the
    /// account active. The stores' TTL sweep is lazy, so validity is always decided here, at
    /// read time.
    pub fn is_usable(&self, now: DateTime<Utc>, owner: &User, max_lifetime: Duration) -> bool {
        self.is_active
            && self.expires_at > now
            && self.created_at + max_lifetime > now
            && self.epoch >= owner.session_epoch
            && owner.is_active
    }
}

impl From<&Session> for SessionState {
    fn from(s: &Session) -> Self {
        Self {
            is_active: s.is_active,
            epoch: s.epoch,
            amr: s.amr,
            authenticated_at: s.authenticated_at,
            created_at: s.created_at,
            expires_at: s.expires_at,
            last_activity: s.last_activity,
        }
    }
}

/// Why a session stopped being usable; stored for audit and shown to nobody else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    Logout,
    LogoutAll,
    RevokedByUser,
    RevokedByAdmin,
    PasswordChanged,
    AccountDeactivated,
    RefreshTokenReuse,
    /// A second factor was enabled, disabled or reset.
    SecondFactorChanged,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::RevokedByUser => "revoked_by_user",
            Self::RevokedByAdmin => "revoked_by_admin",
            Self::PasswordChanged => "password_changed",
            Self::AccountDeactivated => "account_deactivated",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::SecondFactorChanged => "second_factor_changed",
        }
    }
}

/// A rate-limit counter: events counted under one key until `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub count: u64,
    pub last_hit_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// New random identifier (UUID v4), used for every id and jti.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
