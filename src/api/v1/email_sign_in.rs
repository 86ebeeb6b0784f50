//! `/api/v1/auth/email/sign-in`: signing in with a link or a code mailed to the address instead
//! of a password (docs/API.md, "Email sign-in").

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum_extra::extract::CookieJar;

use super::email::{ACCEPTED, EmailRequest, ProofFields};
use crate::api::envelope::{Envelope, Reply};
use crate::api::extract::JsonBody;
use crate::api::responses::BodyErrors;
use crate::api::views::LoginView;
use crate::context::AppContext;
use crate::domain::principal::ClientInfo;
use crate::error::{AppResult, ErrorBody};
use crate::service::email_sign_in;

pub fn router() -> Router<AppContext> {
    Router::new()
        .route("/api/v1/auth/email/sign-in/start", post(start))
        .route("/api/v1/auth/email/sign-in", post(verify))
}

/// Ask for a sign-in mail: a link and a 6-digit code, valid `EMAIL_SIGNIN_TTL` (15 minutes).
///
/// Answers 202 with the same body, after the same work, for every address. An active account
/// gets the mail; an address no account holds gets it only when `EMAIL_SIGNUP` is on (the
/// account is made when the code is used); an inactive account gets nothing. Limited per address
/// and per client IP as `forgot` is, silently. A newer request voids the older secret.
#[utoipa::path(post, path = "/api/v1/auth/email/sign-in/start", tag = "auth",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "Taken; a mail goes out if the address may sign in", body = Envelope<Option<String>>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Not an email address", body = ErrorBody),
        (status = 503, description = "Email delivery is not configured", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn start(
    State(ctx): State<AppContext>,
    client: ClientInfo,
    JsonBody(body): JsonBody<EmailRequest>,
) -> AppResult<Reply<Option<String>>> {
    email_sign_in::start(&ctx, &body.email, &client).await?;
    Ok(Reply::accepted(ACCEPTED, None))
}

/// Sign in with the link token or the address and code of a sign-in mail.
///
/// Answers like a login: tokens (`amr: ["mail"]`), the refresh cookie (or the refresh token in
/// the body with `X-Refresh-Token-Transport: body`), the user; or, for an account with a second
/// factor, the challenge to finish at `POST /api/v1/auth/mfa/verify`. Single use; five wrong
/// codes end the secret. The first use for a new address creates the account (address
/// verified, no password). An account whose address was not verified gets it verified, and a
/// password set on it by someone who never proved the address is removed (its sessions end).
#[utoipa::path(post, path = "/api/v1/auth/email/sign-in", tag = "auth",
    request_body = ProofFields,
    params(("X-Refresh-Token-Transport" = Option<String>, Header, description = "`body` to receive the refresh token in the response body (native clients)")),
    responses(
        (status = 200, description = "Signed in; refresh cookie set. For an account with a second factor: `data` is an `MfaChallengeView`", body = Envelope<LoginView>),
        (status = 400, description = "Invalid or expired token or code, or malformed JSON", body = ErrorBody),
        (status = 401, description = "The account is inactive", body = ErrorBody),
        (status = 422, description = "Missing proof", body = ErrorBody),
        (status = 503, description = "Email delivery is not configured, or the database is unavailable", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn verify(
    State(ctx): State<AppContext>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    JsonBody(body): JsonBody<ProofFields>,
) -> AppResult<Response> {
    let result = email_sign_in::verify(&ctx, body.into_proof()?, &client).await?;
    Ok(super::auth::login_answer(&ctx, &headers, jar, result))
}
