//! `/api/v1/admin`: user management for holders of `admin:*` (docs/API.md, "Routes").

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::envelope::{Envelope, Reply};
use crate::api::extract::{Admin, JsonBody, PathParam, QueryParams, query_value};
use crate::api::responses::{AdminOnly, Authenticated, BodyErrors};
use crate::api::v1::security_events::{cursor_param, limit_param};
use crate::api::views::{RevokedView, RoleView, SessionView, UserListView, UserView};
use crate::context::AppContext;
use crate::domain::permission::EVERYTHING;
use crate::error::{AppResult, ErrorBody};
use crate::service::access;
use crate::service::accounts::ProfileUpdate;
use crate::service::admin::{self, AdminUpdate, ListQuery};
use crate::service::signing_keys::{self, Revocation, Rotation};

pub fn router() -> Router<AppContext> {
    Router::new()
        .route("/api/v1/admin/users", get(list_users))
        .route(
            "/api/v1/admin/{user_id}",
            get(get_user).put(update_user).delete(delete_user),
        )
        .route(
            "/api/v1/admin/{user_id}/sessions",
            get(user_sessions).delete(revoke_user_sessions),
        )
        .route(
            "/api/v1/admin/{user_id}/sessions/{session_id}",
            axum::routing::delete(revoke_user_session),
        )
        .route("/api/v1/admin/roles", get(list_roles))
        .route(
            "/api/v1/admin/{user_id}/password-reset",
            axum::routing::post(send_password_reset),
        )
        .route(
            "/api/v1/admin/keys/rotate",
            axum::routing::post(rotate_keys),
        )
}

/// Query of the user listing. Values arrive as text and are checked one by one, so each bad
/// value is a 422 naming its parameter.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page number, from 1 (at most 1000000).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000000, example = 1)]
    page: Option<String>,
    /// Page size, 1-100.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100, example = 10)]
    size: Option<String>,
    /// Username or email prefix (case-insensitive); at most 100 characters, no control characters.
    #[param(max_length = 100)]
    q: Option<String>,
    /// Role name, e.g. `USER`.
    role: Option<String>,
    #[param(value_type = Option<bool>)]
    is_active: Option<String>,
    /// Keyset paging (not in the template): the page size, 1-100 (default 20). With `limit` or
    /// `before` the answer's `next` leads on.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100, example = 20)]
    limit: Option<String>,
    /// The previous answer's `next`: the page after it, at the cost of a first page however deep
    /// (`page` is then ignored, and `current_page` answers 0).
    before: Option<String>,
}

/// List users, newest first, with optional filters.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "One page of users", body = Envelope<UserListView>),
        (status = 422, description = "Bad page, size, limit, q, role, is_active or before", body = ErrorBody),
        AdminOnly,
    ))]
pub async fn list_users(
    State(ctx): State<AppContext>,
    _admin: Admin,
    QueryParams(params): QueryParams<ListParams>,
) -> AppResult<Reply<UserListView>> {
    // `limit` is the keyset listing's page size (as for events and members), `size` the
    // template's; `limit` wins when both are given.
    let size = match params.limit.as_deref().map(str::trim) {
        Some(limit) if !limit.is_empty() => limit_param(Some(limit))?,
        _ => query_value(
            "size",
            params.size.as_deref(),
            10,
            "an integer from 1 to 100",
        )?,
    };
    let query = ListQuery {
        page: query_value("page", params.page.as_deref(), 1, "a positive integer")?,
        size,
        prefix: params.q,
        role: params.role,
        is_active: match params.is_active.as_deref() {
            None | Some("") => None,
            Some(v) => Some(query_value(
                "is_active",
                Some(&v.to_ascii_lowercase()),
                false,
                "true or false",
            )?),
        },
        before: cursor_param(params.before.as_deref())?,
    };
    let page = admin::list_users(&ctx, query).await?;
    let view = UserListView::from(page);
    Ok(Reply::ok(
        format!("Retrieved {} users successfully", view.users.len()),
        view,
    ))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/admin/{user_id}", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = Envelope<UserView>),
        (status = 400, description = "A path parameter that is not valid UTF-8 once percent-decoded", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody),
        AdminOnly,
    ))]
