use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, expect_error, read};
use crate::on_both_stores;

on_both_stores!(
    register_creates_a_user,
    register_rejects_bad_input,
    register_refuses_duplicates_case_insensitively,
    register_cannot_choose_a_role,
    login_by_email_or_username,
    login_failures_look_alike,
    login_sets_a_scoped_http_only_cookie,
    refresh_rotates_the_cookie,
    refresh_without_a_token_is_401,
    logout_with_bearer_or_cookie,
    logout_all_revokes_every_session,
    native_clients_get_the_refresh_token_in_the_body,
    trailing_slash_is_optional,
);

async fn register_creates_a_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .post(
            "/api/v1/auth/register",
            Some(json!({"username": "Ada.L", "email": "Ada@Example.com", "password": PASSWORD, "full_name": "Ada Lovelace"})),
            None,
        )
        .await;
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["code"], 0);
    let user = &body["data"];
    assert_eq!(user["username"], "Ada.L");
    assert_eq!(user["email"], "Ada@Example.com");
    assert_eq!(user["full_name"], "Ada Lovelace");
    assert_eq!(user["is_active"], true);
    assert_eq!(user["role"]["name"], "USER");
    assert_eq!(user["role"]["permissions"], json!(["user:*"]));
    assert!(user["role"]["_id"].is_string());
    assert!(uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok());
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    // No hash and no password; `has_password` (a bool) is the one field that names one.
    assert_eq!(user["has_password"], true);
    let text = body.to_string().replace("\"has_password\"", "");
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "no hash in {text}"
    );
}

