//! The success envelope every `/api/v1` answer uses: `{"code": 0, "message", "data"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always 0 on success.
    #[schema(example = 0)]
    pub code: u16,
    pub message: String,
    pub data: T,
}

/// A success answer: a status (200 or 201) and an enveloped payload.
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

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        (self.status, Json(self.envelope)).into_response()
    }
}
