//! Passkeys (WebAuthn): registering one, signing in with it and no username, managing them, and
//! the attacks on the ceremonies, driven by the software authenticator of
//! tests/api/authenticator.rs (real ES256 keys, the byte formats written by hand).
//!
//! Every server here listens on a port chosen up front, with `PUBLIC_URL=http://localhost:{port}`:
//! the relying party is `localhost` and the one allowed origin is that URL, which is what the
//! authenticator puts in its client data unless a test says otherwise.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::authenticator::Authenticator;
use crate::helpers::{Backend, PASSWORD, TestApp, event_types, expect_error, free_port, read};
use crate::mailbox::{ask_for_mail, mail_app, unique_address};
use crate::mfa::{claims, enable};
use crate::on_both_stores;

on_both_stores!(
    registering_needs_recent_authentication_and_lists_renames_and_excludes_the_passkey,
    the_list_shows_the_transports_the_browser_reported,
    a_passkey_signs_in_with_no_username_as_multi_factor,
    an_account_with_a_second_factor_signs_in_with_a_passkey_without_a_code,
    a_ceremony_finishes_once_and_only_as_its_own_kind,
    an_expired_challenge_is_refused,
    an_answer_without_user_verification_is_refused,
    a_wrong_origin_or_rp_id_is_refused,
    an_android_app_origin_signs_in_when_listed,
    a_counter_going_backwards_is_refused_and_recorded,
    a_passkey_without_a_counter_signs_in_again_and_again,
    failed_passkey_sign_ins_count_towards_the_lockout,
    a_lock_by_a_cloned_counter_is_recorded_like_any_other,
    every_refused_assertion_gets_the_same_answer,
    a_password_account_removes_its_passkey_with_its_password,
    the_last_way_to_sign_in_cannot_be_removed,
    admins_list_and_remove_a_users_passkeys,
    passkeys_are_off_with_an_ip_address_as_rp_id,
    a_removed_passkey_no_longer_signs_in,
    malformed_credentials_and_long_names_are_422,
);

const REGISTER_START: &str = "/api/v1/user/passkeys/register/start";
const REGISTER_FINISH: &str = "/api/v1/user/passkeys/register/finish";
const LIST: &str = "/api/v1/user/passkeys";
const LOGIN_START: &str = "/api/v1/auth/passkeys/login/start";
const LOGIN_FINISH: &str = "/api/v1/auth/passkeys/login/finish";
const INVALID: &str = "Invalid credentials";
const EXPIRED: &str = "invalid or expired challenge";

// ---------------------------------------------------------------------------------------------
// The servers and the ceremonies.

/// A server on `port` with `PUBLIC_URL=http://localhost:{port}` (relying party `localhost`);
/// `extra` settings come last and win. Returns the server and its origin.
async fn spawn_at(backend: Backend, port: u16, extra: &[(&str, &str)]) -> (TestApp, String) {
    let (port_text, origin) = (port.to_string(), format!("http://localhost:{port}"));
    let mut vars = vec![
        ("PORT", port_text.as_str()),
        ("PUBLIC_URL", origin.as_str()),
    ];
    vars.extend_from_slice(extra);
    let app = TestApp::spawn_with(backend, &vars).await;
    assert_eq!(app.base, format!("http://127.0.0.1:{port}"));
    (app, origin)
}

/// As [`spawn_at`], on a free port.
async fn passkey_app(backend: Backend, extra: &[(&str, &str)]) -> (TestApp, String) {
    spawn_at(backend, free_port(), extra).await
}

/// register/start with `password` as the recent authentication (none: no body).
async fn try_start_registration(app: &TestApp, token: &str, password: Option<&str>) -> Response {
    let body = password.map(|p| json!({"current_password": p}));
    app.post(REGISTER_START, body, Some(token)).await
}

