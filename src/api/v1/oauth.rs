//! `/api/v1/auth/oauth`: signing in with a provider (docs/API.md, "Social login"). The browser
//! flow (authorize, callback, the app's exchange) and native ID tokens; the service does the work.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::cookies;
use crate::api::envelope::{Envelope, Reply};
use crate::api::extract::{JsonBody, PathParam, QueryParams};
use crate::api::responses::BodyErrors;
use crate::api::views::LoginView;
use crate::context::AppContext;
use crate::domain::principal::ClientInfo;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::service::oauth::{self, AuthorizeRequest, CallbackParams, FLOW_COOKIE};

pub fn router() -> Router<AppContext> {
    Router::new()
        .route("/api/v1/auth/oauth/providers", get(providers))
        .route("/api/v1/auth/oauth/{provider}/authorize", get(authorize))
        .route(
            "/api/v1/auth/oauth/{provider}/callback",
            get(callback).post(callback_form),
        )
        .route("/api/v1/auth/oauth/exchange", post(exchange))
        .route("/api/v1/auth/oauth/{provider}/id-token", post(id_token))
}

/// The path the flow cookie is sent on: the authorize and callback routes only.
const FLOW_COOKIE_PATH: &str = "/api/v1/auth/oauth";

#[derive(Serialize, ToSchema)]
pub struct ProviderView {
    /// The id in the routes (`google`, `github`, ...).
    pub id: String,
    /// For a button: "Sign in with {name}".
    pub name: String,
}

/// The configured sign-in providers, for a login page's buttons.
#[utoipa::path(get, path = "/api/v1/auth/oauth/providers", tag = "auth",
    responses((status = 200, description = "Configured providers, in `OAUTH_PROVIDERS` order", body = Envelope<Vec<ProviderView>>)))]
pub async fn providers(State(ctx): State<AppContext>) -> Reply<Vec<ProviderView>> {
    let list = ctx
        .providers
        .all()
        .iter()
        .map(|p| ProviderView {
            id: p.settings.id.clone(),
            name: p.settings.name.clone(),
        })
        .collect();
    Reply::ok("Providers retrieved successfully", list)
}

#[derive(Deserialize)]
pub struct AuthorizeQuery {
    redirect_to: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    link: Option<String>,
}

/// Start signing in with a provider: a 302 to the provider.
///
/// `redirect_to` must equal one of `OAUTH_REDIRECT_URLS` (compared whole, after parsing; unset:
/// the first of them), else 400 before the browser leaves. State, nonce and PKCE S256 go to the
/// provider; the state is kept in the store (10 minutes, single use) and an HttpOnly cookie
/// (`oauth_flow`, SameSite=Lax, Secure in production) binds it to this browser. A native app
/// adds its own `code_challenge` (S256 only) and proves it at the exchange. `link` is the
/// secret of an `authorize_url` from `POST /api/v1/user/identities/{provider}`. If the
/// provider cannot be reached, the 302 goes back to `redirect_to?error=provider_unavailable`.
#[utoipa::path(get, path = "/api/v1/auth/oauth/{provider}/authorize", tag = "auth",
    params(
        ("provider" = String, Path, description = "A configured provider id"),
        ("redirect_to" = Option<String>, Query, description = "One of OAUTH_REDIRECT_URLS, exactly"),
        ("code_challenge" = Option<String>, Query, description = "The app's own PKCE challenge (native apps)"),
        ("code_challenge_method" = Option<String>, Query, description = "`S256`, required with code_challenge"),
        ("link" = Option<String>, Query, description = "A link flow's secret (from POST /api/v1/user/identities/{provider})"),
    ),
    responses(
        (status = 302, description = "To the provider (or back to redirect_to with an error if the provider is unreachable)"),
        (status = 400, description = "redirect_to not allowed, a bad code_challenge, or an invalid link secret", body = ErrorBody),
        (status = 404, description = "Unknown provider", body = ErrorBody),
    ))]
pub async fn authorize(
    State(ctx): State<AppContext>,
    PathParam(provider): PathParam<String>,
    QueryParams(query): QueryParams<AuthorizeQuery>,
    jar: CookieJar,
) -> AppResult<Response> {
    let existing = jar.get(FLOW_COOKIE).map(|c| c.value().to_string());
    let started = oauth::authorize(
        &ctx,
        AuthorizeRequest {
            provider: &provider,
            redirect_to: query.redirect_to.as_deref(),
            code_challenge: query.code_challenge.as_deref(),
            code_challenge_method: query.code_challenge_method.as_deref(),
            link: query.link.as_deref(),
            browser: existing.as_deref(),
        },
    )
    .await?;
    let jar = jar.add(flow_cookie(&ctx, started.browser));
    Ok((jar, redirect_to(&started.location)).into_response())
}

