//! The accounts a sign-in without a password makes or proves (an emailed secret, a sign-in
//! provider): created with no password and a username made from a name or the address; and an
//! address proven by such a sign-in, which also ends a takeover in waiting.

use std::sync::Arc;

use chrono::Utc;

use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::principal::ClientInfo;
use crate::domain::{RevokeReason, Role, User, UserChanges, new_id};
use crate::error::{AppError, AppResult};
use crate::service::audit::{self, NewEvent};
use crate::store::StoreError;

/// Creates an account without a password for `address` (verified or not, as the sign-in proved
/// it), its username from `name` or else the address (made unique). `method` is how it signed
/// up (`email`, `provider`). A taken address is a conflict.
pub(crate) async fn create_account(
    ctx: &AppContext,
    address: &str,
    email_verified: bool,
    name: Option<&str>,
    method: &'static str,
) -> AppResult<User> {
    let role = user_role(ctx).await?;
    let base = username_from(name.filter(|n| !n.trim().is_empty()).unwrap_or(address));
    for attempt in 0..5 {
        let username = if attempt == 0 {
            base.clone()
        } else {
            format!("{base}-{}", &new_id()[..6])
        };
        let user = User::new_account(
            username,
            address.to_string(),
            None,
            String::new(),
            role.id.clone(),
            email_verified,
            Utc::now(),
        );
        match ctx.store.insert_user(&user).await {
            Ok(()) => {
                let created = NewEvent::new(EventType::UserRegistered)
                    .own(&user.id)
                    .method(method);
                audit::record(ctx, created).await;
                return Ok(user);
            }
            Err(StoreError::Duplicate { field: "username" }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Conflict(
        "Could not choose a free username".into(),
    ))
}

async fn user_role(ctx: &AppContext) -> AppResult<Arc<Role>> {
    ctx.roles
        .by_name(ctx.store.as_ref(), crate::domain::permission::ROLE_USER)
        .await?
        .ok_or_else(|| AppError::Internal("USER role missing".into()))
}

/// A username from a name or an address's local part: its allowed characters
/// (`A-Z a-z 0-9 _ . -`), 3 to 40 of them.
fn username_from(name_or_address: &str) -> String {
    let local = name_or_address.split('@').next().unwrap_or_default();
    let mut name: String = local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(40)
        .collect();
    while name.chars().count() < 3 {
        name.push('_');
    }
    name
}

/// The sign-in reached the account's address (`method`: the mail, a provider asserting it
/// verified): it is verified now. A password set on an address nobody had proved is removed,
/// and every session of the account ends (`account.password_removed` with `reason`).
pub(crate) async fn proven_address(
    ctx: &AppContext,
    user: User,
    client: &ClientInfo,
    method: &'static str,
    reason: &'static str,
) -> AppResult<User> {
    if user.email_verified {
        return Ok(user);
    }
    let takeover_risk = user.has_password();
    let changes = UserChanges {
        email_verified: Some(true),
        password_hash: takeover_risk.then(String::new),
        end_sessions: takeover_risk,
        ..Default::default()
    };
    let user = ctx
        .store
        .update_user(&user.id, &changes, None, Utc::now())
        .await?
        .ok_or_else(|| AppError::Unauthorized("Account is inactive".into()))?;
    let verified = NewEvent::new(EventType::EmailVerified)
        .own(&user.id)
        .from(client)
        .method(method);
    audit::record(ctx, verified).await;
    if takeover_risk {
        let revoked =
            super::record_ended_sessions(ctx, &user.id, None, RevokeReason::PasswordChanged).await;
        let removed = NewEvent::new(EventType::AccountPasswordRemoved)
            .own(&user.id)
            .from(client)
            .reason(reason)
            .count("revoked", revoked);
        audit::record(ctx, removed).await;
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_come_from_the_name_or_the_local_part() {
        assert_eq!(username_from("ada.lovelace@example.com"), "ada.lovelace");
        assert_eq!(username_from("a+b@example.com"), "ab_");
        assert_eq!(username_from("x@example.com"), "x__");
        assert_eq!(username_from("Ada Lovelace"), "AdaLovelace");
        assert_eq!(
            username_from(&format!("{}@e.com", "y".repeat(60))).len(),
            40
        );
    }
}
