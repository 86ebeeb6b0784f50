use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, browser, expect_error, read};
use crate::on_both_stores;

on_both_stores!(
    forged_and_malformed_tokens_are_401,
    expired_access_token_is_401,
    replay_after_grace_revokes_the_session,
    concurrent_refresh_inside_grace_is_answered,
    refresh_cookie_does_not_authenticate_other_routes,
    tokens_say_how_and_when_the_session_signed_in,
);

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap()
}

async fn forged_and_malformed_tokens_are_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("target").await;
    let claims = claims_of(&token);
    assert_eq!(claims["type"], "access");
    for claim in ["uid", "sid", "iat", "exp"] {
        assert!(claims.get(claim).is_some(), "access token lacks {claim}");
    }

    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!(
        "{header_none}.{}.",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let foreign_key = sign(&claims, b"some-other-secret-key-of-sufficient-length");
    let mut as_refresh = claims.clone();
    as_refresh["type"] = json!("refresh");
    as_refresh["jti"] = json!("whatever");
    let refresh_typed = sign(&as_refresh, app.vars["SECRET_KEY"].as_bytes());
    let mut no_sid = claims.clone();
    no_sid.as_object_mut().unwrap().remove("sid");
    let missing_claim = sign(&no_sid, app.vars["SECRET_KEY"].as_bytes());
    let mut other_session = claims.clone();
    other_session["sid"] = json!(uuid::Uuid::new_v4().to_string());
    let unknown_session = sign(&other_session, app.vars["SECRET_KEY"].as_bytes());

    for (what, bad) in [
        ("alg none", alg_none.as_str()),
        ("foreign key", foreign_key.as_str()),
        ("refresh type as Bearer", refresh_typed.as_str()),
        ("missing sid", missing_claim.as_str()),
        ("unknown session", unknown_session.as_str()),
        ("garbage", "garbage"),
        ("empty-ish", "a.b.c"),
    ] {
        let res = app.get("/api/v1/user/", Some(bad)).await;
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer"),
            "{what}"
        );
        expect_error(res, StatusCode::UNAUTHORIZED).await;
    }
    // The real token still works, and so does the same token signed by an independent JWT
    // library with the server's key: the server speaks standard HS256. A missing header is 401.
    assert_eq!(
        app.get("/api/v1/user/", Some(&token)).await.status(),
        StatusCode::OK
    );
    let standard = sign(&claims, app.vars["SECRET_KEY"].as_bytes());
    assert_eq!(
        app.get("/api/v1/user/", Some(&standard)).await.status(),
        StatusCode::OK
    );
    expect_error(
        app.get("/api/v1/user/", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let res = app
        .client
        .get(app.url("/api/v1/user/"))
        .header("authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED).await;
}

async fn expired_access_token_is_401(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("ACCESS_TOKEN_TTL", "1")]).await;
    let (_, token) = app.user("shortlived").await;
    assert_eq!(
        app.get("/api/v1/user/", Some(&token)).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    expect_error(
        app.get("/api/v1/user/", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // The refresh cookie still gets a fresh one.
    let (status, body) = read(app.post("/api/v1/auth/refresh", None, None).await).await;
    assert_eq!(status, StatusCode::OK);
    let fresh = body["data"]["token"]["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/user/", Some(fresh)).await.status(),
        StatusCode::OK
    );
}

/// The refresh token currently in the client's cookie jar, read by asking for it in a body
/// would change the flow, so tests capture it from Set-Cookie instead.
fn refresh_cookie(res: &reqwest::Response) -> String {
    let header = res.headers()["set-cookie"].to_str().unwrap();
    header
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("refresh_token=")
        .to_string()
}

async fn refresh_with(app: &TestApp, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/v1/auth/refresh"))
        .header("cookie", format!("refresh_token={token}"))
        .send()
        .await
        .unwrap()
}

async fn replay_after_grace_revokes_the_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("REFRESH_GRACE_PERIOD", "1")]).await;
    app.register("victim").await;
    let res = app
        .post(
            "/api/v1/auth/login",
            Some(json!({"email": "victim", "password": PASSWORD})),
            None,
        )
        .await;
    let original = refresh_cookie(&res);
    let (_, body) = read(res).await;
    let access = body["data"]["token"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let res = refresh_with(&app, &original).await;
    assert_eq!(res.status(), StatusCode::OK);
    let rotated = refresh_cookie(&res);
    assert_ne!(rotated, original);

    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // The stolen, already rotated token comes back: the whole session dies.
    expect_error(
        refresh_with(&app, &original).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_error(refresh_with(&app, &rotated).await, StatusCode::UNAUTHORIZED).await;
    expect_error(
        app.get("/api/v1/user/", Some(&access)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn concurrent_refresh_inside_grace_is_answered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("tabs").await;
    let res = app
        .post(
            "/api/v1/auth/login",
            Some(json!({"email": "tabs", "password": PASSWORD})),
            None,
        )
        .await;
    let token = refresh_cookie(&res);

    // Five tabs refresh with the same cookie at once: all are answered.
    let answers = futures_join(&app, &token, 5).await;
    for (status, body, _) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    // The session survived: a refresh with the newest token still works, and so does the access token.
    let res = refresh_with(&app, &answers[0].2).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, body) = read(res).await;
    let access = body["data"]["token"]["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/user/", Some(access)).await.status(),
        StatusCode::OK
    );
}

async fn futures_join(app: &TestApp, token: &str, n: usize) -> Vec<(StatusCode, Value, String)> {
    let mut handles = Vec::new();
    for _ in 0..n {
        let url = app.url("/api/v1/auth/refresh");
        let cookie = format!("refresh_token={token}");
        handles.push(tokio::spawn(async move {
            let res = reqwest::Client::new()
                .post(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            let rotated = res
                .headers()
                .get("set-cookie")
                .map(|h| {
                    h.to_str()
                        .unwrap()
                        .split(';')
                        .next()
                        .unwrap()
                        .trim_start_matches("refresh_token=")
                        .to_string()
                })
                .unwrap_or_default();
            let (status, body) = read(res).await;
            (status, body, rotated)
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn refresh_cookie_does_not_authenticate_other_routes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("csrf").await;
    let res = app
        .post(
            "/api/v1/auth/login",
            Some(json!({"email": "csrf", "password": PASSWORD})),
            None,
        )
        .await;
    let refresh = refresh_cookie(&res);
    let client = browser();
    for path in ["/api/v1/user/", "/api/v1/user/sessions"] {
        let res = client
            .get(app.url(path))
            .header("cookie", format!("refresh_token={refresh}"))
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::UNAUTHORIZED).await;
    }
    // Not even as a Bearer token.
    expect_error(
        app.get("/api/v1/user/", Some(&refresh)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let res = client
        .post(app.url("/api/v1/auth/logout-all"))
        .header("cookie", format!("refresh_token={refresh}"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED).await;
}

/// Access tokens carry `amr` (RFC 8176: a password login is `["pwd"]`) and `auth_time`, the
/// moment of the sign-in; a refresh keeps both (it is no new sign-in).
async fn tokens_say_how_and_when_the_session_signed_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = chrono::Utc::now().timestamp();
    let (_, token) = app.user("signer").await;
    let claims = claims_of(&token);
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    assert!((before..=chrono::Utc::now().timestamp()).contains(&auth_time));

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = app.post("/api/v1/auth/refresh", None, None).await;
    let (status, body) = crate::helpers::read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refreshed = claims_of(body["data"]["token"]["access_token"].as_str().unwrap());
    assert_eq!(refreshed["amr"], serde_json::json!(["pwd"]));
    assert_eq!(refreshed["auth_time"], auth_time);
    assert!(refreshed["iat"].as_i64().unwrap() > auth_time);
}
