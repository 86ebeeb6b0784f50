//! Extractors that carry the edge rules into handler signatures: a JSON body whose every
//! rejection is answered in the envelope, the authenticated caller, the admin caller, and the
//! client's address.

use std::net::{IpAddr, Ipv4Addr};

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};

use crate::context::AppContext;
use crate::domain::permission::ADMIN_ALL;
use crate::domain::principal::{ClientInfo, Principal};
use crate::domain::validate::FieldError;
use crate::error::{AppError, AppResult};
use crate::service::{access, authentication};

/// A JSON request body. Wrong content type -> 415, unreadable or oversized body -> 400/413,
/// malformed JSON -> 400, well-formed JSON of the wrong shape -> 422 naming the field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + ToSchema, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        if !has_json_content_type(&req) {
            return Err(AppError::UnsupportedMediaType(
                "Expected request with `Content-Type: application/json`".into(),
            ));
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes, required_fields::<T>).map(JsonBody)
    }
}

/// Like [`JsonBody`], but an empty body (with or without a content type) or a JSON `null` is
/// `None`, as the OpenAPI document declares for optional bodies.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned + ToSchema, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let json_type = has_json_content_type(&req);
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        if !json_type {
            return Err(AppError::UnsupportedMediaType(
                "Expected request with `Content-Type: application/json`".into(),
            ));
        }
        parse_json::<Option<T>>(&bytes, required_fields::<T>).map(Self)
    }
}

fn has_json_content_type(req: &Request) -> bool {
    let Some(value) = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::BadRequest("Could not read the request body".into())
        }
    })
}

/// `required` lists the body's required fields, for naming every missing one at once.
///
/// What went wrong is read from types, not from serde's wording: the error's category (syntax or
/// data), its path (from `serde_path_to_error`), and the body's keys against the schema's
/// required fields.
fn parse_json<T: DeserializeOwned>(
    bytes: &[u8],
    required: fn() -> Vec<String>,
) -> Result<T, AppError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                AppError::BadRequest(format!("Malformed JSON: {inner}"))
            }
            Category::Data => {
                // Every required field the body lacks, as the template's validation lists
                // them (serde stops at the first problem), and the problem serde met, unless
                // it was only that.
                let mut problems = missing_fields(bytes, &required());
                if path != "." || problems.is_empty() {
                    problems.push(value_problem(&path, &inner));
                }
                AppError::Validation(problems)
            }
        }
    })
}

/// The required fields of a body type, as its schema (the contract) lists them.
fn required_fields<T: ToSchema>() -> Vec<String> {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object.required,
        _ => Vec::new(),
    }
}

/// The required fields absent from a body that is a JSON object (none for any other body).
fn missing_fields(bytes: &[u8], required: &[String]) -> Vec<FieldError> {
    let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(bytes) else {
        return Vec::new();
    };
    required
        .iter()
        .filter(|field| !body.contains_key(field.as_str()))
        .map(|field| FieldError {
            loc: vec!["body".into(), field.clone()],
            msg: "Field required".into(),
            kind: "missing",
        })
        .collect()
}

/// A value of the wrong type or shape at `path` (`.` for the body itself), in the template's
/// `{loc, msg, type}` form.
fn value_problem(path: &str, err: &serde_json::Error) -> FieldError {
    let mut loc = vec!["body".to_string()];
    if path != "." {
        loc.extend(path.split('.').map(str::to_string));
    }
    // The position is already in `loc`; if serde ever words it differently, it just stays.
    let text = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    let msg = text.strip_suffix(&position).unwrap_or(&text).to_string();
    FieldError {
        loc,
        msg,
        kind: "type_error",
    }
}

/// A path parameter. axum's own `Path` answers a bad percent-encoding (say `%FF`, not UTF-8) in
/// plain text; this one answers 400 in the envelope.
pub struct PathParam<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParam<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|rejection| AppError::BadRequest(rejection.body_text()))
    }
}

/// Query parameters; an undecodable query string is a 422.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map(Self)
            .map_err(|e| {
                AppError::validation(FieldError {
                    loc: vec!["query".into()],
                    msg: e.to_string(),
                    kind: "value_error",
                })
            })
    }
}

