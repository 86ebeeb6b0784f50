//! The lifecycle of the Ed25519 signing keys of `JWT_ALG=EdDSA` (docs/API.md, "Signing keys and
//! JWKS"), shared by every instance through the store:
//!
//! - there is always one `active` key, which signs, and one `next` key, published ahead;
//! - rotating promotes `next` once it has been published for [`publish_lead`] (every instance
//!   has reloaded, then every verifier's cached JWKS has expired), retires the old active key
//!   (published for [`retired_for`] more: its last tokens expire by then) and makes a new `next`;
//! - each instance reloads every [`reload_every`] (at most a minute), and once on a kid it does
//!   not know, at most once per [`UNKNOWN_KID_RELOAD_GAP`].
//!
//! Every step is a conditional write, so racing instances rotate once; a step interrupted by a
//! crash is completed by the next pass (see [`ensure_keys`]).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::principal::Principal;
use crate::domain::signing_key::{KeyState, SigningKey};
use crate::error::{AppError, AppResult};
use crate::security::encryption::Keyring;
use crate::security::keyset::{self, KeySet};
use crate::service::audit::{self, NewEvent};
use crate::store::StoreError;

/// Fewest seconds between two reloads caused by unknown kids: a stream of forged kids costs the
/// database one read per gap, not one per request.
pub const UNKNOWN_KID_RELOAD_GAP: Duration = Duration::from_secs(5);

/// What a rotation left in place.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Rotation {
    /// The key that signs from now on.
    pub active_kid: String,
    /// The key published to sign after the next rotation.
    pub next_kid: String,
}

/// How often each instance reloads the keys: at most a minute, and no longer than verifiers
/// cache the JWKS.
pub fn reload_every(ctx: &AppContext) -> Duration {
    ctx.settings
        .signing
        .jwks_max_age
        .min(Duration::from_secs(60))
}

/// How long a `next` key is published before it may sign: every instance has reloaded it, and
/// every verifier's cached JWKS (which may predate it) has expired.
pub fn publish_lead(ctx: &AppContext) -> chrono::Duration {
    to_chrono(ctx.settings.signing.jwks_max_age + reload_every(ctx))
}

/// How long a retired key still verifies and is published: other instances may sign with it
/// until they reload, and the last token it signed lives one access-token lifetime.
pub fn retired_for(ctx: &AppContext) -> chrono::Duration {
    to_chrono(ctx.settings.tokens.access_ttl + reload_every(ctx))
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(1))
}

fn keyring(ctx: &AppContext) -> AppResult<&Keyring> {
    ctx.keyring.as_ref().ok_or_else(|| {
        AppError::NotConfigured("JWT_ALG=EdDSA needs ENCRYPTION_KEY to seal its keys".into())
    })
}

fn eddsa_only(ctx: &AppContext) -> AppResult<()> {
    if ctx.tokens.uses_ed25519() {
        Ok(())
    } else {
        Err(AppError::Conflict(
            "Tokens are signed with HS256 (JWT_ALG); there are no signing keys to rotate".into(),
        ))
    }
}

/// One pass of the background task (and the first load at start): makes sure an active and a
/// next key exist, rotates if `KEY_ROTATION_INTERVAL` says it is due, and installs the key set
/// if anything changed.
pub async fn refresh(ctx: &AppContext) -> AppResult<()> {
    let now = Utc::now();
    let mut records = ensure_keys(ctx, now).await?;
    if rotation_due(ctx, &records, now) {
        match promote_next(ctx, &records, now).await {
            Ok(rotation) => {
                tracing::info!(active_kid = %rotation.active_kid, "signing keys rotated (KEY_ROTATION_INTERVAL)");
                record_rotation(ctx, &rotation, None, "scheduled").await;
                records = ctx.store.list_signing_keys().await?;
            }
            // Not yet published long enough, or another instance rotated first.
            Err(AppError::Conflict(reason)) => tracing::debug!(%reason, "rotation not done"),
            Err(e) => return Err(e),
        }
    }
    install(ctx, &records, now)
}

/// Rotates now (the admin route and `rotate-keys`). 409 if the next key has not been published
/// long enough to sign, or another rotation took it first.
pub async fn rotate(ctx: &AppContext, by: Option<&Principal>) -> AppResult<Rotation> {
    eddsa_only(ctx)?;
    let now = Utc::now();
    let records = ensure_keys(ctx, now).await?;
    let rotation = promote_next(ctx, &records, now).await?;
    tracing::info!(active_kid = %rotation.active_kid, "signing keys rotated");
    record_rotation(ctx, &rotation, by, "rotate_keys_command").await;
    let records = ctx.store.list_signing_keys().await?;
    install(ctx, &records, now)?;
    Ok(rotation)
}

