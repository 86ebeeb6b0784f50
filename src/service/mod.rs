//! The rules of the product: accounts, sessions and tokens, permissions. Services take the
//! [`AppContext`](crate::context::AppContext) and plain values; they never see HTTP or driver types.

pub mod access;
pub mod accounts;
pub mod admin;
pub mod audit;
pub mod authentication;
pub mod email_sign_in;
pub mod invitations;
pub mod limits;
pub mod logout;
pub mod mfa;
pub mod oauth;
pub mod one_time;
pub mod orgs;
pub mod outbox;
pub mod passkeys;
pub mod password_policy;
pub mod passwordless;
pub mod recovery;
pub mod sessions;
pub mod sign_in_ways;
pub mod signing_keys;
pub mod tickets;
pub mod verification;

use std::future::Future;

use crate::error::{AppError, AppResult};
use crate::security::password::PasswordError;

/// A full hashing queue is the one hashing failure a client can act on (try again shortly); the
/// others are bugs. Written here, where services meet the hasher, so that `error` stays below
/// `security` in the layer order.
impl From<PasswordError> for AppError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::QueueFull => Self::Busy,
            other => Self::Internal(other.to_string()),
        }
    }
}

/// Runs `work` to its end even if the request that started it is dropped (the client went away,
/// or the request timeout fired). For writes that must not stop halfway, such as a password
/// change followed by the bookkeeping of the sessions it ended.
pub(crate) async fn to_completion<T: Send + 'static>(
    work: impl Future<Output = AppResult<T>> + Send + 'static,
) -> AppResult<T> {
    tokio::spawn(work)
        .await
        .map_err(|e| AppError::Internal(format!("account write task failed: {e}")))?
}

/// Marks the sessions a change already ended (through the account's epoch) as revoked, with the
/// reason. Only bookkeeping: if it fails the sessions stay unusable, so it is logged, not raised.
pub(crate) async fn record_ended_sessions(
    ctx: &crate::context::AppContext,
    user_id: &str,
    keep: Option<&str>,
    reason: crate::domain::RevokeReason,
) -> u64 {
    match ctx
        .store
        .revoke_user_sessions(user_id, keep, reason, chrono::Utc::now())
        .await
    {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, reason = reason.as_str(), "could not mark ended sessions as revoked");
            0
        }
    }
}

#[cfg(test)]
mod debug_redaction {
    //! Every value that carries a secret prints without it, so a `{:?}` in a log line, an
    //! `instrument` span or a panic message cannot leak one.

    use chrono::Utc;

    use crate::domain::{Session, User, UserChanges};
    use crate::security::jwt::{Claims, TokenType};
    use crate::security::password::Verified;
    use crate::service::accounts::{ProfileUpdate, Registration};
    use crate::service::admin::AdminUpdate;
    use crate::service::sessions::IssuedTokens;

    const PASSWORD: &str = "hunter2-the-password";
    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
    const ACCESS: &str = "eyJhbGciOiJIUzI1NiJ9.access.token";
    const REFRESH: &str = "eyJhbGciOiJIUzI1NiJ9.refresh.token";
    const JTI: &str = "9f1c0b6e-jti-of-the-refresh-token";

    fn assert_redacted(what: &str, printed: String) {
        for secret in [PASSWORD, HASH, ACCESS, REFRESH, JTI] {
            assert!(
                !printed.contains(secret),
                "{what} prints a secret: {printed}"
            );
        }
        assert!(printed.contains("<redacted>"), "{what}: {printed}");
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let now = Utc::now();
        let user = User {
            id: "u1".into(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            full_name: None,
            password_hash: HASH.into(),
            role_id: "r1".into(),
            is_active: true,
            session_epoch: 0,
            created_at: now,
            updated_at: now,
            last_login_at: None,
            deleted_at: None,
            email_verified: false,
            pending_email: None,
            mfa_enabled: false,
        };
        let profile = || ProfileUpdate {
            password: Some(PASSWORD.into()),
            ..Default::default()
        };
        assert_redacted("User", format!("{user:?}"));
        assert_redacted(
            "Registration",
            format!(
                "{:?}",
                Registration {
                    username: "ada".into(),
                    email: "ada@example.com".into(),
                    full_name: None,
                    password: PASSWORD.into(),
                    role: None,
                }
            ),
        );
        assert_redacted("ProfileUpdate", format!("{:?}", profile()));
        assert_redacted(
            "AdminUpdate",
            format!(
                "{:?}",
                AdminUpdate {
                    profile: profile(),
                    ..Default::default()
                }
            ),
        );
        assert_redacted(
            "UserChanges",
            format!(
                "{:?}",
                UserChanges {
                    password_hash: Some(HASH.into()),
                    ..Default::default()
                }
            ),
        );
        assert_redacted(
            "IssuedTokens",
            format!(
                "{:?}",
                IssuedTokens {
                    access_token: ACCESS.into(),
                    access_expires_in: 900,
                    refresh_token: REFRESH.into(),
                    refresh_expires_at: now,
                    session_id: "s1".into(),
                    refresh_jti: JTI.into(),
                }
            ),
        );
        assert_redacted(
            "Session",
            format!(
                "{:?}",
                Session {
                    id: "s1".into(),
                    user_id: "u1".into(),
                    refresh_jti: JTI.into(),
                    previous_jti: Some(JTI.into()),
                    rotated_at: None,
                    device: "Firefox".into(),
                    ip_address: "127.0.0.1".into(),
                    user_agent: "ua".into(),
                    epoch: 0,
                    amr: crate::domain::Amr::PWD,
                    authenticated_at: now,
                    created_at: now,
                    last_activity: now,
                    expires_at: now,
                    is_active: true,
                    revoked_at: None,
                    revoke_reason: None,
                }
            ),
        );
        assert_redacted(
            "Claims",
            format!(
                "{:?}",
                Claims {
                    uid: "u1".into(),
                    sid: "s1".into(),
                    token_type: TokenType::Refresh,
                    jti: Some(JTI.into()),
                    iat: 0,
                    exp: 0,
                    iss: None,
                    aud: None,
                    amr: crate::domain::Amr::PWD,
                    auth_time: None,
                    org_id: None,
                    org_role: None,
                }
            ),
        );
        assert_redacted(
            "Verified",
            format!("{:?}", Verified::YesRehashed(HASH.into())),
        );
        let settings = crate::config::Settings::from_lookup(|k| match k {
            "SECRET_KEY" => Some(PASSWORD.repeat(2)),
            "METRICS_TOKEN" => Some(ACCESS.into()),
            "MONGO_URL" => Some(format!("mongodb://admin:{PASSWORD}@db:27017")),
            _ => None,
        })
        .unwrap();
        assert_redacted("Settings", format!("{settings:?}"));
    }
}
