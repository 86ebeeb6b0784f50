//! Organizations (docs/API.md, "Organizations"): creating one, its settings, its members and
//! their roles.
//!
//! - **Every request checks the membership in the store** ([`membership`]), so a removed member
//!   is refused at once. A non-member gets 404 for everything about an organization (whether it
//!   exists does not leak); a member without the right gets 403. The rights are the table in
//!   `domain::org` ([`OrgRole::may`]).
//! - **The last owner stays**: the store keeps the owner count on the organization and refuses
//!   the change that would take it to zero in the same write (also when two demotions race).

use chrono::Utc;

use crate::context::AppContext;
use crate::domain::event::{EventCursor, EventType};
use crate::domain::org::{
    ActiveOrg, Membership, OrgAction, OrgRole, Organization, slug_from, valid_slug,
};
use crate::domain::principal::Principal;
use crate::domain::validate::FieldError;
use crate::domain::{User, new_id};
use crate::error::{AppError, AppResult};
use crate::service::audit::{self, NewEvent};
use crate::service::sessions::{self, IssuedTokens};
use crate::store::{MemberChange, StoreError};

/// The longest organization name.
pub const MAX_NAME: usize = 100;

fn not_found() -> AppError {
    AppError::NotFound("Organization not found".into())
}

/// The organization and the caller's membership of it, if the caller may do `action` there.
pub async fn membership(
    ctx: &AppContext,
    principal: &Principal,
    org_id: &str,
    action: OrgAction,
) -> AppResult<(Organization, Membership)> {
    let (org, member) = tokio::try_join!(
        ctx.store.find_org(org_id),
        ctx.store.find_membership(org_id, &principal.user.id)
    )?;
    let (Some(org), Some(member)) = (org, member) else {
        return Err(not_found());
    };
    if !member.role.may(action) {
        return Err(AppError::Forbidden(
            "Insufficient permissions in this organization".into(),
        ));
    }
    Ok((org, member))
}

fn checked_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(AppError::validation(FieldError::body(
            "name",
            "1 to 100 characters, no control characters",
            "value_error",
        )));
    }
    Ok(name.to_string())
}

fn checked_slug(slug: &str) -> AppResult<String> {
    let slug = slug.trim().to_ascii_lowercase();
    if !valid_slug(&slug) {
        return Err(AppError::validation(FieldError::body(
            "slug",
            "2 to 50 of a-z, 0-9 and -, not starting or ending with -",
            "value_error",
        )));
    }
    Ok(slug)
}

fn slug_taken() -> AppError {
    AppError::Conflict("This slug is taken".into())
}

/// Creates an organization with the caller as its owner. Without a slug, one is made from the
/// name (a suffix added when taken). A user owns at most `ORG_MAX_PER_USER` organizations.
pub async fn create(
    ctx: &AppContext,
    principal: &Principal,
    name: &str,
    slug: Option<&str>,
) -> AppResult<(Organization, OrgRole)> {
    let name = checked_name(name)?;
    let chosen = slug.map(checked_slug).transpose()?;
    let owned = ctx
        .store
        .orgs_of_user(&principal.user.id)
        .await?
        .into_iter()
        .filter(|(_, role)| *role == OrgRole::Owner)
        .count();
    if owned >= ctx.settings.limits.org_max_per_user {
        return Err(AppError::Forbidden(format!(
            "A user owns at most {} organizations (ORG_MAX_PER_USER)",
            ctx.settings.limits.org_max_per_user
        )));
    }
    let base = chosen.clone().unwrap_or_else(|| {
        let made = slug_from(&name);
        if valid_slug(&made) {
            made
        } else {
            "org".to_string()
        }
    });
    let now = Utc::now();
    for attempt in 0..5 {
        let slug = if attempt == 0 {
            base.clone()
        } else {
            format!(
                "{}-{}",
                base.chars().take(43).collect::<String>(),
                &new_id()[..6]
            )
        };
        let org = Organization {
            id: new_id(),
            name: name.clone(),
            slug,
            owners: 1,
            created_at: now,
            updated_at: now,
        };
        let owner = Membership {
            org_id: org.id.clone(),
            user_id: principal.user.id.clone(),
            role: OrgRole::Owner,
            joined_at: now,
        };
        match ctx.store.create_org(&org, &owner).await {
            Ok(()) => {
                let created = NewEvent::new(EventType::OrgCreated)
                    .by(principal)
                    .user(&principal.user.id)
                    .org(&org.id);
                audit::record(ctx, created).await;
                return Ok((org, OrgRole::Owner));
            }
            Err(StoreError::Duplicate { field: "slug" }) if chosen.is_none() => continue,
            Err(StoreError::Duplicate { field: "slug" }) => return Err(slug_taken()),
            Err(e) => return Err(e.into()),
        }
    }
    Err(slug_taken())
}

