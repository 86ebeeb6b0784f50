//! Signing in with a provider (docs/API.md, "Social login") against a real OpenID provider
//! (panva's oidc-provider, see tests/api/provider.rs) and a stand-in for GitHub. The browser is
//! a cookie-keeping client that follows no redirect, so every hop is seen: the server's 302 to
//! the provider, the provider's return to the callback, the callback's 302 to the app with its
//! one-time code, and the app's exchange of that code for the session.
//!
//! Beside the behaviours (which account a person signs into, linking and unlinking, native ID
//! tokens, GitHub's addresses, a provider that is down), the attacks: a replayed or carried-over
//! callback, a code used twice or by the wrong app, redirect URLs that only look allowed, forged
//! and mixed-up ID tokens, a flood of unknown key ids, and two first sign-ins racing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode, Url};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::github_standin::{GitHubStandIn, email};
use crate::helpers::{Backend, PASSWORD, TestApp, event_types, expect_error, free_port, read};
use crate::mfa::{claims, code, enable};
use crate::on_both_stores;
use crate::provider::{ProviderReturn, TestProvider};

on_both_stores!(
    the_providers_list_names_the_configured_provider,
    an_unknown_provider_is_404,
    a_new_person_gets_an_account_through_the_provider,
    the_callbacks_refresh_cookie_stops_working_once_the_app_exchanged_the_code,
    the_same_person_signs_into_the_same_account_again,
    a_verified_address_links_its_account_and_keeps_the_password,
    a_provider_proof_takes_an_unproven_address_back_from_its_password,
    an_unverified_or_missing_address_never_joins_an_account,
    closed_sign_up_refuses_only_new_people,
    an_inactive_account_is_refused,
    a_second_factor_is_still_asked_for,
    a_callback_works_once,
    a_callback_carried_to_another_browser_signs_nobody_in,
    the_apps_code_works_once,
    a_state_sent_to_another_providers_callback_is_refused,
    a_cancelled_sign_in_returns_to_the_app_with_access_denied,
    a_made_up_provider_code_returns_invalid_code,
    redirect_urls_that_only_look_allowed_are_refused_before_the_browser_leaves,
    an_allowed_redirect_url_in_other_case_returns_to_the_configured_spelling,
    a_native_app_proves_its_own_challenge_at_the_exchange,
    a_form_post_return_works_with_and_without_the_flow_cookie,
    a_native_id_token_signs_in,
    broken_id_tokens_are_refused_alike_and_recorded,
    a_nonce_in_the_id_token_must_be_sent_back,
    extra_audiences_are_accepted_only_when_configured,
    a_flood_of_unknown_key_ids_costs_the_provider_no_extra_fetch,
    a_rotated_provider_key_is_fetched_once_the_window_allows,
    the_google_preset_compares_the_hashed_nonce,
    linking_needs_recent_authentication_and_its_url_works_once,
    an_identity_of_another_account_cannot_be_linked,
    unlinking_never_removes_the_last_way_to_sign_in,
    a_passwordless_account_reauthenticates_by_a_recent_sign_in,
    admins_list_and_unlink_identities,
    racing_first_sign_ins_make_one_account,
    racing_unlinks_leave_a_way_to_sign_in,
    github_counts_only_the_primary_verified_address,
    github_without_a_primary_verified_address_joins_nobody,
    an_unreachable_provider_leaves_everything_else_working,
);

/// The web app's redirect URL, and a native app's.
const APP: &str = "https://app.example.com/callback";
const NATIVE: &str = "com.example.app:/oauth";
const CALLBACK: &str = "/api/v1/auth/oauth/test/callback";
/// The one answer to every ID token that fails a check.
const BAD_ID_TOKEN: &str = "the provider's ID token failed a check";

// ---------------------------------------------------------------------------------------------
// The servers.

/// `http://127.0.0.1:{port}`: a server's PUBLIC_URL, known before it starts.
fn public_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// A server on `port` (so that PUBLIC_URL, and with it every callback URL, is known before it
/// starts), returning flows to [`APP`] or [`NATIVE`].
async fn spawn_at(backend: Backend, port: u16, vars: &[(&str, &str)]) -> TestApp {
    let (port_text, public) = (port.to_string(), public_url(port));
    let mut all = vec![
        ("PORT", port_text.as_str()),
        ("PUBLIC_URL", public.as_str()),
        (
            "OAUTH_REDIRECT_URLS",
            "https://app.example.com/callback,com.example.app:/oauth",
        ),
    ];
    all.extend_from_slice(vars);
    let app = TestApp::spawn_with(backend, &all).await;
    assert_eq!(app.base, public, "the server listens where PUBLIC_URL says");
    app
}

/// A server whose provider `test` ("Test ID") is the test provider, with a client registered
/// there for this server's callback; returns the server, the provider and the client id.
/// `extra` settings come last and win. `None` skips (no provider: see `TestProvider::from_env`).
async fn oauth_app(
    backend: Backend,
    extra: &[(&str, &str)],
) -> Option<(TestApp, TestProvider, String)> {
    spawn_oauth(backend, extra, false).await
}

/// As [`oauth_app`], with the provider returning by form POST (`response_mode=form_post`).
async fn form_post_app(backend: Backend) -> Option<(TestApp, TestProvider, String)> {
    spawn_oauth(backend, &[("OAUTH_TEST_RESPONSE_MODE", "form_post")], true).await
}

async fn spawn_oauth(
    backend: Backend,
    extra: &[(&str, &str)],
    form_post: bool,
) -> Option<(TestApp, TestProvider, String)> {
    let provider = TestProvider::from_env()?;
    let port = free_port();
    let callback = format!("{}{CALLBACK}", public_url(port));
    let (client_id, secret) = provider.register_client(&callback, form_post).await;
    let mut vars = vec![
        ("OAUTH_PROVIDERS", "test"),
        ("OAUTH_TEST_NAME", "Test ID"),
        ("OAUTH_TEST_CLIENT_ID", client_id.as_str()),
        ("OAUTH_TEST_CLIENT_SECRET", secret.as_str()),
        ("OAUTH_TEST_ISSUER", provider.issuer.as_str()),
    ];
    vars.extend_from_slice(extra);
    let app = spawn_at(backend, port, &vars).await;
    Some((app, provider, client_id))
}

/// A server whose `github` provider is a fresh GitHub stand-in answering `emails`.
async fn github_app(backend: Backend, emails: Vec<Value>) -> (TestApp, GitHubStandIn) {
    let github = GitHubStandIn::start(emails).await;
    let vars = github.vars();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_at(backend, free_port(), &vars).await;
    (app, github)
}

// ---------------------------------------------------------------------------------------------
// The browser flow.

/// A browser: keeps cookies, shows each redirect instead of following it.
fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("http client")
}

fn location(res: &Response) -> String {
    res.headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location in a {} answer", res.status()))
        .to_str()
        .unwrap()
        .to_string()
}

/// The value of `name` in the query of `url`.
fn param(url: &str, name: &str) -> Option<String> {
    let url = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The refresh token a response sets as a cookie, if it sets one.
fn refresh_cookie(res: &Response) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next())
        .filter_map(|pair| pair.strip_prefix("refresh_token="))
        .find(|token| !token.is_empty())
        .map(str::to_string)
}

/// The server's authorize URL for `provider` with these query pairs.
fn authorize_url(app: &TestApp, provider: &str, query: &[(&str, &str)]) -> String {
    let path = app.url(&format!("/api/v1/auth/oauth/{provider}/authorize"));
    Url::parse_with_params(&path, query).unwrap().to_string()
}

