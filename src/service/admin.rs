//! Admin management of other accounts. Every route here needs `admin:*`; on top of that, only a
//! holder of `*` may touch an account whose role is privileged, or hand out a privileged role.

use std::future::Future;
use std::sync::Arc;

use chrono::Utc;

use crate::context::AppContext;
use crate::domain::event::EventCursor;
use crate::domain::event::EventType;
use crate::domain::permission::{EVERYTHING, is_privileged};
use crate::domain::principal::Principal;
use crate::domain::validate::FieldError;
use crate::domain::{RevokeReason, Role, Session, User, UserFilter};
use crate::error::{AppError, AppResult};
use crate::service;
use crate::service::accounts::ProfileUpdate;
use crate::service::audit::{self, NewEvent};

pub const MAX_PAGE_SIZE: u64 = 100;
/// Far beyond any real listing; keeps `skip` within what every database accepts.
pub const MAX_PAGE: u64 = 1_000_000;
/// Longest admin search text. A prefix this long already names one account; a longer one (or a
/// control character, NUL included) could only be a probe, and some become regular expressions
/// a database refuses.
pub const MAX_SEARCH_CHARS: usize = 100;

/// One page of the user listing.
pub struct UserPage {
    pub users: Vec<(User, Arc<Role>)>,
    pub total_items: u64,
    /// The page number; 0 for a page reached by a cursor (its number is not counted).
    pub page: u64,
    pub size: u64,
    /// Where the next page starts, when there is one.
    pub next: Option<EventCursor>,
}

impl UserPage {
    pub fn total_pages(&self) -> u64 {
        self.total_items.div_ceil(self.size)
    }
}

/// Listing query as received; checked here so that every bad value is a 422 naming the parameter.
pub struct ListQuery {
    pub page: u64,
    pub size: u64,
    pub prefix: Option<String>,
    pub role: Option<String>,
    pub is_active: Option<bool>,
    /// The previous page's `next`: the page after it, whatever `page` says.
    pub before: Option<EventCursor>,
}

fn query_problem(param: &str, msg: &str) -> AppError {
    AppError::validation(FieldError {
        loc: vec!["query".into(), param.into()],
        msg: msg.into(),
        kind: "value_error",
    })
}

pub async fn list_users(ctx: &AppContext, query: ListQuery) -> AppResult<UserPage> {
    if !(1..=MAX_PAGE).contains(&query.page) {
        return Err(query_problem("page", "must be between 1 and 1000000"));
    }
    if !(1..=MAX_PAGE_SIZE).contains(&query.size) {
        return Err(query_problem("size", "must be between 1 and 100"));
    }
    if let Some(q) = &query.prefix {
        if q.chars().count() > MAX_SEARCH_CHARS {
            return Err(query_problem("q", "must be at most 100 characters"));
        }
        if q.chars().any(char::is_control) {
            return Err(query_problem("q", "must not contain control characters"));
        }
    }
    let role_id = match query
        .role
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        None => None,
        Some(name) => Some(
            ctx.roles
                .by_name(ctx.store.as_ref(), name)
                .await?
                .ok_or_else(|| query_problem("role", "unknown role"))?
                .id
                .clone(),
        ),
    };
    let filter = UserFilter {
        prefix: query
            .prefix
            .map(|q| q.trim().to_lowercase())
            .filter(|q| !q.is_empty()),
        role_id,
        is_active: query.is_active,
        before: query.before,
    };
    let (skip, page_number) = match filter.before {
        // A cursor names the position itself; counting the users before it would cost a scan.
        Some(_) => (0, 0),
        None => ((query.page - 1).saturating_mul(query.size), query.page),
    };
    // One more than the page holds: whether there is a next page, without counting.
    let (mut users, total_items) = ctx.store.list_users(&filter, skip, query.size + 1).await?;
    let more = users.len() as u64 > query.size;
    users.truncate(query.size as usize);
    let next = users.last().filter(|_| more).map(|u| EventCursor {
        at: u.created_at,
        id: u.id.clone(),
    });
    let mut page = Vec::with_capacity(users.len());
    for user in users {
        let role = ctx.roles.by_id(ctx.store.as_ref(), &user.role_id).await?;
        page.push((user, role));
    }
    Ok(UserPage {
        users: page,
        total_items,
        page: page_number,
        size: query.size,
        next,
    })
}