/// The caller's organizations with the role in each.
pub async fn list_mine(
    ctx: &AppContext,
    principal: &Principal,
) -> AppResult<Vec<(Organization, OrgRole)>> {
    Ok(ctx.store.orgs_of_user(&principal.user.id).await?)
}

/// Renames the organization or changes its slug (admins and owners).
pub async fn update(
    ctx: &AppContext,
    principal: &Principal,
    org_id: &str,
    name: Option<&str>,
    slug: Option<&str>,
) -> AppResult<Organization> {
    membership(ctx, principal, org_id, OrgAction::Update).await?;
    let name = name.map(checked_name).transpose()?;
    let slug = slug.map(checked_slug).transpose()?;
    let updated = match ctx
        .store
        .update_org(org_id, name.as_deref(), slug.as_deref(), Utc::now())
        .await
    {
        Ok(updated) => updated.ok_or_else(not_found)?,
        Err(StoreError::Duplicate { field: "slug" }) => return Err(slug_taken()),
        Err(e) => return Err(e.into()),
    };
    let fields: Vec<&'static str> = [("name", name.is_some()), ("slug", slug.is_some())]
        .into_iter()
        .filter_map(|(field, changed)| changed.then_some(field))
        .collect();
    let event = NewEvent::new(EventType::OrgUpdated)
        .by(principal)
        .org(org_id)
        .fields(&fields);
    audit::record(ctx, event).await;
    Ok(updated)
}

/// Deletes the organization and its memberships (owners).
pub async fn delete(ctx: &AppContext, principal: &Principal, org_id: &str) -> AppResult<()> {
    membership(ctx, principal, org_id, OrgAction::Delete).await?;
    if !ctx.store.delete_org(org_id).await? {
        return Err(not_found());
    }
    let event = NewEvent::new(EventType::OrgDeleted)
        .by(principal)
        .org(org_id);
    audit::record(ctx, event).await;
    Ok(())
}

/// One page of members with their accounts, and where the next page starts.
pub struct MembersPage {
    pub members: Vec<(Membership, User)>,
    pub next: Option<EventCursor>,
}

/// A page of the organization's members by join time (any member may read it).
pub async fn members(
    ctx: &AppContext,
    principal: &Principal,
    org_id: &str,
    limit: u64,
    after: Option<EventCursor>,
) -> AppResult<MembersPage> {
    membership(ctx, principal, org_id, OrgAction::Read).await?;
    page_of_members(ctx, org_id, limit, after).await
}

/// A page of any organization's members (the platform admin's view).
pub async fn admin_members(
    ctx: &AppContext,
    org_id: &str,
    limit: u64,
    after: Option<EventCursor>,
) -> AppResult<MembersPage> {
    admin_get(ctx, org_id).await?;
    page_of_members(ctx, org_id, limit, after).await
}

async fn page_of_members(
    ctx: &AppContext,
    org_id: &str,
    limit: u64,
    after: Option<EventCursor>,
) -> AppResult<MembersPage> {
    let limit = limit.clamp(1, audit::MAX_PAGE_SIZE);
    let after = after.map(|c| (c.at, c.id));
    let mut page = ctx
        .store
        .list_members(org_id, u32::try_from(limit + 1).unwrap_or(u32::MAX), after)
        .await?;
    let next = if page.len() as u64 > limit {
        page.truncate(limit as usize);
        page.last().map(|m| EventCursor {
            at: m.joined_at,
            id: m.user_id.clone(),
        })
    } else {
        None
    };
    let users =
        futures_util::future::try_join_all(page.iter().map(|m| ctx.store.find_user(&m.user_id)))
            .await?;
    let members = page
        .into_iter()
        .zip(users)
        .filter_map(|(m, user)| user.map(|u| (m, u)))
        .collect();
    Ok(MembersPage { members, next })
}

fn member_not_found() -> AppError {
    AppError::NotFound("Member not found".into())
}

fn refusal(change: MemberChange) -> AppResult<()> {
    match change {
        MemberChange::Done => Ok(()),
        MemberChange::LastOwner => Err(AppError::Conflict(
            "The organization's last owner stays: make another owner first".into(),
        )),
        MemberChange::Raced => Err(AppError::Conflict(
            "The membership changed meanwhile, try again".into(),
        )),
    }
}

