//! Registration and self-service on one's own account: registering, changing one's profile,
//! password or address, deleting the account, the current-password check every sensitive change
//! shares, and `create-admin`'s account. About 400 lines because these share their validation
//! and event wording; a split would spread one account's rules over several files.

use std::sync::Arc;

use chrono::Utc;

use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::permission::ROLE_USER;
use crate::domain::principal::{ClientInfo, Principal};
use crate::domain::validate::{self, FieldError, Problems};
use crate::domain::{REDACTED, RevokeReason, Role, User, UserChanges};
use crate::error::{AppError, AppResult};
use crate::security::password::Verified;
use crate::service;
use crate::service::audit::{self, NewEvent};
use crate::service::limits::{self, Account};
use crate::service::password_policy;
use crate::service::sessions as login_sessions;
use crate::service::verification;

/// What a client sends to register. `role` exists only to refuse anything but USER.
pub struct Registration {
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub password: String,
    pub role: Option<String>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("full_name", &self.full_name)
            .field("password", &REDACTED)
            .field("role", &self.role)
            .finish()
    }
}

/// Creates an account with the USER role. Duplicates (case-insensitive) are refused by the
/// store's unique indexes, so racing registrations cannot both succeed.
pub async fn register(
    ctx: &AppContext,
    input: Registration,
    client: &ClientInfo,
) -> AppResult<(User, Arc<Role>)> {
    limits::register_from_ip(ctx, client.ip).await?;
    let (user, role) = create_user(ctx, input, ROLE_USER, false).await?;
    let registered = NewEvent::new(EventType::UserRegistered)
        .own(&user.id)
        .from(client);
    audit::record(ctx, registered).await;
    // The account exists either way; the user can ask for the mail again.
    if let Err(e) = verification::send_verification(ctx, &user, client).await {
        tracing::warn!(error = %e, "the verification mail of a new account was not queued");
    }
    Ok((user, role))
}

async fn create_user(
    ctx: &AppContext,
    input: Registration,
    role_name: &str,
    email_verified: bool,
) -> AppResult<(User, Arc<Role>)> {
    let mut problems = Problems::default();
    problems
        .check(validate::username(&input.username))
        .check(validate::email(input.email.trim()))
        .check(password_policy::offline(ctx, "password", &input.password));
    if let Some(name) = &input.full_name {
        problems.check(validate::full_name(name));
    }
    problems.into_result().map_err(AppError::Validation)?;
    if input
        .role
        .as_deref()
        .is_some_and(|r| !r.eq_ignore_ascii_case(ROLE_USER))
    {
        return Err(AppError::Forbidden(
            "Registration cannot choose a role".into(),
        ));
    }
    let role = ctx
        .roles
        .by_name(ctx.store.as_ref(), role_name)
        .await?
        .ok_or_else(|| AppError::Internal(format!("{role_name} role missing")))?;

    password_policy::online(ctx, "password", &input.password).await?;
    let password_hash = ctx.passwords.hash(input.password).await?;
    let user = User::new_account(
        input.username,
        input.email.trim().to_string(),
        input
            .full_name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        password_hash,
        role.id.clone(),
        email_verified,
        Utc::now(),
    );
    ctx.store.insert_user(&user).await?;
    Ok((user, role))
}

/// Fields a user or an admin may change on an account; `None` keeps the value.
#[derive(Default)]
pub struct ProfileUpdate {
    pub username: Option<String>,
    pub email: Option<String>,
    /// `Some(None)` or an empty string clears the full name.
    pub full_name: Option<Option<String>>,
    pub password: Option<String>,
}

impl std::fmt::Debug for ProfileUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileUpdate")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("full_name", &self.full_name)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .finish()
    }
}

