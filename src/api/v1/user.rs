//! `/api/v1/user`: the caller's own account and sessions (docs/API.md, "Routes").

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::cookies;
use crate::api::envelope::{Envelope, Reply};
use crate::api::extract::{Auth, JsonBody, PathParam};
use crate::api::responses::{Authenticated, BodyErrors};
use crate::api::views::{SessionView, UserView};
use crate::context::AppContext;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::service::accounts::{self, ProfileUpdate};
use crate::service::logout;

pub fn router() -> Router<AppContext> {
    Router::new()
        .route("/api/v1/user", get(me).put(update_me).delete(delete_me))
        .route("/api/v1/user/sessions", get(my_sessions))
        .route(
            "/api/v1/user/sessions/{session_id}",
            delete(revoke_my_session),
        )
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/user/", tag = "user", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Envelope<UserView>),
        Authenticated,
    ))]
pub async fn me(Auth(principal): Auth) -> Reply<UserView> {
    // The template's text for this answer.
    Reply::ok("success", UserView::new(principal.user, &principal.role))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateMeRequest {
    #[schema(min_length = 3, max_length = 50, pattern = "^[A-Za-z0-9_.-]+$")]
    pub username: Option<String>,
    /// Needs `current_password`.
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// `null` or "" clears it.
    #[serde(default, deserialize_with = "crate::api::extract::present")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub full_name: Option<Option<String>>,
    /// Needs `current_password`; signs out every other session.
    #[schema(min_length = 8, max_length = 128)]
    pub password: Option<String>,
    pub current_password: Option<String>,
    /// Not allowed here (403); admins change roles through `/api/v1/admin/{user_id}`.
    #[schema(value_type = Option<String>)]
    pub role: Option<serde_json::Value>,
    /// Not allowed here (403).
    #[schema(value_type = Option<bool>)]
    pub is_active: Option<serde_json::Value>,
}

/// Update the caller's account.
#[utoipa::path(put, path = "/api/v1/user/", tag = "user", security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "Updated account", body = Envelope<UserView>),
        (status = 400, description = "Malformed JSON or wrong current password", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Tried to change role or is_active", body = ErrorBody),
        (status = 409, description = "Username or email taken", body = ErrorBody),
        (status = 422, description = "Invalid field or missing current_password", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords for this account (shared with login), or too many username or email changes (RATE_LIMIT_ACCOUNT_CHANGE); see Retry-After", body = ErrorBody),
        (status = 503, description = "Database unavailable, or too many passwords waiting to be hashed; see Retry-After", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn update_me(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    JsonBody(body): JsonBody<UpdateMeRequest>,
) -> AppResult<Reply<UserView>> {
    if body.role.is_some() {
        return Err(AppError::Forbidden(
            "Cannot change your own role. Contact an administrator.".into(),
        ));
    }
    if body.is_active.is_some() {
        return Err(AppError::Forbidden(
            "Cannot change your own status. Use DELETE /user/ to delete your account.".into(),
        ));
    }
    let update = ProfileUpdate {
        username: body.username,
        email: body.email,
        full_name: body.full_name,
        password: body.password,
    };
    let (user, role) =
        accounts::update_self(&ctx, &principal, update, body.current_password).await?;
    Ok(Reply::ok(
        "Profile updated successfully",
        UserView::new(user, &role),
    ))
}

/// Delete (deactivate) the caller's account and revoke all its sessions.
#[utoipa::path(delete, path = "/api/v1/user/", tag = "user", security(("bearer" = [])),
    responses(
        (status = 200, description = "Account deactivated; `data` is null", body = Envelope<Option<String>>),
        Authenticated,
    ))]
pub async fn delete_me(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    jar: CookieJar,
) -> AppResult<Response> {
    accounts::delete_self(&ctx, &principal).await?;
    let jar = cookies::clear_refresh(jar, &ctx.settings);
    Ok((jar, Reply::ok("Account deleted successfully", ())).into_response())
}

/// The caller's active sessions, most recent activity first.
#[utoipa::path(get, path = "/api/v1/user/sessions", tag = "user", security(("bearer" = [])),
    responses(
        (status = 200, description = "Active sessions", body = Envelope<Vec<SessionView>>),
        Authenticated,
    ))]
pub async fn my_sessions(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
) -> AppResult<Reply<Vec<SessionView>>> {
    let list = logout::list_own(&ctx, &principal).await?;
    Ok(Reply::ok(
        "Sessions retrieved successfully",
        SessionView::list(&list, Some(&principal.session_id)),
    ))
}

/// Revoke one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/user/sessions/{session_id}", tag = "user", security(("bearer" = [])),
    params(("session_id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "Session revoked; `data` is null", body = Envelope<Option<String>>),
        (status = 400, description = "A path parameter that is not valid UTF-8 once percent-decoded", body = ErrorBody),
        (status = 404, description = "No such active session of the caller", body = ErrorBody),
        Authenticated,
    ))]
pub async fn revoke_my_session(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam(session_id): PathParam<String>,
) -> AppResult<Reply<()>> {
    logout::revoke_own(&ctx, &principal, &session_id).await?;
    Ok(Reply::ok("Session revoked successfully", ()))
}
