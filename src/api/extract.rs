//! Extractors that carry the edge rules into handler signatures: a JSON body whose every
//! rejection is answered in the envelope (`json.rs`), path and query parameters, the
//! authenticated caller, callers holding a permission, and the client's address.

mod json;

pub use json::{BodyDeadline, JsonBody, OptionalJsonBody};

use std::net::{IpAddr, Ipv4Addr};

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::context::AppContext;
use crate::domain::permission::ADMIN_ALL;
use crate::domain::principal::{ClientInfo, Principal};
use crate::domain::validate::FieldError;
use crate::error::{AppError, AppResult};
use crate::service::{access, authentication};

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
