//! Which account a provider identity signs into (docs/API.md, "Social login"):
//!
//! 1. `(provider, subject)` already linked: that account (inactive: refused as a login is).
//! 2. A verified address an account holds: link and sign in. If that account's address was never
//!    verified, whoever registered it never proved it (the takeover in waiting): the address is
//!    verified now, its password removed and every session of it ended.
//! 3. A verified address nobody holds: a new account (address verified, no password).
//! 4. An unverified or missing address: never linked to anyone. A new, unverified account if the
//!    address is free; else "sign in and link this provider from your account".
//!
//! Two first sign-ins of one person racing: the unique indexes (identity, address) let one
//! create. The other can lose twice, first the address (the winner made the account), then the
//! identity (the winner linked it while this one tried to), and finds the identity on its third
//! pass.

use chrono::Utc;

use super::FlowError;
use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::identity::Identity;
use crate::domain::principal::ClientInfo;
use crate::domain::{User, new_id};
use crate::error::AppError;
use crate::security::oidc::ProviderPerson;
use crate::service::audit::{self, NewEvent};
use crate::service::passwordless;
use crate::store::StoreError;

const TAKEOVER_REASON: &str = "unverified_address_proven_by_provider";

/// The account `person` signs into at `provider`, made or linked as the rules say.
pub(super) async fn account_for(
    ctx: &AppContext,
    provider: &str,
    person: &ProviderPerson,
    client: &ClientInfo,
) -> Result<User, FlowError> {
    // Each lost race (the address, then the identity) costs a pass; the third finds it linked.
    for _ in 0..3 {
        match resolve(ctx, provider, person, client).await {
            Err(Resolve::Raced) => continue,
            Err(Resolve::Failed(e)) => return Err(e),
            Ok(user) => return active(ctx, user, client).await,
        }
    }
    Err(FlowError::Server(AppError::Conflict(
        "the account changed during sign-in; try again".into(),
    )))
}

enum Resolve {
    /// A unique index refused a write another request made first.
    Raced,
    Failed(FlowError),
}

impl<E: Into<FlowError>> From<E> for Resolve {
    fn from(e: E) -> Self {
        Self::Failed(e.into())
    }
}

async fn resolve(
    ctx: &AppContext,
    provider: &str,
    person: &ProviderPerson,
    client: &ClientInfo,
) -> Result<User, Resolve> {
    // 1. Linked already.
    if let Some(identity) = ctx.store.find_identity(provider, &person.subject).await? {
        ctx.store
            .touch_identity(
                &identity.id,
                person.email.as_deref(),
                person.email_verified,
                Utc::now(),
            )
            .await?;
        let user = ctx.store.find_user(&identity.user_id).await?;
        return user.ok_or(Resolve::Failed(FlowError::AccountInactive));
    }
    let address = person
        .email
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let holder = match address {
        Some(a) => ctx.store.find_user_by_login(&a.to_lowercase()).await?,
        None => None,
    };
    match (address, holder) {
        // 2. A verified address an account holds.
        (Some(_), Some(user)) if person.email_verified => {
            if !user.is_active {
                return Err(Resolve::Failed(FlowError::AccountInactive));
            }
            link(ctx, &user, provider, person, client).await?;
            let user = passwordless::proven_address(ctx, user, client, "provider", TAKEOVER_REASON)
                .await?;
            Ok(user)
        }
        // 4. Someone's address, not proven by the provider: never joined to that account.
        (Some(_), Some(_)) => Err(Resolve::Failed(FlowError::AccountExists)),
        // 3. and 4.: an address nobody holds makes a new account, verified as the provider says.
        (Some(address), None) => {
            if !ctx.settings.oauth.sign_up {
                return Err(Resolve::Failed(FlowError::SignupDisabled));
            }
            let created = passwordless::create_account(
                ctx,
                address,
                person.email_verified,
                person.preferred_name.as_deref(),
                "provider",
            )
            .await;
            let user = match created {
                Ok(user) => user,
                Err(AppError::Conflict(_)) => return Err(Resolve::Raced),
                Err(e) => return Err(e.into()),
            };
            link(ctx, &user, provider, person, client).await?;
            Ok(user)
        }
        // 4. No address at all: nothing to make an account with, nothing to link by.
        (None, _) => Err(Resolve::Failed(FlowError::AccountExists)),
    }
}

/// Links `person` to `user` (`identity.linked`). A racing link of the same identity is
/// [`Resolve::Raced`]: the next pass finds it linked.
async fn link(
    ctx: &AppContext,
    user: &User,
    provider: &str,
    person: &ProviderPerson,
    client: &ClientInfo,
) -> Result<(), Resolve> {
    match insert_identity(ctx, &user.id, provider, person).await {
        Ok(()) => {
            let linked = NewEvent::new(EventType::IdentityLinked)
                .own(&user.id)
                .from(client)
                .public_id("provider", provider);
            audit::record(ctx, linked).await;
            Ok(())
        }
        Err(StoreError::Duplicate { .. }) => Err(Resolve::Raced),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn insert_identity(
    ctx: &AppContext,
    user_id: &str,
    provider: &str,
    person: &ProviderPerson,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let identity = Identity {
        id: new_id(),
        user_id: user_id.to_string(),
        provider: provider.to_string(),
        subject: person.subject.clone(),
        email: person.email.clone(),
        email_verified: person.email_verified,
        created_at: now,
        last_used_at: Some(now),
    };
    ctx.store.insert_identity(&identity).await
}

/// Refuses an account that may not sign in now, as a password login would.
async fn active(ctx: &AppContext, user: User, client: &ClientInfo) -> Result<User, FlowError> {
    let refusal = if !user.is_active {
        Some((FlowError::AccountInactive, "inactive"))
    } else if ctx.settings.mail.require_verified_email && !user.email_verified {
        Some((FlowError::EmailNotVerified, "email_not_verified"))
    } else {
        None
    };
    match refusal {
        None => Ok(user),
        Some((error, reason)) => {
            let failed = NewEvent::new(EventType::LoginFailed)
                .user(&user.id)
                .from(client)
                .method("provider")
                .reason(reason);
            audit::record(ctx, failed).await;
            Err(error)
        }
    }
}
