//! Filing a ceremony's step in the store (a provider flow's, a passkey ceremony's) under a fresh
//! secret's hash, and taking it back once.

use chrono::{Duration, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::AppContext;
use crate::domain::ticket::{Ticket, TicketKind};
use crate::error::{AppError, AppResult};
use crate::security::one_time::{hash_link_token, new_link_token};

/// Files `payload` for `ttl`; returns the secret that takes it back (only its hash is stored).
pub(crate) async fn file<T: Serialize>(
    ctx: &AppContext,
    kind: TicketKind,
    ttl: Duration,
    payload: &T,
) -> AppResult<String> {
    let (secret, id_hash) = new_link_token();
    file_as(ctx, kind, id_hash, ttl, payload).await?;
    Ok(secret)
}

/// Files `payload` under `id_hash`, the hash of a secret the caller made (and needed before).
pub(crate) async fn file_as<T: Serialize>(
    ctx: &AppContext,
    kind: TicketKind,
    id_hash: String,
    ttl: Duration,
    payload: &T,
) -> AppResult<()> {
    let payload = serde_json::to_string(payload).map_err(|e| AppError::Internal(e.to_string()))?;
    let ticket = Ticket {
        id_hash,
        kind,
        payload,
        expires_at: Utc::now() + ttl,
    };
    ctx.store.put_ticket(&ticket).await?;
    Ok(())
}

/// Takes the live ticket `secret` names, once; `None` for anything else (unknown, used, expired,
/// another kind, not even shaped like a secret).
pub(crate) async fn take<T: DeserializeOwned>(
    ctx: &AppContext,
    kind: TicketKind,
    secret: &str,
) -> AppResult<Option<T>> {
    if secret.is_empty() || secret.len() > 256 {
        return Ok(None);
    }
    let taken = ctx
        .store
        .take_ticket(kind, &hash_link_token(secret), Utc::now())
        .await?;
    taken
        .map(|t| serde_json::from_str(&t.payload).map_err(|e| AppError::Internal(e.to_string())))
        .transpose()
}
