//! Ending sessions and seeing them: logout by cookie or token, logout everywhere, and a user's
//! (or an admin's) list and revocation of one session.

use chrono::Utc;

use super::access;
use super::audit::{self, NewEvent};
use super::authentication::verify;
use super::sessions::max_lifetime;
use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::principal::{ClientInfo, Principal};
use crate::domain::{RevokeReason, Session, User};
use crate::error::{AppError, AppResult};
use crate::security::jwt::TokenType;

/// Revokes the session a refresh token belongs to (logout from a cookie). Returns how many
/// sessions were revoked; a token of an unknown or already revoked session is refused.
pub async fn logout_with_refresh(
    ctx: &AppContext,
    refresh_token: &str,
    client: &ClientInfo,
) -> AppResult<u64> {
    let claims = verify(ctx, refresh_token, TokenType::Refresh)?;
    revoke_one(ctx, &claims.sid, &claims.uid, client).await
}

/// Revokes the caller's current session.
pub async fn logout(ctx: &AppContext, principal: &Principal) -> AppResult<u64> {
    revoke_one(
        ctx,
        &principal.session_id,
        &principal.user.id,
        &principal.client,
    )
    .await
}

async fn revoke_one(ctx: &AppContext, sid: &str, uid: &str, client: &ClientInfo) -> AppResult<u64> {
    if !ctx
        .store
        .revoke_session(sid, Some(uid), RevokeReason::Logout, Utc::now())
        .await?
    {
        return Err(AppError::invalid_token());
    }
    let logout = NewEvent::new(EventType::Logout)
        .own(uid)
        .session(sid)
        .from(client);
    audit::record(ctx, logout).await;
    Ok(1)
}

/// Revokes every session of the caller.
pub async fn logout_all(ctx: &AppContext, principal: &Principal) -> AppResult<u64> {
    let revoked = ctx
        .store
        .revoke_user_sessions(
            &principal.user.id,
            None,
            RevokeReason::LogoutAll,
            Utc::now(),
        )
        .await?;
    let event = NewEvent::new(EventType::LogoutAll)
        .user(&principal.user.id)
        .by(principal)
        .count("revoked", revoked);
    audit::record(ctx, event).await;
    Ok(revoked)
}

/// The caller's active sessions, most recent activity first.
pub async fn list_own(ctx: &AppContext, principal: &Principal) -> AppResult<Vec<Session>> {
    list_usable(ctx, &principal.user).await
}

/// The sessions of `user` that could be used right now, most recent activity first. The store
/// lists those not revoked; a session ended by the account's epoch whose revocation record was
/// not written (that write is only bookkeeping) is left out here.
pub async fn list_usable(ctx: &AppContext, user: &User) -> AppResult<Vec<Session>> {
    let now = Utc::now();
    let mut sessions = ctx.store.list_active_sessions(&user.id, now).await?;
    sessions.retain(|s| s.is_usable(now, user, max_lifetime(ctx)));
    Ok(sessions)
}

/// Revokes one of the caller's own sessions; someone else's session id is answered like an unknown one.
pub async fn revoke_own(
    ctx: &AppContext,
    principal: &Principal,
    session_id: &str,
) -> AppResult<()> {
    let reason = RevokeReason::RevokedByUser;
    revoke_of_user(ctx, principal, &principal.user.id, session_id, reason).await
}

/// Revokes one active session of `user_id` on `actor`'s behalf (the user, or an admin the
/// caller has checked); a session that is not that user's active one is a 404.
pub async fn revoke_of_user(
    ctx: &AppContext,
    actor: &Principal,
    user_id: &str,
    session_id: &str,
    reason: RevokeReason,
) -> AppResult<()> {
    // Owner-scoped (see `access`): another user's session is as unknown as a missing one.
    let revoked = ctx
        .store
        .revoke_session(session_id, Some(user_id), reason, Utc::now())
        .await?;
    access::owned(revoked.then_some(()), "Session")?;
    // The session is the one revoked, not the one acting.
    let event = NewEvent::new(EventType::SessionRevoked)
        .user(user_id)
        .by(actor)
        .session(session_id)
        .reason(reason.as_str());
    audit::record(ctx, event).await;
    Ok(())
}
