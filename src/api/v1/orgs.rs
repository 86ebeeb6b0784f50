//! `/api/v1/orgs`: organizations, their members and their security events (docs/API.md,
//! "Organizations"). A non-member gets 404 for every route of an organization.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum_extra::extract::CookieJar;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::security_events::{PageParams, before, encode_cursor, limit, reply};
use crate::api::envelope::{Envelope, Reply};
use crate::api::extract::{Admin, Auth, JsonBody, PathParam, QueryParams};
use crate::api::responses::{AdminOnly, Authenticated, BodyErrors};
use crate::api::views::{EventListView, RefreshView};
use crate::context::AppContext;
use crate::domain::User;
use crate::domain::event::EventFilter;
use crate::domain::org::{Membership, OrgAction, OrgRole, Organization};
use crate::domain::validate::FieldError;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::service::{audit, orgs};

pub fn router() -> Router<AppContext> {
    Router::new()
        .route("/api/v1/orgs", get(my_orgs).post(create))
        .route(
            "/api/v1/orgs/{org_id}",
            get(get_org).patch(update).delete(delete),
        )
        .route("/api/v1/orgs/{org_id}/members", get(members))
        .route(
            "/api/v1/orgs/{org_id}/members/{user_id}",
            patch(set_role).delete(remove_member),
        )
        .route("/api/v1/orgs/{org_id}/security-events", get(org_events))
        .route("/api/v1/user/active-org", post(active_org))
        .route("/api/v1/admin/orgs", get(all_orgs))
        .route(
            "/api/v1/admin/orgs/{org_id}",
            get(any_org).delete(delete_any_org),
        )
        .route("/api/v1/admin/orgs/{org_id}/members", get(any_org_members))
}

#[derive(Serialize, ToSchema)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub slug: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

impl From<Organization> for OrgView {
    fn from(o: Organization) -> Self {
        Self {
            id: o.id,
            name: o.name,
            slug: o.slug,
            created_at: o.created_at,
        }
    }
}

/// An organization with the caller's role in it.
#[derive(Serialize, ToSchema)]
pub struct MyOrgView {
    #[serde(flatten)]
    pub org: OrgView,
    /// `owner`, `admin` or `member`.
    #[schema(example = "owner")]
    pub role: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct MemberUserView {
    pub id: String,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub user: MemberUserView,
    #[schema(example = "member")]
    pub role: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: DateTime<Utc>,
}

impl MemberView {
    pub(crate) fn new(m: Membership, u: User) -> Self {
        Self {
            user: MemberUserView {
                id: u.id,
                username: u.username,
                email: u.email,
                full_name: u.full_name,
            },
            role: m.role.as_str(),
            joined_at: m.joined_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MembersPageView {
    pub members: Vec<MemberView>,
    /// Pass as `before` for the next page; `null` on the last.
    pub next: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateOrgRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// a-z, 0-9 and -, 2 to 50 (case-insensitive; stored lower-case). Made from the name when
    /// absent.
    #[schema(min_length = 2, max_length = 50, pattern = "^[a-zA-Z0-9-]+$")]
    pub slug: Option<String>,
}

/// Create an organization; the caller is its owner.
#[utoipa::path(post, path = "/api/v1/orgs", tag = "orgs", security(("bearer" = [])),
    request_body = CreateOrgRequest,
    responses(
        (status = 201, description = "Created", body = Envelope<OrgView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, description = "The caller owns ORG_MAX_PER_USER organizations already", body = ErrorBody),
        (status = 409, description = "The slug is taken", body = ErrorBody),
        (status = 422, description = "A name or slug out of shape", body = ErrorBody),
        Authenticated,
        BodyErrors,
    ))]
pub async fn create(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    JsonBody(body): JsonBody<CreateOrgRequest>,
) -> AppResult<Reply<OrgView>> {
    let (org, _) = orgs::create(&ctx, &principal, &body.name, body.slug.as_deref()).await?;
    Ok(Reply::created("Organization created", org.into()))
}

/// The caller's organizations, with the role in each.
#[utoipa::path(get, path = "/api/v1/orgs", tag = "orgs", security(("bearer" = [])),
    responses(
        (status = 200, description = "Oldest membership first", body = Envelope<Vec<MyOrgView>>),
        Authenticated,
    ))]