/// A user and their role, or 404.
pub async fn get_user(ctx: &AppContext, user_id: &str) -> AppResult<(User, Arc<Role>)> {
    let user = ctx
        .store
        .find_user(user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("User not found".into()))?;
    let role = ctx.roles.by_id(ctx.store.as_ref(), &user.role_id).await?;
    Ok((user, role))
}

/// What an admin action on the actor's own account answers instead: the self-service route
/// (the template's wording for updates and deletions).
pub(crate) const USE_SELF_SERVICE: &str = "Use /api/v1/user/ to change your own account";
const USE_PUT_USER: &str = "Use PUT /user/ to update your own profile";
const USE_DELETE_USER: &str = "Use DELETE /user/ to delete your own account";

/// Loads the target of a modifying admin action and checks the actor may modify it; the
/// actor's own account is refused with `own_account` (400).
pub(crate) async fn modifiable_target(
    ctx: &AppContext,
    actor: &Principal,
    user_id: &str,
    own_account: &str,
) -> AppResult<(User, Arc<Role>)> {
    if actor.user.id == user_id {
        return Err(AppError::BadRequest(own_account.into()));
    }
    let (user, role) = get_user(ctx, user_id).await?;
    if is_privileged(&role.permissions) && !actor.can(EVERYTHING) {
        return Err(AppError::Forbidden(
            "Only a super admin may modify an administrator".into(),
        ));
    }
    Ok((user, role))
}

/// What an admin may change on another account.
#[derive(Debug, Default)]
pub struct AdminUpdate {
    pub profile: ProfileUpdate,
    pub role: Option<String>,
    pub is_active: Option<bool>,
}

/// How often a write retries after the target's role changed between the permission check and
/// the write (each retry checks again). Only a storm of role changes on one account exhausts it.
const CHECKED_WRITE_ATTEMPTS: usize = 3;

/// Runs `write` on the target as the privilege check ([`modifiable_target`]) just saw it. The
/// write filters on the role it is handed and answers `None` when that missed: a promotion landed
/// between the check and the write, so a plain admin must not have made it. The check then runs
/// again on the fresh account. Each write runs to completion even if the request is dropped.
async fn checked_write<T, Fut>(
    ctx: &AppContext,
    actor: &Principal,
    user_id: &str,
    own_account: &str,
    write: impl Fn(AppContext, User) -> Fut,
) -> AppResult<T>
where
    T: Send + 'static,
    Fut: Future<Output = AppResult<Option<T>>> + Send + 'static,
{
    for _ in 0..CHECKED_WRITE_ATTEMPTS {
        let (user, _) = modifiable_target(ctx, actor, user_id, own_account).await?;
        if let Some(done) = service::to_completion(write(ctx.clone(), user)).await? {
            return Ok(done);
        }
    }
    Err(AppError::Conflict(
        "The account changed meanwhile, try again".into(),
    ))
}

