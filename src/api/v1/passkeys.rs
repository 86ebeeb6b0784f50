//! Passkeys (docs/API.md, "Passkeys"): registration and management under `/api/v1/user/passkeys`,
//! sign-in with no username under `/api/v1/auth/passkeys`, and the admin's view.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum_extra::extract::CookieJar;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::api::envelope::{Envelope, Reply};
use crate::api::extract::{Admin, Auth, JsonBody, OptionalJsonBody, PathParam};
use crate::api::responses::{AdminOnly, Authenticated, BodyErrors, Reauthenticated};
use crate::api::v1::identities::ReauthRequest;
use crate::api::views::LoginView;
use crate::context::AppContext;
use crate::domain::passkey::Passkey;
use crate::domain::principal::ClientInfo;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::service::passkeys::{self, Ceremony};

pub fn router() -> Router<AppContext> {
    Router::new()
        .route("/api/v1/user/passkeys", get(my_passkeys))
        .route("/api/v1/user/passkeys/register/start", post(register_start))
        .route(
            "/api/v1/user/passkeys/register/finish",
            post(register_finish),
        )
        .route(
            "/api/v1/user/passkeys/{passkey_id}",
            delete(remove).patch(rename),
        )
        .route("/api/v1/auth/passkeys/login/start", post(sign_in_start))
        .route("/api/v1/auth/passkeys/login/finish", post(sign_in_finish))
        .route("/api/v1/admin/{user_id}/passkeys", get(user_passkeys))
        .route(
            "/api/v1/admin/{user_id}/passkeys/{passkey_id}",
            delete(remove_user_passkey),
        )
}

/// A passkey of the account (never its key material).
#[derive(Serialize, ToSchema)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Synced by its platform (iCloud Keychain, Google Password Manager).
    pub backed_up: bool,
    /// How the authenticator is reached (`internal`, `hybrid`, `usb`, `nfc`, `ble`).
    pub transports: Vec<String>,
}

impl From<Passkey> for PasskeyView {
    fn from(p: Passkey) -> Self {
        Self {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
            backed_up: p.backed_up,
            transports: p.transports,
        }
    }
}

fn views(list: Vec<Passkey>) -> Vec<PasskeyView> {
    list.into_iter().map(PasskeyView::from).collect()
}

/// A ceremony's start.
#[derive(Serialize, ToSchema)]
pub struct CeremonyView {
    /// Names this ceremony at its finish (single use, 5 minutes).
    pub challenge_id: String,
    /// For `navigator.credentials.create({publicKey: options})` (registration) or
    /// `navigator.credentials.get({publicKey: options, mediation})` (sign-in), binary fields in
    /// base64url (`PublicKeyCredential.parseCreationOptionsFromJSON` /
    /// `parseRequestOptionsFromJSON` take it as it is).
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

impl From<Ceremony> for CeremonyView {
    fn from(c: Ceremony) -> Self {
        Self {
            challenge_id: c.challenge_id,
            options: c.options,
        }
    }
}

/// The caller's passkeys.
#[utoipa::path(get, path = "/api/v1/user/passkeys", tag = "passkeys", security(("bearer" = [])),
    responses(
        (status = 200, description = "Passkeys, oldest first", body = Envelope<Vec<PasskeyView>>),
        Authenticated,
    ))]
pub async fn my_passkeys(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
) -> AppResult<Reply<Vec<PasskeyView>>> {
    let list = passkeys::list(&ctx, &principal.user.id).await?;
    Ok(Reply::ok("Passkeys retrieved successfully", views(list)))
}

