//! Invitations to organizations (docs/API.md, "Organizations"): sent by an admin to an address,
//! mailed through the outbox with a link whose token is stored hashed, and accepted only by an
//! account whose verified address is the invited one, once (one conditional delete: two accepts
//! make one membership).

use chrono::{Duration, Utc};

use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::new_id;
use crate::domain::org::{Invitation, Membership, OrgAction, OrgRole, Organization};
use crate::domain::principal::Principal;
use crate::error::{AppError, AppResult};
use crate::mail::templates::MailKind;
use crate::security::one_time::{hash_link_token, new_link_token};
use crate::service::audit::{self, NewEvent};
use crate::service::{limits, orgs, recovery};
use crate::store::StoreError;

fn invalid() -> AppError {
    AppError::NotFound("Invitation not found or expired".into())
}

/// Invites `email` to the organization with `role` (admins; an owner invites an owner). A new
/// invitation to the same address replaces the older one.
pub async fn invite(
    ctx: &AppContext,
    principal: &Principal,
    org_id: &str,
    email: &str,
    role: OrgRole,
) -> AppResult<Invitation> {
    let (org, mine) = orgs::membership(ctx, principal, org_id, OrgAction::ManageMembers).await?;
    if role == OrgRole::Owner && !mine.role.may(OrgAction::ManageOwners) {
        return Err(AppError::Forbidden("Only an owner invites an owner".into()));
    }
    recovery::mail_enabled(ctx)?;
    let email = recovery::checked_email(email)?.to_lowercase();
    if let Some(user) = ctx.store.find_user_by_login(&email).await?
        && ctx.store.find_membership(org_id, &user.id).await?.is_some()
    {
        return Err(AppError::Conflict(
            "This address belongs to a member already".into(),
        ));
    }
    limits::invitation_of_org(ctx, org_id).await?;
    let (token, token_hash) = new_link_token();
    let now = Utc::now();
    let ttl = Duration::from_std(ctx.settings.limits.invite_ttl).unwrap_or(Duration::days(7));
    let invitation = Invitation {
        id: new_id(),
        org_id: org_id.to_string(),
        email: email.clone(),
        role,
        invited_by: principal.user.id.clone(),
        token_hash,
        created_at: now,
        expires_at: now + ttl,
    };
    ctx.store.put_invitation(&invitation).await?;
    let mail = &ctx.settings.mail;
    let base = mail.app_url.as_deref().unwrap_or(&mail.public_url);
    let link = format!("{base}/invitation?token={token}");
    let rendered = MailKind::OrgInvitation {
        link: &link,
        org: &org.name,
    }
    .render(&mail.product_name);
    ctx.mailer
        .enqueue(ctx.store.as_ref(), &email, rendered)
        .await?;
    let sent = NewEvent::new(EventType::OrgInvitationSent)
        .by(principal)
        .org(org_id)
        .public_id("invitation_id", &invitation.id);
    audit::record(ctx, sent).await;
    Ok(invitation)
}

/// The organization's pending invitations (admins).
pub async fn pending(
    ctx: &AppContext,
    principal: &Principal,
    org_id: &str,
) -> AppResult<Vec<Invitation>> {
    orgs::membership(ctx, principal, org_id, OrgAction::ManageMembers).await?;
    Ok(ctx.store.list_org_invitations(org_id, Utc::now()).await?)
}

/// Any organization's pending invitations (the platform admin's view).
pub async fn admin_pending(ctx: &AppContext, org_id: &str) -> AppResult<Vec<Invitation>> {
    super::orgs::admin_get(ctx, org_id).await?;
    Ok(ctx.store.list_org_invitations(org_id, Utc::now()).await?)
}

/// Revokes a pending invitation (admins).
pub async fn revoke(
    ctx: &AppContext,
    principal: &Principal,
    org_id: &str,
    invitation_id: &str,
) -> AppResult<()> {
    orgs::membership(ctx, principal, org_id, OrgAction::ManageMembers).await?;
    let now = Utc::now();
    let ours = ctx
        .store
        .find_invitation(invitation_id, now)
        .await?
        .filter(|i| i.org_id == org_id)
        .ok_or_else(invalid)?;
    ctx.store
        .take_invitation(&ours.id, now)
        .await?
        .ok_or_else(invalid)?;
    let revoked = NewEvent::new(EventType::OrgInvitationRevoked)
        .by(principal)
        .org(org_id)
        .public_id("invitation_id", &ours.id);
    audit::record(ctx, revoked).await;
    Ok(())
}

