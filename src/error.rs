//! The one error type of the request path and the only place errors become HTTP responses.
//! Every error is answered in the envelope `{"code": <status>, "message", "data": null}`;
//! causes of 5xx answers go to the log, never to the client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::validate::FieldError;
use crate::store::StoreError;

pub type AppResult<T> = Result<T, AppError>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    /// Missing or invalid credentials; answered with `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("Request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("Validation error")]
    Validation(Vec<FieldError>),
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// The client did not send its whole body within BODY_READ_TIMEOUT of its headers. The
    /// connection is closed after the answer: what is left of the body is never read.
    #[error("The request body did not arrive in time")]
    BodyTimeout,
    /// The request ran longer than REQUEST_TIMEOUT; 503 because the server, not the client, was slow.
    #[error("Request timed out")]
    RequestTimeout,
    /// Too many requests in flight: shed rather than queued.
    #[error("Server is busy, try again")]
    Busy,
    /// The database is unreachable; the client may retry.
    #[error("Service temporarily unavailable")]
    Unavailable(String),
    /// A feature this deployment has not configured (mail without SMTP_URL in production).
    #[error("{0}")]
    NotConfigured(String),
    /// A bug. The cause is logged, the client sees a generic message.
    #[error("Internal server error")]
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::RequestTimeout | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unavailable(_) | Self::NotConfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The standard 401 for a missing, malformed, expired or revoked token.
    pub fn invalid_token() -> Self {
        Self::Unauthorized("Invalid or expired token".into())
    }

    pub fn validation(field: FieldError) -> Self {
        Self::Validation(vec![field])
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate { field } => Self::Conflict(match field {
                "username" => "Username already registered".into(),
                "email" => "Email already registered".into(),
                other => format!("Duplicate {other}"),
            }),
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            StoreError::Other(cause) => Self::Internal(cause),
        }
    }
}

/// One entry of `details` in a 422 answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Where the problem is, e.g. `["body", "email"]` or `["query", "page"]`.
    pub loc: Vec<String>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The error envelope: `code` repeats the HTTP status, `data` is always null.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    #[schema(example = 401)]
    pub code: u16,
    #[schema(example = "Invalid credentials")]
    pub message: String,
    #[schema(value_type = Option<Object>, nullable = true)]
    pub data: (),
    /// Present on 422 answers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<ErrorDetail>>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(cause) => tracing::error!(%cause, "internal error"),
            Self::Unavailable(cause) => tracing::warn!(%cause, "database unavailable"),
            _ => {}
        }
        let details = match &self {
            Self::Validation(fields) => Some(
                fields
                    .iter()
                    .map(|f| ErrorDetail {
                        loc: f.loc.clone(),
                        msg: f.msg.clone(),
                        kind: f.kind.to_string(),
                    })
                    .collect(),
            ),
            _ => None,
        };
        let body = ErrorBody {
            code: status.as_u16(),
            message: self.to_string(),
            data: (),
            details,
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::TooManyRequests {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Unavailable(_) | Self::Busy | Self::RequestTimeout => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::BodyTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}
