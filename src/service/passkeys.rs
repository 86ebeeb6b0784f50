//! Passkeys (docs/API.md, "Passkeys"): registering one to an account, signing in with one and no
//! username, and managing them.
//!
//! - **Ceremony state lives in the store** (`oauth_tickets`, 5 minutes) under the hash of the
//!   `challenge_id` the client holds, and is taken by one conditional delete: a replayed or a
//!   raced finish finds nothing (the WebAuthn library itself would accept a state twice), and a
//!   registration's state is of another kind than a sign-in's.
//! - **User verification is required** in both ceremonies, so a passkey sign-in is multi-factor
//!   by itself (`amr: ["hwk", "user"]`, no TOTP step).
//! - **Sign-in failures** count against the client's login limit and the account's lockout like
//!   a wrong password; an unknown or removed credential answers like any other failure.
//! - **A signature counter going backwards** (a cloned authenticator) refuses the sign-in and
//!   records `passkey.clone_suspected`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    Credential, CredentialID, DiscoverableAuthentication, Passkey as WebauthnPasskey,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Uuid, Webauthn,
    WebauthnError,
};
use webauthn_rs_proto::{AuthenticatorSelectionCriteria, ResidentKeyRequirement};

use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::passkey::Passkey;
use crate::domain::principal::{ClientInfo, Principal};
use crate::domain::ticket::TicketKind;
use crate::domain::{Amr, new_id};
use crate::error::{AppError, AppResult};
use crate::service::audit::{self, NewEvent};
use crate::service::limits::{self, Account};
use crate::service::sessions::{self, LoginResult};
use crate::service::sign_in_ways::{self, Removed, Way};
use crate::service::{accounts, tickets};
use crate::store::StoreError;

/// The longest name a passkey may have.
pub const MAX_NAME: usize = 64;

const INVALID: &str = "Invalid credentials";
const LOGIN_FAILED: EventType = EventType::LoginFailed;

/// A registration waiting for the authenticator.
#[derive(Serialize, Deserialize)]
struct Registration {
    user_id: String,
    state: PasskeyRegistration,
}

/// A sign-in waiting for the authenticator.
#[derive(Serialize, Deserialize)]
struct SignIn {
    state: DiscoverableAuthentication,
}

/// A ceremony's start: the id the finish names, and the options for the browser.
pub struct Ceremony {
    pub challenge_id: String,
    /// `PublicKeyCredentialCreationOptions` or `...RequestOptions` as JSON (binary fields in
    /// base64url).
    pub options: serde_json::Value,
}

/// How long a ceremony may take (`WEBAUTHN_CHALLENGE_TTL`, 5 minutes).
fn ceremony_ttl(ctx: &AppContext) -> Duration {
    Duration::from_std(ctx.settings.passkeys.challenge_ttl).unwrap_or(Duration::minutes(5))
}

fn relying_party(ctx: &AppContext) -> AppResult<&Webauthn> {
    ctx.passkeys
        .get()
        .map_err(|why| AppError::NotConfigured(format!("passkeys are off: {why}")))
}

/// Starts registering a passkey to the caller's account (recent authentication). The account's
/// passkeys are excluded, so an authenticator does not make a second one for it; a resident key
/// is required, for sign-in with no username.
pub async fn register_start(
    ctx: &AppContext,
    principal: &Principal,
    current_password: Option<String>,
) -> AppResult<Ceremony> {
    let rp = relying_party(ctx)?;
    accounts::reauthenticate(ctx, principal, current_password).await?;
    let user = &principal.user;
    let existing = ctx.store.list_passkeys(&user.id).await?;
    let exclude: Vec<CredentialID> = existing
        .iter()
        .filter_map(|p| library_passkey(p).ok())
        .map(|p| p.cred_id().clone())
        .collect();
    let user_handle = user_handle(&user.id)?;
    let display = user.full_name.as_deref().unwrap_or(&user.username);
    let (mut options, state) = rp
        .start_passkey_registration(user_handle, &user.email, display, Some(exclude))
        .map_err(ceremony_failed)?;
    // Discoverable credentials only: the sign-in names no account.
    let selection = options
        .public_key
        .authenticator_selection
        .get_or_insert_with(AuthenticatorSelectionCriteria::default);
    selection.resident_key = Some(ResidentKeyRequirement::Required);
    selection.require_resident_key = true;
    let registration = Registration {
        user_id: user.id.clone(),
        state,
    };
    let challenge_id = tickets::file(
        ctx,
        TicketKind::PasskeyRegistration,
        ceremony_ttl(ctx),
        &registration,
    )
    .await?;
    Ok(Ceremony {
        challenge_id,
        options: to_json(&options.public_key)?,
    })
}

