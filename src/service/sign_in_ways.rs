//! The ways an account signs in (a password, identities at providers, passkeys), and the rule
//! that the last one cannot be removed (docs/API.md, "Accounts without a password").

use crate::context::AppContext;
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