async fn register_rejects_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = "/api/v1/auth/register";
    let cases = [
        (
            json!({"username": "ab", "email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "a b c", "email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "x".repeat(51), "email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "abc", "email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"username": "abc", "email": "a@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "abc", "email": "a@example.com", "password": "x".repeat(129)}),
            "password",
        ),
        (
            json!({"username": "abc", "email": "a@example.com", "password": PASSWORD, "full_name": "x".repeat(101)}),
            "full_name",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": 42, "email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
    ];
    for (body, field) in cases {
        let err = expect_error(
            app.post(url, Some(body.clone()), None).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        let details = err["details"].as_array().expect("details");
        assert!(
            details.iter().any(|d| d["loc"] == json!(["body", field])),
            "{body} should blame {field}: {err}"
        );
    }
    // Every missing field is named at once, not only the first.
    let err = expect_error(
        app.post(url, Some(json!({"email": "a@example.com"})), None)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        err["details"],
        json!([
            {"loc": ["body", "username"], "msg": "Field required", "type": "missing"},
            {"loc": ["body", "password"], "msg": "Field required", "type": "missing"},
        ])
    );
    // Not JSON at all, broken JSON, wrong content type.
    let res = app
        .client
        .post(app.url(url))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST).await;
    let res = app
        .client
        .post(app.url(url))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let res = app
        .client
        .post(app.url(url))
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let res = app
        .client
        .post(app.url(url))
        .header("content-type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
}

async fn register_refuses_duplicates_case_insensitively(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("grace").await;
    let dup_name = json!({"username": "GRACE", "email": "other@example.com", "password": PASSWORD});
    let err = expect_error(
        app.post("/api/v1/auth/register", Some(dup_name), None)
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("username")
    );
    let dup_email =
        json!({"username": "grace2", "email": "Grace@EXAMPLE.com", "password": PASSWORD});
    let err = expect_error(
        app.post("/api/v1/auth/register", Some(dup_email), None)
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("email")
    );
}

async fn register_cannot_choose_a_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for role in ["ADMIN", "SUPER_ADMIN", "whatever"] {
        let body = json!({"username": "mallory", "email": "m@example.com", "password": PASSWORD, "role": role});
        expect_error(
            app.post("/api/v1/auth/register", Some(body), None).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let body = json!({"username": "mallory", "email": "m@example.com", "password": PASSWORD, "role": "USER"});
    let (status, body) = read(app.post("/api/v1/auth/register", Some(body), None).await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["data"]["role"]["name"], "USER");
}

async fn login_by_email_or_username(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("linus").await;
    for login in ["linus", "LINUS", "linus@example.com", "Linus@Example.COM"] {
        let (status, body) = read(
            app.post(
                "/api/v1/auth/login",
                Some(json!({"email": login, "password": PASSWORD})),
                None,
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{login}: {body}");
        let token = &body["data"]["token"];
        assert_eq!(token["token_type"], "bearer");
        assert_eq!(token["expires_in"], 900);
        assert!(
            token.get("refresh_token").is_none(),
            "browsers get the cookie only"
        );
        assert_eq!(body["data"]["user"]["username"], "linus");
        assert!(body["data"]["user"]["last_login_at"].is_string());
    }
    // `username` is accepted instead of `email`.
    let (status, _) = read(
        app.post(
            "/api/v1/auth/login",
            Some(json!({"username": "linus", "password": PASSWORD})),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

async fn login_failures_look_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("alan").await;
    let wrong = expect_error(
        app.post(
            "/api/v1/auth/login",
            Some(json!({"email": "alan", "password": "wrong password"})),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown = expect_error(
        app.post(
            "/api/v1/auth/login",
            Some(json!({"email": "nobody", "password": "wrong password"})),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        wrong, unknown,
        "unknown user and wrong password answer alike"
    );
    assert_eq!(wrong["message"], "Invalid credentials");
    expect_error(
        app.post(
            "/api/v1/auth/login",
            Some(json!({"password": PASSWORD})),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .body("email=alan")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

async fn login_sets_a_scoped_http_only_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("cookie").await;
    let res = app
        .post(
            "/api/v1/auth/login",
            Some(json!({"email": "cookie", "password": PASSWORD})),
            None,
        )
        .await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("refresh_token="), "{cookie}");
    for attr in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/api/v1/auth",
        "Max-Age=2592000",
    ] {
        assert!(cookie.contains(attr), "{attr} missing in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "development cookies are not Secure: {cookie}"
    );
}

async fn refresh_rotates_the_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("rotor").await;
    let res = app.post("/api/v1/auth/refresh", None, None).await;
    let first_cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["data"]["token"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = read(app.get("/api/v1/user/", Some(&access)).await).await;
    assert_eq!(status, StatusCode::OK);

    let res = app.post("/api/v1/auth/refresh", None, None).await;
    let second_cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert_eq!(res.status(), StatusCode::OK);
    assert_ne!(
        first_cookie, second_cookie,
        "each refresh issues a new refresh token"
    );
}

async fn refresh_without_a_token_is_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    expect_error(
        app.post("/api/v1/auth/refresh", None, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header("cookie", "refresh_token=garbage")
        .send()
        .await
        .unwrap();
    let cleared = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cleared.contains("Max-Age=0"),
        "a refused cookie is cleared: {cleared}"
    );
    expect_error(res, StatusCode::UNAUTHORIZED).await;
    expect_error(
        app.post(
            "/api/v1/auth/refresh",
            Some(json!({"refresh_token": "garbage"})),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn logout_with_bearer_or_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("leaver").await;
    // Bearer logout revokes this session: the access token stops working at once.
    let res = app.post("/api/v1/auth/logout", None, Some(&token)).await;
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["revoked_sessions"], 1);
    expect_error(
        app.get("/api/v1/user/", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_error(
        app.post("/api/v1/auth/logout", None, Some(&token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Cookie-only logout (a browser whose access token expired).
    let token = app.login("leaver", PASSWORD).await;
    let (status, body) = read(app.post("/api/v1/auth/logout", None, None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["revoked_sessions"], 1);
    expect_error(
        app.get("/api/v1/user/", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Nothing left to log out with.
    expect_error(
        app.post("/api/v1/auth/logout", None, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn logout_all_revokes_every_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, first) = app.user("multi").await;
    let second = app.login("multi", PASSWORD).await;
    let third = app.login("multi", PASSWORD).await;
    let (status, body) = read(
        app.post("/api/v1/auth/logout-all", None, Some(&second))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["revoked_sessions"], 3);
    for token in [first, second, third] {
        expect_error(
            app.get("/api/v1/user/", Some(&token)).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    expect_error(
        app.post("/api/v1/auth/refresh", None, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_error(
        app.post("/api/v1/auth/logout-all", None, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn native_clients_get_the_refresh_token_in_the_body(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("mobile").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-refresh-token-transport", "body")
        .json(&json!({"email": "mobile", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().get("set-cookie").is_none(),
        "no cookie for a native client"
    );
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK);
    let refresh = body["data"]["token"]["refresh_token"]
        .as_str()
        .expect("refresh token in body")
        .to_string();

    let native = reqwest::Client::new();
    let res = native
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rotated = body["data"]["token"]["refresh_token"]
        .as_str()
        .expect("rotated token in body");
    assert_ne!(rotated, refresh);
}

async fn trailing_slash_is_optional(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("slash").await;
    for path in [
        "/api/v1/user",
        "/api/v1/user/",
        "/api/v1/user/sessions",
        "/api/v1/user/sessions/",
    ] {
        let (status, _) = read(app.get(path, Some(&token)).await).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let body = json!({"username": "slash2", "email": "slash2@example.com", "password": PASSWORD});
    let (status, _) = read(app.post("/api/v1/auth/register/", Some(body), None).await).await;
    assert_eq!(status, StatusCode::CREATED);
}