/// Opens `start` (an authorize URL of the server) in a fresh browser, expects the server's 302
/// to the provider, and signs `login` in there: the browser, and where the provider sends it.
async fn at_provider(
    provider: &TestProvider,
    start: &str,
    login: &str,
) -> (Client, ProviderReturn) {
    let browser = browser();
    let res = browser.get(start).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "authorize: {start}");
    let to_provider = location(&res);
    assert!(
        to_provider.starts_with(&format!("{}/", provider.issuer)),
        "to the provider: {to_provider}"
    );
    let back = provider.sign_in(&browser, &to_provider, login).await;
    (browser, back)
}

/// Starts a flow at `test` with `query` and signs `login` in at the provider: the browser and
/// the callback URL the provider sends it back to (not yet opened).
async fn to_callback(
    app: &TestApp,
    provider: &TestProvider,
    login: &str,
    query: &[(&str, &str)],
) -> (Client, String) {
    match at_provider(provider, &authorize_url(app, "test", query), login).await {
        (browser, ProviderReturn::Redirect(callback)) => {
            assert!(callback.starts_with(&app.url(CALLBACK)), "{callback}");
            (browser, callback)
        }
        (_, other) => panic!("expected a redirect back to the server: {other:?}"),
    }
}

/// Opens `url` in `browser`; expects the callback's 302 and returns where it sends the browser.
async fn callback_location(browser: &Client, url: &str) -> String {
    let res = browser.get(url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "callback {url}");
    location(&res)
}

/// Signs `login` in through the provider for the web app: where the callback sends the browser
/// (the app's URL with `code`, or with `error`).
async fn through_callback(app: &TestApp, provider: &TestProvider, login: &str) -> String {
    let (browser, callback) = to_callback(app, provider, login, &[("redirect_to", APP)]).await;
    callback_location(&browser, &callback).await
}