impl ProfileUpdate {
    /// The names of the fields present (for security events: names, never values).
    pub(crate) fn field_names(&self) -> Vec<&'static str> {
        [
            ("username", self.username.is_some()),
            ("email", self.email.is_some()),
            ("full_name", self.full_name.is_some()),
            ("password", self.password.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect()
    }

    /// Checks the fields present and turns them into store changes (hashing a new password).
    pub(crate) async fn into_changes(self, ctx: &AppContext) -> AppResult<UserChanges> {
        let mut problems = Problems::default();
        if let Some(username) = &self.username {
            problems.check(validate::username(username));
        }
        if let Some(email) = &self.email {
            problems.check(validate::email(email.trim()));
        }
        if let Some(Some(name)) = &self.full_name {
            problems.check(validate::full_name(name));
        }
        if let Some(password) = &self.password {
            problems.check(password_policy::offline(ctx, "password", password));
        }
        problems.into_result().map_err(AppError::Validation)?;
        let password_hash = match self.password {
            Some(p) => {
                password_policy::online(ctx, "password", &p).await?;
                Some(ctx.passwords.hash(p).await?)
            }
            None => None,
        };
        Ok(UserChanges {
            username: self.username,
            email: self.email.map(|e| e.trim().to_string()),
            full_name: self
                .full_name
                .map(|n| n.map(|n| n.trim().to_string()).filter(|n| !n.is_empty())),
            password_hash,
            ..Default::default()
        })
    }
}

/// Updates the caller's own account. Changing the password or the email needs the current
/// password; a password change signs out every other session of the user.
pub async fn update_self(
    ctx: &AppContext,
    principal: &Principal,
    update: ProfileUpdate,
    current_password: Option<String>,
) -> AppResult<(User, Arc<Role>)> {
    let user = &principal.user;
    let principal_role = principal.role.clone();
    let changes_email = update
        .email
        .as_deref()
        .is_some_and(|e| e.trim() != user.email);
    let changes_password = update.password.is_some();
    let changes_username = update
        .username
        .as_deref()
        .is_some_and(|u| u.trim() != user.username);
    if changes_username || changes_email {
        // Each try tells whether a name or an address is taken (409): limited as registering is.
        limits::account_change(ctx, &user.id, principal.client.ip).await?;
    }
    if changes_email || changes_password {
        if user.has_password() {
            let Some(current) = current_password else {
                return Err(AppError::validation(FieldError::body(
                    "current_password",
                    "required to change the password or the email",
                    "missing",
                )));
            };
            check_current_password(ctx, principal, current).await?;
        } else {
            // Nothing to type again: a recent sign-in stands in for it (a first password, say).
            super::access::recently_signed_in(ctx, principal)?;
        }
    }
    // With SMTP configured, a new address only becomes pending: it changes once it confirms.
    let mut update = update;
    let mut pending = None;
    if changes_email && ctx.mailer.delivers() {
        let requested = update.email.take().unwrap_or_default();
        let new_email =
            super::recovery::checked_email(&requested).map(|_| requested.trim().to_string())?;
        pending = Some(new_email);
    } else if !changes_email {
        // The same address sent again is no change (and no `user.updated` event).
        update.email = None;
    }
    let changed_fields = update.field_names();
    let mut changes = update.into_changes(ctx).await?;
    if changes.email.is_some() {
        // Changed at once (mail is off): the new address has proved nothing yet.
        changes.email_verified = Some(false);
    }
    if let Some(new_email) = pending {
        let user = verification::request_change(ctx, principal, &new_email).await?;
        if changes.is_empty() {
            return Ok((user, principal.role.clone()));
        }
    }
    if changes.is_empty() {
        return Ok((user.clone(), principal.role.clone()));
    }
    // A new password ends every other session in the same write (see `User::session_epoch`).
    changes.end_sessions = changes_password;
    let (ctx, principal) = (ctx.clone(), principal.clone());
    let (user_id, session_id) = (principal.user.id.clone(), principal.session_id.clone());
    let updated = service::to_completion(async move {
        let updated = ctx
            .store
            .update_user(&user_id, &changes, None, Utc::now())
            .await?
            .ok_or_else(AppError::invalid_token)?;
        if changes.end_sessions {
            // The session that made the change lives on in the new epoch. Should this write
            // fail, that session has ended too: the safe side.
            let carried = ctx
                .store
                .carry_session_over(&session_id, &user_id, updated.session_epoch)
                .await;
            if let Err(e) = carried {
                tracing::warn!(error = %e, "could not keep the current session after a password change");
            }
            let revoked = service::record_ended_sessions(
                &ctx,
                &user_id,
                Some(&session_id),
                RevokeReason::PasswordChanged,
            )
            .await;
            let changed = NewEvent::new(EventType::PasswordChanged)
                .user(&user_id)
                .by(&principal)
                .count("revoked", revoked);
            audit::record(&ctx, changed).await;
        }
        let profile_fields: Vec<_> = changed_fields
            .into_iter()
            .filter(|f| *f != "password")
            .collect();
        if !profile_fields.is_empty() {
            let updated_event = NewEvent::new(EventType::UserUpdated)
                .user(&user_id)
                .by(&principal)
                .fields(&profile_fields);
            audit::record(&ctx, updated_event).await;
        }
        Ok(updated)
    })
    .await?;
    Ok((updated, principal_role))
}

/// Checks the caller's current password, drawing on the account's failure budget like a login:
/// a stolen access token must not give an attacker unlimited guesses.
pub(crate) async fn check_current_password(
    ctx: &AppContext,
    principal: &Principal,
    password: String,
) -> AppResult<()> {
    let user = &principal.user;
    let account = Account::Id(&user.id);
    let attempt = limits::password_attempt(ctx, account).await?;
    match ctx.passwords.verify(password, user.stored_hash()).await? {
        Verified::No => {
            login_sessions::record_wrong_password(
                ctx,
                EventType::PasswordCheckFailed,
                Some(&user.id),
                &principal.client,
                attempt,
            )
            .await;
            Err(AppError::BadRequest("Current password is incorrect".into()))
        }
        Verified::Yes | Verified::YesRehashed(_) => limits::password_accepted(ctx, account).await,
    }
}

/// The recent-authentication rule of a sensitive change (a link, an unlink, a passkey): the
/// current password when the account has one, else a sign-in within `REAUTH_WINDOW`; without
/// either, 403 `reauthentication required`.
pub(crate) async fn reauthenticate(
    ctx: &AppContext,
    principal: &Principal,
    current_password: Option<String>,
) -> AppResult<()> {
    match current_password {
        Some(password) if principal.user.has_password() => {
            check_current_password(ctx, principal, password).await
        }
        _ if principal.user.has_password() => {
            Err(AppError::Forbidden(super::access::REAUTHENTICATE.into()))
        }
        _ => super::access::recently_signed_in(ctx, principal),
    }
}

/// Soft-deletes the caller's account, which ends all of its sessions in the same write.
pub async fn delete_self(ctx: &AppContext, principal: &Principal) -> AppResult<u64> {
    let stranded = super::orgs::last_owner_of(ctx, &principal.user.id).await?;
    if !stranded.is_empty() {
        let names: Vec<&str> = stranded.iter().map(|o| o.name.as_str()).collect();
        return Err(AppError::Conflict(format!(
            "You are the last owner of organizations with other members ({}): make another owner \
             or delete them first",
            names.join(", ")
        )));
    }
    let (ctx, principal) = (ctx.clone(), principal.clone());
    service::to_completion(async move {
        let user_id = &principal.user.id;
        ctx.store
            .soft_delete_user(user_id, None, Utc::now())
            .await?;
        let reason = RevokeReason::AccountDeactivated;
        let revoked = service::record_ended_sessions(&ctx, user_id, None, reason).await;
        let deleted = NewEvent::new(EventType::UserDeleted)
            .user(user_id)
            .by(&principal)
            .count("revoked", revoked);
        audit::record(&ctx, deleted).await;
        Ok(revoked)
    })
    .await
}

/// Creates a SUPER_ADMIN, or promotes the existing account with this email or username.
/// Used by the `create-admin` command. Returns what happened, for the operator.
pub async fn create_or_promote_admin(
    ctx: &AppContext,
    email: &str,
    username: &str,
    password: String,
) -> AppResult<AdminOutcome> {
    let role = ctx
        .roles
        .by_name(
            ctx.store.as_ref(),
            crate::domain::permission::ROLE_SUPER_ADMIN,
        )
        .await?
        .ok_or_else(|| AppError::Internal("SUPER_ADMIN role missing".into()))?;
    let existing = match ctx
        .store
        .find_user_by_login(&email.trim().to_lowercase())
        .await?
    {
        Some(u) => Some(u),
        None => {
            ctx.store
                .find_user_by_login(&username.to_lowercase())
                .await?
        }
    };
    if let Some(user) = existing {
        if user.role_id == role.id && user.is_active {
            return Ok(AdminOutcome::AlreadyAdmin(user));
        }
        let changes = UserChanges {
            role_id: Some(role.id.clone()),
            is_active: Some(true),
            ..Default::default()
        };
        let user = ctx
            .store
            .update_user(&user.id, &changes, None, Utc::now())
            .await?
            .ok_or_else(|| AppError::Internal("user vanished during promotion".into()))?;
        let promoted = NewEvent::new(EventType::AdminUserUpdated)
            .user(&user.id)
            .fields(&["role", "is_active"])
            .reason("create_admin_command");
        audit::record(ctx, promoted).await;
        return Ok(AdminOutcome::Promoted(user));
    }
    let registration = Registration {
        username: username.to_string(),
        email: email.to_string(),
        full_name: None,
        password,
        role: None,
    };
    // The operator vouches for the address they typed.
    let (user, _) = create_user(ctx, registration, &role.name, true).await?;
    let created = NewEvent::new(EventType::UserRegistered)
        .user(&user.id)
        .reason("create_admin_command");
    audit::record(ctx, created).await;
    Ok(AdminOutcome::Created(user))
}

#[derive(Debug)]
pub enum AdminOutcome {
    Created(User),
    Promoted(User),
    AlreadyAdmin(User),
}
