//! `/api/v1/auth/password/*` and `/api/v1/auth/email/*`: a forgotten password and proof of an
//! address (docs/API.md, "Email: verification, password reset, email change").

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::envelope::{Envelope, Reply};
use crate::api::extract::JsonBody;
use crate::api::responses::BodyErrors;
use crate::api::views::UserView;
use crate::context::AppContext;
use crate::domain::principal::ClientInfo;
use crate::domain::validate::FieldError;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::service::one_time::Proof;
use crate::service::recovery;
use crate::service::verification;

pub fn router() -> Router<AppContext> {
    Router::new()
        .route("/api/v1/auth/password/forgot", post(forgot_password))
        .route("/api/v1/auth/password/reset", post(reset_password))
        .route("/api/v1/auth/email/verify", post(verify_email))
        .route(
            "/api/v1/auth/email/verify/resend",
            post(resend_verification),
        )
}

/// The one answer of `forgot` and `resend`, whatever the address.
pub(crate) const ACCEPTED: &str = "If the address belongs to an account, a mail is on its way";

#[derive(Deserialize, ToSchema)]
pub struct EmailRequest {
    #[schema(example = "ada@example.com", format = Email)]
    pub email: String,
}

/// The proof from a mail: its link token, or its address and code.
#[derive(Deserialize, ToSchema)]
pub struct ProofFields {
    /// The `token` of the mail's link.
    pub token: Option<String>,
    /// With `code`: the address the mail went to.
    #[schema(format = Email)]
    pub email: Option<String>,
    /// With `email`: the 6-digit code of the mail.
    #[schema(example = "042917")]
    pub code: Option<String>,
}

impl ProofFields {
    pub(crate) fn into_proof(self) -> AppResult<Proof> {
        match (self.token, self.email, self.code) {
            (Some(token), _, _) => Ok(Proof::Token(token)),
            (None, Some(email), Some(code)) => Ok(Proof::Code { email, code }),
            _ => Err(AppError::validation(FieldError::body(
                "token",
                "token, or email and code, required",
                "missing",
            ))),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ResetRequest {
    #[serde(flatten)]
    pub proof: ProofFields,
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// Ask for a password reset mail.
///
/// Answers 202 with the same body, after the same work, whether or not the address belongs to
/// an active account; limited per address and per client IP silently (still 202, no mail).
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "auth",
    request_body = EmailRequest,
    responses(
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 202, description = "Taken; a mail goes out if the address belongs to an active account", body = Envelope<Option<String>>),
        (status = 422, description = "Not an email address", body = ErrorBody),
        (status = 503, description = "Email delivery is not configured", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn forgot_password(
    State(ctx): State<AppContext>,
    client: ClientInfo,
    JsonBody(body): JsonBody<EmailRequest>,
) -> AppResult<Reply<Option<String>>> {
    recovery::forgot(&ctx, &body.email, &client).await?;
    Ok(Reply::accepted(ACCEPTED, None))
}

/// Set a new password with the link token or the code of the reset mail (valid 30 minutes).
///
/// Signs out every session, clears the account's lockout, marks the address verified and mails
/// a "password changed" notice.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "auth",
    request_body = ResetRequest,
    responses(
        (status = 200, description = "Password changed", body = Envelope<Option<String>>),
        (status = 400, description = "Invalid or expired token or code, or malformed JSON", body = ErrorBody),
        (status = 422, description = "Missing proof, or a password that breaks the rules", body = ErrorBody),
        (status = 503, description = "Email delivery is not configured", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn reset_password(
    State(ctx): State<AppContext>,
    client: ClientInfo,
    JsonBody(body): JsonBody<ResetRequest>,
) -> AppResult<Reply<Option<String>>> {
    let proof = body.proof.into_proof()?;
    recovery::reset(&ctx, proof, body.new_password, &client).await?;
    Ok(Reply::ok("Password has been reset", None))
}

/// Confirm an address with the link token or the code of a verification or address-change mail
/// (valid 24 hours).
#[utoipa::path(post, path = "/api/v1/auth/email/verify", tag = "auth",
    request_body = ProofFields,
    responses(
        (status = 200, description = "Address verified (or changed to the confirmed one)", body = Envelope<UserView>),
        (status = 400, description = "Invalid or expired token or code, or malformed JSON", body = ErrorBody),
        (status = 409, description = "The new address was taken meanwhile", body = ErrorBody),
        (status = 422, description = "Missing proof", body = ErrorBody),
        (status = 503, description = "Email delivery is not configured", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn verify_email(
    State(ctx): State<AppContext>,
    client: ClientInfo,
    JsonBody(body): JsonBody<ProofFields>,
) -> AppResult<Reply<UserView>> {
    let user = verification::verify(&ctx, body.into_proof()?, &client).await?;
    let role = ctx.roles.by_id(ctx.store.as_ref(), &user.role_id).await?;
    Ok(Reply::ok("Email verified", UserView::new(user, &role)))
}

/// Send the verification mail again.
///
/// Answers 202 alike for every address; at most one mail a minute per address, and limited per
/// address and client IP, silently.
#[utoipa::path(post, path = "/api/v1/auth/email/verify/resend", tag = "auth",
    request_body = EmailRequest,
    responses(
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 202, description = "Taken; a mail goes out if the address belongs to an unverified account", body = Envelope<Option<String>>),
        (status = 422, description = "Not an email address", body = ErrorBody),
        (status = 503, description = "Email delivery is not configured", body = ErrorBody),
        BodyErrors,
    ))]
pub async fn resend_verification(
    State(ctx): State<AppContext>,
    client: ClientInfo,
    JsonBody(body): JsonBody<EmailRequest>,
) -> AppResult<Reply<Option<String>>> {
    verification::resend(&ctx, &body.email, &client).await?;
    Ok(Reply::accepted(ACCEPTED, None))
}
