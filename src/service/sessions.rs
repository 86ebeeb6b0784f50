//! Login, refresh with rotation and reuse detection, logout, and the per-request authentication
//! that checks the session and the user server-side, so revocation takes effect at once.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::org::ActiveOrg;
use crate::domain::principal::{ClientInfo, Principal};
use crate::domain::{Amr, Authentication, REDACTED, RevokeReason, Role, Session, User, new_id};
use crate::error::{AppError, AppResult};
use crate::metrics::LoginOutcome;
use crate::security::claims::Claims;
use crate::security::device;
use crate::security::jwt::TokenType;
use crate::security::password::Verified;
use crate::service::audit::{self, NewEvent};
use crate::service::authentication::{session_ended, token_refused, verify};
use crate::service::limits::{self, Account, Attempt};

/// A freshly issued pair of tokens.
#[derive(Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub access_expires_in: u64,
    pub refresh_token: String,
    pub refresh_expires_at: DateTime<Utc>,
    /// The session the tokens belong to, and the refresh token's jti (a secret: it is what a
    /// refresh must present).
    pub session_id: String,
    pub refresh_jti: String,
}

impl std::fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("access_token", &REDACTED)
            .field("access_expires_in", &self.access_expires_in)
            .field("refresh_token", &REDACTED)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("session_id", &self.session_id)
            .field("refresh_jti", &REDACTED)
            .finish()
    }
}

const INVALID_CREDENTIALS: &str = "Invalid credentials";

/// How a correct password ends.
pub enum LoginResult {
    /// A session is open. (Boxed: the user is large beside the other variant.)
    SignedIn(Box<(IssuedTokens, User, Arc<Role>)>),
    /// The account has a second factor: the session opens at `POST /auth/mfa/verify`.
    SecondFactor { mfa_token: String },
}

/// Verifies the password and opens a session, or asks for the second factor. Unknown and wrong
/// give the same answer after the same work (a verification against a dummy hash).
pub async fn login(
    ctx: &AppContext,
    login: &str,
    password: String,
    client: &ClientInfo,
) -> AppResult<LoginResult> {
    let login = login.trim().to_lowercase();
    let (user, attempt) = match admit_login(ctx, &login, client.ip).await {
        Ok(admitted) => admitted,
        Err(e) => {
            if matches!(e, AppError::TooManyRequests { .. }) {
                ctx.metrics.login(LoginOutcome::RateLimited);
            }
            return Err(e);
        }
    };
    let stored_hash = user.as_ref().and_then(User::stored_hash);
    let verified = ctx.passwords.verify(password, stored_hash).await?;
    let user = match (user, verified) {
        (Some(user), Verified::Yes | Verified::YesRehashed(_)) if !user.is_active => {
            ctx.metrics.login(LoginOutcome::Inactive);
            let failed = NewEvent::new(EventType::LoginFailed)
                .user(&user.id)
                .from(client)
                .method("password")
                .reason("inactive");
            audit::record(ctx, failed).await;
            return Err(AppError::Unauthorized("Account is inactive".into()));
        }
        (Some(user), Verified::YesRehashed(new_hash)) => {
            ctx.store
                .replace_password_hash(&user.id, &user.password_hash, &new_hash)
                .await?;
            user
        }
        (Some(user), Verified::Yes) => user,
        (user, _) => {
            ctx.metrics.login(LoginOutcome::InvalidCredentials);
            // Recorded alike for an unknown login (no user), so the work done is the same.
            let user_id = user.as_ref().map(|u| u.id.as_str());
            record_wrong_password(ctx, EventType::LoginFailed, user_id, client, attempt).await;
            return Err(AppError::Unauthorized(INVALID_CREDENTIALS.into()));
        }
    };
    // After the password, so the answer tells a guesser nothing.
    if ctx.settings.mail.require_verified_email && !user.email_verified {
        let refused = NewEvent::new(EventType::LoginFailed)
            .user(&user.id)
            .from(client)
            .method("password")
            .reason("email_not_verified");
        audit::record(ctx, refused).await;
        return Err(AppError::Forbidden("email not verified".into()));
    }
    // The factor store decides, not the user's display flag: a flag write that failed can never
    // let a login skip the factor. With a factor, the failure budget is only cleared once the
    // second step succeeds, so logging in again gives no fresh guesses at the code.
    if ctx
        .store
        .find_factor(&user.id)
        .await?
        .is_some_and(|f| f.active)
    {
        let mfa_token = super::mfa::challenge(ctx, &user, Amr::PWD).await?;
        return Ok(LoginResult::SecondFactor { mfa_token });
    }
    limits::password_accepted(ctx, Account::Id(&user.id)).await?;
    let signed_in = open_session(ctx, user, client, Amr::PWD).await?;
    Ok(LoginResult::SignedIn(Box::new(signed_in)))
}