/// A registration's start: (challenge_id, creation options).
async fn start_registration(app: &TestApp, token: &str, password: Option<&str>) -> (String, Value) {
    let (status, body) = read(try_start_registration(app, token, password).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    ceremony(&body)
}

fn ceremony(body: &Value) -> (String, Value) {
    let challenge_id = body["data"]["challenge_id"].as_str().expect("challenge_id");
    (challenge_id.to_string(), body["data"]["options"].clone())
}

async fn finish_registration(
    app: &TestApp,
    token: &str,
    challenge_id: &str,
    credential: Value,
    name: Option<&str>,
) -> Response {
    let mut body = json!({"challenge_id": challenge_id, "credential": credential});
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    app.post(REGISTER_FINISH, Some(body), Some(token)).await
}

/// Registers `device`'s credential to the account of `token` (with `password` as the recent
/// authentication, or none for a passwordless account); returns the passkey's view.
async fn add_passkey(
    app: &TestApp,
    token: &str,
    device: &mut Authenticator,
    password: Option<&str>,
) -> Value {
    let (challenge_id, options) = start_registration(app, token, password).await;
    let credential = device.register(&options);
    let res = finish_registration(app, token, &challenge_id, credential, None).await;
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"].clone()
}

/// A sign-in's start: (challenge_id, request options).
async fn start_sign_in(app: &TestApp) -> (String, Value) {
    let (status, body) = read(app.post(LOGIN_START, None, None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    ceremony(&body)
}

async fn finish_sign_in(app: &TestApp, challenge_id: &str, credential: Value) -> Response {
    let body = json!({"challenge_id": challenge_id, "credential": credential});
    app.post(LOGIN_FINISH, Some(body), None).await
}

/// A whole username-less sign-in with `device`.
async fn sign_in(app: &TestApp, device: &mut Authenticator) -> Response {
    let (challenge_id, options) = start_sign_in(app).await;
    let credential = device.sign_in(&options);
    finish_sign_in(app, &challenge_id, credential).await
}

/// Signs in with `device`, expecting 200; returns the body.
async fn signs_in(app: &TestApp, device: &mut Authenticator) -> Value {
    let (status, body) = read(sign_in(app, device).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Signs in with `device`, expecting 401 `Invalid credentials`.
async fn refused(app: &TestApp, device: &mut Authenticator) {
    let body = expect_error(sign_in(app, device).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["message"], INVALID, "{body}");
}

async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = read(app.get(LIST, Some(token)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().expect("a list").clone()
}

/// DELETE /user/passkeys/{id}, with `password` as the recent authentication (none: no body).
async fn remove(app: &TestApp, token: &str, passkey_id: &str, password: Option<&str>) -> Response {
    let url = app.url(&format!("{LIST}/{passkey_id}"));
    let mut req = app.client.delete(url).bearer_auth(token);
    if let Some(p) = password {
        req = req.json(&json!({"current_password": p}));
    }
    req.send().await.expect("request sent")
}

async fn rename(app: &TestApp, token: &str, passkey_id: &str, name: &str) -> Response {
    let url = app.url(&format!("{LIST}/{passkey_id}"));
    let req = app.client.patch(url).bearer_auth(token);
    req.json(&json!({"name": name}))
        .send()
        .await
        .expect("request sent")
}

fn id_of(passkey: &Value) -> String {
    passkey["id"].as_str().expect("a passkey id").to_string()
}

/// The excluded credential ids of creation options.
fn excluded(options: &Value) -> Vec<String> {
    options["excludeCredentials"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|c| c["id"].as_str().expect("an id").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The newest event of `kind` of the user (through an admin).
async fn newest_event(app: &TestApp, admin: &str, user_id: &str, kind: &str) -> Value {
    let path = format!("/api/v1/admin/security-events?user_id={user_id}&type={kind}");
    let (status, body) = read(app.get(&path, Some(admin)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["events"][0].clone()
}

// ---------------------------------------------------------------------------------------------
// Registering and managing.

/// Registering needs the password (403 without it, 400 with a wrong one); the options ask for
/// a resident key and user verification at relying party `localhost`; the passkey is created
/// (201), listed under its name, renamed, excluded from the next registration's options, and the
/// same credential cannot be registered a second time (400 for its own account, whose options
/// exclude it; 409 for another account).
async fn registering_needs_recent_authentication_and_lists_renames_and_excludes_the_passkey(
    backend: Backend,
) {
    let (app, origin) = passkey_app(backend, &[]).await;
    let (_, token) = app.user("ada").await;

    let body = expect_error(
        try_start_registration(&app, &token, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(body["message"], "reauthentication required");
    expect_error(
        try_start_registration(&app, &token, Some("wrong password")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let (challenge_id, options) = start_registration(&app, &token, Some(PASSWORD)).await;
    assert_eq!(options["rp"]["id"], "localhost", "{options}");
    assert!(options["user"]["id"].is_string(), "{options}");
    assert!(options["challenge"].is_string(), "{options}");
    let selection = &options["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required", "{options}");
    assert_eq!(selection["userVerification"], "required", "{options}");
    assert!(excluded(&options).is_empty(), "{options}");

    let mut laptop = Authenticator::new(&origin);
    let credential = laptop.register(&options);
    let res = finish_registration(&app, &token, &challenge_id, credential, Some("Laptop")).await;
    let (status, created) = read(res).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let passkey = &created["data"];
    assert_eq!(passkey["name"], "Laptop");
    assert!(passkey["created_at"].is_string(), "{passkey}");
    assert!(passkey["last_used_at"].is_null(), "{passkey}");
    assert_eq!(passkey["backed_up"], false);
    assert!(passkey["transports"].is_array(), "{passkey}");
    assert!(
        passkey.get("credential").is_none(),
        "no key material: {passkey}"
    );
    let passkey_id = id_of(passkey);

    let listed = list(&app, &token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], passkey_id.as_str());
    assert_eq!(listed[0]["name"], "Laptop");

    let (status, renamed) = read(rename(&app, &token, &passkey_id, "  Work laptop ").await).await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["data"]["name"], "Work laptop");
    assert_eq!(list(&app, &token).await[0]["name"], "Work laptop");

    // The next registration excludes it: answering anyway with the same credential is refused
    // by the relying party (400); answering another account's registration with it is 409.
    let (challenge_id, options) = start_registration(&app, &token, Some(PASSWORD)).await;
    assert_eq!(excluded(&options), vec![laptop.credential_id()]);
    let again = laptop.register(&options);
    let res = finish_registration(&app, &token, &challenge_id, again, None).await;
    expect_error(res, StatusCode::BAD_REQUEST).await;
    let (_, bob) = app.user("bob").await;
    let (challenge_id, options) = start_registration(&app, &bob, Some(PASSWORD)).await;
    assert!(excluded(&options).is_empty(), "only bob's own: {options}");
    let adas_handle = laptop.user_handle.clone();
    let stolen = laptop.register(&options);
    laptop.user_handle = adas_handle;
    let res = finish_registration(&app, &bob, &challenge_id, stolen, None).await;
    let body = expect_error(res, StatusCode::CONFLICT).await;
    assert_eq!(body["message"], "this passkey is registered already");
    assert!(list(&app, &bob).await.is_empty());

    // A second device is a second passkey, named "Passkey" by default, listed after the first.
    let mut phone = Authenticator::new(&origin);
    let second = add_passkey(&app, &token, &mut phone, Some(PASSWORD)).await;
    assert_eq!(second["name"], "Passkey");
    let listed = list(&app, &token).await;
    let ids: Vec<&str> = listed.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        vec![passkey_id.as_str(), second["id"].as_str().unwrap()]
    );
    let (_, options) = start_registration(&app, &token, Some(PASSWORD)).await;
    let mut ids = excluded(&options);
    ids.sort();
    let mut expected = vec![laptop.credential_id(), phone.credential_id()];
    expected.sort();
    assert_eq!(ids, expected);
}

/// The browser reports how the authenticator is reached (`transports: ["internal"]`); the
/// passkey's view lists it. (With attestation "none", which nearly every passkey sends,
/// webauthn-rs keeps no transports in its credential: the server has to take them from the
/// response itself.)
async fn the_list_shows_the_transports_the_browser_reported(backend: Backend) {
    let (app, origin) = passkey_app(backend, &[]).await;
    let (_, token) = app.user("ada").await;
    let mut device = Authenticator::new(&origin);
    let passkey = add_passkey(&app, &token, &mut device, Some(PASSWORD)).await;
    assert_eq!(passkey["transports"], json!(["internal"]), "{passkey}");
    assert_eq!(
        list(&app, &token).await[0]["transports"],
        json!(["internal"])
    );
}

/// A sign-in that names no account: the assertion's user handle finds it. The answer is a
/// login's (`amr: ["hwk", "user"]`, the refresh token in a cookie, or in the body for a native
/// client), the passkey's `last_used_at` is set, and the events are `passkey.added`,
/// `passkey.used` and `login.succeeded` with method `passkey`.
async fn a_passkey_signs_in_with_no_username_as_multi_factor(backend: Backend) {
    let (app, origin) = passkey_app(backend, &[]).await;
    let (id, token) = app.user("ada").await;
    let mut device = Authenticator::new(&origin);
    add_passkey(&app, &token, &mut device, Some(PASSWORD)).await;

    let (challenge_id, options) = start_sign_in(&app).await;
    assert_eq!(options["rpId"], "localhost", "{options}");
    assert_eq!(options["userVerification"], "required", "{options}");
    let allowed = options["allowCredentials"].as_array().map_or(0, Vec::len);
    assert_eq!(allowed, 0, "no account hint: {options}");
    let credential = device.sign_in(&options);
    let res = app
        .client
        .post(app.url(LOGIN_FINISH))
        .header("X-Refresh-Token-Transport", "body")
        .json(&json!({"challenge_id": challenge_id, "credential": credential}))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().get("set-cookie").is_none(),
        "native: no cookie"
    );
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["id"], id.as_str());
    let access = body["data"]["token"]["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["amr"], json!(["hwk", "user"]));
    let refresh = body["data"]["token"]["refresh_token"].as_str().unwrap();
    let (status, me) = read(app.get("/api/v1/user", Some(access)).await).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["data"]["id"], id.as_str());
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // A browser gets the cookie instead.
    let res = sign_in(&app, &mut device).await;
    assert!(res.headers().get("set-cookie").is_some(), "refresh cookie");
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["token"]["refresh_token"].is_null(), "{body}");

    assert!(list(&app, &token).await[0]["last_used_at"].is_string());
    let (_, admin) = app.user_with_role("auditor", "SUPER_ADMIN").await;
    let kinds = event_types(&app, &admin, &id).await;
    for kind in ["passkey.added", "passkey.used", "login.succeeded"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let login = newest_event(&app, &admin, &id, "login.succeeded").await;
    assert_eq!(login["detail"]["method"], "passkey", "{login}");
}

/// An account with TOTP signs in with a passkey and no code: the passkey is multi-factor by
/// itself (tokens at once, no `mfa_required`), while its password still asks for the code.
async fn an_account_with_a_second_factor_signs_in_with_a_passkey_without_a_code(backend: Backend) {
    let (app, origin) = passkey_app(backend, &[]).await;
    let (_, token) = app.user("ada").await;
    enable(&app, &token).await;
    let mut device = Authenticator::new(&origin);
    add_passkey(&app, &token, &mut device, Some(PASSWORD)).await;

    let login = json!({"email": "ada", "password": PASSWORD});
    let (_, body) = read(app.post("/api/v1/auth/login", Some(login), None).await).await;
    assert_eq!(body["data"]["mfa_required"], true, "{body}");

    let body = signs_in(&app, &mut device).await;
    assert!(body["data"].get("mfa_required").is_none(), "{body}");
    let access = body["data"]["token"]["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["amr"], json!(["hwk", "user"]));
}

// ---------------------------------------------------------------------------------------------
// The ceremonies' state.

/// A ceremony's challenge works once: a replayed finish is 400, of two racing finishes exactly
/// one succeeds, and a registration's challenge is no sign-in's (nor the other way round;
/// answering at the wrong finish spends nothing).
async fn a_ceremony_finishes_once_and_only_as_its_own_kind(backend: Backend) {
    let (app, origin) = passkey_app(backend, &[]).await;
    let (_, token) = app.user("ada").await;
    let mut device = Authenticator::new(&origin);

    // Registration: replayed.
    let (challenge_id, options) = start_registration(&app, &token, Some(PASSWORD)).await;
    let credential = device.register(&options);
    let res = finish_registration(&app, &token, &challenge_id, credential.clone(), None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = finish_registration(&app, &token, &challenge_id, credential, None).await;
    let body = expect_error(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["message"], EXPIRED);
    assert_eq!(list(&app, &token).await.len(), 1);

    // Sign-in: replayed.
    let (challenge_id, options) = start_sign_in(&app).await;
    let credential = device.sign_in(&options);
    let res = finish_sign_in(&app, &challenge_id, credential.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = finish_sign_in(&app, &challenge_id, credential).await;
    let body = expect_error(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["message"], EXPIRED);

    // Sign-in: raced.
    let (challenge_id, options) = start_sign_in(&app).await;
    let credential = device.sign_in(&options);
    let racers = (0..2).map(|_| finish_sign_in(&app, &challenge_id, credential.clone()));
    let mut statuses: Vec<StatusCode> = futures_util::future::join_all(racers)
        .await
        .iter()
        .map(Response::status)
        .collect();
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::OK, StatusCode::BAD_REQUEST]);

    // Registration: raced (a second device's credential, so the loser cannot be a 409).
    let mut phone = Authenticator::new(&origin);
    let (challenge_id, options) = start_registration(&app, &token, Some(PASSWORD)).await;
    let credential = phone.register(&options);
    let racers =
        (0..2).map(|_| finish_registration(&app, &token, &challenge_id, credential.clone(), None));
    let mut statuses: Vec<StatusCode> = futures_util::future::join_all(racers)
        .await
        .iter()
        .map(Response::status)
        .collect();
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::CREATED, StatusCode::BAD_REQUEST]);
    assert_eq!(list(&app, &token).await.len(), 2);

    // A registration's challenge at the sign-in's finish, and the other way round.
    let mut tablet = Authenticator::new(&origin);
    let (registration_id, creation) = start_registration(&app, &token, Some(PASSWORD)).await;
    let (sign_in_id, request) = start_sign_in(&app).await;
    let assertion = device.sign_in(&request);
    let created = tablet.register(&creation);
    let res = finish_sign_in(&app, &registration_id, assertion.clone()).await;
    assert_eq!(
        expect_error(res, StatusCode::BAD_REQUEST).await["message"],
        EXPIRED
    );
    let res = finish_registration(&app, &token, &sign_in_id, created.clone(), None).await;
    assert_eq!(
        expect_error(res, StatusCode::BAD_REQUEST).await["message"],
        EXPIRED
    );
    // Each still finishes as its own kind.
    let res = finish_registration(&app, &token, &registration_id, created, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = finish_sign_in(&app, &sign_in_id, assertion).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// With `WEBAUTHN_CHALLENGE_TTL=1s`, a ceremony finished after 1.2 s is refused (400), the
/// registration's and the sign-in's.
async fn an_expired_challenge_is_refused(backend: Backend) {
    let (app, origin) = passkey_app(backend, &[("WEBAUTHN_CHALLENGE_TTL", "1s")]).await;
    let (_, token) = app.user("ada").await;
    let mut device = Authenticator::new(&origin);
    add_passkey(&app, &token, &mut device, Some(PASSWORD)).await;

    let mut late = Authenticator::new(&origin);
    let (registration_id, creation) = start_registration(&app, &token, Some(PASSWORD)).await;
    let (sign_in_id, request) = start_sign_in(&app).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let created = late.register(&creation);
    let res = finish_registration(&app, &token, &registration_id, created, None).await;
    assert_eq!(
        expect_error(res, StatusCode::BAD_REQUEST).await["message"],
        EXPIRED
    );
    let assertion = device.sign_in(&request);
    let res = finish_sign_in(&app, &sign_in_id, assertion).await;
    assert_eq!(
        expect_error(res, StatusCode::BAD_REQUEST).await["message"],
        EXPIRED
    );
    // In time, the same device still signs in.
    signs_in(&app, &mut device).await;
}

// ---------------------------------------------------------------------------------------------
// What the relying party checks.

/// User verification is required: an answer without the UV flag is refused at registration
/// (400) and at sign-in (401).
async fn an_answer_without_user_verification_is_refused(backend: Backend) {
    let (app, origin) = passkey_app(backend, &[]).await;
    let (_, token) = app.user("ada").await;

    let mut careless = Authenticator::new(&origin);
    careless.user_verified = false;
    let (challenge_id, options) = start_registration(&app, &token, Some(PASSWORD)).await;
    let credential = careless.register(&options);
    let res = finish_registration(&app, &token, &challenge_id, credential, None).await;
    expect_error(res, StatusCode::BAD_REQUEST).await;
    assert!(list(&app, &token).await.is_empty());

    let mut device = Authenticator::new(&origin);
    add_passkey(&app, &token, &mut device, Some(PASSWORD)).await;
    device.user_verified = false;
    refused(&app, &mut device).await;
    device.user_verified = true;
    signs_in(&app, &mut device).await;
}

/// The client data's origin must be an allowed one (not another port, not https for http) and
/// the authenticator data must hash the RP id `localhost`: otherwise 400 at registration, 401 at
/// sign-in.
async fn a_wrong_origin_or_rp_id_is_refused(backend: Backend) {
    let port = free_port();
    let (app, origin) = spawn_at(backend, port, &[]).await;
    let (_, token) = app.user("ada").await;
    let wrong_origins = [
        format!(
            "http://localhost:{}",
            if port == u16::MAX { port - 1 } else { port + 1 }
        ),
        format!("https://localhost:{port}"),
        "http://evil.example".to_string(),
    ];

    for wrong in &wrong_origins {
        let mut elsewhere = Authenticator::new(wrong);
        let (challenge_id, options) = start_registration(&app, &token, Some(PASSWORD)).await;
        let credential = elsewhere.register(&options);
        let res = finish_registration(&app, &token, &challenge_id, credential, None).await;
        expect_error(res, StatusCode::BAD_REQUEST).await;
    }
    let mut other_rp = Authenticator::new(&origin);
    other_rp.rp_id = Some("example.com".into());
    let (challenge_id, options) = start_registration(&app, &token, Some(PASSWORD)).await;
    let credential = other_rp.register(&options);
    let res = finish_registration(&app, &token, &challenge_id, credential, None).await;
    expect_error(res, StatusCode::BAD_REQUEST).await;
    assert!(list(&app, &token).await.is_empty());

    let mut device = Authenticator::new(&origin);
    add_passkey(&app, &token, &mut device, Some(PASSWORD)).await;
    for wrong in &wrong_origins {
        device.origin = wrong.clone();
        refused(&app, &mut device).await;
    }
    device.origin = origin.clone();
    device.rp_id = Some("example.com".into());
    refused(&app, &mut device).await;
    device.rp_id = Some("localhost".into());
    signs_in(&app, &mut device).await;
}

/// `WEBAUTHN_ORIGINS` may list an Android app's `android:apk-key-hash:<hash>`: an assertion from
/// that app (its origin in the client data) signs in; another app's hash is refused (401).
async fn an_android_app_origin_signs_in_when_listed(backend: Backend) {
    const APP_HASH: &str = "xT5ZucZJ9N7oq3j3awG8J0HjrHSgUBHBMZnkEDJ8hTM";
    const OTHER_HASH: &str = "q1Z4MkP0r9xA-tyVbq9rmlv0Wn3N8gGhq0ufoPgu0E4";
    let port = free_port();
    let android = format!("android:apk-key-hash:{APP_HASH}");
    let origins = format!("http://localhost:{port},{android}");
    let (app, origin) = spawn_at(backend, port, &[("WEBAUTHN_ORIGINS", origins.as_str())]).await;
    let (id, token) = app.user("ada").await;

    // Registered in the app, used on the web and in the app.
    let mut phone = Authenticator::new(&android);
    add_passkey(&app, &token, &mut phone, Some(PASSWORD)).await;
    let body = signs_in(&app, &mut phone).await;
    assert_eq!(body["data"]["user"]["id"], id.as_str());
    phone.origin = origin;
    signs_in(&app, &mut phone).await;

    phone.origin = format!("android:apk-key-hash:{OTHER_HASH}");
    refused(&app, &mut phone).await;
}

/// A signature counter that goes backwards (a cloned authenticator) is refused (401) and
/// recorded as `passkey.clone_suspected`. The passkey is not disabled: the stored counter stays
/// where it was, and an answer above it signs in again.
async fn a_counter_going_backwards_is_refused_and_recorded(backend: Backend) {
    let (app, origin) = passkey_app(backend, &[]).await;
    let (id, token) = app.user("ada").await;
    let mut device = Authenticator::new(&origin);
    add_passkey(&app, &token, &mut device, Some(PASSWORD)).await;
    signs_in(&app, &mut device).await; // counter 2
    signs_in(&app, &mut device).await; // counter 3

    device.counter = 2;
    refused(&app, &mut device).await;
    device.counter = 3; // equal is not forward either
    refused(&app, &mut device).await;
    let (_, admin) = app.user_with_role("auditor", "SUPER_ADMIN").await;
    let suspected = newest_event(&app, &admin, &id, "passkey.clone_suspected").await;
    assert!(suspected.is_object(), "passkey.clone_suspected recorded");
    let failed = newest_event(&app, &admin, &id, "login.failed").await;
    assert_eq!(failed["detail"]["reason"], "counter_went_back", "{failed}");

    device.counter = 4;
    signs_in(&app, &mut device).await;
}

/// An authenticator with no counter (always 0, as synced passkeys do) signs in every time.
async fn a_passkey_without_a_counter_signs_in_again_and_again(backend: Backend) {
    let (app, origin) = passkey_app(backend, &[]).await;
    let (_, token) = app.user("ada").await;
    let mut synced = Authenticator::new(&origin);
    synced.counter = 0;
    add_passkey(&app, &token, &mut synced, Some(PASSWORD)).await;
    for _ in 0..3 {
        signs_in(&app, &mut synced).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Failures.

/// With `LOGIN_LOCKOUT=2/30s`, an account with a passkey whose first sign-in failed (a bad
/// signature), a second past: the next failure locks it. Returns the server, the account's id
/// and its authenticator.
async fn one_failure_from_the_lockout(backend: Backend) -> (TestApp, String, Authenticator) {
    let (app, origin) = passkey_app(backend, &[("LOGIN_LOCKOUT", "2/30s")]).await;
    let (id, token) = app.user("ada").await;
    let mut device = Authenticator::new(&origin);
    add_passkey(&app, &token, &mut device, Some(PASSWORD)).await;

    device.bad_signature = true;
    refused(&app, &mut device).await;
    device.bad_signature = false;
    // The second attempt within the first second waits (backoff); after it, it counts.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    (app, id, device)
}

/// With `LOGIN_LOCKOUT=2/30s`, two failed assertions (a bad signature, then no user
/// verification) lock the account: the next good one is 429, and `login.locked` is recorded.
/// They count like wrong passwords: the password is locked out too.
async fn failed_passkey_sign_ins_count_towards_the_lockout(backend: Backend) {
    let (app, id, mut device) = one_failure_from_the_lockout(backend).await;
    device.user_verified = false;
    refused(&app, &mut device).await;
    device.user_verified = true;

    let res = sign_in(&app, &mut device).await;
    assert!(res.headers().get("retry-after").is_some(), "Retry-After");
    expect_error(res, StatusCode::TOO_MANY_REQUESTS).await;
    let login = json!({"email": "ada", "password": PASSWORD});
    let res = app.post("/api/v1/auth/login", Some(login), None).await;
    expect_error(res, StatusCode::TOO_MANY_REQUESTS).await;
    let (_, admin) = app.user_with_role("auditor", "SUPER_ADMIN").await;
    let kinds = event_types(&app, &admin, &id).await;
    assert!(kinds.iter().any(|k| k == "login.locked"), "{kinds:?}");
}

/// A counter going backwards is a failure like the others: with `LOGIN_LOCKOUT=2/30s`, a bad
/// signature and then a cloned counter lock the account (429), and that lock is recorded as
/// `login.locked` as every other lock is.
async fn a_lock_by_a_cloned_counter_is_recorded_like_any_other(backend: Backend) {
    let (app, id, mut device) = one_failure_from_the_lockout(backend).await;
    device.counter = 1; // the registration's: not forward
    refused(&app, &mut device).await;
    device.counter = 10;
    expect_error(
        sign_in(&app, &mut device).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;

    let (_, admin) = app.user_with_role("auditor", "SUPER_ADMIN").await;
    let kinds = event_types(&app, &admin, &id).await;
    assert!(
        kinds.iter().any(|k| k == "passkey.clone_suspected"),
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "login.locked"), "{kinds:?}");
}

/// Whatever is wrong with an assertion, the answer is the same 401 `Invalid credentials`: a
/// credential the server never saw, a bad signature, a known credential sent with another
/// account's user handle, no user handle at all.
async fn every_refused_assertion_gets_the_same_answer(backend: Backend) {
    let (app, origin) = passkey_app(backend, &[]).await;
    let (_, token) = app.user("ada").await;
    let (_, bob_token) = app.user("bob").await;
    let mut device = Authenticator::new(&origin);
    add_passkey(&app, &token, &mut device, Some(PASSWORD)).await;
    let mut bobs = Authenticator::new(&origin);
    add_passkey(&app, &bob_token, &mut bobs, Some(PASSWORD)).await;

    let mut answers = Vec::new();
    let mut stranger = device.impostor();
    answers.push(read(sign_in(&app, &mut stranger).await).await);
    device.bad_signature = true;
    answers.push(read(sign_in(&app, &mut device).await).await);
    device.bad_signature = false;
    let ada_handle = device.user_handle.clone();
    device.user_handle = bobs.user_handle.clone();
    answers.push(read(sign_in(&app, &mut device).await).await);
    device.user_handle = ada_handle;

    let (challenge_id, options) = start_sign_in(&app).await;
    let mut credential = device.sign_in(&options);
    credential["response"]["userHandle"] = Value::Null;
    answers.push(read(finish_sign_in(&app, &challenge_id, credential).await).await);

    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["message"], INVALID, "{body}");
        assert_eq!(body, &answers[0].1, "the same body");
    }
    signs_in(&app, &mut device).await;
}

// ---------------------------------------------------------------------------------------------
// Removing.

/// A password account removes its only passkey with its password (403 without it); the
/// password still signs in. `passkey.removed` is recorded.
async fn a_password_account_removes_its_passkey_with_its_password(backend: Backend) {
    let (app, origin) = passkey_app(backend, &[]).await;
    let (id, token) = app.user("ada").await;
    let mut device = Authenticator::new(&origin);
    let passkey_id = id_of(&add_passkey(&app, &token, &mut device, Some(PASSWORD)).await);

    let res = remove(&app, &token, &passkey_id, None).await;
    expect_error(res, StatusCode::FORBIDDEN).await;
    let res = remove(&app, &token, &passkey_id, Some("wrong password")).await;
    expect_error(res, StatusCode::BAD_REQUEST).await;
    let (status, body) = read(remove(&app, &token, &passkey_id, Some(PASSWORD)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert!(list(&app, &token).await.is_empty());
    let res = remove(&app, &token, &passkey_id, Some(PASSWORD)).await;
    expect_error(res, StatusCode::NOT_FOUND).await;
    app.login("ada", PASSWORD).await;

    let (_, admin) = app.user_with_role("auditor", "SUPER_ADMIN").await;
    let kinds = event_types(&app, &admin, &id).await;
    assert!(kinds.iter().any(|k| k == "passkey.removed"), "{kinds:?}");
}

/// An account with no password (made by an email sign-in) registers a passkey within
/// `REAUTH_WINDOW` with no password; that passkey is its last way to sign in and cannot be
/// removed (409, by its owner or an admin) until a second one is registered; then the first
/// goes and the second is the last.
async fn the_last_way_to_sign_in_cannot_be_removed(backend: Backend) {
    let port = free_port();
    let (port_text, origin) = (port.to_string(), format!("http://localhost:{port}"));
    let vars = [
        ("PORT", port_text.as_str()),
        ("PUBLIC_URL", origin.as_str()),
    ];
    let Some((app, mail)) = mail_app(backend, &vars).await else {
        return;
    };
    let email = unique_address("passwordless");
    ask_for_mail(&app, "/api/v1/auth/email/sign-in/start", &email).await;
    let sent = mail.latest(&email, "sign-in link").await;
    let body = json!({"email": email, "code": sent.code()});
    let (status, body) = read(
        app.post("/api/v1/auth/email/sign-in", Some(body), None)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["has_password"], false);
    let id = body["data"]["user"]["id"].as_str().unwrap().to_string();
    let token = body["data"]["token"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let mut first = Authenticator::new(&origin);
    let first_id = id_of(&add_passkey(&app, &token, &mut first, None).await);
    let body = expect_error(
        remove(&app, &token, &first_id, None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("last way"),
        "{body}"
    );
    let (_, admin) = app.user_with_role("auditor", "SUPER_ADMIN").await;
    let admin_path = format!("/api/v1/admin/{id}/passkeys/{first_id}");
    expect_error(
        app.delete(&admin_path, Some(&admin)).await,
        StatusCode::CONFLICT,
    )
    .await;
    signs_in(&app, &mut first).await;

    let mut second = Authenticator::new(&origin);
    let second_id = id_of(&add_passkey(&app, &token, &mut second, None).await);
    let (status, body) = read(remove(&app, &token, &first_id, None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    expect_error(
        remove(&app, &token, &second_id, None).await,
        StatusCode::CONFLICT,
    )
    .await;
    let listed = list(&app, &token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], second_id.as_str());
    refused(&app, &mut first).await;
    signs_in(&app, &mut second).await;
}

/// Admins list a user's passkeys and remove one (`passkey.removed`; a password account keeps
/// its password). A normal user is 403 there, an unknown user 404, and another user's passkey
/// is 404 through one's own routes.
async fn admins_list_and_remove_a_users_passkeys(backend: Backend) {
    let (app, origin) = passkey_app(backend, &[]).await;
    let (id, token) = app.user("ada").await;
    let (_, bob) = app.user("bob").await;
    let (_, admin) = app.user_with_role("root", "SUPER_ADMIN").await;
    let mut device = Authenticator::new(&origin);
    let passkey_id = id_of(&add_passkey(&app, &token, &mut device, Some(PASSWORD)).await);
    let path = format!("/api/v1/admin/{id}/passkeys");
    let one = format!("{path}/{passkey_id}");

    expect_error(app.get(&path, Some(&bob)).await, StatusCode::FORBIDDEN).await;
    expect_error(app.delete(&one, Some(&bob)).await, StatusCode::FORBIDDEN).await;
    let unknown = format!("/api/v1/admin/{}/passkeys", uuid::Uuid::new_v4());
    expect_error(app.get(&unknown, Some(&admin)).await, StatusCode::NOT_FOUND).await;
    let unknown_one = format!("{unknown}/{passkey_id}");
    expect_error(
        app.delete(&unknown_one, Some(&admin)).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Not bob's: 404 to rename or remove through his own routes.
    expect_error(
        rename(&app, &bob, &passkey_id, "mine now").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_error(
        remove(&app, &bob, &passkey_id, Some(PASSWORD)).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let (status, body) = read(app.get(&path, Some(&admin)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"][0]["id"], passkey_id.as_str());
    assert_eq!(body["data"][0]["name"], "Passkey");

    let (status, body) = read(app.delete(&one, Some(&admin)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    expect_error(app.delete(&one, Some(&admin)).await, StatusCode::NOT_FOUND).await;
    let (_, body) = read(app.get(&path, Some(&admin)).await).await;
    assert_eq!(body["data"], json!([]));
    let removed = newest_event(&app, &admin, &id, "passkey.removed").await;
    assert!(removed.is_object(), "passkey.removed recorded");
    app.login("ada", PASSWORD).await;
}

/// `PUBLIC_URL` with an IP address and no `WEBAUTHN_RP_ID`: the ceremonies answer 503 naming
/// `WEBAUTHN_RP_ID`; the password login and everything else work.
async fn passkeys_are_off_with_an_ip_address_as_rp_id(backend: Backend) {
    let port = free_port();
    let (port_text, public) = (port.to_string(), format!("http://127.0.0.1:{port}"));
    let vars = [
        ("PORT", port_text.as_str()),
        ("PUBLIC_URL", public.as_str()),
    ];
    let app = TestApp::spawn_with(backend, &vars).await;
    let (_, token) = app.user("ada").await;

    let mut answers = Vec::new();
    let res = try_start_registration(&app, &token, Some(PASSWORD)).await;
    answers.push(expect_error(res, StatusCode::SERVICE_UNAVAILABLE).await);
    let res = app.post(LOGIN_START, None, None).await;
    answers.push(expect_error(res, StatusCode::SERVICE_UNAVAILABLE).await);
    // Well-shaped answers to made-up options: the finishes are off too.
    let mut device = Authenticator::new(&public);
    let creation = json!({"challenge": "AAAA", "rp": {"id": "127.0.0.1"}, "user": {"id": "AAAA"}});
    let credential = device.register(&creation);
    let res = finish_registration(&app, &token, "whatever", credential, None).await;
    answers.push(expect_error(res, StatusCode::SERVICE_UNAVAILABLE).await);
    let assertion = device.sign_in(&json!({"challenge": "AAAA", "rpId": "127.0.0.1"}));
    let res = finish_sign_in(&app, "whatever", assertion).await;
    answers.push(expect_error(res, StatusCode::SERVICE_UNAVAILABLE).await);

    // Nothing else stops; the list needs no relying party.
    app.login("ada", PASSWORD).await;
    let (status, _) = read(app.get("/api/v1/user", Some(&token)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list(&app, &token).await.is_empty());

    // The operator is told what to set.
    for body in &answers {
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("WEBAUTHN_RP_ID"), "{body}");
    }
}

/// A removed passkey no longer signs in (401), like one never registered.
async fn a_removed_passkey_no_longer_signs_in(backend: Backend) {
    let (app, origin) = passkey_app(backend, &[]).await;
    let (_, token) = app.user("ada").await;
    let mut device = Authenticator::new(&origin);
    let passkey_id = id_of(&add_passkey(&app, &token, &mut device, Some(PASSWORD)).await);
    signs_in(&app, &mut device).await;
    let res = remove(&app, &token, &passkey_id, Some(PASSWORD)).await;
    assert_eq!(res.status(), StatusCode::OK);
    refused(&app, &mut device).await;
}

/// A credential that is no WebAuthn credential is 422 naming `credential`; a name over 64
/// characters is 422 naming `name`, at registration and at renaming (64 are fine).
async fn malformed_credentials_and_long_names_are_422(backend: Backend) {
    let (app, origin) = passkey_app(backend, &[]).await;
    let (_, token) = app.user("ada").await;
    let blames = |err: &Value, field: &str| {
        let details = err["details"].as_array().expect("details");
        assert!(
            details.iter().any(|d| d["loc"] == json!(["body", field])),
            "{field}: {err}"
        );
    };

    let (challenge_id, options) = start_registration(&app, &token, Some(PASSWORD)).await;
    for junk in [json!({"id": 5}), json!("credential"), json!({})] {
        let res = finish_registration(&app, &token, &challenge_id, junk.clone(), None).await;
        blames(
            &expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await,
            "credential",
        );
        let res = finish_sign_in(&app, &challenge_id, junk).await;
        blames(
            &expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await,
            "credential",
        );
    }
    // A registration's answer where a sign-in's is expected is no sign-in credential.
    let mut device = Authenticator::new(&origin);
    let credential = device.register(&options);
    let (sign_in_id, _) = start_sign_in(&app).await;
    let res = finish_sign_in(&app, &sign_in_id, credential.clone()).await;
    blames(
        &expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await,
        "credential",
    );

    let long = "x".repeat(65);
    let res =
        finish_registration(&app, &token, &challenge_id, credential.clone(), Some(&long)).await;
    blames(
        &expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await,
        "name",
    );
    // The challenge was not spent by the refused name.
    let name = "é".repeat(64);
    let res = finish_registration(&app, &token, &challenge_id, credential, Some(&name)).await;
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["name"], name.as_str());
    let passkey_id = id_of(&body["data"]);
    for bad in [long.as_str(), "", "   ", "tab\there"] {
        let res = rename(&app, &token, &passkey_id, bad).await;
        blames(
            &expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await,
            "name",
        );
    }
}