/// Changes a member's role (admins; only an owner makes or unmakes an owner).
pub async fn set_role(
    ctx: &AppContext,
    principal: &Principal,
    org_id: &str,
    user_id: &str,
    role: OrgRole,
) -> AppResult<Membership> {
    let (_, mine) = membership(ctx, principal, org_id, OrgAction::ManageMembers).await?;
    let target = ctx
        .store
        .find_membership(org_id, user_id)
        .await?
        .ok_or_else(member_not_found)?;
    let touches_owner = target.role == OrgRole::Owner || role == OrgRole::Owner;
    if touches_owner && !mine.role.may(OrgAction::ManageOwners) {
        return Err(AppError::Forbidden(
            "Only an owner makes or unmakes an owner".into(),
        ));
    }
    if target.role != role {
        refusal(
            ctx.store
                .set_member_role(org_id, user_id, target.role, role)
                .await?,
        )?;
        let event = NewEvent::new(EventType::OrgMemberRoleChanged)
            .by(principal)
            .user(user_id)
            .org(org_id)
            .public_id("role", role.as_str());
        audit::record(ctx, event).await;
    }
    Ok(Membership { role, ..target })
}

/// Removes a member (admins; an owner only by an owner), or the caller leaves. The last owner
/// can do neither.
pub async fn remove(
    ctx: &AppContext,
    principal: &Principal,
    org_id: &str,
    user_id: &str,
) -> AppResult<()> {
    let leaving = user_id == principal.user.id;
    let action = if leaving {
        OrgAction::Read
    } else {
        OrgAction::ManageMembers
    };
    let (_, mine) = membership(ctx, principal, org_id, action).await?;
    let target = if leaving {
        mine.clone()
    } else {
        ctx.store
            .find_membership(org_id, user_id)
            .await?
            .ok_or_else(member_not_found)?
    };
    if !leaving && target.role == OrgRole::Owner && !mine.role.may(OrgAction::ManageOwners) {
        return Err(AppError::Forbidden("Only an owner removes an owner".into()));
    }
    refusal(
        ctx.store
            .remove_member(org_id, user_id, target.role)
            .await?,
    )?;
    let mut event = NewEvent::new(EventType::OrgMemberRemoved)
        .by(principal)
        .user(user_id)
        .org(org_id);
    if leaving {
        event = event.reason("left");
    }
    audit::record(ctx, event).await;
    Ok(())
}

/// Sets the organization the caller's session acts in (`None`: none), for a member of it: new
/// tokens whose access token says `org_id` and `org_role`, kept through refreshes while the
/// membership lasts.
pub async fn switch(
    ctx: &AppContext,
    principal: &Principal,
    org_id: Option<&str>,
) -> AppResult<IssuedTokens> {
    let org = match org_id {
        Some(id) => {
            let (org, member) = membership(ctx, principal, id, OrgAction::Read).await?;
            Some(ActiveOrg {
                id: org.id,
                role: member.role,
            })
        }
        None => None,
    };
    sessions::switch_org(ctx, principal, org).await
}

/// One page of every organization (the platform admin's view), newest first.
pub struct OrgsPage {
    pub orgs: Vec<Organization>,
    pub next: Option<EventCursor>,
}

/// Every organization, a page at a time; `q` narrows by slug prefix.
pub async fn admin_list(
    ctx: &AppContext,
    q: Option<&str>,
    limit: u64,
    before: Option<EventCursor>,
) -> AppResult<OrgsPage> {
    let limit = limit.clamp(1, audit::MAX_PAGE_SIZE);
    let prefix = q.map(|q| q.trim().to_ascii_lowercase());
    let before = before.map(|c| (c.at, c.id));
    let mut orgs = ctx
        .store
        .list_orgs(
            prefix.as_deref(),
            u32::try_from(limit + 1).unwrap_or(u32::MAX),
            before,
        )
        .await?;
    let next = if orgs.len() as u64 > limit {
        orgs.truncate(limit as usize);
        orgs.last().map(|o| EventCursor {
            at: o.created_at,
            id: o.id.clone(),
        })
    } else {
        None
    };
    Ok(OrgsPage { orgs, next })
}

pub async fn admin_get(ctx: &AppContext, org_id: &str) -> AppResult<Organization> {
    ctx.store.find_org(org_id).await?.ok_or_else(not_found)
}

/// A platform admin deletes an organization (its memberships and invitations with it).
pub async fn admin_delete(ctx: &AppContext, admin: &Principal, org_id: &str) -> AppResult<()> {
    if !ctx.store.delete_org(org_id).await? {
        return Err(not_found());
    }
    let event = NewEvent::new(EventType::OrgDeleted).by(admin).org(org_id);
    audit::record(ctx, event).await;
    Ok(())
}

/// The organizations whose last owner is `user_id` while others are members: deleting the
/// account would leave them without an owner.
pub async fn last_owner_of(ctx: &AppContext, user_id: &str) -> AppResult<Vec<Organization>> {
    let mut stranded = Vec::new();
    for (org, role) in ctx.store.orgs_of_user(user_id).await? {
        if role == OrgRole::Owner
            && org.owners <= 1
            && ctx.store.list_members(&org.id, 2, None).await?.len() > 1
        {
            stranded.push(org);
        }
    }
    Ok(stranded)
}