/// Opens a session for `user`, who has just proved who they are by the methods in `amr`, and
/// records the login.
pub(crate) async fn open_session(
    ctx: &AppContext,
    user: User,
    client: &ClientInfo,
    amr: Amr,
) -> AppResult<(IssuedTokens, User, Arc<Role>)> {
    ctx.metrics.login(LoginOutcome::Success);
    let role = ctx.roles.by_id(ctx.store.as_ref(), &user.role_id).await?;

    let now = Utc::now();
    let session = Session {
        id: new_id(),
        user_id: user.id.clone(),
        refresh_jti: new_id(),
        previous_jti: None,
        rotated_at: None,
        device: device::describe(&client.user_agent),
        ip_address: client.ip.to_string(),
        user_agent: device::truncate_user_agent(&client.user_agent),
        // The epoch as read before the password was checked: if a password change or a
        // deactivation landed meanwhile, this session is born ended.
        epoch: user.session_epoch,
        amr,
        authenticated_at: now,
        created_at: now,
        last_activity: now,
        expires_at: now + refresh_ttl(ctx),
        is_active: true,
        revoked_at: None,
        revoke_reason: None,
    };
    // Also records the login on the user (last_login_at).
    ctx.store.insert_session(&session).await?;
    let mut succeeded = NewEvent::new(EventType::LoginSucceeded)
        .own(&user.id)
        .session(&session.id)
        .from(client)
        .method(sign_in_method(amr));
    if amr.contains(Amr::OTP) {
        succeeded = succeeded.reason("password_and_second_factor");
    }
    audit::record(ctx, succeeded).await;
    let user = User {
        last_login_at: Some(now),
        ..user
    };
    let ids = (
        user.id.as_str(),
        session.id.as_str(),
        session.refresh_jti.as_str(),
    );
    let tokens = issue(
        ctx,
        ids,
        session.authentication(),
        None,
        now,
        session.expires_at,
    )?;
    Ok((tokens, user, role))
}

/// Issues a session's tokens again, rotating its refresh jti away from `jti` (conditional
/// updates: of racing callers one wins). A provider sign-in's code exchange: the callback set a
/// refresh cookie in the browser the flow went through (for a native app, its system browser),
/// which must stop working now that the app holds the session.
///
/// It rotates twice: the refresh grace window answers only the jti just before the current one,
/// and after two rotations that is one nobody was ever given. So `jti` gets no grace: presented
/// again, it is a replayed refresh token like any other (the session ends).
pub(crate) async fn reissue(
    ctx: &AppContext,
    session_id: &str,
    user_id: &str,
    jti: &str,
) -> AppResult<(IssuedTokens, User, Arc<Role>)> {
    let now = Utc::now();
    let (never_issued, new_jti) = (new_id(), new_id());
    let expires_at = now + refresh_ttl(ctx);
    let store = &ctx.store;
    store
        .rotate_refresh(session_id, user_id, jti, &never_issued, expires_at, now)
        .await?
        .ok_or_else(session_ended)?;
    let rotated = store
        .rotate_refresh(
            session_id,
            user_id,
            &never_issued,
            &new_jti,
            expires_at,
            now,
        )
        .await?
        .ok_or_else(session_ended)?;
    let user = ctx
        .store
        .find_user(user_id)
        .await?
        .filter(|u| rotated.is_usable(now, u, max_lifetime(ctx)))
        .ok_or_else(session_ended)?;
    let role = ctx.roles.by_id(ctx.store.as_ref(), &user.role_id).await?;
    let ends_at = expires_at.min(rotated.created_at + max_lifetime(ctx));
    let tokens = issue(
        ctx,
        (user_id, session_id, &new_jti),
        rotated.authentication(),
        None,
        now,
        ends_at,
    )?;
    Ok((tokens, user, role))
}