fn flow_cookie(ctx: &AppContext, value: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(FLOW_COOKIE, value);
    cookie.set_http_only(true);
    cookie.set_secure(ctx.settings.is_production());
    cookie.set_path(FLOW_COOKIE_PATH);
    // Lax: sent on the provider's top-level redirect back, never on a cross-site subrequest.
    cookie.set_same_site(SameSite::Lax);
    cookie.set_max_age(Some(time::Duration::minutes(10)));
    cookie
}

/// A 302 that no cache keeps.
fn redirect_to(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The provider's return: a 302 to `redirect_to?code=...`.
///
/// Checks the state (single use) and that this browser started the flow, swaps the code with
/// the PKCE verifier and verifies the ID token (signature by the provider's keys with the
/// algorithm pinned to the key, `iss` exact, `aud`, `exp`, `nonce`). Sets the refresh cookie of
/// the new session; the app then calls `POST /api/v1/auth/oauth/exchange` with the code. A link
/// flow returns `redirect_to?linked=<provider>`. A failure after a valid state returns
/// `redirect_to?error=<code>&error_description=...`, never with a `code`: `browser_mismatch`,
/// `access_denied`, `provider_error`, `invalid_request`, `provider_unavailable`,
/// `invalid_code`, `invalid_id_token`, `signup_disabled`, `account_inactive`,
/// `email_not_verified`, `account_exists`, `identity_in_use`, `server_error`. An unknown, used
/// or expired state is 400 (there is nowhere trusted to send the browser).
#[utoipa::path(get, path = "/api/v1/auth/oauth/{provider}/callback", tag = "auth",
    params(
        ("provider" = String, Path, description = "A configured provider id"),
        ("state" = Option<String>, Query, description = "From the provider"),
        ("code" = Option<String>, Query, description = "From the provider"),
        ("error" = Option<String>, Query, description = "From the provider"),
    ),
    responses(
        (status = 302, description = "Back to redirect_to with code (signed in), linked, or error"),
        (status = 400, description = "Unknown, used or expired state", body = ErrorBody),
        (status = 404, description = "Unknown provider", body = ErrorBody),
    ))]
pub async fn callback(
    State(ctx): State<AppContext>,
    PathParam(provider): PathParam<String>,
    QueryParams(params): QueryParams<CallbackParams>,
    client: ClientInfo,
    jar: CookieJar,
) -> AppResult<Response> {
    finish_callback(&ctx, &provider, params, client, jar).await
}

/// The provider's return as a form POST (`response_mode=form_post`, as Apple does).
///
/// A browser does not send the SameSite=Lax flow cookie on a cross-site POST, so a POST without
/// it is answered with a 303 to the GET callback carrying the same fields: a top-level GET,
/// which does carry the cookie. A POST that carries the cookie is finished at once, as the GET is.
#[utoipa::path(post, path = "/api/v1/auth/oauth/{provider}/callback", tag = "auth",
    params(("provider" = String, Path, description = "A configured provider id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "state, code (or error) from the provider"),
    responses(
        (status = 302, description = "Back to redirect_to with code (signed in), linked, or error"),
        (status = 303, description = "To the GET callback with the same fields, for the flow cookie"),
        (status = 400, description = "Unknown, used or expired state, or a body that is not a form", body = ErrorBody),
        (status = 404, description = "Unknown provider", body = ErrorBody),
        (status = 415, description = "Not application/x-www-form-urlencoded", body = ErrorBody),
    ))]
pub async fn callback_form(
    State(ctx): State<AppContext>,
    PathParam(provider): PathParam<String>,
    client: ClientInfo,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(AppError::UnsupportedMediaType(
            "expected application/x-www-form-urlencoded".into(),
        ));
    }
    let params: CallbackParams = serde_urlencoded::from_bytes(&body)
        .map_err(|_| AppError::BadRequest("the body is not a form".into()))?;
    if jar.get(FLOW_COOKIE).is_none() {
        let query = serde_urlencoded::to_string([
            ("state", params.state.as_deref()),
            ("code", params.code.as_deref()),
            ("error", params.error.as_deref()),
        ])
        .map_err(|e| AppError::Internal(e.to_string()))?;
        let mut response = redirect_to(&format!("{FLOW_COOKIE_PATH}/{provider}/callback?{query}"));
        *response.status_mut() = StatusCode::SEE_OTHER;
        return Ok(response);
    }
    finish_callback(&ctx, &provider, params, client, jar).await
}

