//! The per-request authentication: a Bearer access token's signature and expiry, then its
//! session and user read from the store, so a revoked session or a deactivated user is refused
//! at once rather than when the token expires. Also the words a client gets for a token it
//! cannot use, shared with refresh and logout.

use chrono::{Duration, Utc};

use super::sessions::max_lifetime;
use super::signing_keys;
use crate::context::AppContext;
use crate::domain::principal::{ClientInfo, Principal};
use crate::error::{AppError, AppResult};
use crate::security::jwt::{Claims, TokenError, TokenType};

/// `last_activity` is written at most this often per session, so reads stay reads.
const ACTIVITY_WRITE_INTERVAL: Duration = Duration::seconds(60);

pub(super) fn verify(ctx: &AppContext, token: &str, expected: TokenType) -> AppResult<Claims> {
    ctx.tokens.verify(token, expected).map_err(token_refused)
}

/// What a client is told about a token it cannot use: 401, or 503 while the keys of
/// `JWT_ALG=EdDSA` are not loaded (the database has not answered since the start).
/// A valid token whose session (or account) is over: revoked, expired, or its user deactivated.
pub(super) fn session_ended() -> AppError {
    AppError::Unauthorized("Session expired or revoked. Please login again".into())
}

pub(super) fn token_refused(e: TokenError) -> AppError {
    match e {
        TokenError::NoKeys => AppError::Unavailable("signing keys are not loaded yet".into()),
        // Only a token whose signature verified reaches its expiry check: the text tells a
        // client to sign in again (the template's wording) and tells nobody anything new.
        TokenError::Expired => {
            AppError::Unauthorized("Token has expired. Please login again".into())
        }
        e => {
            tracing::debug!(error = %e, "token refused");
            AppError::invalid_token()
        }
    }
}

/// Verifies an access token; one under a kid this instance does not know yet makes it reload
/// the keys (at most once per few seconds, see `signing_keys::reload_for_unknown_kid`) and try
/// again.
async fn verify_access(ctx: &AppContext, token: &str) -> AppResult<Claims> {
    match ctx.tokens.verify(token, TokenType::Access) {
        Err(TokenError::UnknownKey) if signing_keys::reload_for_unknown_kid(ctx).await => {
            verify(ctx, token, TokenType::Access)
        }
        result => result.map_err(token_refused),
    }
}

/// Authenticates a Bearer access token: signature and expiry, then the session (active,
/// unexpired, the token's user) and the user (exists, active), both read from the store.
pub async fn authenticate(
    ctx: &AppContext,
    access_token: &str,
    client: ClientInfo,
) -> AppResult<Principal> {
    let claims = verify_access(ctx, access_token).await?;
    let now = Utc::now();
    let (session, user) = ctx
        .store
        .find_session_and_user(&claims.sid, &claims.uid)
        .await?
        .filter(|(session, user)| session.is_usable(now, user, max_lifetime(ctx)))
        .ok_or_else(session_ended)?;
    let role = ctx.roles.by_id(ctx.store.as_ref(), &user.role_id).await?;

    if now - session.last_activity >= ACTIVITY_WRITE_INTERVAL {
        // Best effort: a failed activity write must not fail the request it rides on.
        if let Err(e) = ctx.store.touch_session(&claims.sid, now).await {
            tracing::warn!(error = %e, "could not record session activity");
        }
    }
    Ok(Principal {
        user,
        role,
        session_id: claims.sid,
        authentication: session.authentication(),
        client,
    })
}
