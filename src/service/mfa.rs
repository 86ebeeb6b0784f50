//! The second factor (docs/API.md, "Second factor"): TOTP enrolment and confirmation, the login's
//! second step, disabling, new recovery codes, and an admin's reset.
//!
//! Every code check (TOTP or recovery) draws on the account's failure budget, like a password,
//! and is counted before it is checked: parallel guesses cannot slip past the lock, and a code
//! can be brute-forced no faster than a password.

use std::sync::Arc;

use chrono::{Duration, Utc};

use crate::context::AppContext;
use crate::domain::Amr;
use crate::domain::event::EventType;
use crate::domain::mail::{OneTimeToken, TokenPurpose};
use crate::domain::mfa::MfaFactor;
use crate::domain::principal::{ClientInfo, Principal};
use crate::domain::{RevokeReason, Role, User, UserChanges};
use crate::error::{AppError, AppResult};
use crate::security::encryption::Keyring;
use crate::security::one_time::{hash_link_token, new_link_token};
use crate::security::totp;
use crate::service;
use crate::service::accounts::check_current_password;
use crate::service::audit::{self, NewEvent};
use crate::service::limits::{self, Account};
use crate::service::one_time::MFA_TOKEN_TTL_SECS;
use crate::service::sessions::{self, IssuedTokens};

/// How long an enrolment may wait for its first code.
pub const PENDING_SECS: u64 = 600;

/// A second-factor proof: a TOTP code, or one of the recovery codes.
pub enum Proof {
    Code(String),
    RecoveryCode(String),
}

/// What enrolment hands the client: the secret (for typing) and the `otpauth://` URI (for a QR
/// code). Shown once; the store keeps it sealed.
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
    pub expires_in: u64,
}

fn keyring(ctx: &AppContext) -> AppResult<&Keyring> {
    ctx.keyring.as_ref().ok_or_else(|| {
        AppError::NotConfigured("second factor is not configured (ENCRYPTION_KEY)".into())
    })
}

fn invalid_code() -> AppError {
    AppError::BadRequest("Invalid code".into())
}

/// Disabling or regenerating needs a factor to act on. Without one the answer says so before
/// any password or code is checked: no code could be right, and a wrong-looking attempt must
/// not be recorded as `mfa.failed` or draw on the account's lockout budget.
fn has_factor(principal: &Principal) -> AppResult<()> {
    if principal.user.mfa_enabled {
        Ok(())
    } else {
        Err(AppError::NotFound(
            "The account has no second factor".into(),
        ))
    }
}

/// Starts an enrolment: a new secret, pending until a code from it confirms it.
pub async fn enrol(
    ctx: &AppContext,
    principal: &Principal,
    current_password: String,
) -> AppResult<Enrolment> {
    let keyring = keyring(ctx)?;
    check_current_password(ctx, principal, current_password).await?;
    let user = &principal.user;
    let secret = totp::new_secret();
    let now = Utc::now();
    let pending = MfaFactor {
        user_id: user.id.clone(),
        secret: keyring.seal(&secret, &user.id),
        active: false,
        last_step: 0,
        created_at: now,
        confirmed_at: None,
        expires_at: Some(now + Duration::seconds(PENDING_SECS as i64)),
    };
    if !ctx.store.put_pending_factor(&pending).await? {
        return Err(AppError::Conflict(
            "A second factor is already active".into(),
        ));
    }
    let issuer = &ctx.settings.mail.product_name;
    Ok(Enrolment {
        secret: totp::base32(&secret),
        otpauth_uri: totp::otpauth_uri(&secret, issuer, &user.username),
        expires_in: PENDING_SECS,
    })
}

/// Confirms the pending factor with a code from it: the factor becomes active, the recovery codes
/// are made (returned once), and every other session ends.
pub async fn confirm(
    ctx: &AppContext,
    principal: &Principal,
    code: &str,
) -> AppResult<Vec<String>> {
    let keyring = keyring(ctx)?;
    let user = &principal.user;
    let now = Utc::now();
    let attempt = limits::password_attempt(ctx, Account::Id(&user.id)).await?;
    let factor = ctx
        .store
        .find_factor(&user.id)
        .await?
        .filter(|f| f.is_pending_at(now))
        .ok_or_else(|| {
            AppError::BadRequest("No second factor is waiting for confirmation".into())
        })?;
    let secret = open_secret(keyring, &factor)?;
    let step = totp::matching_step(&secret, code.trim(), now.timestamp().max(0) as u64);
    let activated = match step {
        Some(step) => {
            ctx.store
                .activate_factor(&user.id, step as i64, now)
                .await?
        }
        None => false,
    };
    if !activated {
        record_failure(ctx, user, &principal.client, attempt).await;
        return Err(invalid_code());
    }
    limits::password_accepted(ctx, Account::Id(&user.id)).await?;
    let codes = new_recovery_codes(ctx, &user.id).await?;
    changed(ctx, principal, true, EventType::MfaEnabled).await?;
    Ok(codes)
}

