//! The success envelope every `/api/v1` answer uses: `{"code": 0, "message", "data"}`.

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::AppError;

#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always 0 on success.
    #[schema(example = 0)]
    pub code: u16,
    pub message: String,
    pub data: T,
}

/// A success answer: a status (200, 201 or 202) and an enveloped payload.
pub struct Reply<T> {
    status: StatusCode,
    envelope: Envelope<T>,
}

impl<T> Reply<T> {
    pub fn ok(message: impl Into<String>, data: T) -> Self {
        Self::with_status(StatusCode::OK, message, data)
    }

    pub fn created(message: impl Into<String>, data: T) -> Self {
        Self::with_status(StatusCode::CREATED, message, data)
    }

    /// 202: the request is taken; what it causes happens later (a mail).
    pub fn accepted(message: impl Into<String>, data: T) -> Self {
        Self::with_status(StatusCode::ACCEPTED, message, data)
    }

    fn with_status(status: StatusCode, message: impl Into<String>, data: T) -> Self {
        Self {
            status,
            envelope: Envelope {
                code: 0,
                message: message.into(),
                data,
            },
        }
    }
}

/// Room for a typical answer (a user with its role is about 500 bytes), so the body is written
/// into one allocation instead of growing from axum's 128 bytes by doubling and copying.
const BODY_CAPACITY: usize = 1024;

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(BODY_CAPACITY);
        if let Err(e) = serde_json::to_writer(&mut body, &self.envelope) {
            return AppError::Internal(format!("serializing the answer: {e}")).into_response();
        }
        let content_type = [(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
        (self.status, content_type, body).into_response()
    }
}