pub async fn my_orgs(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
) -> AppResult<Reply<Vec<MyOrgView>>> {
    let list = orgs::list_mine(&ctx, &principal)
        .await?
        .into_iter()
        .map(|(org, role)| MyOrgView {
            org: org.into(),
            role: role.as_str(),
        })
        .collect();
    Ok(Reply::ok("Organizations retrieved successfully", list))
}

/// An organization the caller is a member of.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The organization", body = Envelope<OrgView>),
        (status = 404, description = "No such organization, or the caller is no member", body = ErrorBody),
        Authenticated,
    ))]
pub async fn get_org(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam(org_id): PathParam<String>,
) -> AppResult<Reply<OrgView>> {
    let (org, _) = orgs::membership(&ctx, &principal, &org_id, OrgAction::Read).await?;
    Ok(Reply::ok("Organization retrieved successfully", org.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateOrgRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(min_length = 2, max_length = 50, pattern = "^[a-zA-Z0-9-]+$")]
    pub slug: Option<String>,
}

/// Rename an organization or change its slug (admins and owners).
#[utoipa::path(patch, path = "/api/v1/orgs/{org_id}", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    request_body = UpdateOrgRequest,
    responses(
        (status = 200, description = "Updated", body = Envelope<OrgView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, description = "A member without the right", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is no member", body = ErrorBody),
        (status = 409, description = "The slug is taken", body = ErrorBody),
        (status = 422, description = "A name or slug out of shape", body = ErrorBody),
        Authenticated,
        BodyErrors,
    ))]
pub async fn update(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam(org_id): PathParam<String>,
    JsonBody(body): JsonBody<UpdateOrgRequest>,
) -> AppResult<Reply<OrgView>> {
    let org = orgs::update(
        &ctx,
        &principal,
        &org_id,
        body.name.as_deref(),
        body.slug.as_deref(),
    )
    .await?;
    Ok(Reply::ok("Organization updated", org.into()))
}

/// Delete an organization and its memberships (owners).
#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "Deleted; `data` is null", body = Envelope<Option<String>>),
        (status = 403, description = "A member who is no owner", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is no member", body = ErrorBody),
        Authenticated,
    ))]
pub async fn delete(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam(org_id): PathParam<String>,
) -> AppResult<Reply<()>> {
    orgs::delete(&ctx, &principal, &org_id).await?;
    Ok(Reply::ok("Organization deleted", ()))
}

/// The members, by join time, a page at a time (any member).
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/members", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id"), PageParams),
    responses(
        (status = 200, description = "One page of members", body = Envelope<MembersPageView>),
        (status = 404, description = "No such organization, or the caller is no member", body = ErrorBody),
        (status = 422, description = "Bad limit or cursor", body = ErrorBody),
        Authenticated,
    ))]
pub async fn members(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam(org_id): PathParam<String>,
    QueryParams(page): QueryParams<PageParams>,
) -> AppResult<Reply<MembersPageView>> {
    let result = orgs::members(&ctx, &principal, &org_id, limit(&page)?, before(&page)?).await?;
    Ok(members_reply(result))
}

fn members_reply(result: orgs::MembersPage) -> Reply<MembersPageView> {
    Reply::ok(
        "Members retrieved successfully",
        MembersPageView {
            next: result.next.as_ref().map(encode_cursor),
            members: result
                .members
                .into_iter()
                .map(|(m, u)| MemberView::new(m, u))
                .collect(),
        },
    )
}

/// Any organization's members (platform admins).
#[utoipa::path(get, path = "/api/v1/admin/orgs/{org_id}/members", tag = "admin", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id"), PageParams),
    responses(
        (status = 200, description = "One page of members", body = Envelope<MembersPageView>),
        (status = 404, description = "No such organization", body = ErrorBody),
        (status = 422, description = "Bad limit or cursor", body = ErrorBody),
        AdminOnly,
    ))]
