//! `/api/v1/auth`: register, login, refresh, logout, logout-all (docs/API.md, "Routes").

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::envelope::{Envelope, Reply};
use crate::api::extract::{Auth, JsonBody, OptionalJsonBody, bearer_token, client_info};
use crate::api::responses::{Authenticated, BodyErrors};
use crate::api::views::{
    LoginView, MfaChallengeView, RefreshView, RevokedView, TokenView, UserView,
};
use crate::api::{cookies, csrf};
use crate::context::AppContext;
use crate::domain::principal::ClientInfo;
use crate::domain::validate::FieldError;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::service::accounts::{self, Registration};
use crate::service::one_time::MFA_TOKEN_TTL_SECS;
use crate::service::sessions::{self, IssuedTokens, LoginResult};
use crate::service::{authentication, logout};

pub fn router() -> Router<AppContext> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/logout-all", post(logout_all))
}

/// Header by which a native client (no cookie store) asks for the refresh token in the body.
pub const TOKEN_TRANSPORT_HEADER: &str = "x-refresh-token-transport";

fn wants_token_in_body(headers: &HeaderMap) -> bool {
    headers
        .get(TOKEN_TRANSPORT_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("body"))
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 3-50 characters of `[A-Za-z0-9_.-]`; unique, case-insensitively.
    #[schema(
        example = "ada",
        min_length = 3,
        max_length = 50,
        pattern = "^[A-Za-z0-9_.-]+$"
    )]
    pub username: String,
    /// Unique, case-insensitively.
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
    #[schema(example = "Ada Lovelace", max_length = 100)]
    pub full_name: Option<String>,
    #[schema(example = "correct horse battery", min_length = 8, max_length = 128)]
    pub password: String,
    /// Only `USER` (or absent) is accepted; anything else is 403.
    #[schema(example = "USER")]
    pub role: Option<String>,
}

