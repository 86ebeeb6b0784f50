//! Invitations to organizations: sent and managed by an organization's admins under
//! `/api/v1/orgs/{org_id}/invitations`, answered by the invited under `/api/v1/user/invitations`
//! (docs/API.md, "Organizations").

use axum::Router;
use axum::extract::State;
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::orgs::{MemberView, OrgView, role_field};
use crate::api::envelope::{Envelope, Reply};
use crate::api::extract::{Admin, Auth, JsonBody, PathParam};
use crate::api::responses::{AdminOnly, Authenticated, BodyErrors};
use crate::context::AppContext;
use crate::domain::org::Invitation;
use crate::domain::validate::FieldError;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::service::invitations::{self, Which};

pub fn router() -> Router<AppContext> {
    Router::new()
        .route(
            "/api/v1/orgs/{org_id}/invitations",
            get(pending).post(invite),
        )
        .route(
            "/api/v1/orgs/{org_id}/invitations/{invitation_id}",
            delete(revoke),
        )
        .route("/api/v1/user/invitations", get(mine))
        .route(
            "/api/v1/admin/orgs/{org_id}/invitations",
            get(any_org_pending),
        )
        .route("/api/v1/user/invitations/accept", post(accept))
        .route("/api/v1/user/invitations/decline", post(decline))
}

#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    #[schema(example = "member")]
    pub role: &'static str,
    /// The user id of the admin who invited.
    pub invited_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

impl From<Invitation> for InvitationView {
    fn from(i: Invitation) -> Self {
        Self {
            id: i.id,
            email: i.email,
            role: i.role.as_str(),
            invited_by: i.invited_by,
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

/// An invitation to the caller, with its organization.
#[derive(Serialize, ToSchema)]
pub struct MyInvitationView {
    #[serde(flatten)]
    pub invitation: InvitationView,
    pub org: OrgView,
}

#[derive(Deserialize, ToSchema)]
pub struct InviteRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// `owner` (by an owner), `admin` or `member`.
    #[schema(example = "member")]
    pub role: String,
}

/// Invite an address (admins; an owner invites an owner). Mails a link through the outbox,
/// valid `ORG_INVITE_TTL` (7 days); a new invitation to the same address replaces the older.
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/invitations", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = InviteRequest,
    responses(
        (status = 201, description = "Invited; the mail is on its way", body = Envelope<InvitationView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, description = "A member without the right, or an admin inviting an owner", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is no member", body = ErrorBody),
        (status = 409, description = "The address belongs to a member already", body = ErrorBody),
        (status = 422, description = "Not an email address, or an unknown role", body = ErrorBody),
        (status = 429, description = "RATE_LIMIT_INVITES for this organization; see Retry-After", body = ErrorBody),
        (status = 503, description = "Email delivery is not configured, or the database is unavailable", body = ErrorBody),
        Authenticated,
        BodyErrors,
    ))]
pub async fn invite(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam(org_id): PathParam<String>,
    JsonBody(body): JsonBody<InviteRequest>,
) -> AppResult<Reply<InvitationView>> {
    let role = role_field(&body.role)?;
    let invitation = invitations::invite(&ctx, &principal, &org_id, &body.email, role).await?;
    Ok(Reply::created("Invitation sent", invitation.into()))
}

/// The organization's pending invitations (admins), newest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/invitations", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "Pending invitations", body = Envelope<Vec<InvitationView>>),
        (status = 403, description = "A member without the right", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is no member", body = ErrorBody),
        Authenticated,
    ))]
pub async fn pending(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam(org_id): PathParam<String>,
) -> AppResult<Reply<Vec<InvitationView>>> {
    let list = invitations::pending(&ctx, &principal, &org_id).await?;
    let list = list.into_iter().map(InvitationView::from).collect();
    Ok(Reply::ok("Invitations retrieved successfully", list))
}

/// Any organization's pending invitations (platform admins).
#[utoipa::path(get, path = "/api/v1/admin/orgs/{org_id}/invitations", tag = "admin", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "Pending invitations", body = Envelope<Vec<InvitationView>>),
        (status = 404, description = "No such organization", body = ErrorBody),
        AdminOnly,
    ))]
pub async fn any_org_pending(
    State(ctx): State<AppContext>,
    _admin: Admin,
    PathParam(org_id): PathParam<String>,
) -> AppResult<Reply<Vec<InvitationView>>> {
    let list = invitations::admin_pending(&ctx, &org_id).await?;
    let list = list.into_iter().map(InvitationView::from).collect();
    Ok(Reply::ok("Invitations retrieved successfully", list))
}