/// What an emergency revocation did, and what it costs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Revocation {
    /// Every key withdrawn: the signing key, the next key and the retired keys still published.
    /// None of them signs or verifies any more.
    pub withdrawn_kids: Vec<String>,
    /// The fresh key that signs from now on.
    pub active_kid: String,
    /// The fresh key published to sign after the next rotation.
    pub next_kid: String,
    /// Seconds until every other instance has reloaded and refuses the withdrawn keys too
    /// (at once when it meets a token of the fresh key).
    pub other_instances_within_seconds: u64,
    /// The cost, in words.
    pub effect: String,
}

/// Emergency rotation, for a signing key that leaked (the admin route's `revoke_now=true` and
/// `rotate-keys --revoke-now`): withdraws every published key at once (its private key erased,
/// no longer verifying), and signs with a fresh key straight away. Every access token issued
/// before is refused, so clients refresh on their next 401; sessions and refresh tokens (HS256
/// under `SECRET_KEY`, never signed by these keys) are untouched. Unlike [`rotate`], nothing
/// waits for the fresh key to be published: a verifier holding a cached JWKS refuses the new
/// tokens until it refetches on the unknown kid.
pub async fn revoke_now(ctx: &AppContext, by: Option<&Principal>) -> AppResult<Revocation> {
    eddsa_only(ctx)?;
    // Before withdrawing anything: without the keyring no fresh key could be made.
    keyring(ctx)?;
    let now = Utc::now();
    let withdrawn_kids = ctx
        .store
        .list_signing_keys()
        .await?
        .into_iter()
        .filter(|k| k.verifies_at(now))
        .map(|k| k.kid)
        .collect();
    ctx.store.revoke_signing_keys(now).await?;
    let records = ensure_keys(ctx, now).await?;
    install(ctx, &records, now)?;
    let newest = |state| {
        records
            .iter()
            .filter(|k| k.state == state)
            .max_by_key(|k| k.seq)
            .map(|k| k.kid.clone())
            .unwrap_or_default()
    };
    let revocation = Revocation {
        withdrawn_kids,
        active_kid: newest(KeyState::Active),
        next_kid: newest(KeyState::Next),
        other_instances_within_seconds: reload_every(ctx).as_secs(),
        effect: "Every access token issued before now is refused: clients refresh on their next \
                 401 (sessions and refresh tokens are untouched). Verifiers elsewhere refetch the \
                 JWKS on the new kid."
            .into(),
    };
    tracing::warn!(
        withdrawn = ?revocation.withdrawn_kids,
        active_kid = %revocation.active_kid,
        "signing keys revoked at once"
    );
    let event = NewEvent::new(EventType::KeysRevoked)
        .public_id("active_kid", &revocation.active_kid)
        .public_id("next_kid", &revocation.next_kid)
        .count("withdrawn", revocation.withdrawn_kids.len() as u64);
    let event = match by {
        Some(principal) => event.by(principal),
        None => event.reason("rotate_keys_command"),
    };
    audit::record(ctx, event).await;
    Ok(revocation)
}

/// Reloads the keys because a token named a kid this instance does not know, unless another
/// such reload happened less than [`UNKNOWN_KID_RELOAD_GAP`] ago. Whether it reloaded.
pub async fn reload_for_unknown_kid(ctx: &AppContext) -> bool {
    if !ctx.tokens.claim_unknown_kid_reload(UNKNOWN_KID_RELOAD_GAP) {
        return false;
    }
    let reloaded = async {
        let records = ctx.store.list_signing_keys().await?;
        install(ctx, &records, Utc::now())
    };
    match reloaded.await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not reload the signing keys");
            false
        }
    }
}

/// Runs for the life of the server: [`refresh`] every [`reload_every`] (every second until the
/// first load succeeds, so a server started before its database signs as soon as it answers).
pub async fn maintain(ctx: AppContext) {
    if !ctx.tokens.uses_ed25519() {
        return;
    }
    loop {
        let loaded = ctx.tokens.key_set().is_some();
        tokio::time::sleep(if loaded {
            reload_every(&ctx)
        } else {
            Duration::from_secs(1)
        })
        .await;
        if !ctx.store.is_prepared() {
            continue;
        }
        if let Err(e) = refresh(&ctx).await {
            tracing::warn!(error = %e, "could not refresh the signing keys");
        }
    }
}