/// Turns the factor off, with the password and a code (or a recovery code).
pub async fn disable(
    ctx: &AppContext,
    principal: &Principal,
    current_password: String,
    proof: &Proof,
) -> AppResult<()> {
    keyring(ctx)?;
    has_factor(principal)?;
    check_current_password(ctx, principal, current_password).await?;
    check_proof(ctx, &principal.user, &principal.client, proof)
        .await?
        .ok_or_else(invalid_code)?;
    ctx.store.delete_factor(&principal.user.id).await?;
    changed(ctx, principal, false, EventType::MfaDisabled).await
}

/// New recovery codes (the old ones stop working), with the password and a code.
pub async fn regenerate_recovery_codes(
    ctx: &AppContext,
    principal: &Principal,
    current_password: String,
    code: &str,
) -> AppResult<Vec<String>> {
    keyring(ctx)?;
    has_factor(principal)?;
    check_current_password(ctx, principal, current_password).await?;
    let proof = Proof::Code(code.to_string());
    check_proof(ctx, &principal.user, &principal.client, &proof)
        .await?
        .ok_or_else(invalid_code)?;
    let codes = new_recovery_codes(ctx, &principal.user.id).await?;
    let event = NewEvent::new(EventType::MfaRecoveryCodesRegenerated)
        .user(&principal.user.id)
        .by(principal);
    audit::record(ctx, event).await;
    Ok(codes)
}

/// The first step of a login with a factor: a single-use `mfa_token` for the second step,
/// replacing an earlier one of the same user.
/// `first` is how the first step proved who the user is (a password, an emailed code); the
/// session the second step opens records it beside `otp`.
pub async fn challenge(ctx: &AppContext, user: &User, first: Amr) -> AppResult<String> {
    let (token, token_hash) = new_link_token();
    let now = Utc::now();
    ctx.store
        .put_token(&OneTimeToken {
            user_id: user.id.clone(),
            purpose: TokenPurpose::MfaLogin,
            email_lower: String::new(),
            token_hash,
            // No code belongs to it: the empty hash matches none.
            code_hash: String::new(),
            // An mfa_token confirms no address; the field carries the first step's methods.
            new_email: Some(first_step_field(first)),
            attempts: 0,
            created_at: now,
            expires_at: now + Duration::seconds(MFA_TOKEN_TTL_SECS as i64),
            used_at: None,
        })
        .await?;
    Ok(token)
}

/// The second step of a login: the `mfa_token` and a code (or a recovery code) open a session,
/// exactly as a login without a factor does.
pub async fn verify(
    ctx: &AppContext,
    mfa_token: &str,
    proof: &Proof,
    client: &ClientInfo,
) -> AppResult<(IssuedTokens, User, Arc<Role>)> {
    let expired = || AppError::Unauthorized("Invalid or expired mfa_token".into());
    let purposes = [TokenPurpose::MfaLogin];
    let token_hash = hash_link_token(mfa_token.trim());
    let now = Utc::now();
    let token = ctx
        .store
        .find_token_by_hash(&token_hash, &purposes, now)
        .await?
        .ok_or_else(expired)?;
    let user = ctx
        .store
        .find_user(&token.user_id)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(expired)?;
    if check_proof(ctx, &user, client, proof).await?.is_none() {
        ctx.store.count_token_failure(&token.key(), now).await?;
        return Err(AppError::Unauthorized("Invalid code".into()));
    }
    // Single use: of two racing second steps with one token, one opens a session.
    ctx.store
        .consume_token_by_hash(&token_hash, &purposes, now)
        .await?
        .ok_or_else(expired)?;
    let first = first_step(token.new_email.as_deref());
    sessions::open_session(ctx, user, client, first.with(Amr::OTP)).await
}

/// How an mfa_token's record names the first step's methods.
fn first_step_field(first: Amr) -> String {
    format!("amr:{}", first.bits())
}

/// The first step's methods from an mfa_token's record; a password for one written before they
/// were recorded.
fn first_step(field: Option<&str>) -> Amr {
    field
        .and_then(|f| f.strip_prefix("amr:"))
        .and_then(|bits| bits.parse().ok())
        .map(Amr::from_bits)
        .filter(|amr| !amr.is_empty())
        .unwrap_or(Amr::PWD)
}

