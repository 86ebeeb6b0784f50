//! Security events: the append-only record of every act that changes an account or its access
//! (docs/API.md, "Security events"). Who did what to which account, when, and from where.
//!
//! An event carries no secret by construction: its `detail` is built only from names fixed in
//! the code (`&'static str`), counts and public identifiers, never from a request's values.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Declares the event types once: the enum, its wire names and the list of all of them.
macro_rules! event_types {
    ($($variant:ident => $name:literal,)*) => {
        /// What happened. Stored and shown by its wire name (`login.succeeded`, ...).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($variant,)*
        }

        impl EventType {
            /// Every type, in the order of docs/API.md.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)*
                }
            }

            /// The type with this wire name, if there is one.
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(EventType::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

event_types! {
    UserRegistered => "user.registered",
    UserUpdated => "user.updated",
    LoginSucceeded => "login.succeeded",
    LoginFailed => "login.failed",
    LoginLocked => "login.locked",
    RefreshReuseDetected => "refresh.reuse_detected",
    Logout => "logout",
    LogoutAll => "logout_all",
    SessionRevoked => "session.revoked",
    PasswordChanged => "password.changed",
    PasswordCheckFailed => "password.check_failed",
    PasswordResetRequested => "password.reset_requested",
    PasswordResetCompleted => "password.reset_completed",
    EmailVerificationSent => "email.verification_sent",
    EmailVerified => "email.verified",
    EmailChangeRequested => "email.change_requested",
    EmailChanged => "email.changed",
    MfaEnabled => "mfa.enabled",
    MfaDisabled => "mfa.disabled",
    MfaFailed => "mfa.failed",
    MfaRecoveryCodeUsed => "mfa.recovery_code_used",
    MfaResetByAdmin => "mfa.reset_by_admin",
    MfaRecoveryCodesRegenerated => "mfa.recovery_codes_regenerated",
    UserDeleted => "user.deleted",
    AdminUserUpdated => "admin.user_updated",
    AdminUserDeleted => "admin.user_deleted",
    AdminSessionsRevoked => "admin.sessions_revoked",
    KeysRotated => "keys.rotated",
    KeysRevoked => "keys.revoked",
    EmailSignInSent => "email.sign_in_sent",
    AccountPasswordRemoved => "account.password_removed",
    IdentityLinked => "identity.linked",
    IdentityUnlinked => "identity.unlinked",
    PasskeyAdded => "passkey.added",
    PasskeyRemoved => "passkey.removed",
    PasskeyUsed => "passkey.used",
    PasskeyCloneSuspected => "passkey.clone_suspected",
    OrgCreated => "org.created",
    OrgUpdated => "org.updated",
    OrgDeleted => "org.deleted",
    OrgMemberAdded => "org.member_added",
    OrgMemberRoleChanged => "org.member_role_changed",
    OrgMemberRemoved => "org.member_removed",
    OrgInvitationSent => "org.invitation_sent",
    OrgInvitationAccepted => "org.invitation_accepted",
    OrgInvitationDeclined => "org.invitation_declined",
    OrgInvitationRevoked => "org.invitation_revoked",
}

/// One recorded event. `kind` is the wire name: an event written by a newer release with a type
/// this one does not know still reads back.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityEvent {
    pub id: String,
    pub at: DateTime<Utc>,
    pub kind: String,
    /// The account the event is about (`None` for a login naming no account).
    pub user_id: Option<String>,
    /// Who acted: the user themself, an admin, or nobody known (a failed login).
    pub actor_id: Option<String>,
    /// The session the event is about: the one opened, ended, or acting.
    pub session_id: Option<String>,
    /// The organization the event is about, if any.
    pub org_id: Option<String>,
    pub ip: Option<String>,
    pub device: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Map<String, Value>,
    /// When the store may delete it (`at` + `AUDIT_RETENTION`).
    pub expires_at: DateTime<Utc>,
}

/// A position in the newest-first order of events: strictly older than this event. The order
/// is by `at`, then by `id`, so events of the same millisecond keep a stable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCursor {
    pub at: DateTime<Utc>,
    pub id: String,
}

impl EventCursor {
    pub fn after(event: &SecurityEvent) -> Self {
        Self {
            at: event.at,
            id: event.id.clone(),
        }
    }
}

/// Which events to list. Every present filter must hold; `since` is inclusive, `until` is not.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub user_id: Option<String>,
    pub org_id: Option<String>,
    pub kind: Option<EventType>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<EventCursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_by_its_name() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(EventType::parse("login"), None);
    }
}