/// One query parameter parsed as `T`, `default` when absent or empty; otherwise a 422 naming the
/// parameter and what it should be.
pub fn query_value<T: std::str::FromStr>(
    param: &str,
    value: Option<&str>,
    default: T,
    expected: &str,
) -> AppResult<T> {
    match value.map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            AppError::validation(FieldError {
                loc: vec!["query".into(), param.into()],
                msg: format!("Input should be {expected}"),
                kind: "parsing",
            })
        }),
    }
}

/// The client's address as resolved by the request layer (trusted proxies honoured).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or(ClientIp(IpAddr::V4(Ipv4Addr::UNSPECIFIED))))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(client_info(parts))
    }
}

/// The client's address (trusted proxies honoured) and user agent.
pub fn client_info(parts: &Parts) -> ClientInfo {
    let ip = parts
        .extensions
        .get::<ClientIp>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0);
    let user_agent = parts
        .headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    ClientInfo { ip, user_agent }
}

/// The Bearer token of the request, if any.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The authenticated caller (a valid Bearer access token of a live session of an active user).
pub struct Auth(pub Principal);

impl FromRequestParts<AppContext> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, ctx: &AppContext) -> Result<Self, AppError> {
        let token = bearer_token(parts)
            .ok_or_else(|| AppError::Unauthorized("Not authenticated".into()))?;
        authentication::authenticate(ctx, token, client_info(parts))
            .await
            .map(Auth)
    }
}

/// Declares an extractor for an authenticated caller whose role grants one permission (403
/// otherwise), through the one check of `service::access`. A fork adds its own with one line:
/// `permission_extractor!(/** Billing managers. */ BillingManager, "billing:manage");`.
macro_rules! permission_extractor {
    ($(#[$doc:meta])* $name:ident, $permission:expr) => {
        $(#[$doc])*
        pub struct $name(pub Principal);

        impl FromRequestParts<AppContext> for $name {
            type Rejection = AppError;

            async fn from_request_parts(
                parts: &mut Parts,
                ctx: &AppContext,
            ) -> Result<Self, AppError> {
                let Auth(principal) = Auth::from_request_parts(parts, ctx).await?;
                access::require(&principal, $permission)?;
                Ok(Self(principal))
            }
        }
    };
}

permission_extractor!(
    /// An authenticated caller holding `admin:*`: every `/api/v1/admin` route.
    Admin,
    ADMIN_ALL
);

/// For `Option<Option<T>>` fields: absent stays `None`, `null` becomes `Some(None)`
/// (use with `#[serde(default, deserialize_with = "present")]`).
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, ToSchema)]
    struct Body {
        token: Option<String>,
    }

    async fn optional(
        content_type: Option<&str>,
        body: &'static str,
    ) -> Result<Option<Body>, AppError> {
        let mut req = Request::builder().method("POST").uri("/");
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        let req = req.body(axum::body::Body::from(body)).unwrap();
        OptionalJsonBody::<Body>::from_request(req, &())
            .await
            .map(|b| b.0)
    }

    #[tokio::test]
    async fn optional_body_accepts_nothing_null_or_an_object() {
        assert!(optional(None, "").await.unwrap().is_none());
        assert!(
            optional(Some("application/json"), " ")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            optional(Some("application/json"), "null")
                .await
                .unwrap()
                .is_none()
        );
        let body = optional(Some("application/json"), r#"{"token":"t"}"#)
            .await
            .unwrap();
        assert_eq!(body.unwrap().token.as_deref(), Some("t"));
    }

    #[tokio::test]
    async fn optional_body_rejections() {
        let status = |r: Result<Option<Body>, AppError>| r.err().map(|e| e.status().as_u16());
        assert_eq!(status(optional(Some("text/plain"), "x").await), Some(415));
        assert_eq!(
            status(optional(Some("application/json"), "{").await),
            Some(400)
        );
        assert_eq!(
            status(optional(Some("application/json"), "[]").await),
            Some(422)
        );
        assert_eq!(
            status(optional(Some("application/json"), r#"{"token":5}"#).await),
            Some(422)
        );
    }
}
