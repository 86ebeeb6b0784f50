//! The ways an account signs in (a password, identities at providers, passkeys), and the rule
//! that the last one cannot be removed (docs/API.md, "Accounts without a password").

use chrono::Utc;

use crate::context::AppContext;
use crate::domain::identity::Identity;
use crate::domain::passkey::Passkey;
use crate::error::{AppError, AppResult};

/// The refusal of removing the last way to sign in.
pub const LAST_WAY: &str = "this is the last way to sign in to the account; add another first";

/// An account's ways to sign in, as they are now.
pub struct Ways {
    pub password: bool,
    /// The ids of its identities.
    pub identities: Vec<String>,
    /// The ids of its passkeys.
    pub passkeys: Vec<String>,
}

impl Ways {
    pub fn total(&self) -> usize {
        usize::from(self.password) + self.identities.len() + self.passkeys.len()
    }
}

/// Reads them (three point reads, at once). An unknown account is 404.
pub async fn count(ctx: &AppContext, user_id: &str) -> AppResult<Ways> {
    let (user, identities, passkeys) = tokio::try_join!(
        ctx.store.find_user(user_id),
        ctx.store.list_identities(user_id),
        ctx.store.list_passkeys(user_id),
    )?;
    let user = user.ok_or_else(|| AppError::NotFound("User not found".into()))?;
    Ok(Ways {
        password: user.has_password(),
        identities: identities.into_iter().map(|i| i.id).collect(),
        passkeys: passkeys.into_iter().map(|p| p.id).collect(),
    })
}

/// 404 unless the account exists (an admin's view of someone's sign-in methods).
pub async fn existing_user(ctx: &AppContext, user_id: &str) -> AppResult<()> {
    match ctx.store.find_user(user_id).await? {
        Some(_) => Ok(()),
        None => Err(AppError::NotFound("User not found".into())),
    }
}

/// A way to sign in that its owner or an admin removes.
#[derive(Clone, Copy)]
pub enum Way<'a> {
    Identity(&'a str),
    Passkey(&'a str),
}

/// What [`remove_unless_last`] removed.
pub enum Removed {
    Identity(Identity),
    Passkey(Passkey),
}

/// Removes the way unless it is the account's last (409). The check and the delete are two
/// writes, so after the delete the rule is checked again: of two racing removals of an account's
/// last two ways, neither can leave it with none (a loser puts its way back and answers 409).
pub async fn remove_unless_last(
    ctx: &AppContext,
    user_id: &str,
    way: Way<'_>,
) -> AppResult<Removed> {
    let ways = count(ctx, user_id).await?;
    let (listed, what) = match way {
        Way::Identity(id) => (ways.identities.iter().any(|i| i == id), "Identity"),
        Way::Passkey(id) => (ways.passkeys.iter().any(|p| p == id), "Passkey"),
    };
    let not_found = || AppError::NotFound(format!("{what} not found"));
    if !listed {
        return Err(not_found());
    }
    if ways.total() <= 1 {
        return Err(AppError::Conflict(LAST_WAY.into()));
    }
    let removed = match way {
        Way::Identity(id) => {
            let identity = ctx
                .store
                .list_identities(user_id)
                .await?
                .into_iter()
                .find(|i| i.id == id)
                .ok_or_else(not_found)?;
            if !ctx.store.delete_identity(id, user_id).await? {
                return Err(not_found());
            }
            Removed::Identity(identity)
        }
        Way::Passkey(id) => Removed::Passkey(
            ctx.store
                .delete_passkey(id, user_id)
                .await?
                .ok_or_else(not_found)?,
        ),
    };
    if count(ctx, user_id).await?.total() == 0 {
        match &removed {
            Removed::Identity(identity) => {
                let restored = Identity {
                    last_used_at: identity.last_used_at.or(Some(Utc::now())),
                    ..identity.clone()
                };
                ctx.store.insert_identity(&restored).await?;
            }
            Removed::Passkey(passkey) => ctx.store.insert_passkey(passkey).await?,
        }
        return Err(AppError::Conflict(LAST_WAY.into()));
    }
    Ok(removed)
}