/// The invitations to the caller's address, if it is verified, with their organizations.
pub async fn mine(
    ctx: &AppContext,
    principal: &Principal,
) -> AppResult<Vec<(Invitation, Organization)>> {
    let user = &principal.user;
    if !user.email_verified {
        return Ok(Vec::new());
    }
    let invitations = ctx
        .store
        .list_invitations_to(&user.email_lower(), Utc::now())
        .await?;
    let orgs = futures_util::future::try_join_all(
        invitations.iter().map(|i| ctx.store.find_org(&i.org_id)),
    )
    .await?;
    Ok(invitations
        .into_iter()
        .zip(orgs)
        .filter_map(|(i, org)| org.map(|o| (i, o)))
        .collect())
}

/// Which invitation a request names: the mailed token or the id.
pub enum Which<'a> {
    Token(&'a str),
    Id(&'a str),
}

/// The invitation named, if it is the caller's to answer: their verified address is the
/// invited one. Anyone else learns nothing more than "not found".
async fn answerable(
    ctx: &AppContext,
    principal: &Principal,
    which: Which<'_>,
) -> AppResult<Invitation> {
    let now = Utc::now();
    let found = match which {
        Which::Token(token) => {
            ctx.store
                .find_invitation_by_token(&hash_link_token(token), now)
                .await?
        }
        Which::Id(id) => ctx.store.find_invitation(id, now).await?,
    };
    let invitation = found.ok_or_else(invalid)?;
    let user = &principal.user;
    if user.email_lower() != invitation.email {
        return Err(AppError::Forbidden(
            "This invitation is for another address".into(),
        ));
    }
    if !user.email_verified {
        return Err(AppError::Forbidden(
            "Verify your address first: the invitation is for whoever receives its mail".into(),
        ));
    }
    Ok(invitation)
}

/// The invitation the caller may answer, taken from the store: of two racing answers, one
/// gets it.
async fn take(ctx: &AppContext, principal: &Principal, which: Which<'_>) -> AppResult<Invitation> {
    let invitation = answerable(ctx, principal, which).await?;
    ctx.store
        .take_invitation(&invitation.id, Utc::now())
        .await?
        .ok_or_else(invalid)
}

/// The event of the caller's answer to `taken`.
fn answered(kind: EventType, principal: &Principal, taken: &Invitation) -> NewEvent {
    NewEvent::new(kind)
        .by(principal)
        .user(&principal.user.id)
        .org(&taken.org_id)
        .public_id("invitation_id", &taken.id)
}

/// Accepts an invitation: the caller joins with its role. Single use.
pub async fn accept(
    ctx: &AppContext,
    principal: &Principal,
    which: Which<'_>,
) -> AppResult<Membership> {
    let taken = take(ctx, principal, which).await?;
    let membership = Membership {
        org_id: taken.org_id.clone(),
        user_id: principal.user.id.clone(),
        role: taken.role,
        joined_at: Utc::now(),
    };
    match ctx.store.add_member(&membership).await {
        Ok(()) => {}
        Err(StoreError::Duplicate { .. }) => {
            return Err(AppError::Conflict("You are a member already".into()));
        }
        Err(e) => return Err(e.into()),
    }
    for kind in [EventType::OrgInvitationAccepted, EventType::OrgMemberAdded] {
        audit::record(ctx, answered(kind, principal, &taken)).await;
    }
    Ok(membership)
}

/// Declines an invitation. Single use.
pub async fn decline(ctx: &AppContext, principal: &Principal, which: Which<'_>) -> AppResult<()> {
    let taken = take(ctx, principal, which).await?;
    audit::record(
        ctx,
        answered(EventType::OrgInvitationDeclined, principal, &taken),
    )
    .await;
    Ok(())
}