pub async fn any_org_members(
    State(ctx): State<AppContext>,
    _admin: Admin,
    PathParam(org_id): PathParam<String>,
    QueryParams(page): QueryParams<PageParams>,
) -> AppResult<Reply<MembersPageView>> {
    let result = orgs::admin_members(&ctx, &org_id, limit(&page)?, before(&page)?).await?;
    Ok(members_reply(result))
}

#[derive(Deserialize, ToSchema)]
pub struct RoleRequest {
    /// `owner`, `admin` or `member`.
    #[schema(example = "admin")]
    pub role: String,
}

pub(crate) fn role_field(role: &str) -> AppResult<OrgRole> {
    OrgRole::parse(role).ok_or_else(|| {
        AppError::validation(FieldError::body(
            "role",
            "one of owner, admin, member",
            "value_error",
        ))
    })
}

/// Change a member's role (admins; only an owner makes or unmakes an owner; the last owner
/// stays: 409, also when two demotions race).
#[utoipa::path(patch, path = "/api/v1/orgs/{org_id}/members/{user_id}", tag = "orgs", security(("bearer" = [])),
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("user_id" = String, Path, description = "The member's user id"),
    ),
    request_body = RoleRequest,
    responses(
        (status = 200, description = "The membership", body = Envelope<MemberView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, description = "A member without the right, or an admin touching an owner", body = ErrorBody),
        (status = 404, description = "No such organization or member, or the caller is no member", body = ErrorBody),
        (status = 409, description = "The last owner, or the membership changed meanwhile", body = ErrorBody),
        (status = 422, description = "An unknown role", body = ErrorBody),
        Authenticated,
        BodyErrors,
    ))]
pub async fn set_role(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam((org_id, user_id)): PathParam<(String, String)>,
    JsonBody(body): JsonBody<RoleRequest>,
) -> AppResult<Reply<MemberView>> {
    let role = role_field(&body.role)?;
    let membership = orgs::set_role(&ctx, &principal, &org_id, &user_id, role).await?;
    let user = ctx
        .store
        .find_user(&user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("Member not found".into()))?;
    Ok(Reply::ok("Role changed", MemberView::new(membership, user)))
}

/// Remove a member (admins; an owner only by an owner), or leave (the caller's own id). The
/// last owner can do neither: 409.
#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/members/{user_id}", tag = "orgs", security(("bearer" = [])),
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("user_id" = String, Path, description = "The member's user id (the caller's own: leave)"),
    ),
    responses(
        (status = 200, description = "Removed; `data` is null", body = Envelope<Option<String>>),
        (status = 403, description = "A member without the right, or an admin removing an owner", body = ErrorBody),
        (status = 404, description = "No such organization or member, or the caller is no member", body = ErrorBody),
        (status = 409, description = "The last owner, or the membership changed meanwhile", body = ErrorBody),
        Authenticated,
    ))]
pub async fn remove_member(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam((org_id, user_id)): PathParam<(String, String)>,
) -> AppResult<Reply<()>> {
    orgs::remove(&ctx, &principal, &org_id, &user_id).await?;
    Ok(Reply::ok("Member removed", ()))
}

/// The organization's security events, newest first (admins and owners).
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/security-events", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id"), PageParams),
    responses(
        (status = 200, description = "One page of the organization's events", body = Envelope<EventListView>),
        (status = 403, description = "A member without the right", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is no member", body = ErrorBody),
        (status = 422, description = "Bad limit or cursor", body = ErrorBody),
        Authenticated,
    ))]
