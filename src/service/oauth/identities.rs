//! A user's identities at providers: listed, linked from the account (a flow whose callback
//! links instead of signing in), and unlinked, never the last way to sign in.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::{FlowError, accounts, flow};
use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::identity::Identity;
use crate::domain::principal::{ClientInfo, Principal};
use crate::domain::ticket::TicketKind;
use crate::error::{AppError, AppResult};
use crate::security::oidc::ProviderPerson;
use crate::service::accounts as account_service;
use crate::service::audit::{self, NewEvent};
use crate::service::sign_in_ways::{self, Removed, Way};
use crate::service::tickets;
use crate::store::StoreError;

/// How long the browser has to open a link flow's `authorize_url`.
const LINK_TTL_MINUTES: i64 = 10;

/// A link flow started from the account, waiting for its browser.
#[derive(Serialize, Deserialize)]
pub(super) struct LinkStart {
    pub user_id: String,
    pub provider: String,
    pub redirect_to: String,
}

pub async fn list(ctx: &AppContext, user_id: &str) -> AppResult<Vec<Identity>> {
    Ok(ctx.store.list_identities(user_id).await?)
}

/// Starts linking a provider to the caller's account (recent authentication): the URL the
/// browser opens, which starts the flow with this browser's cookie.
pub async fn start_link(
    ctx: &AppContext,
    principal: &Principal,
    provider: &str,
    redirect_to: Option<&str>,
    current_password: Option<String>,
) -> AppResult<String> {
    if ctx.providers.get(provider).is_none() {
        return Err(AppError::NotFound("Unknown provider".into()));
    }
    let redirect_to = flow::allowed_redirect(ctx, redirect_to)?;
    account_service::reauthenticate(ctx, principal, current_password).await?;
    let start = LinkStart {
        user_id: principal.user.id.clone(),
        provider: provider.to_string(),
        redirect_to,
    };
    let ttl = Duration::minutes(LINK_TTL_MINUTES);
    let secret = tickets::file(ctx, TicketKind::Link, ttl, &start).await?;
    let mut url = url::Url::parse(&format!(
        "{}/api/v1/auth/oauth/{provider}/authorize",
        ctx.settings.oauth.public_url
    ))
    .map_err(|e| AppError::Internal(e.to_string()))?;
    url.query_pairs_mut().append_pair("link", &secret);
    Ok(url.to_string())
}

/// The callback of a link flow: the identity joins `user_id`, unless another account holds it.
pub(super) async fn finish_link(
    ctx: &AppContext,
    user_id: &str,
    provider: &str,
    person: &ProviderPerson,
    client: &ClientInfo,
) -> Result<(), FlowError> {
    if let Some(existing) = ctx.store.find_identity(provider, &person.subject).await? {
        return if existing.user_id == user_id {
            Ok(())
        } else {
            Err(FlowError::IdentityInUse)
        };
    }
    match accounts::insert_identity(ctx, user_id, provider, person).await {
        Ok(()) => {}
        Err(StoreError::Duplicate { .. }) => return Err(FlowError::IdentityInUse),
        Err(e) => return Err(e.into()),
    }
    let linked = NewEvent::new(EventType::IdentityLinked)
        .own(user_id)
        .from(client)
        .public_id("provider", provider);
    audit::record(ctx, linked).await;
    Ok(())
}

/// Unlinks one of the caller's identities (recent authentication); never the last way in.
pub async fn unlink(
    ctx: &AppContext,
    principal: &Principal,
    identity_id: &str,
    current_password: Option<String>,
) -> AppResult<()> {
    account_service::reauthenticate(ctx, principal, current_password).await?;
    let removed = remove(ctx, &principal.user.id, identity_id).await?;
    let unlinked = NewEvent::new(EventType::IdentityUnlinked)
        .by(principal)
        .user(&principal.user.id)
        .public_id("provider", &removed.provider);
    audit::record(ctx, unlinked).await;
    Ok(())
}

pub async fn admin_list(ctx: &AppContext, user_id: &str) -> AppResult<Vec<Identity>> {
    sign_in_ways::existing_user(ctx, user_id).await?;
    list(ctx, user_id).await
}

/// An admin unlinks a user's identity; the last way to sign in stays, as for its owner.
pub async fn admin_unlink(
    ctx: &AppContext,
    admin: &Principal,
    user_id: &str,
    identity_id: &str,
) -> AppResult<()> {
    sign_in_ways::existing_user(ctx, user_id).await?;
    let removed = remove(ctx, user_id, identity_id).await?;
    let unlinked = NewEvent::new(EventType::IdentityUnlinked)
        .by(admin)
        .user(user_id)
        .public_id("provider", &removed.provider);
    audit::record(ctx, unlinked).await;
    Ok(())
}

/// Deletes the identity unless it is the account's last way to sign in.
async fn remove(ctx: &AppContext, user_id: &str, identity_id: &str) -> AppResult<Identity> {
    match sign_in_ways::remove_unless_last(ctx, user_id, Way::Identity(identity_id)).await? {
        Removed::Identity(identity) => Ok(identity),
        Removed::Passkey(_) => unreachable!("an identity was asked for"),
    }
}
