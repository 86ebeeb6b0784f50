//! `/.well-known`: what other services need to verify our access tokens offline (docs/API.md,
//! "Signing keys and JWKS"). Not enveloped: these are standard documents read by libraries.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::JwtAlg;
use crate::context::AppContext;
use crate::error::{AppError, AppResult, ErrorBody};

pub fn router() -> Router<AppContext> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
}

/// An RFC 7517 JWK Set; with EdDSA, each key is `{"kty":"OKP","crv":"Ed25519","x","kid","alg","use":"sig"}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct JwkSet {
    keys: Vec<serde_json::Value>,
}

/// The public keys that verify access tokens: the active key, the next one (published before
/// it signs) and retired keys whose tokens may still be live. Empty with `JWT_ALG=HS256`.
/// Cache it for at most `max-age`; refetch it when a token names an unknown `kid`.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    responses(
        (status = 200, description = "JWK Set", body = JwkSet,
            headers(("Cache-Control" = String, description = "public, max-age=300 (JWKS_MAX_AGE)"))),
        (status = 503, description = "Signing keys not loaded yet (the database has not answered)", body = ErrorBody),
    ))]
pub async fn jwks(State(ctx): State<AppContext>) -> AppResult<Response> {
    let body = if ctx.tokens.uses_ed25519() {
        let keys = ctx
            .tokens
            .key_set()
            .ok_or_else(|| AppError::Unavailable("signing keys are not loaded yet".into()))?;
        keys.jwks.clone()
    } else {
        r#"{"keys":[]}"#.to_string()
    };
    let max_age = ctx.settings.signing.jwks_max_age.as_secs();
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&format!("public, max-age={max_age}"))
            .expect("a number is a valid header value"),
    );
    Ok(response)
}

#[derive(Serialize, ToSchema)]
pub struct OpenIdConfiguration {
    /// `JWT_ISSUER`, the `iss` of every token.
    issuer: String,
    /// Where the keys are: `PUBLIC_URL` + `/.well-known/jwks.json`.
    jwks_uri: String,
    /// The algorithm of the access tokens.
    id_token_signing_alg_values_supported: Vec<&'static str>,
}

/// A minimal discovery document, so libraries configured with an issuer find the JWKS. Only when
/// `JWT_ISSUER` is set (else 404). This server is not an OpenID provider: there is no ID token
/// or authorisation endpoint; the algorithm listed is that of its access tokens.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "keys",
    responses(
        (status = 200, description = "Discovery document", body = OpenIdConfiguration),
        (status = 404, description = "JWT_ISSUER is not set", body = ErrorBody),
    ))]
pub async fn openid_configuration(State(ctx): State<AppContext>) -> AppResult<Response> {
    let issuer = ctx
        .settings
        .tokens
        .jwt_issuer
        .clone()
        .ok_or_else(|| AppError::NotFound("Not found".into()))?;
    let alg = match ctx.settings.signing.alg {
        JwtAlg::Hs256 => "HS256",
        JwtAlg::EdDsa => "EdDSA",
    };
    let document = OpenIdConfiguration {
        issuer,
        jwks_uri: format!(
            "{}/.well-known/jwks.json",
            ctx.settings.mail.public_url.trim_end_matches('/')
        ),
        id_token_signing_alg_values_supported: vec![alg],
    };
    let max_age = ctx.settings.signing.jwks_max_age.as_secs();
    let mut response = Json(document).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&format!("public, max-age={max_age}"))
            .expect("a number is a valid header value"),
    );
    Ok(response)
}