pub async fn get_user(
    State(ctx): State<AppContext>,
    _admin: Admin,
    PathParam(user_id): PathParam<String>,
) -> AppResult<Reply<UserView>> {
    let (user, role) = admin::get_user(&ctx, &user_id).await?;
    Ok(Reply::ok(
        "User retrieved successfully",
        UserView::new(user, &role),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct AdminUpdateRequest {
    #[schema(min_length = 3, max_length = 50, pattern = "^[A-Za-z0-9_.-]+$")]
    pub username: Option<String>,
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "crate::api::extract::present")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub full_name: Option<Option<String>>,
    /// Hashed like any password; signs the user out everywhere.
    #[schema(min_length = 8, max_length = 128)]
    pub password: Option<String>,
    /// Role name. Granting ADMIN or SUPER_ADMIN needs `*`.
    #[schema(example = "ADMIN")]
    pub role: Option<String>,
    /// `false` deactivates the account and revokes its sessions.
    pub is_active: Option<bool>,
}

/// Update another user. Your own id is refused (use `/api/v1/user/`); accounts holding an admin
/// role, and granting one, need `*`.
#[utoipa::path(put, path = "/api/v1/admin/{user_id}", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "User id")),
    request_body = AdminUpdateRequest,
    responses(
        (status = 200, description = "Updated user", body = Envelope<UserView>),
        (status = 400, description = "Own id, or malformed JSON", body = ErrorBody),
        (status = 403, description = "Not allowed for this account or role", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody),
        (status = 409, description = "Username or email taken", body = ErrorBody),
        (status = 422, description = "Invalid field or unknown role", body = ErrorBody),
        Authenticated, BodyErrors,
    ))]
pub async fn update_user(
    State(ctx): State<AppContext>,
    Admin(actor): Admin,
    PathParam(user_id): PathParam<String>,
    JsonBody(body): JsonBody<AdminUpdateRequest>,
) -> AppResult<Reply<UserView>> {
    let update = AdminUpdate {
        profile: ProfileUpdate {
            username: body.username,
            email: body.email,
            full_name: body.full_name,
            password: body.password,
        },
        role: body.role,
        is_active: body.is_active,
    };
    let (user, role) = admin::update_user(&ctx, &actor, &user_id, update).await?;
    Ok(Reply::ok(
        "User updated successfully",
        UserView::new(user, &role),
    ))
}

/// Soft-delete another user and revoke their sessions.
#[utoipa::path(delete, path = "/api/v1/admin/{user_id}", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Deactivated; `data` is null", body = Envelope<Option<String>>),
        (status = 400, description = "Own id, or already inactive", body = ErrorBody),
        (status = 403, description = "Not allowed for this account", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody),
        Authenticated,
    ))]
pub async fn delete_user(
    State(ctx): State<AppContext>,
    Admin(actor): Admin,
    PathParam(user_id): PathParam<String>,
) -> AppResult<Reply<()>> {
    let revoked = admin::delete_user(&ctx, &actor, &user_id).await?;
    Ok(Reply::ok(
        format!("User deleted successfully, {revoked} sessions revoked"),
        (),
    ))
}

/// Active sessions of a user.
#[utoipa::path(get, path = "/api/v1/admin/{user_id}/sessions", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Active sessions", body = Envelope<Vec<SessionView>>),
        (status = 400, description = "A path parameter that is not valid UTF-8 once percent-decoded", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody),
        AdminOnly,
    ))]
pub async fn user_sessions(
    State(ctx): State<AppContext>,
    _admin: Admin,
    PathParam(user_id): PathParam<String>,
) -> AppResult<Reply<Vec<SessionView>>> {
    let list = admin::list_user_sessions(&ctx, &user_id).await?;
    Ok(Reply::ok(
        "Sessions retrieved successfully",
        SessionView::list(&list, None),
    ))
}

/// Revoke every session of a user.
#[utoipa::path(delete, path = "/api/v1/admin/{user_id}/sessions", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Sessions revoked", body = Envelope<RevokedView>),
        (status = 400, description = "Own id", body = ErrorBody),
        (status = 403, description = "Not allowed for this account", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody),
        Authenticated,
    ))]
pub async fn revoke_user_sessions(
    State(ctx): State<AppContext>,
    Admin(actor): Admin,
    PathParam(user_id): PathParam<String>,
) -> AppResult<Reply<RevokedView>> {
    let n = admin::revoke_user_sessions(&ctx, &actor, &user_id).await?;
    Ok(Reply::ok(
        "Sessions revoked successfully",
        RevokedView {
            revoked_sessions: n,
        },
    ))
}

/// Revoke one session of a user.
#[utoipa::path(delete, path = "/api/v1/admin/{user_id}/sessions/{session_id}", tag = "admin", security(("bearer" = [])),
    params(
        ("user_id" = String, Path, description = "User id"),
        ("session_id" = String, Path, description = "Session id"),
    ),
    responses(
        (status = 200, description = "Session revoked; `data` is null", body = Envelope<Option<String>>),
        (status = 400, description = "Own id, or a path parameter that is not valid UTF-8 once percent-decoded", body = ErrorBody),
        (status = 403, description = "Not allowed for this account", body = ErrorBody),
        (status = 404, description = "Unknown user, or no such active session of the user", body = ErrorBody),
        Authenticated,
    ))]