/// The app's code exchange, by the app itself (a client of its own, without the flow's cookies).
async fn exchange(app: &TestApp, body: Value) -> Response {
    Client::new()
        .post(app.url("/api/v1/auth/oauth/exchange"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The code of a redirect back to the app; fails the test on an error redirect.
fn code_of(back: &str) -> String {
    assert_eq!(param(back, "error"), None, "{back}");
    param(back, "code").unwrap_or_else(|| panic!("no code in {back}"))
}

/// Asserts a redirect back to [`APP`] with `error` and without a code.
fn assert_flow_error(back: &str, error: &str) {
    assert!(back.starts_with(&format!("{APP}?")), "{back}");
    assert_eq!(param(back, "error").as_deref(), Some(error), "{back}");
    assert!(param(back, "error_description").is_some(), "{back}");
    assert_eq!(
        param(back, "code"),
        None,
        "an error never carries a code: {back}"
    );
}

/// Signs `login` in through the provider and exchanges the code: the answer's `data` (tokens
/// and user).
async fn sign_in_as(app: &TestApp, provider: &TestProvider, login: &str) -> Value {
    let back = through_callback(app, provider, login).await;
    let (status, body) = read(exchange(app, json!({"code": code_of(&back)})).await).await;
    assert_eq!(status, StatusCode::OK, "exchange for {login}: {body}");
    body["data"].clone()
}

fn access_token(data: &Value) -> String {
    data["token"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token in {data}"))
        .to_string()
}

fn id_of(data: &Value) -> String {
    data["user"]["id"].as_str().unwrap().to_string()
}

/// A refresh with this token as the cookie, from a client of its own.
async fn refresh_with(app: &TestApp, token: &str) -> StatusCode {
    Client::new()
        .post(app.url("/api/v1/auth/refresh"))
        .header("cookie", format!("refresh_token={token}"))
        .send()
        .await
        .unwrap()
        .status()
}

/// The status of a password login, from a client of its own.
async fn password_login(app: &TestApp, login: &str) -> StatusCode {
    let body = json!({"email": login, "password": PASSWORD});
    Client::new()
        .post(app.url("/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

/// The caller's linked identities.
async fn identities(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = read(app.get("/api/v1/user/identities", Some(token)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// Events of one type, newest first (through an admin).
async fn events_of_type(app: &TestApp, admin: &str, kind: &str) -> Vec<Value> {
    let path = format!("/api/v1/admin/security-events?type={kind}&limit=100");
    let (status, body) = read(app.get(&path, Some(admin)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["events"].as_array().unwrap().clone()
}

/// How many accounts there are (through an admin).
async fn account_count(app: &TestApp, admin: &str) -> u64 {
    let (status, body) = read(app.get("/api/v1/admin/users?size=100", Some(admin)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["pagination"]["total_items"].as_u64().unwrap()
}

// ---------------------------------------------------------------------------------------------
// ID tokens the test makes itself.

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The claims of a good ID token by `issuer` for `aud`, about a verified `email`.
fn good_claims(issuer: &str, aud: &str, email: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "aud": aud,
        "sub": format!("native-{email}"),
        "email": email,
        "email_verified": true,
        "iat": now,
        "exp": now + 300,
    })
}

fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, key).expect("a signed token")
}

/// `claims` signed as the provider signs its ID tokens (RS256, its RSA key and kid).
fn signed(provider: &TestProvider, claims: &Value) -> String {
    let (kid, der) = provider.key_der("rsa");
    sign(
        Algorithm::RS256,
        &kid,
        &EncodingKey::from_rsa_der(&der),
        claims,
    )
}

/// A fresh P-256 key the provider never published: its kid, its signing key, and its public JWK
/// (for a provider that starts publishing it, as one rotating its keys does).
fn stranger_key() -> (String, EncodingKey, Value) {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::EncodePrivateKey;
    let random: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
        .iter()
        .flat_map(|u| *u.as_bytes())
        .collect();
    let key = p256::SecretKey::from_slice(&random).expect("a P-256 scalar");
    let der = key.to_pkcs8_der().expect("PKCS#8");
    let kid = format!("stranger-{}", uuid::Uuid::new_v4().simple());
    let point = key.public_key().to_encoded_point(false);
    let coordinate =
        |c: Option<&p256::FieldBytes>| URL_SAFE_NO_PAD.encode(c.expect("uncompressed"));
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": coordinate(point.x()), "y": coordinate(point.y()),
    });
    (kid, EncodingKey::from_ec_der(der.as_bytes()), jwk)
}

/// `claims` signed with a P-256 key the provider never published, under a kid it never used.
fn signed_by_a_stranger(claims: &Value) -> String {
    let (kid, key, _) = stranger_key();
    sign(Algorithm::ES256, &kid, &key, claims)
}

/// An unsigned token (`alg: none`) naming the provider's key.
fn unsigned(kid: &str, claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!("{}.{}.", part(&header), part(claims))
}

/// `token` with one character in the middle of its signature changed.
fn tampered(token: &str) -> String {
    let at = token.rfind('.').unwrap() + 20;
    let mut bytes = token.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// `POST /oauth/{provider}/id-token` as a native app sends it.
async fn present(app: &TestApp, provider: &str, id_token: &str, nonce: Option<&str>) -> Response {
    let mut body = json!({"id_token": id_token});
    if let Some(nonce) = nonce {
        body["nonce"] = json!(nonce);
    }
    let path = format!("/api/v1/auth/oauth/{provider}/id-token");
    app.post(&path, Some(body), None).await
}

/// Asserts the one refusal of a bad ID token.
async fn assert_refused(res: Response, what: &str) {
    let body = expect_error(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["message"], BAD_ID_TOKEN, "{what}");
}

/// A provider of its own in front of the test provider: the same discovery document (with this
/// relay as issuer and JWKS URL) and the same keys, counting the JWKS fetches it serves. The
/// shared provider's own counter also counts every other test's server starting meanwhile.
async fn jwks_relay(provider: &TestProvider) -> (String, Arc<AtomicU64>, RelayedKeys) {
    use axum::routing::get;
    let fetch = |path: &str| {
        let url = format!("{}{path}", provider.issuer);
        async move {
            let res = Client::new().get(&url).send().await.expect("the provider");
            res.json::<Value>().await.expect("JSON from the provider")
        }
    };
    let (mut discovery, keys) = (
        fetch("/.well-known/openid-configuration").await,
        fetch("/jwks").await,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = format!("http://{}", listener.local_addr().unwrap());
    discovery["issuer"] = json!(relay);
    discovery["jwks_uri"] = json!(format!("{relay}/jwks"));
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let keys = Arc::new(std::sync::Mutex::new(keys));
    let published = keys.clone();
    let router = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { axum::Json(discovery) }),
        )
        .route(
            "/jwks",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let keys = published.lock().unwrap().clone();
                async move { axum::Json(keys) }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    (relay, hits, keys)
}

/// A server whose provider `test` is the relay (native ID tokens for `native-client`).
async fn app_behind_relay(backend: Backend, relay: &str) -> TestApp {
    let vars = [
        ("OAUTH_PROVIDERS", "test"),
        ("OAUTH_TEST_CLIENT_ID", "native-client"),
        ("OAUTH_TEST_ISSUER", relay),
    ];
    TestApp::spawn_with(backend, &vars).await
}

/// The JWKS a relay publishes, to add a key to (`{"keys": [...]}`).
type RelayedKeys = Arc<std::sync::Mutex<Value>>;

// ---------------------------------------------------------------------------------------------
// The tests.

/// A login page's buttons: the configured provider, with the name it was given.
async fn the_providers_list_names_the_configured_provider(backend: Backend) {
    let Some((app, _, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let (status, body) = read(app.get("/api/v1/auth/oauth/providers", None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!([{"id": "test", "name": "Test ID"}]));
}

/// A provider id nobody configured is 404 at every route that names one.
async fn an_unknown_provider_is_404(backend: Backend) {
    let Some((app, _, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let res = browser()
        .get(authorize_url(&app, "nope", &[("redirect_to", APP)]))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND).await;
    let res = browser()
        .get(app.url("/api/v1/auth/oauth/nope/callback?state=s&code=c"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND).await;
    let res = present(&app, "nope", "a.b.c", None).await;
    expect_error(res, StatusCode::NOT_FOUND).await;
    let (_, token) = app.user("ada").await;
    let body = json!({"current_password": PASSWORD});
    let res = app
        .post("/api/v1/user/identities/nope", Some(body), Some(&token))
        .await;
    expect_error(res, StatusCode::NOT_FOUND).await;
}

/// A person the server has never seen signs in through the provider and gets an account: the
/// address verified, no password, the username the provider suggested, tokens saying
/// `amr: ["fed"]`, the identity listed, and events telling how it came about. The callback sets
/// a refresh cookie in the browser, and the exchange's refresh token refreshes.
async fn a_new_person_gets_an_account_through_the_provider(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let login = "verified:ada@example.com";
    let (browser, callback) = to_callback(&app, &provider, login, &[("redirect_to", APP)]).await;
    let res = browser.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(
        refresh_cookie(&res).is_some(),
        "the callback sets the refresh cookie"
    );
    let back = location(&res);
    assert!(back.starts_with(&format!("{APP}?code=")), "{back}");

    let res = exchange(&app, json!({"code": code_of(&back)})).await;
    let from_exchange = refresh_cookie(&res).expect("the exchange sets the refresh cookie");
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Login successful");
    let user = &body["data"]["user"];
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["has_password"], false);
    assert_eq!(user["username"], "ada");
    let access = access_token(&body["data"]);
    assert_eq!(claims(&access)["amr"], json!(["fed"]));
    let id = id_of(&body["data"]);

    let linked = identities(&app, &access).await;
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!(linked[0]["provider"], "test");
    assert_eq!(linked[0]["email"], "ada@example.com");
    assert_eq!(linked[0]["email_verified"], true);
    assert!(linked[0]["last_used_at"].is_string());

    assert_eq!(refresh_with(&app, &from_exchange).await, StatusCode::OK);

    let (_, admin) = app.user_with_role("auditor", "ADMIN").await;
    let kinds = event_types(&app, &admin, &id).await;
    for kind in ["user.registered", "identity.linked", "login.succeeded"] {
        assert!(kinds.contains(&kind.to_string()), "{kind} in {kinds:?}");
    }
    let succeeded = events_of_type(&app, &admin, "login.succeeded").await;
    let ours = succeeded
        .iter()
        .find(|e| e["user_id"] == id.as_str())
        .unwrap();
    assert_eq!(ours["detail"]["method"], "provider");
}

/// The exchange moves the session the callback opened to the app: the refresh cookie the
/// callback left in the browser the flow went through (for a native app, the system browser)
/// stops working at once, with no grace window; presented anyway, it is a replayed refresh
/// token like any other, and the session ends.
async fn the_callbacks_refresh_cookie_stops_working_once_the_app_exchanged_the_code(
    backend: Backend,
) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let login = "verified:ada@example.com";
    let (browser, callback) = to_callback(&app, &provider, login, &[("redirect_to", APP)]).await;
    let res = browser.get(&callback).send().await.unwrap();
    let from_callback = refresh_cookie(&res).expect("the callback sets the refresh cookie");
    let res = exchange(&app, json!({"code": code_of(&location(&res))})).await;
    let from_exchange = refresh_cookie(&res).expect("the exchange sets the refresh cookie");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        refresh_with(&app, &from_exchange).await,
        StatusCode::OK,
        "the app holds the session"
    );
    assert_eq!(
        refresh_with(&app, &from_callback).await,
        StatusCode::UNAUTHORIZED,
        "the callback's refresh token stopped working at the exchange, with no grace window"
    );
    let after_reuse = refresh_with(&app, &from_exchange).await;
    assert_eq!(
        after_reuse,
        StatusCode::UNAUTHORIZED,
        "a replayed refresh token ends the session, as it does everywhere"
    );
}

/// The same person signing in again lands in the same account (no second identity), and the
/// identity's last use moves on.
async fn the_same_person_signs_into_the_same_account_again(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let first = sign_in_as(&app, &provider, "verified:ada@example.com").await;
    let before = identities(&app, &access_token(&first)).await;
    let second = sign_in_as(&app, &provider, "verified:ada@example.com").await;
    assert_eq!(id_of(&second), id_of(&first));
    let after = identities(&app, &access_token(&second)).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["id"], before[0]["id"]);
    let (was, is) = (
        before[0]["last_used_at"].as_str().unwrap(),
        after[0]["last_used_at"].as_str().unwrap(),
    );
    assert!(is > was, "last_used_at moves on: {was} then {is}");
}

/// An account whose owner proved the address signs in through a provider asserting that same
/// verified address: the identity joins it, and its password keeps working.
async fn a_verified_address_links_its_account_and_keeps_the_password(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let (id, token) = app.user_with_role("ada", "USER").await;
    let data = sign_in_as(&app, &provider, "verified:ada@example.com").await;
    assert_eq!(id_of(&data), id);
    assert_eq!(data["user"]["has_password"], true);
    assert_eq!(identities(&app, &token).await.len(), 1);
    assert_eq!(password_login(&app, "ada").await, StatusCode::OK);
}

/// Someone registered with ada's address and a password and never proved the address. When
/// ada signs in through a provider that vouches for it, the account is hers: the address is
/// verified, the squatter's password is gone and every session it opened has ended.
async fn a_provider_proof_takes_an_unproven_address_back_from_its_password(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let squatted = app.register("ada").await;
    assert_eq!(squatted["email_verified"], false);
    // The squatter's session: an access token, and the refresh cookie in app.client.
    let squatter = app.login("ada", PASSWORD).await;

    let data = sign_in_as(&app, &provider, "verified:ada@example.com").await;
    assert_eq!(data["user"]["id"], squatted["id"]);
    assert_eq!(data["user"]["email_verified"], true);
    assert_eq!(data["user"]["has_password"], false);
    assert_eq!(password_login(&app, "ada").await, StatusCode::UNAUTHORIZED);
    let res = app.get("/api/v1/user/", Some(&squatter)).await;
    expect_error(res, StatusCode::UNAUTHORIZED).await;
    let res = app.post("/api/v1/auth/refresh", None, None).await;
    expect_error(res, StatusCode::UNAUTHORIZED).await;
    // Hers works.
    let res = app.get("/api/v1/user/", Some(&access_token(&data))).await;
    assert_eq!(res.status(), StatusCode::OK);

    let (_, admin) = app.user_with_role("auditor", "ADMIN").await;
    let removed = events_of_type(&app, &admin, "account.password_removed").await;
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0]["user_id"], squatted["id"]);
    assert_eq!(
        removed[0]["detail"]["reason"],
        "unverified_address_proven_by_provider"
    );
}

/// A provider that does not vouch for the address never joins the account holding it ("sign in
/// and link from your account"); a free unverified address makes a new, unverified account; a
/// person without an address has nothing to sign in by.
async fn an_unverified_or_missing_address_never_joins_an_account(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    app.register("ada").await;
    let back = through_callback(&app, &provider, "unverified:ada@example.com").await;
    assert_flow_error(&back, "account_exists");
    let ada = app.login("ada", PASSWORD).await;
    assert!(identities(&app, &ada).await.is_empty(), "nothing linked");

    let data = sign_in_as(&app, &provider, "unverified:bea@example.com").await;
    assert_eq!(data["user"]["email"], "bea@example.com");
    assert_eq!(data["user"]["email_verified"], false);
    assert_eq!(data["user"]["has_password"], false);
    let linked = identities(&app, &access_token(&data)).await;
    assert_eq!(linked[0]["email_verified"], false);

    let back = through_callback(&app, &provider, "noemail:cid").await;
    assert_flow_error(&back, "account_exists");
}

/// With `OAUTH_SIGNUP=false` a person no account knows is turned away, while an existing account
/// still links by its verified address and signs in again.
async fn closed_sign_up_refuses_only_new_people(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[("OAUTH_SIGNUP", "false")]).await else {
        return;
    };
    let back = through_callback(&app, &provider, "verified:new@example.com").await;
    assert_flow_error(&back, "signup_disabled");
    let (id, _) = app.user_with_role("ada", "USER").await;
    for _ in 0..2 {
        let data = sign_in_as(&app, &provider, "verified:ada@example.com").await;
        assert_eq!(id_of(&data), id);
    }
}

/// An account an admin deactivated cannot sign in through its provider either.
async fn an_inactive_account_is_refused(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let id = id_of(&sign_in_as(&app, &provider, "verified:ada@example.com").await);
    let (_, admin) = app.user_with_role("boss", "ADMIN").await;
    let res = app
        .put(
            &format!("/api/v1/admin/{id}"),
            json!({"is_active": false}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let back = through_callback(&app, &provider, "verified:ada@example.com").await;
    assert_flow_error(&back, "account_inactive");
}

/// An account with a second factor: the provider's word is one factor. The callback opens no
/// session; the exchange answers with the factor's challenge, and its code finishes the sign-in
/// (`amr: ["otp", "fed"]`).
async fn a_second_factor_is_still_asked_for(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let (id, token) = app.user_with_role("ada", "USER").await;
    let (secret, _) = enable(&app, &token).await;
    let login = "verified:ada@example.com";
    let (browser, callback) = to_callback(&app, &provider, login, &[("redirect_to", APP)]).await;
    let res = browser.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(refresh_cookie(&res), None, "no session before the factor");
    let back = location(&res);

    let (status, body) = read(exchange(&app, json!({"code": code_of(&back)})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["mfa_required"], true, "{body}");
    assert!(body["data"].get("token").is_none(), "no tokens yet: {body}");
    let mfa_token = body["data"]["mfa_token"].as_str().unwrap();
    let res = app
        .post(
            "/api/v1/auth/mfa/verify",
            Some(json!({"mfa_token": mfa_token, "code": code(&secret, 1)})),
            None,
        )
        .await;
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(id_of(&body["data"]), id);
    assert_eq!(
        claims(&access_token(&body["data"]))["amr"],
        json!(["otp", "fed"])
    );
}

/// A callback URL opened a second time (a replay, a reload) is refused: the state works once.
async fn a_callback_works_once(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let login = "verified:ada@example.com";
    let (browser, callback) = to_callback(&app, &provider, login, &[("redirect_to", APP)]).await;
    code_of(&callback_location(&browser, &callback).await);
    let res = browser.get(&callback).send().await.unwrap();
    assert!(res.headers().get(LOCATION).is_none());
    let body = expect_error(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["message"], "invalid or expired sign-in state");
}

/// A callback URL carried to another browser (login CSRF: an attacker's own sign-in planted in
/// the victim's browser) signs nobody in there, and is spent for the browser that started it.
async fn a_callback_carried_to_another_browser_signs_nobody_in(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let login = "verified:mallory@example.com";
    let (started, callback) = to_callback(&app, &provider, login, &[("redirect_to", APP)]).await;
    let victim = browser();
    let res = victim.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        refresh_cookie(&res),
        None,
        "no session in the victim's browser"
    );
    assert_flow_error(&location(&res), "browser_mismatch");
    let res = started.get(&callback).send().await.unwrap();
    expect_error(res, StatusCode::BAD_REQUEST).await;
}

/// The code the app receives works once; a made-up one never; a missing one is a validation
/// error.
async fn the_apps_code_works_once(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let back = through_callback(&app, &provider, "verified:ada@example.com").await;
    let code = code_of(&back);
    let (status, body) = read(exchange(&app, json!({"code": code})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body = expect_error(
        exchange(&app, json!({"code": code})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(body["message"], "invalid or expired code");
    let made_up = URL_SAFE_NO_PAD.encode([7u8; 32]);
    expect_error(
        exchange(&app, json!({"code": made_up})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_error(
        exchange(&app, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

/// A provider's return sent to another provider's callback path finds no flow there (each
/// provider's states are its own), and the state is spent.
async fn a_state_sent_to_another_providers_callback_is_refused(backend: Backend) {
    let Some(issuer) = TestProvider::from_env().map(|p| p.issuer) else {
        return;
    };
    let other = [
        ("OAUTH_PROVIDERS", "test,other"),
        ("OAUTH_OTHER_CLIENT_ID", "other-client"),
        ("OAUTH_OTHER_ISSUER", issuer.as_str()),
    ];
    let Some((app, provider, _)) = oauth_app(backend, &other).await else {
        return;
    };
    let login = "verified:ada@example.com";
    let (browser, callback) = to_callback(&app, &provider, login, &[("redirect_to", APP)]).await;
    let elsewhere = callback.replace("/oauth/test/callback", "/oauth/other/callback");
    let res = browser.get(&elsewhere).send().await.unwrap();
    expect_error(res, StatusCode::BAD_REQUEST).await;
    let res = browser.get(&callback).send().await.unwrap();
    expect_error(res, StatusCode::BAD_REQUEST).await;
}

/// Starts a flow in a fresh browser: the browser and the state it carries to the provider.
async fn started_flow(app: &TestApp) -> (Client, String) {
    let browser = browser();
    let url = authorize_url(app, "test", &[("redirect_to", APP)]);
    let res = browser.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let state = param(&location(&res), "state").expect("a state toward the provider");
    (browser, state)
}

/// The person says no at the provider: the app learns `access_denied`, and the attempt is
/// recorded as a failed sign-in.
async fn a_cancelled_sign_in_returns_to_the_app_with_access_denied(backend: Backend) {
    let Some((app, _, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let (browser, state) = started_flow(&app).await;
    let callback = Url::parse_with_params(
        &app.url(CALLBACK),
        &[("state", state.as_str()), ("error", "access_denied")],
    )
    .unwrap();
    let back = callback_location(&browser, callback.as_str()).await;
    assert_flow_error(&back, "access_denied");
    let (_, admin) = app.user_with_role("auditor", "ADMIN").await;
    let failed = events_of_type(&app, &admin, "login.failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["detail"]["reason"], "access_denied");
    assert_eq!(failed[0]["detail"]["provider"], "test");
}

/// A callback with a genuine state but a code the provider never issued: the provider refuses
/// it and the app learns `invalid_code`.
async fn a_made_up_provider_code_returns_invalid_code(backend: Backend) {
    let Some((app, _, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let (browser, state) = started_flow(&app).await;
    let callback = Url::parse_with_params(
        &app.url(CALLBACK),
        &[("state", state.as_str()), ("code", "made-up-code")],
    )
    .unwrap();
    let back = callback_location(&browser, callback.as_str()).await;
    assert_flow_error(&back, "invalid_code");
}

/// `redirect_to` values that resemble an allowed URL are refused with 400 before the browser
/// goes anywhere (no Location, no flow cookie), at authorize and when linking from the account.
async fn redirect_urls_that_only_look_allowed_are_refused_before_the_browser_leaves(
    backend: Backend,
) {
    let Some((app, _, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let tricks = [
        "https://app.example.com/callback/evil",
        "https://app.example.com/callbackx",
        "https://evil.example@app.example.com/callback",
        "https://app.example.com@evil.example/callback",
        "https://app.example.com/callback/..;/",
        "https://app.example.com/..;/callback",
        "https://app.example.com%2Fcallback",
        "https://app.example.com/callback%2F..%2Fevil",
        "javascript:alert(1)",
        "data:text/html,x",
        "https://app.example.com:8443/callback",
        "http://app.example.com/callback",
        "https://app.example.com/callback#x",
        "https://app.example.com/callback?next=https://evil.example",
        "com.example.app://oauth",
        "//app.example.com/callback",
        "",
    ];
    let (_, token) = app.user("ada").await;
    for trick in tricks {
        let res = browser()
            .get(authorize_url(&app, "test", &[("redirect_to", trick)]))
            .send()
            .await
            .unwrap();
        assert!(res.headers().get(LOCATION).is_none(), "{trick}");
        assert!(res.headers().get(SET_COOKIE).is_none(), "{trick}");
        let body = expect_error(res, StatusCode::BAD_REQUEST).await;
        assert_eq!(
            body["message"], "redirect_to is not one of the allowed redirect URLs",
            "{trick}"
        );
        let link = json!({"redirect_to": trick, "current_password": PASSWORD});
        let res = app
            .post("/api/v1/user/identities/test", Some(link), Some(&token))
            .await;
        expect_error(res, StatusCode::BAD_REQUEST).await;
    }
}

/// An allowed URL written with another case of scheme and host, or with its default port, is
/// the same URL: the flow works, and the browser returns to the URL as configured.
async fn an_allowed_redirect_url_in_other_case_returns_to_the_configured_spelling(
    backend: Backend,
) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    for spelling in [
        "HTTPS://APP.EXAMPLE.COM/callback",
        "https://app.example.com:443/callback",
    ] {
        let login = "verified:ada@example.com";
        let query = [("redirect_to", spelling)];
        let (browser, callback) = to_callback(&app, &provider, login, &query).await;
        let back = callback_location(&browser, &callback).await;
        assert!(back.starts_with(&format!("{APP}?code=")), "{back}");
    }
    // No redirect_to: the first configured URL.
    let (browser, callback) = to_callback(&app, &provider, "verified:ada@example.com", &[]).await;
    let back = callback_location(&browser, &callback).await;
    assert!(back.starts_with(&format!("{APP}?code=")), "{back}");
}

/// The S256 challenge of `verifier`.
fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A native app (whose custom-scheme redirect another app could catch) binds the code to its
/// own PKCE challenge: the exchange needs the verifier, a wrong or missing one spends the code,
/// and only S256 is taken. With `X-Refresh-Token-Transport: body` the refresh token comes in the
/// answer instead of a cookie.
async fn a_native_app_proves_its_own_challenge_at_the_exchange(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = challenge_of(&verifier);
    let native_code = async || {
        let query = [
            ("redirect_to", NATIVE),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let login = "verified:ada@example.com";
        let (browser, callback) = to_callback(&app, &provider, login, &query).await;
        let back = callback_location(&browser, &callback).await;
        assert!(back.starts_with(&format!("{NATIVE}?code=")), "{back}");
        code_of(&back)
    };
    let wrong = "x".repeat(43);
    for attempt in [json!({}), json!({"code_verifier": wrong})] {
        let code = native_code().await;
        let mut body = attempt.clone();
        body["code"] = json!(code);
        let res = exchange(&app, body).await;
        expect_error(res, StatusCode::BAD_REQUEST).await;
        let spent = json!({"code": code, "code_verifier": verifier});
        let res = exchange(&app, spent).await;
        expect_error(res, StatusCode::BAD_REQUEST).await;
    }
    let code = native_code().await;
    let res = Client::new()
        .post(app.url("/api/v1/auth/oauth/exchange"))
        .header("X-Refresh-Token-Transport", "body")
        .json(&json!({"code": code, "code_verifier": verifier}))
        .send()
        .await
        .unwrap();
    assert_eq!(refresh_cookie(&res), None, "no cookie for a native app");
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh = body["data"]["token"]["refresh_token"].as_str().unwrap();
    let res = app
        .post(
            "/api/v1/auth/refresh",
            Some(json!({"refresh_token": refresh})),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    for query in [
        vec![
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "plain"),
        ],
        vec![("code_challenge", challenge.as_str())],
        vec![
            ("code_challenge", "short"),
            ("code_challenge_method", "S256"),
        ],
        vec![("code_challenge_method", "S256")],
    ] {
        let mut query = query.clone();
        query.push(("redirect_to", NATIVE));
        let res = browser()
            .get(authorize_url(&app, "test", &query))
            .send()
            .await
            .unwrap();
        assert!(res.headers().get(LOCATION).is_none(), "{query:?}");
        expect_error(res, StatusCode::BAD_REQUEST).await;
    }
}

/// A provider returning by form POST (as Apple does): a POST that carries the flow cookie is
/// finished at once; one without it (a real cross-site POST leaves the SameSite=Lax cookie
/// behind) is turned into a top-level GET of the callback, with the same fields, which does
/// carry the cookie.
async fn a_form_post_return_works_with_and_without_the_flow_cookie(backend: Backend) {
    let Some((app, provider, _)) = form_post_app(backend).await else {
        return;
    };
    let form_post = async || {
        let start = authorize_url(&app, "test", &[("redirect_to", APP)]);
        match at_provider(&provider, &start, "verified:ada@example.com").await {
            (browser, ProviderReturn::FormPost { action, fields }) => {
                assert_eq!(action, app.url(CALLBACK));
                (browser, action, fields)
            }
            (_, other) => panic!("expected a form post: {other:?}"),
        }
    };

    let (browser, action, fields) = form_post().await;
    let res = browser.post(&action).form(&fields).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = location(&res);
    assert!(back.starts_with(&format!("{APP}?code=")), "{back}");

    let (browser, action, fields) = form_post().await;
    let cross_site = Client::builder().redirect(Policy::none()).build().unwrap();
    let res = cross_site.post(&action).form(&fields).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to_get = location(&res);
    assert!(to_get.starts_with(&format!("{CALLBACK}?")), "{to_get}");
    let to_get = app.url(&to_get);
    for name in ["state", "code"] {
        let sent = fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        assert_eq!(param(&to_get, name).as_ref(), sent, "{name}");
    }
    let back = callback_location(&browser, &to_get).await;
    let (status, body) = read(exchange(&app, json!({"code": code_of(&back)})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["email"], "ada@example.com");
}

/// A native app's ID token from the provider's own SDK signs in as the browser flow does.
async fn a_native_id_token_signs_in(backend: Backend) {
    let Some((app, provider, client_id)) = oauth_app(backend, &[]).await else {
        return;
    };
    let token = signed(
        &provider,
        &good_claims(&provider.issuer, &client_id, "ada@example.com"),
    );
    let (status, body) = read(present(&app, "test", &token, None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["email"], "ada@example.com");
    assert_eq!(body["data"]["user"]["email_verified"], true);
    let access = access_token(&body["data"]);
    assert_eq!(claims(&access)["amr"], json!(["fed"]));
    let linked = identities(&app, &access).await;
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0]["provider"], "test");
}

/// Every ID token that fails a check gets the same 401, and each is recorded as a failed
/// sign-in: another issuer, another audience, expired, a changed signature, the provider's
/// public key used as an HMAC secret, no signature at all, and a key the provider never
/// published.
async fn broken_id_tokens_are_refused_alike_and_recorded(backend: Backend) {
    let Some((app, provider, client_id)) = oauth_app(backend, &[]).await else {
        return;
    };
    let good = good_claims(&provider.issuer, &client_id, "ada@example.com");
    let with = |field: &str, value: Value| {
        let mut claims = good.clone();
        claims[field] = value;
        claims
    };
    let (kid, _, public_pem) = provider.key_pem("rsa");
    let hmac = EncodingKey::from_secret(public_pem.as_bytes());
    let broken = [
        (
            "another issuer",
            signed(&provider, &with("iss", json!("http://127.0.0.1:1"))),
        ),
        (
            "another audience",
            signed(&provider, &with("aud", json!("ios-app"))),
        ),
        (
            "expired",
            signed(&provider, &with("exp", json!(now() - 600))),
        ),
        ("a changed signature", tampered(&signed(&provider, &good))),
        (
            "HS256 keyed by the public key",
            sign(Algorithm::HS256, &kid, &hmac, &good),
        ),
        ("alg none", unsigned(&kid, &good)),
        ("a key never published", signed_by_a_stranger(&good)),
        ("not a JWT", "not-a-token".to_string()),
    ];
    for (what, token) in &broken {
        assert_refused(present(&app, "test", token, None).await, what).await;
    }
    let (_, admin) = app.user_with_role("auditor", "ADMIN").await;
    let failed = events_of_type(&app, &admin, "login.failed").await;
    assert_eq!(failed.len(), broken.len(), "{failed:#?}");
    for event in &failed {
        assert_eq!(event["detail"]["reason"], "invalid_id_token", "{event}");
        assert_eq!(event["detail"]["method"], "provider", "{event}");
        assert_eq!(event["detail"]["provider"], "test", "{event}");
        assert!(event["user_id"].is_null(), "{event}");
    }
    // The good token still works after all that.
    let res = present(&app, "test", &signed(&provider, &good), None).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// A token carrying a nonce signs in only when the app sends that nonce back.
async fn a_nonce_in_the_id_token_must_be_sent_back(backend: Backend) {
    let Some((app, provider, client_id)) = oauth_app(backend, &[]).await else {
        return;
    };
    let mut claims = good_claims(&provider.issuer, &client_id, "ada@example.com");
    claims["nonce"] = json!("n1");
    let token = signed(&provider, &claims);
    assert_refused(present(&app, "test", &token, None).await, "no nonce sent").await;
    assert_refused(
        present(&app, "test", &token, Some("n2")).await,
        "another nonce",
    )
    .await;
    let (status, body) = read(present(&app, "test", &token, Some("n1")).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A token without a nonce is refused when the app expects one.
    let plain = signed(
        &provider,
        &good_claims(&provider.issuer, &client_id, "ada@example.com"),
    );
    assert_refused(
        present(&app, "test", &plain, Some("n1")).await,
        "nonce expected",
    )
    .await;
}

/// Tokens the provider made for the app's other clients (iOS, Android) are taken once listed in
/// `OAUTH_TEST_AUDIENCES`, and only those.
async fn extra_audiences_are_accepted_only_when_configured(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[("OAUTH_TEST_AUDIENCES", "ios-app")]).await
    else {
        return;
    };
    let for_ios = signed(
        &provider,
        &good_claims(&provider.issuer, "ios-app", "ada@example.com"),
    );
    let (status, body) = read(present(&app, "test", &for_ios, None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let for_android = signed(
        &provider,
        &good_claims(&provider.issuer, "android-app", "ada@example.com"),
    );
    assert_refused(present(&app, "test", &for_android, None).await, "android").await;
    let mut both = good_claims(&provider.issuer, "ios-app", "ada@example.com");
    both["aud"] = json!(["ios-app", "someone-else"]);
    assert_refused(
        present(&app, "test", &signed(&provider, &both), None).await,
        "an audience besides ours",
    )
    .await;
}

/// Unknown key ids make the server refetch the provider's keys at most once every 5 seconds: the
/// fetch at start covers the first seconds, so a burst of tokens under made-up key ids right
/// after costs the provider nothing, and known keys are served from the cache.
async fn a_flood_of_unknown_key_ids_costs_the_provider_no_extra_fetch(backend: Backend) {
    let Some(provider) = TestProvider::from_env() else {
        return;
    };
    let (relay, hits, _) = jwks_relay(&provider).await;
    // Signed before the server starts: the 5 seconds after its start cover only the requests.
    let good = good_claims(&relay, "native-client", "ada@example.com");
    let known = signed(&provider, &good);
    let unknown: Vec<String> = (0..5).map(|_| signed_by_a_stranger(&good)).collect();
    let app = app_behind_relay(backend, &relay).await;
    assert_eq!(hits.load(Ordering::SeqCst), 1, "discovery fetched the keys");
    let res = present(&app, "test", &known, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    for token in &unknown {
        assert_refused(
            present(&app, "test", token, None).await,
            "an unknown key id",
        )
        .await;
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "no refetch inside 5 s");
}

/// A provider that rotates its keys: a token under the new key id is refused while the server
/// fetched the keys less than 5 seconds ago, and signs in once that window has passed (one
/// refetch); another unknown key id right after causes no further fetch.
async fn a_rotated_provider_key_is_fetched_once_the_window_allows(backend: Backend) {
    let Some(provider) = TestProvider::from_env() else {
        return;
    };
    let (relay, hits, keys) = jwks_relay(&provider).await;
    let app = app_behind_relay(backend, &relay).await;
    assert_eq!(hits.load(Ordering::SeqCst), 1, "discovery fetched the keys");
    let (kid, key, jwk) = stranger_key();
    keys.lock().unwrap()["keys"]
        .as_array_mut()
        .unwrap()
        .push(jwk);
    let claims = good_claims(&relay, "native-client", "ada@example.com");
    let rotated = || sign(Algorithm::ES256, &kid, &key, &claims);
    assert_refused(
        present(&app, "test", &rotated(), None).await,
        "inside the window",
    )
    .await;
    assert_eq!(hits.load(Ordering::SeqCst), 1, "no refetch inside 5 s");

    tokio::time::sleep(Duration::from_millis(5_200)).await;
    let (status, body) = read(present(&app, "test", &rotated(), None).await).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the new key, after one refetch: {body}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let stranger = signed_by_a_stranger(&claims);
    assert_refused(
        present(&app, "test", &stranger, None).await,
        "another unknown kid",
    )
    .await;
    assert_eq!(hits.load(Ordering::SeqCst), 2, "rate limited again");
}

/// The Google preset: Google's SDK puts the SHA-256 hex of the app's nonce in the token, so the
/// app sends its nonce as it made it, and the hex itself does not pass.
async fn the_google_preset_compares_the_hashed_nonce(backend: Backend) {
    let Some(provider) = TestProvider::from_env() else {
        return;
    };
    let vars = [
        ("OAUTH_PROVIDERS", "google"),
        ("OAUTH_GOOGLE_CLIENT_ID", "google-client"),
        ("OAUTH_GOOGLE_ISSUER", provider.issuer.as_str()),
    ];
    let app = TestApp::spawn_with(backend, &vars).await;
    let hashed = Sha256::digest(b"raw-nonce")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let mut claims = good_claims(&provider.issuer, "google-client", "ada@example.com");
    claims["nonce"] = json!(hashed);
    let token = signed(&provider, &claims);
    assert_refused(present(&app, "google", &token, Some(&hashed)).await, "hex").await;
    let (status, body) = read(present(&app, "google", &token, Some("raw-nonce")).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["email"], "ada@example.com");
}

/// `POST /user/identities/test`: the URL that starts a link flow (the password first).
async fn start_link(app: &TestApp, token: &str, body: Option<Value>) -> Response {
    app.post("/api/v1/user/identities/test", body, Some(token))
        .await
}

/// Starts linking with the password and runs the flow as `login`: where the callback sends the
/// browser, and the `authorize_url` used.
async fn link_as(
    app: &TestApp,
    provider: &TestProvider,
    token: &str,
    login: &str,
) -> (String, String) {
    let body = json!({"current_password": PASSWORD});
    let (status, body) = read(start_link(app, token, Some(body)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Open authorize_url to link");
    let url = body["data"]["authorize_url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&app.url("/api/v1/auth/oauth/test/authorize?link=")),
        "{url}"
    );
    match at_provider(provider, &url, login).await {
        (browser, ProviderReturn::Redirect(callback)) => {
            (callback_location(&browser, &callback).await, url)
        }
        (_, other) => panic!("expected a redirect back: {other:?}"),
    }
}

/// Linking a provider to an account with a password needs that password (403 without it, 400
/// when wrong); the flow then returns with `linked=test`, the identity is listed and signs
/// into this account from then on, and the link URL works once.
async fn linking_needs_recent_authentication_and_its_url_works_once(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let (id, token) = app.user("ada").await;
    let body = expect_error(start_link(&app, &token, None).await, StatusCode::FORBIDDEN).await;
    assert_eq!(body["message"], "reauthentication required");
    let wrong = json!({"current_password": "wrong password"});
    expect_error(
        start_link(&app, &token, Some(wrong)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let login = "verified:ada.work@example.com";
    let (back, url) = link_as(&app, &provider, &token, login).await;
    assert_eq!(back, format!("{APP}?linked=test"));
    let linked = identities(&app, &token).await;
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!(linked[0]["email"], "ada.work@example.com");
    let data = sign_in_as(&app, &provider, login).await;
    assert_eq!(id_of(&data), id);

    let res = browser().get(&url).send().await.unwrap();
    let body = expect_error(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["message"], "invalid or expired link request");
}

/// An identity that already signs into another account cannot be linked to a second one.
async fn an_identity_of_another_account_cannot_be_linked(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let login = "verified:bea@example.com";
    let bea = sign_in_as(&app, &provider, login).await;
    let (_, token) = app.user("ada").await;
    let (back, _) = link_as(&app, &provider, &token, login).await;
    assert_flow_error(&back, "identity_in_use");
    assert!(identities(&app, &token).await.is_empty());
    assert_eq!(identities(&app, &access_token(&bea)).await.len(), 1);
}

/// Unlinking needs recent authentication and is recorded; the only way into a passwordless
/// account is kept (409); another user's identity is not found.
async fn unlinking_never_removes_the_last_way_to_sign_in(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let (ada_id, ada) = app.user("ada").await;
    link_as(&app, &provider, &ada, "verified:ada.work@example.com").await;
    let identity = identities(&app, &ada).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/user/identities/{identity}");
    expect_error(app.delete(&path, Some(&ada)).await, StatusCode::FORBIDDEN).await;

    let bea = sign_in_as(&app, &provider, "verified:bea@example.com").await;
    let bea = access_token(&bea);
    let beas = identities(&app, &bea).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let beas_path = format!("/api/v1/user/identities/{beas}");
    let body = expect_error(
        app.delete(&beas_path, Some(&bea)).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        body["message"],
        "this is the last way to sign in to the account; add another first"
    );
    let password = json!({"current_password": PASSWORD});
    let res = app
        .client
        .delete(app.url(&beas_path))
        .bearer_auth(&ada)
        .json(&password)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND).await;
    assert_eq!(identities(&app, &bea).await.len(), 1);

    let res = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&ada)
        .json(&password)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"].is_null());
    assert!(identities(&app, &ada).await.is_empty());
    let (_, admin) = app.user_with_role("auditor", "ADMIN").await;
    let kinds = event_types(&app, &admin, &ada_id).await;
    assert!(
        kinds.contains(&"identity.unlinked".to_string()),
        "{kinds:?}"
    );
}

/// A passwordless account proves a recent sign-in instead of a password: right after signing in
/// it may start a link; once REAUTH_WINDOW has passed, linking and unlinking are refused (403).
async fn a_passwordless_account_reauthenticates_by_a_recent_sign_in(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[("REAUTH_WINDOW", "1s")]).await else {
        return;
    };
    let data = sign_in_as(&app, &provider, "verified:bea@example.com").await;
    let token = access_token(&data);
    let (status, body) = read(start_link(&app, &token, None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let body = expect_error(start_link(&app, &token, None).await, StatusCode::FORBIDDEN).await;
    assert_eq!(body["message"], "reauthentication required");
    let identity = identities(&app, &token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/user/identities/{identity}");
    let body = expect_error(app.delete(&path, Some(&token)).await, StatusCode::FORBIDDEN).await;
    assert_eq!(body["message"], "reauthentication required");
}

/// Admins see a user's identities and unlink them, but not the last way into an account; a
/// regular user may not; an unknown user is 404.
async fn admins_list_and_unlink_identities(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let (_, admin) = app.user_with_role("boss", "ADMIN").await;
    let (ada_id, ada) = app.user_with_role("ada", "USER").await;
    sign_in_as(&app, &provider, "verified:ada@example.com").await;
    let bea = id_of(&sign_in_as(&app, &provider, "verified:bea@example.com").await);

    let list = async |user: &str, token: &str| {
        let path = format!("/api/v1/admin/{user}/identities");
        read(app.get(&path, Some(token)).await).await
    };
    let (status, body) = list(&bea, &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let beas = body["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(body["data"][0]["email"], "bea@example.com");
    let path = format!("/api/v1/admin/{bea}/identities/{beas}");
    expect_error(app.delete(&path, Some(&admin)).await, StatusCode::CONFLICT).await;
    let (status, _) = list(&bea, &ada).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    expect_error(app.delete(&path, Some(&ada)).await, StatusCode::FORBIDDEN).await;
    let (status, _) = list(&uuid::Uuid::new_v4().to_string(), &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, body) = list(&ada_id, &admin).await;
    let adas = body["data"][0]["id"].as_str().unwrap().to_string();
    let wrong_owner = format!("/api/v1/admin/{bea}/identities/{adas}");
    expect_error(
        app.delete(&wrong_owner, Some(&admin)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let path = format!("/api/v1/admin/{ada_id}/identities/{adas}");
    let (status, body) = read(app.delete(&path, Some(&admin)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(identities(&app, &ada).await.is_empty());
    let unlinked = events_of_type(&app, &admin, "identity.unlinked").await;
    assert_eq!(unlinked.len(), 1, "{unlinked:?}");
    assert_eq!(unlinked[0]["user_id"], ada_id.as_str());
    assert!(unlinked[0]["actor_id"].is_string(), "{}", unlinked[0]);
}

/// Two unlinks racing for a passwordless account's last two identities never leave it with
/// none: at most one succeeds, and whatever is left still signs in.
async fn racing_unlinks_leave_a_way_to_sign_in(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    let bea = access_token(&sign_in_as(&app, &provider, "verified:bea@example.com").await);
    link_as(&app, &provider, &bea, "verified:bea.work@example.com").await;
    let ids: Vec<String> = identities(&app, &bea)
        .await
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    let unlinks = ids.iter().map(|id| {
        let path = app.url(&format!("/api/v1/user/identities/{id}"));
        app.client.delete(path).bearer_auth(&bea).send()
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(unlinks)
        .await
        .into_iter()
        .map(|r| r.expect("request sent").status())
        .collect();
    assert!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count() <= 1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| [StatusCode::OK, StatusCode::CONFLICT].contains(s)),
        "{statuses:?}"
    );
    let left = identities(&app, &bea).await;
    assert!(!left.is_empty(), "a way to sign in is left");
    let login = if left[0]["email"] == "bea@example.com" {
        "verified:bea@example.com"
    } else {
        "verified:bea.work@example.com"
    };
    let again = sign_in_as(&app, &provider, login).await;
    assert!(!access_token(&again).is_empty());
}

/// Two first sign-ins of the same new person finishing at the same moment (two tabs, a double
/// click) make one account with one identity, and both codes sign into it. Five people race
/// this way, one after the other, so that a narrow window shows (the loser of both races, the
/// address and then the identity, still signs in).
async fn racing_first_sign_ins_make_one_account(backend: Backend) {
    let Some((app, provider, _)) = oauth_app(backend, &[]).await else {
        return;
    };
    const PEOPLE: u64 = 5;
    for n in 0..PEOPLE {
        let login = format!("verified:twin{n}@example.com");
        let query = [("redirect_to", APP)];
        let (first, first_callback) = to_callback(&app, &provider, &login, &query).await;
        let (second, second_callback) = to_callback(&app, &provider, &login, &query).await;
        let (a, b) = tokio::join!(
            callback_location(&first, &first_callback),
            callback_location(&second, &second_callback),
        );
        let mut users = Vec::new();
        for back in [a, b] {
            let (status, body) = read(exchange(&app, json!({"code": code_of(&back)})).await).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            users.push(body["data"].clone());
        }
        assert_eq!(id_of(&users[0]), id_of(&users[1]), "{login}");
        assert_eq!(identities(&app, &access_token(&users[0])).await.len(), 1);
    }
    let (_, admin) = app.user_with_role("boss", "ADMIN").await;
    assert_eq!(
        account_count(&app, &admin).await,
        PEOPLE + 1,
        "the twins and boss"
    );
}

/// Runs the GitHub flow for the web app: where the callback sends the browser.
async fn through_github(app: &TestApp, github: &GitHubStandIn) -> String {
    let browser = browser();
    let start = authorize_url(app, "github", &[("redirect_to", APP)]);
    let res = browser.get(&start).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let at_github = location(&res);
    assert!(
        at_github.starts_with(&format!("{}/login/oauth/authorize?", github.url)),
        "{at_github}"
    );
    let res = browser.get(&at_github).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "GitHub's authorize");
    let callback = location(&res);
    assert!(
        callback.starts_with(&app.url("/api/v1/auth/oauth/github/callback?")),
        "{callback}"
    );
    callback_location(&browser, &callback).await
}

/// GitHub lets anyone list an address they do not own on a profile, so only the entry that is
/// both primary and verified counts: the account holding a verified but not primary address of
/// the person is left alone, and the person gets an account of their own.
async fn github_counts_only_the_primary_verified_address(backend: Backend) {
    let emails = vec![
        email("side@example.com", false, true),
        email("octocat@example.com", true, true),
        email("old@example.com", false, false),
    ];
    let (app, github) = github_app(backend, emails).await;
    let (side_id, side) = app.user_with_role("side", "USER").await;
    let back = through_github(&app, &github).await;
    let (status, body) = read(exchange(&app, json!({"code": code_of(&back)})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = &body["data"]["user"];
    assert_ne!(user["id"], side_id.as_str());
    assert_eq!(user["email"], "octocat@example.com");
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["username"], "octocat");
    let linked = identities(&app, &access_token(&body["data"])).await;
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0]["provider"], "github");
    assert_eq!(linked[0]["email"], "octocat@example.com");
    assert!(identities(&app, &side).await.is_empty());
    // GitHub's id is the identity: signing in again finds the same account.
    let back = through_github(&app, &github).await;
    let (_, again) = read(exchange(&app, json!({"code": code_of(&back)})).await).await;
    assert_eq!(again["data"]["user"]["id"], user["id"]);
}

/// Without a primary verified address on GitHub the person is treated as having no address to
/// go by: no account is made or joined, not even the one holding their verified side address.
async fn github_without_a_primary_verified_address_joins_nobody(backend: Backend) {
    let emails = vec![
        email("octocat@example.com", true, false),
        email("side@example.com", false, true),
    ];
    let (app, github) = github_app(backend, emails).await;
    let (_, side) = app.user_with_role("side", "USER").await;
    let (_, admin) = app.user_with_role("boss", "ADMIN").await;
    let back = through_github(&app, &github).await;
    assert_flow_error(&back, "account_exists");
    assert!(identities(&app, &side).await.is_empty());
    assert_eq!(account_count(&app, &admin).await, 2, "side and boss only");
}

/// A provider that cannot be reached does not stop the server: it is still listed, a flow sends
/// the browser straight back with `provider_unavailable`, a native token is 503, and password
/// logins work.
async fn an_unreachable_provider_leaves_everything_else_working(backend: Backend) {
    let closed = public_url(free_port());
    let vars = [
        ("OAUTH_PROVIDERS", "test"),
        ("OAUTH_TEST_CLIENT_ID", "test-client"),
        ("OAUTH_TEST_ISSUER", closed.as_str()),
        ("OAUTH_REDIRECT_URLS", APP),
    ];
    let app = TestApp::spawn_with(backend, &vars).await;
    let (status, body) = read(app.get("/api/v1/auth/oauth/providers", None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"], json!([{"id": "test", "name": "Test"}]));
    let res = browser()
        .get(authorize_url(&app, "test", &[("redirect_to", APP)]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_flow_error(&location(&res), "provider_unavailable");
    let token = signed_by_a_stranger(&good_claims(&closed, "test-client", "ada@example.com"));
    expect_error(
        present(&app, "test", &token, None).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    let (_, token) = app.user("ada").await;
    assert_eq!(
        app.get("/api/v1/user/", Some(&token)).await.status(),
        StatusCode::OK
    );
}
