//! `/api/v1/user/identities` and `/api/v1/admin/{user_id}/identities`: the identities at sign-in
//! providers linked to an account (docs/API.md, "Social login").

use axum::Router;
use axum::extract::State;
use axum::routing::{delete, get, post};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::envelope::{Envelope, Reply};
use crate::api::extract::{Admin, Auth, OptionalJsonBody, PathParam};
use crate::api::responses::{AdminOnly, Authenticated, BodyErrors, Reauthenticated};
use crate::api::views::IdentityView;
use crate::context::AppContext;
use crate::error::{AppResult, ErrorBody};
use crate::service::oauth;

pub fn router() -> Router<AppContext> {
    Router::new()
        .route("/api/v1/user/identities", get(my_identities))
        // One path for both: POST names a provider, DELETE an identity (`{id}` either way).
        .route("/api/v1/user/identities/{id}", post(link).delete(unlink))
        .route("/api/v1/admin/{user_id}/identities", get(user_identities))
        .route(
            "/api/v1/admin/{user_id}/identities/{identity_id}",
            delete(unlink_user_identity),
        )
}

/// The identities linked to the caller's account.
#[utoipa::path(get, path = "/api/v1/user/identities", tag = "user", security(("bearer" = [])),
    responses(
        (status = 200, description = "Linked identities, oldest first", body = Envelope<Vec<IdentityView>>),
        Authenticated,
    ))]
pub async fn my_identities(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
) -> AppResult<Reply<Vec<IdentityView>>> {
    let list = oauth::list(&ctx, &principal.user.id).await?;
    Ok(Reply::ok(
        "Identities retrieved successfully",
        IdentityView::list(list),
    ))
}

/// Recent authentication: the account's password, needed when it has one (else a sign-in
/// within `REAUTH_WINDOW`).
#[derive(Default, Deserialize, ToSchema)]
pub struct ReauthRequest {
    pub current_password: Option<String>,
}

#[derive(Default, Deserialize, ToSchema)]
pub struct LinkRequest {
    /// One of `OAUTH_REDIRECT_URLS`, where the flow returns with `?linked=<provider>` (unset:
    /// the first of them).
    pub redirect_to: Option<String>,
    /// Needed when the account has a password (else a sign-in within `REAUTH_WINDOW`).
    pub current_password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LinkView {
    /// Open this URL in the browser (valid 10 minutes, once): it starts the provider flow,
    /// whose callback links the identity to this account.
    pub authorize_url: String,
}

/// Start linking a provider to the caller's account (recent authentication).
///
/// `{id}` is the provider id. The answer's `authorize_url` starts the flow in the browser; its
/// callback links instead of signing in, and returns to `redirect_to?linked=<provider>`, or
/// `?error=identity_in_use` when the identity is linked to another account.
#[utoipa::path(post, path = "/api/v1/user/identities/{id}", tag = "user", security(("bearer" = [])),
    params(("id" = String, Path, description = "The provider id (google, github, ...)")),
    request_body(content = Option<LinkRequest>, description = "Optional"),
    responses(
        (status = 200, description = "The URL to open", body = Envelope<LinkView>),
        Reauthenticated,
        (status = 400, description = "Wrong current password, redirect_to not allowed, or malformed JSON", body = ErrorBody),
        (status = 404, description = "Unknown provider", body = ErrorBody),
        Authenticated,
        BodyErrors,
    ))]
pub async fn link(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam(provider): PathParam<String>,
    OptionalJsonBody(body): OptionalJsonBody<LinkRequest>,
) -> AppResult<Reply<LinkView>> {
    let body = body.unwrap_or_default();
    let authorize_url = oauth::start_link(
        &ctx,
        &principal,
        &provider,
        body.redirect_to.as_deref(),
        body.current_password,
    )
    .await?;
    Ok(Reply::ok(
        "Open authorize_url to link",
        LinkView { authorize_url },
    ))
}

/// Unlink one of the caller's identities (recent authentication).
///
/// `{id}` is the identity's id. 409 when it is the account's last way to sign in (no password
/// and no other identity).
#[utoipa::path(delete, path = "/api/v1/user/identities/{id}", tag = "user", security(("bearer" = [])),
    params(("id" = String, Path, description = "The identity's id")),
    request_body(content = Option<ReauthRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Unlinked; `data` is null", body = Envelope<Option<String>>),
        (status = 404, description = "No such identity of the caller", body = ErrorBody),
        (status = 409, description = "The last way to sign in", body = ErrorBody),
        Reauthenticated,
        Authenticated,
        BodyErrors,
    ))]
pub async fn unlink(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam(identity_id): PathParam<String>,
    OptionalJsonBody(body): OptionalJsonBody<ReauthRequest>,
) -> AppResult<Reply<()>> {
    let current_password = body.unwrap_or_default().current_password;
    oauth::unlink(&ctx, &principal, &identity_id, current_password).await?;
    Ok(Reply::ok("Identity unlinked successfully", ()))
}

/// A user's linked identities.
#[utoipa::path(get, path = "/api/v1/admin/{user_id}/identities", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Linked identities, oldest first", body = Envelope<Vec<IdentityView>>),
        (status = 404, description = "Unknown user", body = ErrorBody),
        AdminOnly,
    ))]
pub async fn user_identities(
    State(ctx): State<AppContext>,
    _admin: Admin,
    PathParam(user_id): PathParam<String>,
) -> AppResult<Reply<Vec<IdentityView>>> {
    let list = oauth::admin_list(&ctx, &user_id).await?;
    Ok(Reply::ok(
        "Identities retrieved successfully",
        IdentityView::list(list),
    ))
}

/// Unlink a user's identity; 409 when it is the account's last way to sign in.
#[utoipa::path(delete, path = "/api/v1/admin/{user_id}/identities/{identity_id}", tag = "admin", security(("bearer" = [])),
    params(
        ("user_id" = String, Path, description = "User id"),
        ("identity_id" = String, Path, description = "Identity id"),
    ),
    responses(
        (status = 200, description = "Unlinked; `data` is null", body = Envelope<Option<String>>),
        (status = 404, description = "Unknown user, or no such identity of the user", body = ErrorBody),
        (status = 409, description = "The last way to sign in", body = ErrorBody),
        AdminOnly,
    ))]
pub async fn unlink_user_identity(
    State(ctx): State<AppContext>,
    Admin(admin): Admin,
    PathParam((user_id, identity_id)): PathParam<(String, String)>,
) -> AppResult<Reply<()>> {
    oauth::admin_unlink(&ctx, &admin, &user_id, &identity_id).await?;
    Ok(Reply::ok("Identity unlinked successfully", ()))
}