/// Create an account (role USER).
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = Envelope<UserView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, description = "A role other than USER was requested", body = ErrorBody),
        (status = 409, description = "Username or email already registered", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
        (status = 429, description = "Too many registrations from this IP; see Retry-After", body = ErrorBody),
        (status = 503, description = "Database unavailable, or too many passwords waiting to be hashed; see Retry-After", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn register(
    State(ctx): State<AppContext>,
    client: ClientInfo,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> AppResult<Reply<UserView>> {
    let (user, role) = accounts::register(
        &ctx,
        Registration {
            username: body.username,
            email: body.email,
            full_name: body.full_name,
            password: body.password,
            role: body.role,
        },
        &client,
    )
    .await?;
    Ok(Reply::created(
        "User registered successfully",
        UserView::new(user, &role),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Email or username.
    #[schema(example = "ada@example.com")]
    pub email: Option<String>,
    /// Accepted instead of `email`.
    #[schema(example = "ada")]
    pub username: Option<String>,
    #[schema(example = "correct horse battery")]
    pub password: String,
}

/// Log in with email or username and password.
///
/// Sets the `refresh_token` cookie (HttpOnly, path `/api/v1/auth`). A native client without a
/// cookie store may send `X-Refresh-Token-Transport: body` to get the refresh token in
/// `data.token.refresh_token` instead of the cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    params(("X-Refresh-Token-Transport" = Option<String>, Header, description = "`body` to receive the refresh token in the response body (native clients)")),
    responses(
        (status = 200, description = "Logged in; refresh cookie set. For an account with a second factor: `data` is an `MfaChallengeView` (no tokens, no cookie); finish at `POST /api/v1/auth/mfa/verify`", body = Envelope<LoginView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Invalid credentials or inactive account", body = ErrorBody),
        (status = 422, description = "Missing field", body = ErrorBody),
        (status = 429, description = "Too many attempts from this IP or on this account; see Retry-After", body = ErrorBody),
        (status = 503, description = "Database unavailable, or too many passwords waiting to be hashed; see Retry-After", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn login(
    State(ctx): State<AppContext>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    JsonBody(body): JsonBody<LoginRequest>,
) -> AppResult<Response> {
    let Some(login) = body
        .email
        .or(body.username)
        .filter(|l| !l.trim().is_empty())
    else {
        return Err(AppError::validation(FieldError::body(
            "email",
            "Field required",
            "missing",
        )));
    };
    if body.password.is_empty() {
        return Err(AppError::validation(FieldError::body(
            "password",
            "Field required",
            "missing",
        )));
    }
    let result = sessions::login(&ctx, &login, body.password, &client).await?;
    Ok(login_answer(&ctx, &headers, jar, result))
}

/// The answer of a first sign-in step (a password, an emailed code): signed in, or the second
/// factor's challenge (no tokens, no cookie).
pub fn login_answer(
    ctx: &AppContext,
    headers: &HeaderMap,
    jar: CookieJar,
    result: LoginResult,
) -> Response {
    match result {
        LoginResult::SignedIn(done) => {
            let (tokens, user, role) = *done;
            signed_in(ctx, headers, jar, tokens, user, &role)
        }
        LoginResult::SecondFactor { mfa_token } => {
            let challenge = MfaChallengeView {
                mfa_required: true,
                mfa_token,
                expires_in: MFA_TOKEN_TTL_SECS,
                methods: ["totp", "recovery_code"],
            };
            Reply::ok("Second factor required", challenge).into_response()
        }
    }
}

/// The answer of a completed login (with or without a second factor): tokens, the refresh
/// cookie (or the refresh token in the body for a native client), and the user.
pub fn signed_in(
    ctx: &AppContext,
    headers: &HeaderMap,
    jar: CookieJar,
    tokens: IssuedTokens,
    user: crate::domain::User,
    role: &crate::domain::Role,
) -> Response {
    let in_body = wants_token_in_body(headers);
    let (jar, token) = token_answer(ctx, jar, tokens, in_body);
    let view = LoginView {
        token,
        user: UserView::new(user, role),
    };
    (jar, Reply::ok("Login successful", view)).into_response()
}

/// Builds the token view and puts the refresh token where the client wants it.
/// The tokens' answer as the request asked for it: the refresh token in a cookie, or in the body
/// with `X-Refresh-Token-Transport: body`.
pub(crate) fn token_answer_for(
    ctx: &AppContext,
    headers: &HeaderMap,
    jar: CookieJar,
    tokens: IssuedTokens,
) -> (CookieJar, TokenView) {
    token_answer(ctx, jar, tokens, wants_token_in_body(headers))
}

fn token_answer(
    ctx: &AppContext,
    jar: CookieJar,
    tokens: IssuedTokens,
    in_body: bool,
) -> (CookieJar, TokenView) {
    let mut view = TokenView {
        access_token: tokens.access_token,
        expires_in: tokens.access_expires_in,
        token_type: "bearer",
        refresh_token: None,
    };
    if in_body {
        view.refresh_token = Some(tokens.refresh_token);
        (jar, view)
    } else {
        let jar = cookies::set_refresh(
            jar,
            &ctx.settings,
            tokens.refresh_token,
            tokens.refresh_expires_at,
        );
        (jar, view)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// For native clients only; browsers send the cookie and no body.
    pub refresh_token: Option<String>,
}

/// Exchange the refresh token (cookie, or body for native clients) for a new access token.
///
/// The refresh token rotates on every call. Replaying an already rotated token revokes the
/// session, except within a short grace window after the rotation (concurrent tabs).
/// A token sent in the body is answered in the body; a cookie is answered with a new cookie.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Optional; native clients only"),
    security(("refresh_cookie" = [])),
    responses(
        (status = 200, description = "New tokens; refresh cookie rotated", body = Envelope<RefreshView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired, revoked or replayed refresh token", body = ErrorBody),
        (status = 403, description = "The refresh cookie was sent from an origin that is neither this API's nor listed in CORS_ORIGINS (CSRF defence); nothing changed", body = ErrorBody),
        (status = 415, description = "A body that is not JSON", body = ErrorBody),
        (status = 422, description = "A JSON body of the wrong shape", body = ErrorBody),
        (status = 429, description = "Too many refreshes of this session; see Retry-After", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn refresh(
    State(ctx): State<AppContext>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    OptionalJsonBody(body): OptionalJsonBody<RefreshRequest>,
) -> AppResult<Response> {
    let from_body = body.and_then(|b| b.refresh_token).filter(|t| !t.is_empty());
    let in_body = from_body.is_some();
    let Some(token) = from_body.or_else(|| cookies::refresh_from(&jar)) else {
        return Err(AppError::Unauthorized("Refresh token missing".into()));
    };
    if !in_body {
        csrf::check_cookie_request(&headers, &ctx.settings)?;
    }
    match sessions::refresh(&ctx, &token, &client).await {
        Ok(tokens) => {
            let (jar, token) = token_answer(&ctx, jar, tokens, in_body);
            Ok((
                jar,
                Reply::ok("Token refreshed successfully", RefreshView { token }),
            )
                .into_response())
        }
        // A refused cookie is cleared so the browser stops sending it.
        Err(e @ AppError::Unauthorized(_)) if !in_body => {
            Ok((cookies::clear_refresh(jar, &ctx.settings), e).into_response())
        }
        Err(e) => Err(e),
    }
}

/// Log out the current session (Bearer token, or the refresh cookie) and clear the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = []), ("refresh_cookie" = [])),
    responses(
        (status = 200, description = "Session revoked, cookie cleared", body = Envelope<RevokedView>),
        (status = 401, description = "No usable token", body = ErrorBody),
        (status = 403, description = "The refresh cookie was sent from an origin that is neither this API's nor listed in CORS_ORIGINS (CSRF defence); nothing changed", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn logout(State(ctx): State<AppContext>, parts: Parts) -> Response {
    let jar = CookieJar::from_headers(&parts.headers);
    let cookie = cookies::refresh_from(&jar);
    // The Bearer token first; a browser whose access token expired still logs out with its cookie.
    let client = client_info(&parts);
    let by_bearer = match bearer_token(&parts) {
        Some(token) => Some(
            match authentication::authenticate(&ctx, token, client.clone()).await {
                Ok(principal) => logout::logout(&ctx, &principal).await,
                Err(e) => Err(e),
            },
        ),
        None => None,
    };
    let result = match (by_bearer, cookie) {
        (Some(Ok(n)), _) => Ok(n),
        (Some(Err(AppError::Unauthorized(_))) | None, Some(token)) => {
            // Refused before anything changes, the cookie included.
            if let Err(e) = csrf::check_cookie_request(&parts.headers, &ctx.settings) {
                return e.into_response();
            }
            logout::logout_with_refresh(&ctx, &token, &client).await
        }
        (Some(Err(e)), _) => Err(e),
        (None, None) => Err(AppError::Unauthorized("Not authenticated".into())),
    };
    let jar = cookies::clear_refresh(jar, &ctx.settings);
    match result {
        Ok(n) => (
            jar,
            Reply::ok(
                "Logged out successfully",
                RevokedView {
                    revoked_sessions: n,
                },
            ),
        )
            .into_response(),
        Err(e) => (jar, e).into_response(),
    }
}

/// Log out every session of the caller and clear the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "All sessions revoked", body = Envelope<RevokedView>),
        Authenticated,
    ))]
pub async fn logout_all(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    jar: CookieJar,
) -> AppResult<Response> {
    let n = logout::logout_all(&ctx, &principal).await?;
    let jar = cookies::clear_refresh(jar, &ctx.settings);
    Ok((
        jar,
        Reply::ok(
            "Logged out from all sessions",
            RevokedView {
                revoked_sessions: n,
            },
        ),
    )
        .into_response())
}