/// Start registering a passkey (recent authentication: `current_password` when the account has
/// one, else a sign-in within `REAUTH_WINDOW`).
///
/// A resident key and user verification are required; the account's own passkeys are excluded.
#[utoipa::path(post, path = "/api/v1/user/passkeys/register/start", tag = "passkeys", security(("bearer" = [])),
    request_body(content = Option<ReauthRequest>, description = "Optional"),
    responses(
        (status = 200, description = "The creation options", body = Envelope<CeremonyView>),
        Reauthenticated,
        Authenticated,
        (status = 503, description = "Passkeys are off (WEBAUTHN_RP_ID is an IP address), or the database is unavailable", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn register_start(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    OptionalJsonBody(body): OptionalJsonBody<ReauthRequest>,
) -> AppResult<Reply<CeremonyView>> {
    let password = body.unwrap_or_default().current_password;
    let ceremony = passkeys::register_start(&ctx, &principal, password).await?;
    Ok(Reply::ok("Create the passkey", ceremony.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterFinishRequest {
    #[schema(max_length = 256)]
    pub challenge_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create`, as JSON (`toJSON()`).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// The owner's name for it (default "Passkey").
    #[schema(max_length = 64)]
    pub name: Option<String>,
}

/// Finish registering a passkey.
#[utoipa::path(post, path = "/api/v1/user/passkeys/register/finish", tag = "passkeys", security(("bearer" = [])),
    request_body = RegisterFinishRequest,
    responses(
        (status = 201, description = "Registered", body = Envelope<PasskeyView>),
        (status = 400, description = "Unknown, used or expired challenge, or an answer the relying party refuses (origin, RP id, user verification, signature)", body = ErrorBody),
        (status = 409, description = "This credential is registered already", body = ErrorBody),
        (status = 422, description = "A missing or malformed field", body = ErrorBody),
        (status = 503, description = "Passkeys are off, or the database is unavailable", body = ErrorBody),
        Authenticated,
        BodyErrors,
    ))]
pub async fn register_finish(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    JsonBody(body): JsonBody<RegisterFinishRequest>,
) -> AppResult<Reply<PasskeyView>> {
    let credential: RegisterPublicKeyCredential = credential_field(body.credential)?;
    let passkey = passkeys::register_finish(
        &ctx,
        &principal,
        &body.challenge_id,
        &credential,
        body.name.as_deref(),
        &principal.client,
    )
    .await?;
    Ok(Reply::created("Passkey registered", passkey.into()))
}

/// `credential` read as the WebAuthn type it must be: a 422 naming the field otherwise.
fn credential_field<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> AppResult<T> {
    serde_json::from_value(value).map_err(|e| {
        AppError::validation(crate::domain::validate::FieldError::body(
            "credential",
            format!("not a WebAuthn credential: {e}"),
            "value_error",
        ))
    })
}

#[derive(Deserialize, ToSchema)]
pub struct RenameRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
}

/// Rename one of the caller's passkeys.
#[utoipa::path(patch, path = "/api/v1/user/passkeys/{passkey_id}", tag = "passkeys", security(("bearer" = [])),
    params(("passkey_id" = String, Path, description = "The passkey's id")),
    request_body = RenameRequest,
    responses(
        (status = 200, description = "Renamed", body = Envelope<PasskeyView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such passkey of the caller", body = ErrorBody),
        (status = 422, description = "A name of 1 to 64 characters", body = ErrorBody),
        Authenticated,
        BodyErrors,
    ))]
pub async fn rename(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam(passkey_id): PathParam<String>,
    JsonBody(body): JsonBody<RenameRequest>,
) -> AppResult<Reply<PasskeyView>> {
    let passkey = passkeys::rename(&ctx, &principal, &passkey_id, &body.name).await?;
    Ok(Reply::ok("Passkey renamed", passkey.into()))
}

/// Remove one of the caller's passkeys (recent authentication); 409 when it is the last way to
/// sign in.
#[utoipa::path(delete, path = "/api/v1/user/passkeys/{passkey_id}", tag = "passkeys", security(("bearer" = [])),
    params(("passkey_id" = String, Path, description = "The passkey's id")),
    request_body(content = Option<ReauthRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Removed; `data` is null", body = Envelope<Option<String>>),
        (status = 404, description = "No such passkey of the caller", body = ErrorBody),
        (status = 409, description = "The last way to sign in", body = ErrorBody),
        Reauthenticated,
        Authenticated,
        BodyErrors,
    ))]
pub async fn remove(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    PathParam(passkey_id): PathParam<String>,
    OptionalJsonBody(body): OptionalJsonBody<ReauthRequest>,
) -> AppResult<Reply<()>> {
    let password = body.unwrap_or_default().current_password;
    passkeys::remove(&ctx, &principal, &passkey_id, password).await?;
    Ok(Reply::ok("Passkey removed", ()))
}

/// Start a passkey sign-in: no username, no account hint (discoverable credentials; usable for
/// autofill with `mediation: "conditional"`).
#[utoipa::path(post, path = "/api/v1/auth/passkeys/login/start", tag = "passkeys",
    responses(
        (status = 200, description = "The request options", body = Envelope<CeremonyView>),
        (status = 503, description = "Passkeys are off (WEBAUTHN_RP_ID is an IP address), or the database is unavailable", body = ErrorBody),
    ))]
pub async fn sign_in_start(State(ctx): State<AppContext>) -> AppResult<Reply<CeremonyView>> {
    let ceremony = passkeys::sign_in_start(&ctx).await?;
    Ok(Reply::ok("Sign in with a passkey", ceremony.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct SignInFinishRequest {
    #[schema(max_length = 256)]
    pub challenge_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get`, as JSON (`toJSON()`).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Finish a passkey sign-in: answers like a login (`amr: ["hwk", "user"]`, multi-factor by
/// itself: no TOTP step), the refresh cookie set.
///
/// An unknown or removed credential, a wrong origin or RP id, a failed signature or a missing
/// user verification are all 401 `Invalid credentials`, counted against the login limit and the
/// account's lockout as a wrong password is.
#[utoipa::path(post, path = "/api/v1/auth/passkeys/login/finish", tag = "passkeys",
    request_body = SignInFinishRequest,
    params(("X-Refresh-Token-Transport" = Option<String>, Header, description = "`body` to receive the refresh token in the response body (native clients)")),
    responses(
        (status = 200, description = "Signed in; refresh cookie set", body = Envelope<LoginView>),
        (status = 400, description = "Unknown, used or expired challenge, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Invalid credentials, or the account is inactive", body = ErrorBody),
        (status = 403, description = "The address is not verified (REQUIRE_VERIFIED_EMAIL)", body = ErrorBody),
        (status = 422, description = "A missing or malformed field", body = ErrorBody),
        (status = 429, description = "Too many sign-in attempts from this client, or the account is locked; see Retry-After", body = ErrorBody),
        (status = 503, description = "Passkeys are off, or the database is unavailable", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn sign_in_finish(
    State(ctx): State<AppContext>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    JsonBody(body): JsonBody<SignInFinishRequest>,
) -> AppResult<Response> {
    let assertion: PublicKeyCredential = credential_field(body.credential)?;
    let result = passkeys::sign_in_finish(&ctx, &body.challenge_id, &assertion, &client).await?;
    Ok(super::auth::login_answer(&ctx, &headers, jar, result))
}

/// A user's passkeys.
#[utoipa::path(get, path = "/api/v1/admin/{user_id}/passkeys", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Passkeys, oldest first", body = Envelope<Vec<PasskeyView>>),
        (status = 404, description = "Unknown user", body = ErrorBody),
        AdminOnly,
    ))]
pub async fn user_passkeys(
    State(ctx): State<AppContext>,
    _admin: Admin,
    PathParam(user_id): PathParam<String>,
) -> AppResult<Reply<Vec<PasskeyView>>> {
    let list = passkeys::admin_list(&ctx, &user_id).await?;
    Ok(Reply::ok("Passkeys retrieved successfully", views(list)))
}

/// Remove a user's passkey; 409 when it is the account's last way to sign in.
#[utoipa::path(delete, path = "/api/v1/admin/{user_id}/passkeys/{passkey_id}", tag = "admin", security(("bearer" = [])),
    params(
        ("user_id" = String, Path, description = "User id"),
        ("passkey_id" = String, Path, description = "Passkey id"),
    ),
    responses(
        (status = 200, description = "Removed; `data` is null", body = Envelope<Option<String>>),
        (status = 404, description = "Unknown user, or no such passkey of the user", body = ErrorBody),
        (status = 409, description = "The last way to sign in", body = ErrorBody),
        AdminOnly,
    ))]
pub async fn remove_user_passkey(
    State(ctx): State<AppContext>,
    Admin(admin): Admin,
    PathParam((user_id, passkey_id)): PathParam<(String, String)>,
) -> AppResult<Reply<()>> {
    passkeys::admin_remove(&ctx, &admin, &user_id, &passkey_id).await?;
    Ok(Reply::ok("Passkey removed", ()))
}