/// An admin removes a user's factor (a lost phone); every session of the user ends.
pub async fn admin_reset(ctx: &AppContext, actor: &Principal, user_id: &str) -> AppResult<()> {
    let (user, _) =
        service::admin::modifiable_target(ctx, actor, user_id, service::admin::USE_SELF_SERVICE)
            .await?;
    if !ctx.store.delete_factor(&user.id).await? {
        return Err(AppError::NotFound("The user has no second factor".into()));
    }
    let (ctx, actor) = (ctx.clone(), actor.clone());
    service::to_completion(async move {
        let changes = UserChanges {
            mfa_enabled: Some(false),
            end_sessions: true,
            ..Default::default()
        };
        ctx.store
            .update_user(&user.id, &changes, None, Utc::now())
            .await?;
        let reason = RevokeReason::SecondFactorChanged;
        let revoked = service::record_ended_sessions(&ctx, &user.id, None, reason).await;
        let event = NewEvent::new(EventType::MfaResetByAdmin)
            .user(&user.id)
            .by(&actor)
            .count("revoked", revoked);
        audit::record(&ctx, event).await;
        Ok(())
    })
    .await
}

/// Checks a proof against the user's active factor, counted on the account's budget. `Some`
/// with the method on success (a TOTP step is then used up, or a recovery code gone).
async fn check_proof(
    ctx: &AppContext,
    user: &User,
    client: &ClientInfo,
    proof: &Proof,
) -> AppResult<Option<&'static str>> {
    let keyring = keyring(ctx)?;
    let attempt = limits::password_attempt(ctx, Account::Id(&user.id)).await?;
    let factor = ctx.store.find_factor(&user.id).await?.filter(|f| f.active);
    let accepted = match (&factor, proof) {
        (None, _) => None,
        (Some(factor), Proof::Code(code)) => {
            let secret = open_secret(keyring, factor)?;
            let now = Utc::now().timestamp().max(0) as u64;
            match totp::matching_step(&secret, code.trim(), now) {
                // At or before the last step used: a replay, refused by the conditional write.
                Some(step) if ctx.store.use_totp_step(&user.id, step as i64).await? => Some("totp"),
                _ => None,
            }
        }
        (Some(_), Proof::RecoveryCode(code)) => {
            let hash = ctx.codes.hash_recovery_code(&user.id, code);
            if ctx.store.use_recovery_code(&user.id, &hash).await? {
                let used = NewEvent::new(EventType::MfaRecoveryCodeUsed)
                    .user(&user.id)
                    .from(client);
                audit::record(ctx, used).await;
                Some("recovery_code")
            } else {
                None
            }
        }
    };
    match accepted {
        Some(_) => limits::password_accepted(ctx, Account::Id(&user.id)).await?,
        None => record_failure(ctx, user, client, attempt).await,
    }
    Ok(accepted)
}

async fn record_failure(
    ctx: &AppContext,
    user: &User,
    client: &ClientInfo,
    attempt: limits::Attempt,
) {
    sessions::record_wrong_password(ctx, EventType::MfaFailed, Some(&user.id), client, attempt)
        .await;
}

fn open_secret(keyring: &Keyring, factor: &MfaFactor) -> AppResult<Vec<u8>> {
    keyring
        .open(&factor.secret, &factor.user_id)
        .map_err(|e| AppError::Internal(format!("cannot open a TOTP secret: {e}")))
}

async fn new_recovery_codes(ctx: &AppContext, user_id: &str) -> AppResult<Vec<String>> {
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| ctx.codes.hash_recovery_code(user_id, c))
        .collect();
    ctx.store.replace_recovery_codes(user_id, &hashes).await?;
    Ok(codes)
}

/// After the factor was turned on or off by its user: the flag on the account, every other
/// session ended (the one making the change lives on), and the event.
async fn changed(
    ctx: &AppContext,
    principal: &Principal,
    enabled: bool,
    kind: EventType,
) -> AppResult<()> {
    let (ctx, principal) = (ctx.clone(), principal.clone());
    service::to_completion(async move {
        let user_id = principal.user.id.clone();
        let changes = UserChanges {
            mfa_enabled: Some(enabled),
            end_sessions: true,
            ..Default::default()
        };
        let updated = ctx
            .store
            .update_user(&user_id, &changes, None, Utc::now())
            .await?
            .ok_or_else(AppError::invalid_token)?;
        if let Err(e) = ctx
            .store
            .carry_session_over(&principal.session_id, &user_id, updated.session_epoch)
            .await
        {
            tracing::warn!(error = %e, "could not keep the current session after a second-factor change");
        }
        let reason = RevokeReason::SecondFactorChanged;
        let keep = Some(principal.session_id.as_str());
        let revoked = service::record_ended_sessions(&ctx, &user_id, keep, reason).await;
        let event = NewEvent::new(kind)
            .user(&user_id)
            .by(&principal)
            .count("revoked", revoked);
        audit::record(&ctx, event).await;
        Ok(())
    })
    .await
}
