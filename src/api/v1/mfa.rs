//! The second factor (docs/API.md, "Second factor"): enrolment and management under
//! `/api/v1/user/mfa`, the login's second step at `/api/v1/auth/mfa/verify`, and an admin's reset.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{delete, post};
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::envelope::{Envelope, Reply};
use crate::api::extract::{Admin, Auth, JsonBody, PathParam};
use crate::api::responses::{Authenticated, BodyErrors};
use crate::api::views::LoginView;
use crate::context::AppContext;
use crate::domain::principal::ClientInfo;
use crate::domain::validate::FieldError;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::service::mfa::{self, Proof};

pub fn router() -> Router<AppContext> {
    Router::new()
        .route("/api/v1/user/mfa/totp", post(enrol).delete(disable))
        .route("/api/v1/user/mfa/totp/confirm", post(confirm))
        .route("/api/v1/user/mfa/recovery-codes", post(regenerate))
        .route("/api/v1/auth/mfa/verify", post(verify))
        .route("/api/v1/admin/{user_id}/mfa", delete(admin_reset))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordRequest {
    pub current_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct EnrolmentView {
    /// The TOTP secret in base32, for typing into an authenticator app.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// `otpauth://totp/...`: draw it as a QR code.
    pub otpauth_uri: String,
    /// Seconds left to confirm with a first code.
    #[schema(example = 600)]
    pub expires_in: u64,
}

#[derive(Deserialize, ToSchema)]
pub struct CodeRequest {
    /// A 6-digit code from the authenticator app.
    #[schema(example = "492039")]
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesView {
    /// Ten single-use codes that stand in for the app; shown only now.
    pub recovery_codes: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct DisableRequest {
    pub current_password: String,
    /// A code from the app, or give `recovery_code` instead.
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct RegenerateRequest {
    pub current_password: String,
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// From the login's answer.
    pub mfa_token: String,
    /// A code from the app, or give `recovery_code` instead.
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

fn proof(code: Option<String>, recovery_code: Option<String>) -> AppResult<Proof> {
    match (code, recovery_code) {
        (Some(code), _) => Ok(Proof::Code(code)),
        (None, Some(recovery)) => Ok(Proof::RecoveryCode(recovery)),
        (None, None) => Err(AppError::validation(FieldError::body(
            "code",
            "code or recovery_code required",
            "missing",
        ))),
    }
}

/// Start enrolling a TOTP app: a secret and its `otpauth://` URI, pending until confirmed.
#[utoipa::path(post, path = "/api/v1/user/mfa/totp", tag = "mfa", security(("bearer" = [])),
    request_body = PasswordRequest,
    responses(
        (status = 200, description = "A pending factor (10 minutes to confirm)", body = Envelope<EnrolmentView>),
        (status = 400, description = "Current password is incorrect, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 409, description = "A second factor is already active", body = ErrorBody),
        (status = 422, description = "Missing field", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords or codes on this account; see Retry-After", body = ErrorBody),
        (status = 503, description = "Second factor not configured (ENCRYPTION_KEY), or database unavailable", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn enrol(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    JsonBody(body): JsonBody<PasswordRequest>,
) -> AppResult<Reply<EnrolmentView>> {
    let enrolment = mfa::enrol(&ctx, &principal, body.current_password).await?;
    Ok(Reply::ok(
        "Scan the code, then confirm with a code from the app",
        EnrolmentView {
            secret: enrolment.secret,
            otpauth_uri: enrolment.otpauth_uri,
            expires_in: enrolment.expires_in,
        },
    ))
}

/// Confirm the pending factor with a first code: it becomes active, and other sessions end.
#[utoipa::path(post, path = "/api/v1/user/mfa/totp/confirm", tag = "mfa", security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 422, description = "A body of the wrong shape", body = ErrorBody),
        (status = 200, description = "Active; the recovery codes, shown once", body = Envelope<RecoveryCodesView>),
        (status = 400, description = "Invalid code, or no factor waiting, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 429, description = "Too many wrong codes; see Retry-After", body = ErrorBody),
        (status = 503, description = "Second factor not configured, or database unavailable", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn confirm(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    JsonBody(body): JsonBody<CodeRequest>,
) -> AppResult<Reply<RecoveryCodesView>> {
    let recovery_codes = mfa::confirm(&ctx, &principal, &body.code).await?;
    Ok(Reply::ok(
        "Second factor enabled",
        RecoveryCodesView { recovery_codes },
    ))
}

/// Turn the factor off, with the password and a code (or a recovery code); other sessions end.
#[utoipa::path(delete, path = "/api/v1/user/mfa/totp", tag = "mfa", security(("bearer" = [])),
    request_body = DisableRequest,
    responses(
        (status = 200, description = "Second factor disabled", body = Envelope<Option<String>>),
        (status = 400, description = "Wrong password or code, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "The account has no second factor", body = ErrorBody),
        (status = 422, description = "Missing field", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords or codes; see Retry-After", body = ErrorBody),
        (status = 503, description = "Second factor not configured, or database unavailable", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn disable(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    JsonBody(body): JsonBody<DisableRequest>,
) -> AppResult<Reply<Option<String>>> {
    let proof = proof(body.code, body.recovery_code)?;
    mfa::disable(&ctx, &principal, body.current_password, &proof).await?;
    Ok(Reply::ok("Second factor disabled", None))
}

/// New recovery codes (the old ones stop working), with the password and a code.
#[utoipa::path(post, path = "/api/v1/user/mfa/recovery-codes", tag = "mfa", security(("bearer" = [])),
    request_body = RegenerateRequest,
    responses(
        (status = 422, description = "A body of the wrong shape", body = ErrorBody),
        (status = 200, description = "The new codes, shown once", body = Envelope<RecoveryCodesView>),
        (status = 400, description = "Wrong password or code, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "The account has no second factor", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords or codes; see Retry-After", body = ErrorBody),
        (status = 503, description = "Second factor not configured, or database unavailable", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn regenerate(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    JsonBody(body): JsonBody<RegenerateRequest>,
) -> AppResult<Reply<RecoveryCodesView>> {
    let recovery_codes =
        mfa::regenerate_recovery_codes(&ctx, &principal, body.current_password, &body.code).await?;
    Ok(Reply::ok(
        "New recovery codes",
        RecoveryCodesView { recovery_codes },
    ))
}

/// The second step of a login: the `mfa_token` of the first and a code (or a recovery code).
///
/// Answers exactly like a login: tokens, the refresh cookie (or `X-Refresh-Token-Transport: body`
/// for native clients), the user; the tokens carry `amr: ["pwd","otp"]`.
#[utoipa::path(post, path = "/api/v1/auth/mfa/verify", tag = "auth",
    request_body = VerifyRequest,
    params(("X-Refresh-Token-Transport" = Option<String>, Header, description = "`body` to receive the refresh token in the response body (native clients)")),
    responses(
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 200, description = "Logged in; refresh cookie set", body = Envelope<LoginView>),
        (status = 401, description = "Invalid or expired mfa_token, or a wrong code", body = ErrorBody),
        (status = 422, description = "Missing field", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords or codes on this account; see Retry-After", body = ErrorBody),
        (status = 503, description = "Second factor not configured, or database unavailable", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn verify(
    State(ctx): State<AppContext>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    JsonBody(body): JsonBody<VerifyRequest>,
) -> AppResult<Response> {
    let proof = proof(body.code, body.recovery_code)?;
    let (tokens, user, role) = mfa::verify(&ctx, &body.mfa_token, &proof, &client).await?;
    Ok(super::auth::signed_in(
        &ctx, &headers, jar, tokens, user, &role,
    ))
}

/// Remove a user's second factor (a lost phone); every session of the user ends.
#[utoipa::path(delete, path = "/api/v1/admin/{user_id}/mfa", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Factor removed", body = Envelope<Option<String>>),
        (status = 400, description = "Own id", body = ErrorBody),
        (status = 403, description = "Not allowed for this account", body = ErrorBody),
        (status = 404, description = "Unknown id, or no second factor", body = ErrorBody),
        Authenticated,
    ))]
pub async fn admin_reset(
    State(ctx): State<AppContext>,
    Admin(actor): Admin,
    PathParam(user_id): PathParam<String>,
) -> AppResult<Reply<Option<String>>> {
    mfa::admin_reset(&ctx, &actor, &user_id).await?;
    Ok(Reply::ok("Second factor removed", None))
}