pub async fn revoke_user_session(
    State(ctx): State<AppContext>,
    Admin(actor): Admin,
    PathParam((user_id, session_id)): PathParam<(String, String)>,
) -> AppResult<Reply<()>> {
    admin::revoke_user_session(&ctx, &actor, &user_id, &session_id).await?;
    Ok(Reply::ok("Session revoked successfully", ()))
}

/// Every role with its permissions, by name: what an admin may pick for a user. Granting a role
/// that holds `admin:*` or `*` still needs `*` (see `PUT /api/v1/admin/{user_id}`).
#[utoipa::path(get, path = "/api/v1/admin/roles", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Roles", body = Envelope<Vec<RoleView>>),
        AdminOnly,
    ))]
pub async fn list_roles(
    State(ctx): State<AppContext>,
    _admin: Admin,
) -> AppResult<Reply<Vec<RoleView>>> {
    let roles = admin::list_roles(&ctx).await?;
    Ok(Reply::ok(
        "Roles retrieved successfully",
        roles.iter().map(RoleView::from).collect(),
    ))
}

/// Send a user the password reset mail.
///
/// The same mail as `POST /api/v1/auth/password/forgot`, under the same per-address limit
/// (silently: still 202, no mail). Like any change to another account, only a `*` holder may
/// do it for an administrator.
#[utoipa::path(post, path = "/api/v1/admin/{user_id}/password-reset", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 202, description = "Reset mail queued (unless over the address's limit)", body = Envelope<Option<String>>),
        (status = 400, description = "Own id", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not allowed for this account", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody),
        (status = 503, description = "Email delivery is not configured, or the database is unavailable", body = ErrorBody),
    ))]
pub async fn send_password_reset(
    State(ctx): State<AppContext>,
    Admin(actor): Admin,
    PathParam(user_id): PathParam<String>,
) -> AppResult<Reply<Option<String>>> {
    crate::service::recovery::admin_forgot(&ctx, &actor, &user_id).await?;
    Ok(Reply::accepted("Password reset mail queued", None))
}

/// Query of the key rotation.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RotateParams {
    /// `true` for the emergency revocation of a leaked key instead of a routine rotation.
    #[param(value_type = Option<bool>)]
    revoke_now: Option<String>,
}

/// What a rotation did: a routine [`Rotation`], or an emergency [`Revocation`].
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
pub enum KeyChange {
    Rotated(Rotation),
    Revoked(Revocation),
}

/// Rotate the signing keys (`JWT_ALG=EdDSA`; also `<binary> rotate-keys`). Only for `*` holders;
/// 409 with HS256.
///
/// Routine (no query): the published next key starts signing, the active key retires (still
/// verifying until its tokens expired), and a new next key is published. 409 while the next key
/// has not been published for `JWKS_MAX_AGE` plus the reload interval yet. Nobody is logged out.
///
/// `revoke_now=true`, for a signing key that leaked (also `rotate-keys --revoke-now`): every
/// published key is withdrawn at once (private key erased, no longer verifying) and a fresh key
/// signs straight away. The answer lists the withdrawn kids and the cost: every access token
/// issued before is refused, so clients refresh on their next 401 (sessions and refresh tokens
/// are untouched); other instances follow within the reload interval. A `keys.revoked` event.
#[utoipa::path(post, path = "/api/v1/admin/keys/rotate", tag = "keys", security(("bearer" = [])),
    params(RotateParams),
    responses(
        (status = 200, description = "Rotated, or revoked and replaced", body = Envelope<KeyChange>),
        (status = 403, description = "Not a `*` holder", body = ErrorBody),
        (status = 409, description = "The next key is too new to sign, another rotation is under way, or JWT_ALG is HS256", body = ErrorBody),
        (status = 422, description = "`revoke_now` is not true or false", body = ErrorBody),
        Authenticated,
    ))]
pub async fn rotate_keys(
    State(ctx): State<AppContext>,
    Admin(actor): Admin,
    QueryParams(params): QueryParams<RotateParams>,
) -> AppResult<Reply<KeyChange>> {
    let revoke_now = query_value(
        "revoke_now",
        params.revoke_now.map(|v| v.to_ascii_lowercase()).as_deref(),
        false,
        "true or false",
    )?;
    access::require_because(
        &actor,
        EVERYTHING,
        "Only a holder of every permission (*) may rotate the signing keys",
    )?;
    if revoke_now {
        let revocation = signing_keys::revoke_now(&ctx, Some(&actor)).await?;
        return Ok(Reply::ok(
            "Signing keys revoked and replaced",
            KeyChange::Revoked(revocation),
        ));
    }
    let rotation = signing_keys::rotate(&ctx, Some(&actor)).await?;
    Ok(Reply::ok(
        "Signing keys rotated",
        KeyChange::Rotated(rotation),
    ))
}