/// Finishes a registration: the authenticator's answer to the challenge this account started.
pub async fn register_finish(
    ctx: &AppContext,
    principal: &Principal,
    challenge_id: &str,
    credential: &RegisterPublicKeyCredential,
    name: Option<&str>,
    client: &ClientInfo,
) -> AppResult<Passkey> {
    let rp = relying_party(ctx)?;
    let name = checked_name(name.unwrap_or("Passkey"))?;
    let registration: Registration =
        tickets::take(ctx, TicketKind::PasskeyRegistration, challenge_id)
            .await?
            .filter(|r: &Registration| r.user_id == principal.user.id)
            .ok_or_else(expired_challenge)?;
    let made = rp
        .finish_passkey_registration(credential, &registration.state)
        .map_err(webauthn_refusal)?;
    let internals = Credential::from(made.clone());
    let now = Utc::now();
    let passkey = Passkey {
        id: new_id(),
        user_id: principal.user.id.clone(),
        credential_id: URL_SAFE_NO_PAD.encode(made.cred_id().as_slice()),
        name,
        credential: to_json(&made)?.to_string(),
        backed_up: internals.backup_state,
        // As the browser reported them: the library keeps them only from attestations other
        // than "none", which nearly every passkey sends.
        transports: credential
            .response
            .transports
            .clone()
            .unwrap_or_default()
            .iter()
            .filter_map(|t| serde_json::to_value(t).ok())
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        created_at: now,
        last_used_at: None,
    };
    match ctx.store.insert_passkey(&passkey).await {
        Ok(()) => {}
        Err(StoreError::Duplicate { .. }) => {
            return Err(AppError::Conflict(
                "this passkey is registered already".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let added = NewEvent::new(EventType::PasskeyAdded)
        .by(principal)
        .user(&principal.user.id)
        .from(client)
        .public_id("passkey_id", &passkey.id);
    audit::record(ctx, added).await;
    Ok(passkey)
}

/// Starts a sign-in with no username: any discoverable passkey of this relying party may answer
/// (also through autofill, conditional UI).
pub async fn sign_in_start(ctx: &AppContext) -> AppResult<Ceremony> {
    let rp = relying_party(ctx)?;
    let (options, state) = rp
        .start_discoverable_authentication()
        .map_err(ceremony_failed)?;
    let sign_in = SignIn { state };
    let challenge_id =
        tickets::file(ctx, TicketKind::PasskeySignIn, ceremony_ttl(ctx), &sign_in).await?;
    Ok(Ceremony {
        challenge_id,
        options: to_json(&options.public_key)?,
    })
}

/// Finishes a sign-in: the assertion is checked against the stored credential it names (its
/// user handle must be the credential's account), then a session opens, multi-factor by itself.
pub async fn sign_in_finish(
    ctx: &AppContext,
    challenge_id: &str,
    assertion: &PublicKeyCredential,
    client: &ClientInfo,
) -> AppResult<LoginResult> {
    let rp = relying_party(ctx)?;
    limits::login_from_ip(ctx, client.ip).await?;
    let sign_in: SignIn = tickets::take(ctx, TicketKind::PasskeySignIn, challenge_id)
        .await?
        .ok_or_else(expired_challenge)?;
    let refused = || AppError::Unauthorized(INVALID.into());
    let Ok((user_handle, credential_id)) = rp.identify_discoverable_authentication(assertion)
    else {
        record_failure(ctx, None, client, "invalid_credentials").await;
        return Err(refused());
    };
    let stored = ctx
        .store
        .find_passkey_by_credential(&URL_SAFE_NO_PAD.encode(credential_id))
        .await?
        .filter(|p| user_handle.to_string() == p.user_id);
    let Some(stored) = stored else {
        // Unknown, removed, or another account's handle: like any failure.
        record_failure(ctx, None, client, "invalid_credentials").await;
        return Err(refused());
    };
    let account = Account::Id(&stored.user_id);
    let attempt = limits::password_attempt(ctx, account).await?;
    let mut credential = library_passkey(&stored)?;
    let started = std::time::Instant::now();
    let checked = rp.finish_discoverable_authentication_v2(assertion, sign_in.state, &credential);
    ctx.metrics.passkey_verification(started.elapsed());
    let result = match checked {
        Ok(result) => result,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            let suspected = NewEvent::new(EventType::PasskeyCloneSuspected)
                .user(&stored.user_id)
                .from(client)
                .public_id("passkey_id", &stored.id);
            audit::record(ctx, suspected).await;
            let failure = ("passkey", "counter_went_back");
            let owner = Some(stored.user_id.as_str());
            sessions::record_failed_proof(ctx, LOGIN_FAILED, failure, owner, client, attempt).await;
            return Err(refused());
        }
        Err(_) => {
            let failure = ("passkey", "invalid_credentials");
            let owner = Some(stored.user_id.as_str());
            sessions::record_failed_proof(ctx, LOGIN_FAILED, failure, owner, client, attempt).await;
            return Err(refused());
        }
    };
    let user = ctx
        .store
        .find_user(&stored.user_id)
        .await?
        .ok_or_else(refused)?;
    if !user.is_active {
        record_failure(ctx, Some(&user.id), client, "inactive").await;
        return Err(AppError::Unauthorized("Account is inactive".into()));
    }
    if ctx.settings.mail.require_verified_email && !user.email_verified {
        record_failure(ctx, Some(&user.id), client, "email_not_verified").await;
        return Err(AppError::Forbidden("email not verified".into()));
    }
    // The new signature counter and backup state, and the time of use.
    credential.update_credential(&result);
    let json = to_json(&credential)?.to_string();
    ctx.store
        .record_passkey_use(&stored.id, &json, result.backup_state(), Utc::now())
        .await?;
    limits::password_accepted(ctx, account).await?;
    let used = NewEvent::new(EventType::PasskeyUsed)
        .own(&user.id)
        .from(client)
        .public_id("passkey_id", &stored.id);
    audit::record(ctx, used).await;
    let signed_in = sessions::open_session(ctx, user, client, Amr::HWK.with(Amr::USER)).await?;
    Ok(LoginResult::SignedIn(Box::new(signed_in)))
}

async fn record_failure(
    ctx: &AppContext,
    user_id: Option<&str>,
    client: &ClientInfo,
    reason: &'static str,
) {
    let mut failed = NewEvent::new(EventType::LoginFailed)
        .from(client)
        .method("passkey")
        .reason(reason);
    if let Some(id) = user_id {
        failed = failed.user(id);
    }
    audit::record(ctx, failed).await;
}

pub async fn list(ctx: &AppContext, user_id: &str) -> AppResult<Vec<Passkey>> {
    Ok(ctx.store.list_passkeys(user_id).await?)
}

pub async fn rename(
    ctx: &AppContext,
    principal: &Principal,
    passkey_id: &str,
    name: &str,
) -> AppResult<Passkey> {
    let name = checked_name(name)?;
    ctx.store
        .rename_passkey(passkey_id, &principal.user.id, &name)
        .await?
        .ok_or_else(|| AppError::NotFound("Passkey not found".into()))
}

/// Removes one of the caller's passkeys (recent authentication); never the last way in.
pub async fn remove(
    ctx: &AppContext,
    principal: &Principal,
    passkey_id: &str,
    current_password: Option<String>,
) -> AppResult<()> {
    accounts::reauthenticate(ctx, principal, current_password).await?;
    let removed = remove_unless_last(ctx, &principal.user.id, passkey_id).await?;
    let event = NewEvent::new(EventType::PasskeyRemoved)
        .by(principal)
        .user(&principal.user.id)
        .public_id("passkey_id", &removed.id);
    audit::record(ctx, event).await;
    Ok(())
}

pub async fn admin_list(ctx: &AppContext, user_id: &str) -> AppResult<Vec<Passkey>> {
    sign_in_ways::existing_user(ctx, user_id).await?;
    list(ctx, user_id).await
}

/// An admin removes a user's passkey; the last way to sign in stays, as for its owner.
pub async fn admin_remove(
    ctx: &AppContext,
    admin: &Principal,
    user_id: &str,
    passkey_id: &str,
) -> AppResult<()> {
    sign_in_ways::existing_user(ctx, user_id).await?;
    let removed = remove_unless_last(ctx, user_id, passkey_id).await?;
    let event = NewEvent::new(EventType::PasskeyRemoved)
        .by(admin)
        .user(user_id)
        .public_id("passkey_id", &removed.id);
    audit::record(ctx, event).await;
    Ok(())
}

/// Deletes the passkey unless it is the account's last way to sign in.
async fn remove_unless_last(
    ctx: &AppContext,
    user_id: &str,
    passkey_id: &str,
) -> AppResult<Passkey> {
    match sign_in_ways::remove_unless_last(ctx, user_id, Way::Passkey(passkey_id)).await? {
        Removed::Passkey(passkey) => Ok(passkey),
        Removed::Identity(_) => unreachable!("a passkey was asked for"),
    }
}

fn checked_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(AppError::validation(
            crate::domain::validate::FieldError::body(
                "name",
                "1 to 64 characters, no control characters",
                "value_error",
            ),
        ));
    }
    Ok(name.to_string())
}

/// The WebAuthn user handle: the account's id (a UUID), so a sign-in's assertion names its
/// account and nothing more.
fn user_handle(user_id: &str) -> AppResult<Uuid> {
    Uuid::parse_str(user_id).map_err(|_| AppError::Internal("a user id that is not a UUID".into()))
}

fn library_passkey(stored: &Passkey) -> AppResult<WebauthnPasskey> {
    serde_json::from_str(&stored.credential)
        .map_err(|e| AppError::Internal(format!("stored passkey unreadable: {e}")))
}

fn to_json<T: Serialize>(value: &T) -> AppResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| AppError::Internal(e.to_string()))
}

fn expired_challenge() -> AppError {
    AppError::BadRequest("invalid or expired challenge".into())
}

/// A ceremony the server could not start: a bug, not the client's.
fn ceremony_failed(e: WebauthnError) -> AppError {
    AppError::Internal(format!("passkey ceremony: {e}"))
}

/// A ceremony the library refused: the client's answer was wrong (origin, RP id, user
/// verification, signature, challenge), which is the client's 400, not the server's fault.
fn webauthn_refusal(e: WebauthnError) -> AppError {
    tracing::info!(error = %e, "passkey ceremony refused");
    AppError::BadRequest(format!("the authenticator's answer was refused: {e}"))
}
