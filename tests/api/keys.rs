//! Signing keys and JWKS (docs/API.md, "Signing keys and JWKS"): EdDSA access tokens that another
//! party's library verifies from the JWKS alone, the algorithm-confusion and kid cases, rotation
//! across two instances with the old key's tokens accepted until they expire, and the switch
//! from HS256 that logs nobody out.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_stores;

on_both_stores!(
    eddsa_tokens_verify_offline_from_the_jwks,
    forged_and_confused_tokens_are_refused,
    unknown_kids_reload_the_keys_at_most_once_per_gap,
    keys_rotate_across_two_instances_and_old_tokens_live_until_they_expire,
    a_leaked_key_is_revoked_at_once_across_two_instances,
    switching_from_hs256_logs_nobody_out,
    rotation_needs_eddsa_and_the_star_permission,
    the_example_service_accepts_our_tokens_through_a_rotation,
);

/// 32 bytes, hex: every instance of a deployment shares it, as it shares SECRET_KEY.
pub const ENCRYPTION_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// The decoded JSON of one segment of a JWT (0: header, 1: claims).
pub fn segment(token: &str, n: usize) -> Value {
    let part = token.split('.').nth(n).expect("a JWT segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

pub fn kid_of(token: &str) -> String {
    segment(token, 0)["kid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub async fn jwks(app: &TestApp) -> JwkSet {
    let res = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn kids(set: &JwkSet) -> Vec<String> {
    set.keys
        .iter()
        .map(|k| k.common.key_id.clone().unwrap())
        .collect()
}

/// A token signed with any Ed25519 seed under any kid (a forger's).
fn forged_eddsa(kid: &str, claims: &Value, seed: [u8; 32]) -> String {
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = ed25519_dalek::SigningKey::from_bytes(&seed).sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

fn hs256(claims: &Value, secret: &[u8], kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn eddsa_vars<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut vars = vec![("JWT_ALG", "EdDSA"), ("ENCRYPTION_KEY", ENCRYPTION_KEY)];
    vars.extend_from_slice(extra);
    vars
}

async fn status_with(app: &TestApp, token: &str) -> StatusCode {
    app.get("/api/v1/user", Some(token)).await.status()
}

async fn eddsa_tokens_verify_offline_from_the_jwks(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &eddsa_vars(&[
            ("JWT_ISSUER", "https://auth.example"),
            ("JWT_AUDIENCE", "app"),
        ]),
    )
    .await;
    let (id, access) = app.user("offline").await;

    let header = segment(&access, 0);
    assert_eq!(
        (header["alg"].as_str(), header["typ"].as_str()),
        (Some("EdDSA"), Some("JWT"))
    );
    let res = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(
        res.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=300"
    );
    let set: JwkSet = res.json().await.unwrap();
    assert_eq!(set.keys.len(), 2, "the active key and the next one");
    let raw: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    for key in raw["keys"].as_array().unwrap() {
        assert_eq!(
            (key["kty"].as_str(), key["crv"].as_str()),
            (Some("OKP"), Some("Ed25519"))
        );
        assert_eq!(
            (key["alg"].as_str(), key["use"].as_str()),
            (Some("EdDSA"), Some("sig"))
        );
        assert!(key.get("d").is_none(), "no private part: {key}");
    }

    // A third party's library verifies the token with the published key alone.
    let jwk = set
        .find(&kid_of(&access))
        .expect("the token's kid is published");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["https://auth.example"]);
    validation.set_audience(&["app"]);
    let decoded =
        jsonwebtoken::decode::<Value>(&access, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .expect("verifies offline");
    assert_eq!(decoded.claims["uid"], id.as_str());
    assert_eq!(decoded.claims["type"], "access");

    // The server accepts it (twice: the second time from its verified-token cache), and a
    // refresh gives another EdDSA token; the refresh token itself is HS256, read only here.
    for _ in 0..2 {
        assert_eq!(status_with(&app, &access).await, StatusCode::OK);
    }
    let res = app.post("/api/v1/auth/refresh", None, None).await;
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let renewed = body["data"]["token"]["access_token"].as_str().unwrap();
    assert_eq!(segment(renewed, 0)["alg"], "EdDSA");
    assert_eq!(status_with(&app, renewed).await, StatusCode::OK);

    let res = app.get("/.well-known/openid-configuration", None).await;
    let (status, discovery) = read(res).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(discovery["issuer"], "https://auth.example");
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
    assert!(
        discovery["jwks_uri"]
            .as_str()
            .unwrap()
            .ends_with("/.well-known/jwks.json")
    );

    // Without JWT_ISSUER there is no discovery document; with HS256 the JWKS is empty.
    let hs = TestApp::spawn(Backend::Sqlite).await;
    expect_error(
        hs.get("/.well-known/openid-configuration", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(jwks(&hs).await.keys.is_empty());
}

async fn forged_and_confused_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, &eddsa_vars(&[])).await;
    let (_, access) = app.user("target").await;
    let claims = segment(&access, 1);
    let mut later = claims.clone();
    later["exp"] = json!(claims["exp"].as_i64().unwrap() + 60);
    let kid = kid_of(&access);
    let raw: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let public = raw["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()
        .clone();
    let x = public["x"].as_str().unwrap();
    let x_bytes = URL_SAFE_NO_PAD.decode(x).unwrap();

    let mut refused = vec![
        // HS256 "signed" with our public key, in every form a confused verifier might use.
        (
            "HS256 under the raw public key",
            hs256(&claims, &x_bytes, Some(&kid)),
        ),
        ("HS256 under x", hs256(&claims, x.as_bytes(), Some(&kid))),
        (
            "HS256 under the JWK",
            hs256(&claims, public.to_string().as_bytes(), None),
        ),
        // The HS256 secret is right, but HS256 access tokens are over once keys exist.
        (
            "HS256 under SECRET_KEY after the switch",
            hs256(
                &later,
                b"test-secret-key-that-is-long-enough-0123456789",
                None,
            ),
        ),
        (
            "an unknown kid",
            forged_eddsa("no-such-kid", &claims, [9; 32]),
        ),
        ("our kid, another key", forged_eddsa(&kid, &claims, [9; 32])),
    ];
    let (header, payload, _) = {
        let mut parts = access.split('.');
        (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        )
    };
    let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    refused.push(("alg none", format!("{none}.{payload}.")));
    let no_kid = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"JWT"}"#);
    let signature = access.rsplit('.').next().unwrap();
    refused.push((
        "EdDSA without a kid",
        format!("{no_kid}.{payload}.{signature}"),
    ));
    let crit = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"EdDSA","kid":"{kid}","crit":["x"]}}"#));
    refused.push(("crit", format!("{crit}.{payload}.{signature}")));
    let mut other = claims.clone();
    other["uid"] = json!("someone-else");
    let swapped = URL_SAFE_NO_PAD.encode(other.to_string());
    refused.push((
        "claims swapped under a real signature",
        format!("{header}.{swapped}.{signature}"),
    ));

    for (what, token) in &refused {
        let body = expect_error(
            app.get("/api/v1/user", Some(token)).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(body["message"], "Invalid or expired token", "{what}");
    }
    assert_eq!(
        status_with(&app, &access).await,
        StatusCode::OK,
        "the real one still works"
    );
}

/// The count of one store operation in /metrics.
async fn store_operations(app: &TestApp, operation: &str) -> u64 {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    let prefix = format!(r#"authkit_store_operations_total{{operation="{operation}"}} "#);
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

async fn unknown_kids_reload_the_keys_at_most_once_per_gap(backend: Backend) {
    let app = TestApp::spawn_with(backend, &eddsa_vars(&[])).await;
    let (_, access) = app.user("flood").await;
    let claims = segment(&access, 1);
    let before = store_operations(&app, "list_signing_keys").await;
    for n in 0..40 {
        let token = forged_eddsa(&format!("kid-{n}"), &claims, [n; 32]);
        assert_eq!(status_with(&app, &token).await, StatusCode::UNAUTHORIZED);
    }
    let reloads = store_operations(&app, "list_signing_keys").await - before;
    assert!(
        reloads <= 2,
        "40 unknown kids in well under 5 s caused {reloads} reloads"
    );
}

/// Two EdDSA instances on one store (one SQLite file, or one MongoDB database); the directory
/// lives as long as the returned guard.
async fn two_instances(
    backend: Backend,
    extra: &[(&str, &str)],
) -> (TestApp, TestApp, tempfile::TempDir) {
    let shared = tempfile::tempdir().unwrap();
    let data_dir = shared.path().join("data").display().to_string();
    let db_name = format!("k{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
    let mut vars = eddsa_vars(extra);
    match backend {
        Backend::Sqlite => vars.push(("DATA_DIR", &data_dir)),
        Backend::Mongo(_) => vars.push(("MONGODB_NAME", &db_name)),
    }
    let a = TestApp::spawn_with(backend.clone(), &vars).await;
    let b = TestApp::spawn_with(backend, &vars).await;
    (a, b, shared)
}

/// Two instances on one store. Times are short so the test runs in seconds: JWKS_MAX_AGE=2s
/// (so each instance reloads every 2 s, and a next key may sign 4 s after it was published) and
/// 6 s access tokens (so a retired key is published 8 s more).
async fn keys_rotate_across_two_instances_and_old_tokens_live_until_they_expire(backend: Backend) {
    let (a, b, _shared) = two_instances(
        backend,
        &[("JWKS_MAX_AGE", "2s"), ("ACCESS_TOKEN_TTL", "6s")],
    )
    .await;
    let (_, root) = a.user_with_role("root", "SUPER_ADMIN").await;

    // The next key was published a moment ago: too new to sign.
    let body = expect_error(
        a.post("/api/v1/admin/keys/rotate", None, Some(&root)).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("rotate again in"),
        "{body}"
    );

    a.register("holder").await;
    let old = a.login("holder", PASSWORD).await;
    let old_kid = kid_of(&old);
    let published_before = kids(&jwks(&b).await);
    assert_eq!(status_with(&b, &old).await, StatusCode::OK);

    // Rotate as soon as the next key may sign.
    let started = Instant::now();
    let rotation = loop {
        let (status, body) =
            read(a.post("/api/v1/admin/keys/rotate", None, Some(&root)).await).await;
        if status == StatusCode::OK {
            break body["data"].clone();
        }
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never rotated: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let rotated_at = Instant::now();
    let new_kid = rotation["active_kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    assert!(
        published_before.contains(&new_kid),
        "the new key was in the JWKS before it signed: {published_before:?}"
    );

    // A signs with the new key at once; B within its reload interval (well under a minute).
    let fresh = a.login("holder", PASSWORD).await;
    assert_eq!(kid_of(&fresh), new_kid);
    let converged = loop {
        let token = b.login("holder", PASSWORD).await;
        if kid_of(&token) == new_kid {
            break rotated_at.elapsed();
        }
        assert!(
            rotated_at.elapsed() < Duration::from_secs(10),
            "B never switched keys"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("instance B signed with the new key {converged:?} after the rotation");

    // Both instances accept tokens of both keys; the old key is still published. (The old token
    // is only asked about while it has a second left: on a loaded machine the waits above can
    // outlast its 6 s, and then its refusal is right.)
    for app in [&a, &b] {
        if segment(&old, 1)["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp() + 1 {
            assert_eq!(status_with(app, &old).await, StatusCode::OK);
        }
        assert_eq!(status_with(app, &fresh).await, StatusCode::OK);
        let published = kids(&jwks(app).await);
        assert!(
            published.contains(&old_kid) && published.contains(&new_kid),
            "{published:?}"
        );
        assert!(published.contains(&rotation["next_kid"].as_str().unwrap().to_string()));
    }

    // The old token dies at its expiry; the old key leaves the JWKS once its last token could
    // have (rotation + access TTL + reload interval).
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(status_with(&b, &old).await, StatusCode::UNAUTHORIZED);
    let deadline = rotated_at + Duration::from_secs(8);
    tokio::time::sleep(deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(3))
        .await;
    for app in [&a, &b] {
        assert!(
            !kids(&jwks(app).await).contains(&old_kid),
            "the retired key is unpublished"
        );
    }

    let root = a.login("root", PASSWORD).await;
    let res = a
        .get(
            "/api/v1/admin/security-events?type=keys.rotated",
            Some(&root),
        )
        .await;
    let (_, body) = read(res).await;
    let events = body["data"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!(events[0]["detail"]["active_kid"], new_kid.as_str());
}

/// The emergency: the signing key leaked. `revoke_now=true` on instance A withdraws every
/// published key at once and signs with a fresh one; no waiting for the next key's publication.
/// A refuses the old tokens at once, B within its reload interval (2 s here), and accepts A's
/// new tokens at once (an unknown kid reloads). A client refreshes on its 401 and goes on.
async fn a_leaked_key_is_revoked_at_once_across_two_instances(backend: Backend) {
    let (a, b, _shared) = two_instances(backend, &[("JWKS_MAX_AGE", "2s")]).await;
    let (_, root) = a.user_with_role("root", "SUPER_ADMIN").await;
    a.register("holder").await;
    let leaked = b.login("holder", PASSWORD).await;
    let leaked_kid = kid_of(&leaked);
    let published_before = kids(&jwks(&a).await);
    for app in [&a, &b] {
        assert_eq!(status_with(app, &leaked).await, StatusCode::OK);
    }

    expect_error(
        a.post(
            "/api/v1/admin/keys/rotate?revoke_now=maybe",
            None,
            Some(&root),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let (status, body) = read(
        a.post(
            "/api/v1/admin/keys/rotate?revoke_now=true",
            None,
            Some(&root),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let revoked_at = Instant::now();
    let revocation = &body["data"];
    let withdrawn: Vec<String> =
        serde_json::from_value(revocation["withdrawn_kids"].clone()).unwrap();
    assert_eq!(
        withdrawn.iter().collect::<std::collections::BTreeSet<_>>(),
        published_before.iter().collect(),
        "every published key is withdrawn"
    );
    let fresh_kid = revocation["active_kid"].as_str().unwrap().to_string();
    assert!(!published_before.contains(&fresh_kid), "a fresh key signs");
    assert!(
        revocation["effect"]
            .as_str()
            .unwrap()
            .contains("refresh on their next 401"),
        "{body}"
    );

    // A refuses the leaked key's tokens at once and no longer publishes it; it signs anew.
    assert_eq!(status_with(&a, &leaked).await, StatusCode::UNAUTHORIZED);
    let published = kids(&jwks(&a).await);
    assert!(!published.contains(&leaked_kid), "{published:?}");
    assert_eq!(
        published.len(),
        2,
        "the fresh active and next keys: {published:?}"
    );
    let fresh = a.login("holder", PASSWORD).await;
    assert_eq!(kid_of(&fresh), fresh_kid);
    // B accepts the fresh key's token at once (unknown kid: it reloads) and with that reload
    // refuses the leaked one; without such a token it would within its reload interval.
    assert_eq!(status_with(&b, &fresh).await, StatusCode::OK);
    assert_eq!(status_with(&b, &leaked).await, StatusCode::UNAUTHORIZED);
    assert!(
        revoked_at.elapsed() < Duration::from_secs(2),
        "B refused before its timer could have reloaded"
    );

    // The holder of the leaked token refreshes through its cookie and goes on.
    let (status, body) = read(b.post("/api/v1/auth/refresh", None, None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let renewed = body["data"]["token"]["access_token"].as_str().unwrap();
    assert_eq!(kid_of(renewed), fresh_kid);
    assert_eq!(status_with(&a, renewed).await, StatusCode::OK);

    // So was the admin's own token; signed in again, they find the event.
    expect_error(
        a.get("/api/v1/admin/security-events", Some(&root)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let root = a.login("root", PASSWORD).await;
    let (_, body) = read(
        a.get(
            "/api/v1/admin/security-events?type=keys.revoked",
            Some(&root),
        )
        .await,
    )
    .await;
    let events = body["data"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!(events[0]["detail"]["active_kid"], fresh_kid.as_str());
    assert_eq!(events[0]["detail"]["withdrawn"], 2);
}

async fn switching_from_hs256_logs_nobody_out(backend: Backend) {
    let shared = tempfile::tempdir().unwrap();
    let data_dir = shared.path().join("data").display().to_string();
    let db_name = format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
    let store = match backend {
        Backend::Sqlite => ("DATA_DIR", data_dir.as_str()),
        Backend::Mongo(_) => ("MONGODB_NAME", db_name.as_str()),
    };
    let hs = TestApp::spawn_with(
        backend.clone(),
        &[store, ("ENCRYPTION_KEY", ENCRYPTION_KEY)],
    )
    .await;
    hs.register("steady").await;
    let before = hs.login("steady", PASSWORD).await;
    assert_eq!(segment(&before, 0)["alg"], "HS256");
    let claims = segment(&before, 1);

    // The same deployment restarted with EdDSA (the same browser, so the same refresh cookie).
    // (Both stay up to the end: dropping one drops its MongoDB test database.)
    let ed = TestApp::spawn_with(backend, &eddsa_vars(&[store])).await;
    let cookies = hs.client.clone();
    assert_eq!(
        status_with(&ed, &before).await,
        StatusCode::OK,
        "HS256 tokens still verify"
    );
    let res = cookies
        .post(ed.url("/api/v1/auth/refresh"))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refresh cookie still works: {body}"
    );
    let after = body["data"]["token"]["access_token"].as_str().unwrap();
    assert_eq!(segment(after, 0)["alg"], "EdDSA");
    assert_eq!(status_with(&ed, after).await, StatusCode::OK);

    // An HS256 token minted after the switch (it outlives the tokens issued before) is refused.
    let mut late = claims.clone();
    late["exp"] = json!(claims["exp"].as_i64().unwrap() + 3600);
    let late = hs256(
        &late,
        b"test-secret-key-that-is-long-enough-0123456789",
        None,
    );
    assert_eq!(status_with(&ed, &late).await, StatusCode::UNAUTHORIZED);
}

async fn rotation_needs_eddsa_and_the_star_permission(backend: Backend) {
    let hs = TestApp::spawn(backend.clone()).await;
    let (_, root) = hs.user_with_role("root", "SUPER_ADMIN").await;
    for path in [
        "/api/v1/admin/keys/rotate",
        "/api/v1/admin/keys/rotate?revoke_now=true",
    ] {
        let body = expect_error(hs.post(path, None, Some(&root)).await, StatusCode::CONFLICT).await;
        assert!(
            body["message"].as_str().unwrap().contains("HS256"),
            "{body}"
        );
    }
    drop(hs);

    let ed = TestApp::spawn_with(backend, &eddsa_vars(&[])).await;
    let (_, deputy) = ed.user_with_role("deputy", "ADMIN").await;
    let (_, plain) = ed.user("plain").await;
    for path in [
        "/api/v1/admin/keys/rotate",
        "/api/v1/admin/keys/rotate?revoke_now=true",
    ] {
        expect_error(
            ed.post(path, None, Some(&deputy)).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    expect_error(
        ed.post("/api/v1/admin/keys/rotate", None, Some(&plain))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_error(
        ed.post("/api/v1/admin/keys/rotate", None, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

/// `examples/resource_server.rs`, built by `cargo test` beside this test binary.
fn example_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().unwrap().parent().unwrap();
    let path = debug.join("examples").join("resource_server");
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds examples (a `--test` filter does not; run `cargo build --example resource_server`)",
        path.display()
    );
    path
}

/// Rotates through `app` as soon as the next key may sign; the rotation's `data`.
async fn rotate_when_ready(app: &TestApp, root: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = read(
            app.post("/api/v1/admin/keys/rotate", None, Some(root))
                .await,
        )
        .await;
        if status == StatusCode::OK {
            return body["data"].clone();
        }
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never rotated: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn the_example_service_accepts_our_tokens_through_a_rotation(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &eddsa_vars(&[("JWKS_MAX_AGE", "2s"), ("ACCESS_TOKEN_TTL", "6s")]),
    )
    .await;
    let port = free_port();
    let _service = tokio::process::Command::new(example_binary())
        .env("AUTH_URL", &app.base)
        .env("PORT", port.to_string())
        .kill_on_drop(true)
        .spawn()
        .expect("the example starts");
    let whoami = |token: String| {
        let url = format!("http://127.0.0.1:{port}/whoami");
        async move {
            let http = reqwest::Client::new();
            for _ in 0..100 {
                match http.get(&url).bearer_auth(&token).send().await {
                    Ok(res) => return res.status(),
                    // Still starting.
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
            panic!("the example service never answered");
        }
    };

    let (_, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let (_, before) = app.user("visitor").await;
    assert_eq!(whoami(before.clone()).await, StatusCode::OK);

    // What it must refuse: HS256 under the public key, and a refresh token.
    let raw: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let x = raw["keys"][0]["x"].as_str().unwrap();
    let confused = hs256(&segment(&before, 1), x.as_bytes(), Some(&kid_of(&before)));
    assert_eq!(whoami(confused).await, StatusCode::UNAUTHORIZED);
    let res = app.post("/api/v1/auth/refresh", None, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let login = app
        .other_client()
        .post(app.url("/api/v1/auth/login"))
        .header("x-refresh-token-transport", "body")
        .json(&json!({"email": "visitor", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (_, body) = read(login).await;
    let refresh = body["data"]["token"]["refresh_token"].as_str().unwrap();
    assert_eq!(whoami(refresh.to_string()).await, StatusCode::UNAUTHORIZED);

    // Through a rotation: tokens of the new key and of the old one are both accepted.
    let rotation = rotate_when_ready(&app, &root).await;
    let after = app.login("visitor", PASSWORD).await;
    assert_eq!(kid_of(&after), rotation["active_kid"].as_str().unwrap());
    assert_eq!(whoami(after).await, StatusCode::OK);
    assert_eq!(whoami(before.clone()).await, StatusCode::OK);

    // Until the old token expires.
    let exp = segment(&before, 1)["exp"].as_i64().unwrap();
    let wait = exp + 1 - chrono::Utc::now().timestamp();
    tokio::time::sleep(Duration::from_secs(wait.max(0) as u64 + 1)).await;
    assert_eq!(whoami(before).await, StatusCode::UNAUTHORIZED);
}