async fn finish_callback(
    ctx: &AppContext,
    provider: &str,
    params: CallbackParams,
    client: ClientInfo,
    jar: CookieJar,
) -> AppResult<Response> {
    let browser = jar.get(FLOW_COOKIE).map(|c| c.value().to_string());
    let outcome = oauth::callback(ctx, provider, params, browser.as_deref(), &client).await?;
    let jar = match outcome.signed_in {
        Some(tokens) => cookies::set_refresh(
            jar,
            &ctx.settings,
            tokens.refresh_token,
            tokens.refresh_expires_at,
        ),
        None => jar,
    };
    Ok((jar, redirect_to(&outcome.location)).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct ExchangeRequest {
    /// The `code` of the redirect back to the app.
    #[schema(max_length = 256)]
    pub code: String,
    /// The verifier of the app's own `code_challenge`, required when authorize carried one.
    #[schema(min_length = 43, max_length = 128)]
    pub code_verifier: Option<String>,
}

/// Exchange the code of the redirect back for the session.
///
/// Answers like a login (tokens with `amr: ["fed"]`, the refresh cookie, or the refresh token
/// in the body with `X-Refresh-Token-Transport: body`), or with the second factor's challenge
/// for an account that has one. The code works once, for 60 seconds. The session is the one the
/// callback opened; its refresh token rotates here, so the cookie the callback set in the
/// browser the flow went through stops working once an app exchanged the code.
#[utoipa::path(post, path = "/api/v1/auth/oauth/exchange", tag = "auth",
    request_body = ExchangeRequest,
    params(("X-Refresh-Token-Transport" = Option<String>, Header, description = "`body` to receive the refresh token in the response body (native clients)")),
    responses(
        (status = 200, description = "Signed in; refresh cookie set. For an account with a second factor: `data` is an `MfaChallengeView`", body = Envelope<LoginView>),
        (status = 400, description = "Unknown, used or expired code, a wrong or missing code_verifier, or malformed JSON", body = ErrorBody),
        (status = 401, description = "The session ended or the account is inactive", body = ErrorBody),
        (status = 422, description = "Missing code", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn exchange(
    State(ctx): State<AppContext>,
    headers: HeaderMap,
    jar: CookieJar,
    JsonBody(body): JsonBody<ExchangeRequest>,
) -> AppResult<Response> {
    let result = oauth::exchange(&ctx, &body.code, body.code_verifier.as_deref()).await?;
    Ok(super::auth::login_answer(&ctx, &headers, jar, result))
}

#[derive(Deserialize, ToSchema)]
pub struct IdTokenRequest {
    /// The ID token the app got from the provider's SDK.
    #[schema(max_length = 16384)]
    pub id_token: String,
    /// The nonce the app gave the SDK, as it gave it (the Apple and Google presets compare its
    /// SHA-256 hex, which their SDKs put in the token). Required when the token carries one.
    #[schema(max_length = 512)]
    pub nonce: Option<String>,
}

/// Sign in with an ID token from the provider's native SDK (Sign in with Apple, Google).
///
/// The token is verified as in the browser flow, with `aud` one of the client id and
/// `OAUTH_<ID>_AUDIENCES`. Answers like a login (`amr: ["fed"]`), with the same account rules.
#[utoipa::path(post, path = "/api/v1/auth/oauth/{provider}/id-token", tag = "auth",
    params(
        ("provider" = String, Path, description = "A configured provider id"),
        ("X-Refresh-Token-Transport" = Option<String>, Header, description = "`body` to receive the refresh token in the response body (native clients)"),
    ),
    request_body = IdTokenRequest,
    responses(
        (status = 200, description = "Signed in; refresh cookie set. For an account with a second factor: `data` is an `MfaChallengeView`", body = Envelope<LoginView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "The ID token failed a check, or the account is inactive", body = ErrorBody),
        (status = 403, description = "Sign-up closed (OAUTH_SIGNUP=false), or the address is not verified (REQUIRE_VERIFIED_EMAIL)", body = ErrorBody),
        (status = 404, description = "Unknown provider", body = ErrorBody),
        (status = 409, description = "The address belongs to an account: sign in and link this provider from it", body = ErrorBody),
        (status = 422, description = "Missing id_token", body = ErrorBody),
        (status = 503, description = "The provider's keys cannot be fetched right now, or the database is unavailable", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn id_token(
    State(ctx): State<AppContext>,
    PathParam(provider): PathParam<String>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    JsonBody(body): JsonBody<IdTokenRequest>,
) -> AppResult<Response> {
    let result = oauth::sign_in_with_id_token(
        &ctx,
        &provider,
        &body.id_token,
        body.nonce.as_deref(),
        &client,
    )
    .await?;
    Ok(super::auth::login_answer(&ctx, &headers, jar, result))
}