/// The organization a refresh token carries, if its user is still a member (with the role they
/// have now); dropped from the new tokens otherwise.
async fn still_member(ctx: &AppContext, claims: &Claims) -> AppResult<Option<ActiveOrg>> {
    let Some(org_id) = &claims.org_id else {
        return Ok(None);
    };
    Ok(ctx
        .store
        .find_membership(org_id, &claims.uid)
        .await?
        .map(|m| ActiveOrg {
            id: m.org_id,
            role: m.role,
        }))
}

/// Moves the caller's session into `org` (or out of any): the session's refresh token rotates
/// (one conditional write on its current jti) so that the new one carries the organization
/// through refreshes, and the access token says `org_id` and `org_role`. The caller checked the
/// membership.
pub(crate) async fn switch_org(
    ctx: &AppContext,
    principal: &Principal,
    org: Option<ActiveOrg>,
) -> AppResult<IssuedTokens> {
    let (uid, sid) = (principal.user.id.as_str(), principal.session_id.as_str());
    let session = ctx
        .store
        .find_session(sid)
        .await?
        .filter(|s| s.user_id == uid)
        .ok_or_else(session_ended)?;
    let now = Utc::now();
    let new_jti = new_id();
    let expires_at = now + refresh_ttl(ctx);
    let rotated = ctx
        .store
        .rotate_refresh(sid, uid, &session.refresh_jti, &new_jti, expires_at, now)
        .await?
        .ok_or_else(|| AppError::Conflict("The session changed meanwhile, try again".into()))?;
    let ends_at = expires_at.min(rotated.created_at + max_lifetime(ctx));
    let ids = (uid, sid, new_jti.as_str());
    issue(
        ctx,
        ids,
        rotated.authentication(),
        org.as_ref(),
        now,
        ends_at,
    )
}

/// The `method` of a `login.succeeded` event, from how the session was signed in.
fn sign_in_method(amr: Amr) -> &'static str {
    if amr.contains(Amr::FED) {
        "provider"
    } else if amr.contains(Amr::MAIL) {
        "email"
    } else if amr.contains(Amr::HWK) {
        "passkey"
    } else {
        "password"
    }
}

/// The per-IP limit, then the failure budget of the account the login names (or of the login
/// itself when it names none); returns that account. Both paths make the same store calls.
async fn admit_login(
    ctx: &AppContext,
    login: &str,
    ip: IpAddr,
) -> AppResult<(Option<User>, Attempt)> {
    limits::login_from_ip(ctx, ip).await?;
    let user = ctx.store.find_user_by_login(login).await?;
    let account = user
        .as_ref()
        .map_or(Account::UnknownLogin(login), |u| Account::Id(&u.id));
    let attempt = limits::password_attempt(ctx, account).await?;
    Ok((user, attempt))
}

/// Records a wrong password (`kind` says where it was typed) and, when this failure used up the
/// account's budget, the lock it causes.
pub(crate) async fn record_wrong_password(
    ctx: &AppContext,
    kind: EventType,
    user_id: Option<&str>,
    client: &ClientInfo,
    attempt: Attempt,
) {
    let failure = ("password", "invalid_credentials");
    record_failed_proof(ctx, kind, failure, user_id, client, attempt).await;
}

/// Records a failed proof of who one is (`failure`: the method, a password or a passkey, and the
/// reason) and, when this failure used up the account's budget, the lock it causes.
pub(crate) async fn record_failed_proof(
    ctx: &AppContext,
    kind: EventType,
    (method, reason): (&'static str, &'static str),
    user_id: Option<&str>,
    client: &ClientInfo,
    attempt: Attempt,
) {
    let event = |kind| {
        let event = NewEvent::new(kind).from(client);
        match user_id {
            Some(id) => event.user(id),
            None => event,
        }
    };
    let mut failed = event(kind).reason(reason);
    if kind == EventType::LoginFailed {
        failed = failed.method(method);
    }
    audit::record(ctx, failed).await;
    if attempt.locks_on_failure {
        audit::record(ctx, event(EventType::LoginLocked)).await;
    }
}

fn refresh_ttl(ctx: &AppContext) -> Duration {
    Duration::from_std(ctx.settings.tokens.refresh_ttl).unwrap_or(Duration::days(30))
}

pub(super) fn max_lifetime(ctx: &AppContext) -> Duration {
    Duration::from_std(ctx.settings.tokens.session_max_lifetime).unwrap_or(Duration::days(90))
}