/// Completes the key records: an active key (a fresh deployment or one switching from HS256)
/// and a next key (a fresh deployment, or a rotation interrupted before it made one). Creating
/// a key is an insert under the next `seq`, so of racing instances one creates it. Returns the
/// records as they are afterwards.
pub async fn ensure_keys(ctx: &AppContext, now: DateTime<Utc>) -> AppResult<Vec<SigningKey>> {
    let records = ctx.store.list_signing_keys().await?;
    let has = |state| records.iter().any(|k| k.state == state);
    let missing = if !has(KeyState::Active) {
        // No token was ever signed by a key of ours, so none needs to be published first.
        Some(KeyState::Active)
    } else if !has(KeyState::Next) {
        Some(KeyState::Next)
    } else {
        None
    };
    let Some(state) = missing else {
        return Ok(records);
    };
    let keyring = keyring(ctx)?;
    let mut seq = next_seq(&records);
    create(ctx, keyring, seq, state, now).await?;
    if state == KeyState::Active {
        seq += 1;
        create(ctx, keyring, seq, KeyState::Next, now).await?;
        tracing::info!("signing keys created (JWT_ALG=EdDSA)");
    }
    Ok(ctx.store.list_signing_keys().await?)
}

async fn create(
    ctx: &AppContext,
    keyring: &Keyring,
    seq: i64,
    state: KeyState,
    now: DateTime<Utc>,
) -> AppResult<()> {
    match ctx
        .store
        .insert_signing_key(&keyset::generate(seq, state, keyring, now))
        .await
    {
        // Another instance made the key of this `seq` first: theirs serves.
        Ok(()) | Err(StoreError::Duplicate { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn next_seq(records: &[SigningKey]) -> i64 {
    records.iter().map(|k| k.seq).max().unwrap_or(0) + 1
}

fn rotation_due(ctx: &AppContext, records: &[SigningKey], now: DateTime<Utc>) -> bool {
    let Some(interval) = ctx.settings.signing.rotation_interval else {
        return false;
    };
    let newest_active = records
        .iter()
        .filter(|k| k.state == KeyState::Active)
        .filter_map(|k| k.activated_at)
        .max();
    newest_active.is_some_and(|at| at + to_chrono(interval) <= now)
}

/// The rotation itself: the oldest next key becomes active (if published long enough), every
/// other active key retires, and a new next key is made.
async fn promote_next(
    ctx: &AppContext,
    records: &[SigningKey],
    now: DateTime<Utc>,
) -> AppResult<Rotation> {
    let next = records
        .iter()
        .filter(|k| k.state == KeyState::Next)
        .min_by_key(|k| k.seq)
        .ok_or_else(|| AppError::Conflict("There is no next key yet; try again".into()))?;
    let signs_from = next.created_at + publish_lead(ctx);
    if now < signs_from {
        let wait = (signs_from - now).num_seconds() + 1;
        return Err(AppError::Conflict(format!(
            "The next key has not been published long enough to sign; rotate again in {wait} s"
        )));
    }
    if !ctx.store.activate_signing_key(&next.kid, now).await? {
        return Err(AppError::Conflict(
            "Another rotation is taking place; try again".into(),
        ));
    }
    ctx.store
        .retire_signing_keys(&next.kid, now, now + retired_for(ctx))
        .await?;
    let keyring = keyring(ctx)?;
    create(ctx, keyring, next_seq(records), KeyState::Next, now).await?;
    let records = ctx.store.list_signing_keys().await?;
    let next_kid = records
        .iter()
        .filter(|k| k.state == KeyState::Next)
        .min_by_key(|k| k.seq)
        .map(|k| k.kid.clone())
        .unwrap_or_default();
    Ok(Rotation {
        active_kid: next.kid.clone(),
        next_kid,
    })
}

/// `keys.rotated`, by an admin (`by`) or else for `reason` (`scheduled`, `rotate_keys_command`).
async fn record_rotation(
    ctx: &AppContext,
    rotation: &Rotation,
    by: Option<&Principal>,
    reason: &'static str,
) {
    let event = NewEvent::new(EventType::KeysRotated)
        .public_id("active_kid", &rotation.active_kid)
        .public_id("next_kid", &rotation.next_kid);
    let event = match by {
        Some(principal) => event.by(principal),
        None => event.reason(reason),
    };
    audit::record(ctx, event).await;
}

/// Builds the key set from the records and installs it, unless it would equal the one in use
/// (same records, and no published retired key has expired since).
fn install(ctx: &AppContext, records: &[SigningKey], now: DateTime<Utc>) -> AppResult<()> {
    if let Some(current) = ctx.tokens.key_set()
        && current.fingerprint == keyset::fingerprint(records)
        && current.stale_at().is_none_or(|at| at > now)
    {
        return Ok(());
    }
    let keyring = keyring(ctx)?;
    let access_ttl = to_chrono(ctx.settings.tokens.access_ttl);
    let set = KeySet::build(records, keyring, access_ttl, now)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    ctx.tokens.install(set);
    Ok(())
}