pub async fn org_events(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam(org_id): PathParam<String>,
    QueryParams(page): QueryParams<PageParams>,
) -> AppResult<Reply<EventListView>> {
    orgs::membership(&ctx, &principal, &org_id, OrgAction::ManageMembers).await?;
    let filter = EventFilter {
        org_id: Some(org_id),
        before: before(&page)?,
        ..Default::default()
    };
    Ok(reply(audit::list(&ctx, &filter, limit(&page)?).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct ActiveOrgRequest {
    /// An organization the caller is a member of, or `null` for none.
    pub org_id: Option<String>,
}

/// Choose the organization the session acts in: a new access token carrying `org_id` and
/// `org_role` (`{org_id: null}`: none). The refresh token rotates (the cookie, or the body with
/// `X-Refresh-Token-Transport: body`) and keeps it through refreshes, each of which checks the
/// membership: when it ended, the next token carries no organization. Offline verifiers of
/// EdDSA tokens see `org_role` until the access token expires.
#[utoipa::path(post, path = "/api/v1/user/active-org", tag = "orgs", security(("bearer" = [])),
    request_body = ActiveOrgRequest,
    params(("X-Refresh-Token-Transport" = Option<String>, Header, description = "`body` to receive the refresh token in the response body (native clients)")),
    responses(
        (status = 200, description = "New tokens", body = Envelope<RefreshView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is no member", body = ErrorBody),
        (status = 409, description = "The session changed meanwhile", body = ErrorBody),
        (status = 422, description = "org_id neither a string nor null", body = ErrorBody),
        Authenticated,
        BodyErrors,
    ))]
pub async fn active_org(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    headers: HeaderMap,
    jar: CookieJar,
    JsonBody(body): JsonBody<ActiveOrgRequest>,
) -> AppResult<Response> {
    let tokens = orgs::switch(&ctx, &principal, body.org_id.as_deref()).await?;
    let (jar, token) = super::auth::token_answer_for(&ctx, &headers, jar, tokens);
    Ok((
        jar,
        Reply::ok("Active organization set", RefreshView { token }),
    )
        .into_response())
}

/// The platform admin's listing: paging, and a slug prefix.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminOrgsQuery {
    /// Organizations whose slug starts with this (taken literally).
    q: Option<String>,
    /// Organizations per page, 1-100 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next` of the previous page.
    before: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrgsPageView {
    pub orgs: Vec<OrgView>,
    /// Pass as `before` for the next page; `null` on the last.
    pub next: Option<String>,
}

/// Every organization, newest first (platform admins).
#[utoipa::path(get, path = "/api/v1/admin/orgs", tag = "admin", security(("bearer" = [])),
    params(AdminOrgsQuery),
    responses(
        (status = 200, description = "One page of organizations", body = Envelope<OrgsPageView>),
        (status = 422, description = "Bad limit or cursor", body = ErrorBody),
        AdminOnly,
    ))]
pub async fn all_orgs(
    State(ctx): State<AppContext>,
    _admin: Admin,
    QueryParams(query): QueryParams<AdminOrgsQuery>,
) -> AppResult<Reply<OrgsPageView>> {
    let page = PageParams {
        limit: query.limit,
        before: query.before,
    };
    let q = query.q.as_deref().filter(|q| !q.trim().is_empty());
    let result = orgs::admin_list(&ctx, q, limit(&page)?, before(&page)?).await?;
    Ok(Reply::ok(
        "Organizations retrieved successfully",
        OrgsPageView {
            next: result.next.as_ref().map(encode_cursor),
            orgs: result.orgs.into_iter().map(OrgView::from).collect(),
        },
    ))
}

/// Any organization (platform admins).
#[utoipa::path(get, path = "/api/v1/admin/orgs/{org_id}", tag = "admin", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The organization", body = Envelope<OrgView>),
        (status = 404, description = "No such organization", body = ErrorBody),
        AdminOnly,
    ))]
pub async fn any_org(
    State(ctx): State<AppContext>,
    _admin: Admin,
    PathParam(org_id): PathParam<String>,
) -> AppResult<Reply<OrgView>> {
    let org = orgs::admin_get(&ctx, &org_id).await?;
    Ok(Reply::ok("Organization retrieved successfully", org.into()))
}

/// Delete any organization with its memberships and invitations (platform admins).
#[utoipa::path(delete, path = "/api/v1/admin/orgs/{org_id}", tag = "admin", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "Deleted; `data` is null", body = Envelope<Option<String>>),
        (status = 404, description = "No such organization", body = ErrorBody),
        AdminOnly,
    ))]
pub async fn delete_any_org(
    State(ctx): State<AppContext>,
    Admin(admin): Admin,
    PathParam(org_id): PathParam<String>,
) -> AppResult<Reply<()>> {
    orgs::admin_delete(&ctx, &admin, &org_id).await?;
    Ok(Reply::ok("Organization deleted", ()))
}