/// A session's tokens: the access token (with the active organization, if any) and the
/// refresh token bound to `jti` (carrying that organization through refreshes).
fn issue(
    ctx: &AppContext,
    (uid, sid, jti): (&str, &str, &str),
    authentication: Authentication,
    org: Option<&ActiveOrg>,
    now: DateTime<Utc>,
    refresh_expires_at: DateTime<Utc>,
) -> AppResult<IssuedTokens> {
    let access_token = ctx
        .tokens
        .issue_access_in(uid, sid, authentication, org, now)
        .map_err(token_refused)?;
    Ok(IssuedTokens {
        access_token,
        access_expires_in: ctx.tokens.access_ttl.as_secs(),
        refresh_token: ctx.tokens.issue_refresh_in(
            uid,
            sid,
            jti,
            authentication.amr,
            org.map(|o| o.id.as_str()),
            (now, refresh_expires_at),
        ),
        refresh_expires_at,
        session_id: sid.to_string(),
        refresh_jti: jti.to_string(),
    })
}

/// Exchanges a refresh token for new tokens, rotating the session's jti.
///
/// - The current jti rotates atomically (a conditional update), so of two racing refreshes
///   exactly one rotates.
/// - The jti rotated away less than the grace window ago is answered with tokens for the current
///   jti: several tabs refreshing at once are not punished.
/// - Any older jti is a replayed, probably stolen token: the whole session is revoked.
pub async fn refresh(
    ctx: &AppContext,
    refresh_token: &str,
    client: &ClientInfo,
) -> AppResult<IssuedTokens> {
    let claims = verify(ctx, refresh_token, TokenType::Refresh)?;
    let jti = claims.jti.as_deref().ok_or_else(AppError::invalid_token)?;
    limits::refresh_of_session(ctx, &claims.sid).await?;
    let now = Utc::now();
    let new_jti = new_id();
    let expires_at = now + refresh_ttl(ctx);
    if let Some(rotated) = ctx
        .store
        .rotate_refresh(&claims.sid, &claims.uid, jti, &new_jti, expires_at, now)
        .await?
    {
        let owner = ctx.store.find_user(&claims.uid).await?;
        if !owner.is_some_and(|u| rotated.is_usable(now, &u, max_lifetime(ctx))) {
            return Err(session_ended());
        }
        // Refreshing slides the expiry, but never past the session's absolute end.
        let ends_at = expires_at.min(rotated.created_at + max_lifetime(ctx));
        let signed_in = rotated.authentication();
        let org = still_member(ctx, &claims).await?;
        let ids = (claims.uid.as_str(), claims.sid.as_str(), new_jti.as_str());
        return issue(ctx, ids, signed_in, org.as_ref(), now, ends_at);
    }

    let (session, owner) = tokio::try_join!(
        ctx.store.find_session(&claims.sid),
        ctx.store.find_user(&claims.uid)
    )?;
    let session = session
        .zip(owner)
        .filter(|(s, owner)| s.user_id == claims.uid && s.is_usable(now, owner, max_lifetime(ctx)))
        .map(|(s, _)| s)
        .ok_or_else(session_ended)?;
    let grace = Duration::from_std(ctx.settings.tokens.refresh_grace).unwrap_or_default();
    let within_grace = session.previous_jti.as_deref() == Some(jti)
        && session.rotated_at.is_some_and(|at| now - at <= grace);
    if within_grace {
        let ends_at = session
            .expires_at
            .min(session.created_at + max_lifetime(ctx));
        let org = still_member(ctx, &claims).await?;
        let ids = (
            claims.uid.as_str(),
            claims.sid.as_str(),
            session.refresh_jti.as_str(),
        );
        return issue(
            ctx,
            ids,
            session.authentication(),
            org.as_ref(),
            now,
            ends_at,
        );
    }
    tracing::warn!(session_id = %session.id, user_id = %session.user_id, "refresh token reuse detected; revoking the session");
    ctx.store
        .revoke_session(&session.id, None, RevokeReason::RefreshTokenReuse, now)
        .await?;
    let reuse = NewEvent::new(EventType::RefreshReuseDetected)
        .user(&session.user_id)
        .session(&session.id)
        .from(client)
        .reason(RevokeReason::RefreshTokenReuse.as_str());
    audit::record(ctx, reuse).await;
    Err(AppError::invalid_token())
}
