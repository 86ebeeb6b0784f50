//! The error answers many routes share, declared once for the OpenAPI document. A handler lists
//! them beside its own: `responses((status = 200, ...), Authenticated, BodyErrors)`. Where a route
//! means something more particular by one of these statuses, it writes its own tuple instead.

use utoipa::IntoResponses;

use crate::error::ErrorBody;

/// Any route behind a Bearer token: no usable token, or the database did not answer.
#[derive(IntoResponses)]
pub enum Authenticated {
    #[response(status = 401, description = "Not authenticated")]
    Unauthorized(ErrorBody),
    #[response(status = 503, description = "Database unavailable")]
    Unavailable(ErrorBody),
}

/// Every `/api/v1/admin` route: [`Authenticated`], and 403 for a caller without `admin:*`.
#[derive(IntoResponses)]
pub enum AdminOnly {
    #[response(status = 401, description = "Not authenticated")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "Not an admin")]
    Forbidden(ErrorBody),
    #[response(status = 503, description = "Database unavailable")]
    Unavailable(ErrorBody),
}

/// Any route with a JSON body: a body that did not arrive in time, or is not UTF-8 JSON.
#[derive(IntoResponses)]
pub enum BodyErrors {
    #[response(
        status = 408,
        description = "The body did not arrive whole within BODY_READ_TIMEOUT of the headers; the connection is closed"
    )]
    BodyTimeout(ErrorBody),
    #[response(status = 415, description = "Not JSON, or a charset other than UTF-8")]
    UnsupportedMediaType(ErrorBody),
}

/// A sensitive change with recent authentication (`current_password`, or a sign-in within
/// `REAUTH_WINDOW`): the password wrong or missing, and the lockout it draws on.
#[derive(IntoResponses)]
pub enum Reauthenticated {
    #[response(
        status = 400,
        description = "Wrong current password, or malformed JSON"
    )]
    WrongPassword(ErrorBody),
    #[response(status = 403, description = "reauthentication required")]
    Reauthenticate(ErrorBody),
    #[response(status = 422, description = "A field of the wrong type")]
    Invalid(ErrorBody),
    #[response(
        status = 429,
        description = "Too many wrong passwords for this account (shared with login); see Retry-After"
    )]
    LockedOut(ErrorBody),
}
