//! A separate service that accepts authkit's access tokens without holding any secret of
//! authkit's: it fetches the public keys from `/.well-known/jwks.json` and verifies each token
//! offline with `jsonwebtoken`, a library authkit itself does not use to sign.
//!
//! Needs authkit running with `JWT_ALG=EdDSA`. Then:
//!
//! ```sh
//! AUTH_URL=http://localhost:8000 PORT=8100 cargo run --example resource_server
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" http://localhost:8100/whoami
//! ```
//!
//! What it does, and why:
//! - the algorithm is pinned to EdDSA, so an HS256 token (say, one "signed" with the public key
//!   as an HMAC secret) or `alg: none` is refused whatever its header says;
//! - keys are looked up by the token's `kid`. The key set is cached for the JWKS's
//!   `Cache-Control: max-age`, and fetched again when a token names a kid it does not hold, at
//!   most once every 5 seconds, so forged kids cannot make it hammer authkit. authkit publishes
//!   a key before it signs with it, so after a rotation that refetch is rarely even needed;
//! - `exp` is checked (no leeway), `iss`/`aud` when `JWT_ISSUER`/`JWT_AUDIENCE` are given, and
//!   the `type` claim must be `access` (a refresh token is not accepted here).
//!
//! A token that verifies proves who authkit said the caller was when it signed, until `exp`
//! (15 minutes by default). It does not prove the session is still open: a service that must
//! see a logout at once asks authkit (`GET /api/v1/user`) instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

const REFETCH_GAP: Duration = Duration::from_secs(5);
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
struct Claims {
    uid: String,
    sid: String,
    #[serde(rename = "type")]
    token_type: String,
    /// The organization the session acts in (`POST /api/v1/user/active-org`) and the caller's
    /// role there as of signing: a role taken away shows here until the token expires, which is
    /// why authkit itself checks memberships in its store.
    #[serde(default)]
    org_id: Option<String>,
    #[serde(default)]
    org_role: Option<String>,
}

struct CachedKeys {
    set: JwkSet,
    fetched_at: Instant,
    max_age: Duration,
}

struct Verifier {
    http: reqwest::Client,
    jwks_url: String,
    validation: Validation,
    keys: Mutex<Option<CachedKeys>>,
}

impl Verifier {
    async fn fetch(&self) -> Result<CachedKeys, String> {
        let res = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .map_err(|e| format!("JWKS unreachable: {e}"))?;
        let max_age = res
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').find_map(|d| d.trim().strip_prefix("max-age=")))
            .and_then(|n| n.parse().ok())
            .map_or(DEFAULT_MAX_AGE, Duration::from_secs);
        let set = res
            .json::<JwkSet>()
            .await
            .map_err(|e| format!("JWKS unreadable: {e}"))?;
        Ok(CachedKeys {
            set,
            fetched_at: Instant::now(),
            max_age,
        })
    }

    /// The decoding key for `kid`: from the cached set while it is fresh, else fetched again
    /// (an unknown kid refetches at most once per `REFETCH_GAP`).
    async fn key(&self, kid: &str) -> Result<DecodingKey, String> {
        let mut cached = self.keys.lock().await;
        let stale = cached.as_ref().is_none_or(|c| {
            let age = c.fetched_at.elapsed();
            age >= c.max_age || (c.set.find(kid).is_none() && age >= REFETCH_GAP)
        });
        if stale {
            *cached = Some(self.fetch().await?);
        }
        let jwk = cached
            .as_ref()
            .and_then(|c| c.set.find(kid))
            .ok_or("unknown kid")?;
        DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable key: {e}"))
    }

    async fn verify(&self, token: &str) -> Result<Claims, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        let kid = header.kid.ok_or("no kid")?;
        let key = self.key(&kid).await?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| e.to_string())?
            .claims;
        if claims.token_type != "access" {
            return Err("not an access token".into());
        }
        Ok(claims)
    }
}

async fn whoami(State(verifier): State<Arc<Verifier>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return (StatusCode::UNAUTHORIZED, "missing bearer token").into_response();
    };
    match verifier.verify(token).await {
        Ok(claims) => axum::Json(json!({
            "uid": claims.uid,
            "sid": claims.sid,
            "org_id": claims.org_id,
            "org_role": claims.org_role,
        }))
        .into_response(),
        Err(reason) => {
            eprintln!("refused a token: {reason}");
            (StatusCode::UNAUTHORIZED, "invalid token").into_response()
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let auth_url = std::env::var("AUTH_URL").unwrap_or_else(|_| "http://localhost:8000".into());
    let port: u16 = std::env::var("PORT").map_or(Ok(8100), |p| p.parse())?;

    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.leeway = 0;
    match std::env::var("JWT_ISSUER") {
        Ok(issuer) => validation.set_issuer(&[issuer]),
        Err(_) => validation.iss = None,
    }
    match std::env::var("JWT_AUDIENCE") {
        Ok(audience) => validation.set_audience(&[audience]),
        Err(_) => validation.validate_aud = false,
    }
    let verifier = Arc::new(Verifier {
        http: reqwest::Client::new(),
        jwks_url: format!("{}/.well-known/jwks.json", auth_url.trim_end_matches('/')),
        validation,
        keys: Mutex::new(None),
    });

    let app = Router::new()
        .route("/whoami", get(whoami))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("resource server on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