/// Updates another account. A new password or a deactivation signs the user out everywhere.
pub async fn update_user(
    ctx: &AppContext,
    actor: &Principal,
    user_id: &str,
    update: AdminUpdate,
) -> AppResult<(User, Arc<Role>)> {
    // Checked before the password is hashed, so a refusal costs no hash; checked again at the
    // write (see `checked_write`).
    modifiable_target(ctx, actor, user_id, USE_PUT_USER).await?;
    let new_role = match update.role.as_deref() {
        None => None,
        Some(name) => {
            let role = ctx
                .roles
                .by_name(ctx.store.as_ref(), name.trim())
                .await?
                .ok_or_else(|| {
                    AppError::validation(FieldError::body("role", "unknown role", "value_error"))
                })?;
            if is_privileged(&role.permissions) && !actor.can(EVERYTHING) {
                return Err(AppError::Forbidden(
                    "Only a super admin may grant an administrator role".into(),
                ));
            }
            Some(role)
        }
    };
    let password_changed = update.profile.password.is_some();
    let mut fields = update.profile.field_names();
    fields.extend(update.role.is_some().then_some("role"));
    fields.extend(update.is_active.is_some().then_some("is_active"));
    let mut changes = update.profile.into_changes(ctx).await?;
    // An address set by an admin has proved nothing yet.
    if changes.email.is_some() {
        changes.email_verified = Some(false);
    }
    changes.role_id = new_role.map(|r| r.id.clone());
    changes.is_active = update.is_active;
    if changes.is_empty() {
        return get_user(ctx, user_id).await;
    }
    let reason = if update.is_active == Some(false) {
        Some(RevokeReason::AccountDeactivated)
    } else if password_changed {
        Some(RevokeReason::PasswordChanged)
    } else {
        None
    };
    // A new password or a deactivation ends every session in the same write.
    changes.end_sessions = reason.is_some();
    let updated = checked_write(ctx, actor, user_id, USE_PUT_USER, |ctx, user| {
        let (changes, actor, fields) = (changes.clone(), actor.clone(), fields.clone());
        async move {
            let Some(updated) = ctx
                .store
                .update_user(&user.id, &changes, Some(&user.role_id), Utc::now())
                .await?
            else {
                return Ok(None);
            };
            let mut event = NewEvent::new(EventType::AdminUserUpdated)
                .user(&user.id)
                .by(&actor)
                .fields(&fields);
            if let Some(reason) = reason {
                let revoked = service::record_ended_sessions(&ctx, &user.id, None, reason).await;
                event = event.count("revoked", revoked);
            }
            audit::record(&ctx, event).await;
            Ok(Some(updated))
        }
    })
    .await?;
    let role = ctx
        .roles
        .by_id(ctx.store.as_ref(), &updated.role_id)
        .await?;
    Ok((updated, role))
}

/// Soft-deletes another account, which ends its sessions; returns how many were revoked.
pub async fn delete_user(ctx: &AppContext, actor: &Principal, user_id: &str) -> AppResult<u64> {
    checked_write(ctx, actor, user_id, USE_DELETE_USER, |ctx, user| {
        let actor = actor.clone();
        async move {
            if !user.is_active {
                return Err(AppError::BadRequest("User already deactivated".into()));
            }
            // Misses if the user was deactivated or re-roled meanwhile: then the check runs again.
            if !ctx
                .store
                .soft_delete_user(&user.id, Some(&user.role_id), Utc::now())
                .await?
            {
                return Ok(None);
            }
            let reason = RevokeReason::AccountDeactivated;
            let revoked = service::record_ended_sessions(&ctx, &user.id, None, reason).await;
            let deleted = NewEvent::new(EventType::AdminUserDeleted)
                .user(&user.id)
                .by(&actor)
                .count("revoked", revoked);
            audit::record(&ctx, deleted).await;
            Ok(Some(revoked))
        }
    })
    .await
}

/// Active sessions of any user.
pub async fn list_user_sessions(ctx: &AppContext, user_id: &str) -> AppResult<Vec<Session>> {
    let (user, _) = get_user(ctx, user_id).await?;
    service::logout::list_usable(ctx, &user).await
}

/// Revokes one session of another user (same privilege rule as any modification).
pub async fn revoke_user_session(
    ctx: &AppContext,
    actor: &Principal,
    user_id: &str,
    session_id: &str,
) -> AppResult<()> {
    let (user, _) = modifiable_target(ctx, actor, user_id, USE_SELF_SERVICE).await?;
    let reason = RevokeReason::RevokedByAdmin;
    service::logout::revoke_of_user(ctx, actor, &user.id, session_id, reason).await
}

/// Every role, by name, for an admin picking one.
pub async fn list_roles(ctx: &AppContext) -> AppResult<Vec<Role>> {
    let mut roles = ctx.store.list_roles().await?;
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(roles)
}

/// Revokes every session of another user (same privilege rule as any modification).
pub async fn revoke_user_sessions(
    ctx: &AppContext,
    actor: &Principal,
    user_id: &str,
) -> AppResult<u64> {
    let (user, _) = modifiable_target(ctx, actor, user_id, USE_SELF_SERVICE).await?;
    let reason = RevokeReason::RevokedByAdmin;
    let revoked = ctx
        .store
        .revoke_user_sessions(&user.id, None, reason, Utc::now())
        .await?;
    let event = NewEvent::new(EventType::AdminSessionsRevoked)
        .user(&user.id)
        .by(actor)
        .count("revoked", revoked)
        .reason(reason.as_str());
    audit::record(ctx, event).await;
    Ok(revoked)
}
