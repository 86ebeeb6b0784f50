//! A stand-in for GitHub's OAuth endpoints and its two JSON APIs, in process on a random port,
//! so the GitHub preset runs end to end: `GET /login/oauth/authorize` sends the browser straight
//! back to the redirect_uri with a code and the state (the person is always signed in and
//! agrees); `POST /login/oauth/access_token` swaps that code, once, for an access token, after
//! checking the client's id and secret, the redirect_uri, and the PKCE verifier against the S256
//! challenge the authorize request carried; `GET /user` and `GET /user/emails` answer for that
//! token, the person `{"id": 12345, "login": "octocat"}` and the addresses the test chose.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::{AUTHORIZATION, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "standin-client";
pub const CLIENT_SECRET: &str = "standin-secret";
/// GitHub's numeric id of the person, the subject of the identity.
pub const USER_ID: u64 = 12345;
const ACCESS_TOKEN: &str = "gho_standin_token";

/// One entry of `GET /user/emails`.
pub fn email(address: &str, primary: bool, verified: bool) -> Value {
    json!({"email": address, "primary": primary, "verified": verified, "visibility": null})
}

/// A code handed out by authorize, waiting for the token request.
struct Pending {
    challenge: String,
    redirect_uri: String,
}

struct Inner {
    emails: Value,
    codes: Mutex<HashMap<String, Pending>>,
}

/// The running stand-in; it stops with the test's runtime.
pub struct GitHubStandIn {
    /// `http://127.0.0.1:PORT`: both `OAUTH_GITHUB_ISSUER` and `OAUTH_GITHUB_API_URL`.
    pub url: String,
}

impl GitHubStandIn {
    /// Starts the stand-in; `emails` is what `GET /user/emails` answers (see [`email`]).
    pub async fn start(emails: Vec<Value>) -> Self {
        let inner = Arc::new(Inner {
            emails: Value::Array(emails),
            codes: Mutex::new(HashMap::new()),
        });
        let router = Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .route("/user", get(user))
            .route("/user/emails", get(user_emails))
            .with_state(inner);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the GitHub stand-in");
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url }
    }

    /// The server's settings for the `github` provider at this stand-in.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OAUTH_PROVIDERS", "github".into()),
            ("OAUTH_GITHUB_CLIENT_ID", CLIENT_ID.into()),
            ("OAUTH_GITHUB_CLIENT_SECRET", CLIENT_SECRET.into()),
            ("OAUTH_GITHUB_ISSUER", self.url.clone()),
            ("OAUTH_GITHUB_API_URL", self.url.clone()),
        ]
    }
}

fn refused(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({"error": error}))).into_response()
}

async fn authorize(
    State(inner): State<Arc<Inner>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    let (Ok(mut back), Some(challenge)) = (
        url::Url::parse(&field("redirect_uri")),
        query.get("code_challenge"),
    ) else {
        return refused(StatusCode::BAD_REQUEST, "redirect_uri_mismatch");
    };
    if field("client_id") != CLIENT_ID
        || field("response_type") != "code"
        || field("code_challenge_method") != "S256"
        || !field("scope").contains("user:email")
    {
        return refused(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    inner.codes.lock().unwrap().insert(
        code.clone(),
        Pending {
            challenge: challenge.clone(),
            redirect_uri: back.to_string(),
        },
    );
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &field("state"));
    (StatusCode::FOUND, [(LOCATION, back.to_string())]).into_response()
}

/// The client's id and secret, from HTTP Basic (form-encoded, as RFC 6749 says) or the form.
fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> (String, String) {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((id, secret)) => (form_decoded(id), form_decoded(secret)),
        None => {
            let field = |name: &str| form.get(name).cloned().unwrap_or_default();
            (field("client_id"), field("client_secret"))
        }
    }
}

fn form_decoded(text: &str) -> String {
    url::form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn access_token(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body) else {
        return refused(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if client_credentials(&headers, &form) != (CLIENT_ID.into(), CLIENT_SECRET.into()) {
        return refused(StatusCode::UNAUTHORIZED, "incorrect_client_credentials");
    }
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let pending = inner.codes.lock().unwrap().remove(&field("code"));
    let proven = pending.is_some_and(|p| {
        let derived = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
        derived == p.challenge && field("redirect_uri") == p.redirect_uri
    });
    if field("grant_type") != "authorization_code" || !proven {
        return refused(StatusCode::BAD_REQUEST, "bad_verification_code");
    }
    axum::Json(json!({
        "access_token": ACCESS_TOKEN,
        "token_type": "bearer",
        "scope": "read:user,user:email",
    }))
    .into_response()
}

fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {ACCESS_TOKEN}"))
}

async fn user(headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return refused(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    axum::Json(json!({"id": USER_ID, "login": "octocat"})).into_response()
}

async fn user_emails(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return refused(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    axum::Json(inner.emails.clone()).into_response()
}
