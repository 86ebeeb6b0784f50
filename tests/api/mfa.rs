//! The second factor (docs/API.md, "Second factor") end to end, with codes computed in the test from
//! the secret the server hands out, as an authenticator app would.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use totp_rs::{Algorithm, TOTP};

use crate::helpers::{Backend, PASSWORD, TestApp, event_types, expect_error, read};
use crate::on_both_stores;

/// The code of `secret` (base32) for the 30-second step `offset` steps from now.
pub(crate) fn code(secret: &str, offset: i64) -> String {
    let bytes = base32_decode(secret);
    let totp = TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    totp.generate((now + offset * 30) as u64)
}

fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u32, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let index = ALPHABET.iter().position(|a| *a == c).expect("base32") as u32;
        value = (value << 5) | index;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
            value &= (1 << bits) - 1;
        }
    }
    out
}

/// The claims of a JWT, unchecked (the server checks them; the test reads them).
pub(crate) fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Enrols and confirms a factor for the signed-in `token`; returns (secret, recovery codes).
pub(crate) async fn enable(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let body = json!({"current_password": PASSWORD});
    let (status, enrolled) = read(
        app.post("/api/v1/user/mfa/totp", Some(body), Some(token))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{enrolled}");
    let secret = enrolled["data"]["secret"].as_str().unwrap().to_string();
    let (status, confirmed) = read(
        app.post(
            "/api/v1/user/mfa/totp/confirm",
            Some(json!({"code": code(&secret, 0)})),
            Some(token),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let codes = confirmed["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (secret, codes)
}

/// The first step of a login that needs the factor: its `mfa_token`.
async fn first_step(app: &TestApp, login: &str) -> String {
    let res = app
        .post(
            "/api/v1/auth/login",
            Some(json!({"email": login, "password": PASSWORD})),
            None,
        )
        .await;
    assert!(
        res.headers().get("set-cookie").is_none(),
        "no cookie before the second factor"
    );
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(data["mfa_required"], true, "{body}");
    assert_eq!(data["expires_in"], 300);
    assert_eq!(data["methods"], json!(["totp", "recovery_code"]));
    assert!(data.get("token").is_none(), "no tokens: {body}");
    data["mfa_token"].as_str().unwrap().to_string()
}

async fn second_step(app: &TestApp, body: Value) -> (StatusCode, Value) {
    read(app.post("/api/v1/auth/mfa/verify", Some(body), None).await).await
}

async fn enrol_confirm_and_log_in_with_either_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ada").await;
    let elsewhere = app.login("ada", PASSWORD).await;

    let wrong = json!({"current_password": "not my password"});
    let res = app
        .post("/api/v1/user/mfa/totp", Some(wrong), Some(&token))
        .await;
    expect_error(res, StatusCode::BAD_REQUEST).await;
    let (status, enrolled) = read(
        app.post(
            "/api/v1/user/mfa/totp",
            Some(json!({"current_password": PASSWORD})),
            Some(&token),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{enrolled}");
    let secret = enrolled["data"]["secret"].as_str().unwrap().to_string();
    let uri = enrolled["data"]["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    assert_eq!(enrolled["data"]["expires_in"], 600);
    // Pending: a login still needs no second factor.
    let (_, me) = read(app.get("/api/v1/user/", Some(&token)).await).await;
    assert_eq!(me["data"]["mfa_enabled"], false);

    let bad = app
        .post(
            "/api/v1/user/mfa/totp/confirm",
            Some(json!({"code": "000000"})),
            Some(&token),
        )
        .await;
    expect_error(bad, StatusCode::BAD_REQUEST).await;
    let (status, confirmed) = read(
        app.post(
            "/api/v1/user/mfa/totp/confirm",
            Some(json!({"code": code(&secret, 0)})),
            Some(&token),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let recovery: Vec<String> = confirmed["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    // The other session ended; this one lives on and says so.
    expect_error(
        app.get("/api/v1/user/", Some(&elsewhere)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let (_, me) = read(app.get("/api/v1/user/", Some(&token)).await).await;
    assert_eq!(me["data"]["mfa_enabled"], true);

    // Login by TOTP (the next step: the confirming code is spent), as a login answers.
    let mfa_token = first_step(&app, "ada").await;
    let res = app
        .post(
            "/api/v1/auth/mfa/verify",
            Some(json!({"mfa_token": mfa_token, "code": code(&secret, 1)})),
            None,
        )
        .await;
    assert!(
        res.headers().get("set-cookie").is_some(),
        "the refresh cookie"
    );
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["data"]["token"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(claims(&access)["amr"], json!(["pwd", "otp"]));
    assert_eq!(body["data"]["user"]["username"], "ada");
    assert_eq!(
        app.get("/api/v1/user/", Some(&access)).await.status(),
        StatusCode::OK
    );
    // The session was opened with the factor: a refresh keeps saying so.
    let (status, refreshed) = read(app.post("/api/v1/auth/refresh", None, None).await).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let renewed = refreshed["data"]["token"]["access_token"].as_str().unwrap();
    assert_eq!(claims(renewed)["amr"], json!(["pwd", "otp"]));
    let (_, sessions) = read(app.get("/api/v1/user/sessions", Some(&access)).await).await;
    assert!(
        sessions["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["ip_address"] == "127.0.0.1")
    );

    // A native client opts into the refresh token in the body, as at login; it rotates as ever.
    let mfa_token_native = first_step(&app, "ada").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/mfa/verify"))
        .header("x-refresh-token-transport", "body")
        .json(&json!({"mfa_token": mfa_token_native, "recovery_code": recovery[9]}))
        .send()
        .await
        .unwrap();
    let (status, native) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{native}");
    let refresh = native["data"]["token"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(claims(&refresh)["amr"], json!(["pwd", "otp"]));
    let (status, rotated) = read(
        app.post(
            "/api/v1/auth/refresh",
            Some(json!({"refresh_token": refresh})),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert!(rotated["data"]["token"]["refresh_token"].is_string());

    // The mfa_token is single use.
    let (status, _) = second_step(
        &app,
        json!({"mfa_token": mfa_token, "code": code(&secret, 1)}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Login by recovery code: once.
    let mfa_token = first_step(&app, "ada").await;
    let (status, body) = second_step(
        &app,
        json!({"mfa_token": mfa_token, "recovery_code": recovery[0].to_uppercase()}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mfa_token = first_step(&app, "ada").await;
    let (status, _) = second_step(
        &app,
        json!({"mfa_token": mfa_token, "recovery_code": recovery[0]}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a recovery code works once"
    );

    let (_, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let id = me["data"]["id"].as_str().unwrap();
    let types = event_types(&app, &root, id).await;
    for kind in [
        "mfa.enabled",
        "mfa.recovery_code_used",
        "mfa.failed",
        "login.succeeded",
    ] {
        assert!(types.iter().any(|t| t == kind), "{kind} in {types:?}");
    }
}

async fn a_code_works_once_even_when_two_race(backend: Backend) {
    // A budget wide enough that the refusals below stay 401s (the lockout has its own test).
    let app = TestApp::spawn_with(backend, &[("LOGIN_LOCKOUT", "50/1m")]).await;
    let (_, token) = app.user("bob").await;
    let (secret, _) = enable(&app, &token).await;

    // Two second steps at once with one code: one session, one refusal.
    let mfa_token = first_step(&app, "bob").await;
    let next = code(&secret, 1);
    let racers = (0..2).map(|_| second_step(&app, json!({"mfa_token": mfa_token, "code": next})));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );

    // The code, and any of an earlier step, is spent for good.
    for spent in [next, code(&secret, 0), code(&secret, -1)] {
        let again = first_step(&app, "bob").await;
        let (status, _) = second_step(&app, json!({"mfa_token": again, "code": spent})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a replayed code");
    }
}

async fn five_tries_and_the_account_lockout(backend: Backend) {
    // Backoff from the 10th failure, a lock at the 20th.
    let app = TestApp::spawn_with(backend, &[("LOGIN_LOCKOUT", "20/1m")]).await;
    let (_, token) = app.user("cat").await;
    let (secret, _) = enable(&app, &token).await;

    // Five wrong codes kill the mfa_token: the right one is refused after them.
    let mfa_token = first_step(&app, "cat").await;
    for _ in 0..5 {
        let (status, _) =
            second_step(&app, json!({"mfa_token": mfa_token, "code": "000000"})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = second_step(
        &app,
        json!({"mfa_token": mfa_token, "code": code(&secret, 1)}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "dead after its tries: {body}"
    );

    // Every wrong code drew on the account's budget (and a correct password, with a factor,
    // clears nothing): a few more and the account answers 429, at either step.
    let mut refused = None;
    for _ in 0..10 {
        let res = app
            .post(
                "/api/v1/auth/login",
                Some(json!({"email": "cat", "password": PASSWORD})),
                None,
            )
            .await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some("password");
            break;
        }
        let (_, body) = read(res).await;
        let t = body["data"]["mfa_token"].as_str().unwrap().to_string();
        let (status, _) = second_step(&app, json!({"mfa_token": t, "code": "000000"})).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some("code");
            break;
        }
    }
    assert!(
        refused.is_some(),
        "wrong codes count against the account's lockout"
    );

    // Junk: 401 or 422, never 5xx.
    for junk in ["", "x", "not-a-token-at-all-but-43-characters-long-x"] {
        let (status, _) = second_step(&app, json!({"mfa_token": junk, "code": "123456"})).await;
        assert!(
            matches!(
                status,
                StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
            ),
            "{junk}: {status}"
        );
    }
    let res = app
        .post(
            "/api/v1/auth/mfa/verify",
            Some(json!({"mfa_token": "x"})),
            None,
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
}

async fn disable_regenerate_and_the_admin_reset(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = app.user("dan").await;
    let (secret, old_codes) = enable(&app, &token).await;

    // New recovery codes: the old ones stop working.
    let regen = json!({"current_password": PASSWORD, "code": code(&secret, 1)});
    let (status, body) = read(
        app.post("/api/v1/user/mfa/recovery-codes", Some(regen), Some(&token))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new_codes: Vec<String> = body["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let mfa_token = first_step(&app, "dan").await;
    let (status, _) = second_step(
        &app,
        json!({"mfa_token": mfa_token, "recovery_code": old_codes[1]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Disable with a recovery code: logins need no second factor again.
    let off = json!({"current_password": PASSWORD, "recovery_code": new_codes[0]});
    let (status, body) = read(
        app.client
            .delete(app.url("/api/v1/user/mfa/totp"))
            .bearer_auth(&token)
            .json(&off)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let plain = app.login("dan", PASSWORD).await;
    assert_eq!(claims(&plain)["amr"], json!(["pwd"]), "a password alone");

    // Again, then lost: an admin removes it, and every session of the user ends.
    let (_, _) = enable(&app, &plain).await;
    let (_, deputy) = app.user_with_role("deputy", "ADMIN").await;
    let (root_id, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let res = app
        .delete(&format!("/api/v1/admin/{root_id}/mfa"), Some(&deputy))
        .await;
    expect_error(res, StatusCode::FORBIDDEN).await;
    let res = app
        .delete(&format!("/api/v1/admin/{id}/mfa"), Some(&deputy))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    expect_error(
        app.get("/api/v1/user/", Some(&plain)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let after = app.login("dan", PASSWORD).await;
    let (_, me) = read(app.get("/api/v1/user/", Some(&after)).await).await;
    assert_eq!(me["data"]["mfa_enabled"], false);
    // Nothing to disable or regenerate now: 404, and no failed attempt is recorded.
    let off = json!({"current_password": PASSWORD, "code": "123456"});
    let res = app
        .client
        .delete(app.url("/api/v1/user/mfa/totp"))
        .bearer_auth(&after)
        .json(&off)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND).await;
    let res = app
        .post("/api/v1/user/mfa/recovery-codes", Some(off), Some(&after))
        .await;
    expect_error(res, StatusCode::NOT_FOUND).await;
    let res = app
        .delete(&format!("/api/v1/admin/{id}/mfa"), Some(&root))
        .await;
    expect_error(res, StatusCode::NOT_FOUND).await;

    let types = event_types(&app, &root, &id).await;
    for kind in [
        "mfa.disabled",
        "mfa.reset_by_admin",
        "mfa.recovery_codes_regenerated",
    ] {
        assert!(types.iter().any(|t| t == kind), "{kind} in {types:?}");
    }
    // The old recovery code tried at login is the only failed attempt.
    let failures = types.iter().filter(|t| *t == "mfa.failed").count();
    assert_eq!(failures, 1, "{types:?}");
}

/// The secret is sealed at rest (no plaintext in the stored record), and a new SECRET_KEY leaves
/// stored factors readable (ENCRYPTION_KEY is a key of its own).
async fn the_secret_is_sealed_and_outlives_a_new_secret_key(backend: Backend) {
    let app = TestApp::spawn(backend.clone()).await;
    let (id, token) = app.user("eve").await;
    let (secret, _) = enable(&app, &token).await;
    let raw = raw_factor(&app, &id).await;
    let plain_bytes = base32_decode(&secret);
    assert!(!raw.contains(&secret), "{raw}");
    assert!(raw.contains("v1."), "sealed: {raw}");
    let hex: String = plain_bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!raw.contains(&hex));

    // The same store and DATA_DIR (its development ENCRYPTION_KEY), another SECRET_KEY.
    let mut vars: Vec<(&str, &str)> = vec![(
        "SECRET_KEY",
        "another-secret-key-that-is-long-enough-987654",
    )];
    vars.push(("DATA_DIR", app.vars.get("DATA_DIR").unwrap()));
    if let Some(name) = app.vars.get("MONGODB_NAME") {
        vars.push(("MONGODB_NAME", name));
    }
    let restarted = TestApp::spawn_with(backend, &vars).await;
    let mfa_token = first_step(&restarted, "eve").await;
    let (status, body) = second_step(
        &restarted,
        json!({"mfa_token": mfa_token, "code": code(&secret, 1)}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The stored factor record as text, read around the server.
async fn raw_factor(app: &TestApp, user_id: &str) -> String {
    match (app.vars.get("MONGO_URL"), app.vars.get("MONGODB_NAME")) {
        (Some(url), Some(db)) => {
            let client = mongodb::Client::with_uri_str(url).await.unwrap();
            let doc = client
                .database(db)
                .collection::<mongodb::bson::Document>("mfa_factors")
                .find_one(mongodb::bson::doc! { "_id": user_id })
                .await
                .unwrap()
                .expect("the factor");
            client.shutdown().await;
            doc.to_string()
        }
        _ => {
            let path = std::path::Path::new(app.vars.get("DATA_DIR").unwrap()).join("authkit.db");
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.query_row(
                "SELECT user_id || ' ' || secret FROM mfa_factors WHERE user_id = ?1",
                [user_id],
                |row| row.get(0),
            )
            .unwrap()
        }
    }
}

on_both_stores!(
    enrol_confirm_and_log_in_with_either_code,
    a_code_works_once_even_when_two_race,
    five_tries_and_the_account_lockout,
    disable_regenerate_and_the_admin_reset,
    the_secret_is_sealed_and_outlives_a_new_secret_key,
);
