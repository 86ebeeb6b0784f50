//! Domain types shared by the services and the stores. They carry no HTTP or driver types.

pub mod permission;
pub mod validate;

use chrono::{DateTime, Utc};

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
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub password_hash: String,
    pub role_id: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn username_lower(&self) -> String {
        self.username.to_lowercase()
    }
    pub fn email_lower(&self) -> String {
        self.email.to_lowercase()
    }
}

/// A partial update of a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub username: Option<String>,
    pub email: Option<String>,
    /// `Some(None)` clears the full name.
    pub full_name: Option<Option<String>>,
    pub password_hash: Option<String>,
    pub role_id: Option<String>,
    pub is_active: Option<bool>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl UserChanges {
    pub fn is_empty(&self) -> bool {
        self.username.is_none()
            && self.email.is_none()
            && self.full_name.is_none()
            && self.password_hash.is_none()
            && self.role_id.is_none()
            && self.is_active.is_none()
            && self.last_login_at.is_none()
    }
}

/// Filters of the admin user listing. `prefix` is already lower-cased.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub prefix: Option<String>,
    pub role_id: Option<String>,
    pub is_active: Option<bool>,
}

/// A login session: one per successful login, identified in tokens by `sid`.
/// `refresh_jti` is the only refresh token that may rotate it; `previous_jti` and `rotated_at`
/// let a concurrent refresh of the token just rotated be answered within the grace window.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub refresh_jti: String,
    pub previous_jti: Option<String>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub device: String,
    pub ip_address: String,
    pub user_agent: String,
    pub created_at: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub is_active: bool,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
}

impl Session {
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        SessionState::from(self).is_usable(now)
    }
}

/// What authenticating a request needs to know of its session. No strings: reading it on every
/// request allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionState {
    pub is_active: bool,
    pub expires_at: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
}

impl SessionState {
    /// Usable right now: not revoked and not past its expiry. The stores' TTL sweep is lazy,
    /// so validity is always decided here, at read time.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.is_active && self.expires_at > now
    }
}

impl From<&Session> for SessionState {
    fn from(s: &Session) -> Self {
        Self {
            is_active: s.is_active,
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