/// Revoke a pending invitation (admins).
#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/invitations/{invitation_id}", tag = "orgs", security(("bearer" = [])),
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("invitation_id" = String, Path, description = "Invitation id"),
    ),
    responses(
        (status = 200, description = "Revoked; `data` is null", body = Envelope<Option<String>>),
        (status = 403, description = "A member without the right", body = ErrorBody),
        (status = 404, description = "No such organization or pending invitation, or the caller is no member", body = ErrorBody),
        Authenticated,
    ))]
pub async fn revoke(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam((org_id, invitation_id)): PathParam<(String, String)>,
) -> AppResult<Reply<()>> {
    invitations::revoke(&ctx, &principal, &org_id, &invitation_id).await?;
    Ok(Reply::ok("Invitation revoked", ()))
}

/// The pending invitations to the caller's verified address.
#[utoipa::path(get, path = "/api/v1/user/invitations", tag = "user", security(("bearer" = [])),
    responses(
        (status = 200, description = "Pending invitations with their organizations (none while the address is unverified)", body = Envelope<Vec<MyInvitationView>>),
        Authenticated,
    ))]
pub async fn mine(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
) -> AppResult<Reply<Vec<MyInvitationView>>> {
    let list = invitations::mine(&ctx, &principal)
        .await?
        .into_iter()
        .map(|(invitation, org)| MyInvitationView {
            invitation: invitation.into(),
            org: org.into(),
        })
        .collect();
    Ok(Reply::ok("Invitations retrieved successfully", list))
}

/// Which invitation: the mailed `token`, or the `invitation_id` from `GET /user/invitations`.
#[derive(Deserialize, ToSchema)]
pub struct AnswerRequest {
    #[schema(max_length = 256)]
    pub token: Option<String>,
    #[schema(max_length = 64)]
    pub invitation_id: Option<String>,
}

impl AnswerRequest {
    fn which(&self) -> AppResult<Which<'_>> {
        match (self.token.as_deref(), self.invitation_id.as_deref()) {
            (Some(token), None) if !token.trim().is_empty() => Ok(Which::Token(token.trim())),
            (None, Some(id)) if !id.trim().is_empty() => Ok(Which::Id(id.trim())),
            _ => Err(AppError::validation(FieldError::body(
                "token",
                "send either token or invitation_id",
                "missing",
            ))),
        }
    }
}

/// Accept an invitation: only an account whose verified address is the invited one; single use
/// (two accepts make one membership).
#[utoipa::path(post, path = "/api/v1/user/invitations/accept", tag = "user", security(("bearer" = [])),
    request_body = AnswerRequest,
    responses(
        (status = 200, description = "The caller's new membership", body = Envelope<MemberView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, description = "The invitation is for another address, or the address is not verified", body = ErrorBody),
        (status = 404, description = "No such pending invitation (used, revoked, replaced or expired)", body = ErrorBody),
        (status = 409, description = "A member already", body = ErrorBody),
        (status = 422, description = "Neither token nor invitation_id", body = ErrorBody),
        Authenticated,
        BodyErrors,
    ))]
pub async fn accept(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    JsonBody(body): JsonBody<AnswerRequest>,
) -> AppResult<Reply<MemberView>> {
    let membership = invitations::accept(&ctx, &principal, body.which()?).await?;
    let view = MemberView::new(membership, principal.user.clone());
    Ok(Reply::ok("Invitation accepted", view))
}

/// Decline an invitation (single use).
#[utoipa::path(post, path = "/api/v1/user/invitations/decline", tag = "user", security(("bearer" = [])),
    request_body = AnswerRequest,
    responses(
        (status = 200, description = "Declined; `data` is null", body = Envelope<Option<String>>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, description = "The invitation is for another address, or the address is not verified", body = ErrorBody),
        (status = 404, description = "No such pending invitation", body = ErrorBody),
        (status = 422, description = "Neither token nor invitation_id", body = ErrorBody),
        Authenticated,
        BodyErrors,
    ))]
pub async fn decline(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    JsonBody(body): JsonBody<AnswerRequest>,
) -> AppResult<Reply<()>> {
    invitations::decline(&ctx, &principal, body.which()?).await?;
    Ok(Reply::ok("Invitation declined", ()))
}
