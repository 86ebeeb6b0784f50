use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, expect_error, read};
use crate::on_both_stores;

on_both_stores!(
    me_returns_the_caller,
    update_profile_fields,
    email_and_password_changes_need_the_current_password,
    password_change_signs_out_other_sessions,
    cannot_change_own_role_or_status,
    rename_to_a_taken_name_is_409,
    delete_me_locks_the_account,
    sessions_list_and_revoke,
);

async fn me_returns_the_caller(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = app.user("meme").await;
    let res = app.get("/api/v1/user/", Some(&token)).await;
    assert_eq!(res.headers()["content-type"], "application/json");
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["id"], id);
    assert_eq!(body["data"]["email"], "meme@example.com");
    assert!(!body.to_string().contains("argon2"));
    // RFC 3339 in UTC with milliseconds, as the template's clients parse it.
    for field in ["created_at", "updated_at", "last_login_at"] {
        let at = body["data"][field].as_str().unwrap();
        assert_eq!(
            (at.len(), &at[10..11], &at[19..20], &at[23..]),
            (24, "T", ".", "Z"),
            "{at}"
        );
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    }
}

async fn update_profile_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("editor").await;
    let (status, body) = read(
        app.put(
            "/api/v1/user/",
            json!({"username": "Editor2", "full_name": "Ed Itor"}),
            Some(&token),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["username"], "Editor2");
    assert_eq!(body["data"]["full_name"], "Ed Itor");
    // null clears the full name; an empty body changes nothing.
    let (_, body) = read(
        app.put("/api/v1/user/", json!({"full_name": null}), Some(&token))
            .await,
    )
    .await;
    assert!(body["data"]["full_name"].is_null());
    let (status, body) = read(app.put("/api/v1/user/", json!({}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["username"], "Editor2");
    // The new name logs in, case-insensitively.
    app.login("editor2", PASSWORD).await;
    let err = expect_error(
        app.put(
            "/api/v1/user/",
            json!({"username": "no spaces allowed"}),
            Some(&token),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["details"][0]["loc"], json!(["body", "username"]));
}

async fn email_and_password_changes_need_the_current_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("careful").await;
    let err = expect_error(
        app.put(
            "/api/v1/user/",
            json!({"email": "new@example.com"}),
            Some(&token),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        err["details"][0]["loc"],
        json!(["body", "current_password"])
    );
    expect_error(
        app.put(
            "/api/v1/user/",
            json!({"password": "a new password", "current_password": "not my password"}),
            Some(&token),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let (status, body) = read(
        app.put(
            "/api/v1/user/",
            json!({"email": "New@Example.com", "current_password": PASSWORD}),
            Some(&token),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email"], "New@Example.com");
    app.login("new@example.com", PASSWORD).await;
}

async fn password_change_signs_out_other_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, laptop) = app.user("rotate").await;
    let phone = app.login("rotate", PASSWORD).await;
    let (status, body) = read(
        app.put(
            "/api/v1/user/",
            json!({"password": "brand new password", "current_password": PASSWORD}),
            Some(&laptop),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.get("/api/v1/user/", Some(&laptop)).await.status(),
        StatusCode::OK,
        "this session stays"
    );
    expect_error(
        app.get("/api/v1/user/", Some(&phone)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_error(
        app.post(
            "/api/v1/auth/login",
            Some(json!({"email": "rotate", "password": PASSWORD})),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.login("rotate", "brand new password").await;
}

async fn cannot_change_own_role_or_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("climber").await;
    for body in [
        json!({"role": "SUPER_ADMIN"}),
        json!({"is_active": false}),
        json!({"role": "USER"}),
    ] {
        expect_error(
            app.put("/api/v1/user/", body, Some(&token)).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let (_, body) = read(app.get("/api/v1/user/", Some(&token)).await).await;
    assert_eq!(body["data"]["role"]["name"], "USER");
}

async fn rename_to_a_taken_name_is_409(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("taken").await;
    let (_, token) = app.user("wannabe").await;
    expect_error(
        app.put("/api/v1/user/", json!({"username": "TAKEN"}), Some(&token))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_error(
        app.put(
            "/api/v1/user/",
            json!({"email": "taken@example.com", "current_password": PASSWORD}),
            Some(&token),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
}

async fn delete_me_locks_the_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("goner").await;
    let other = app.login("goner", PASSWORD).await;
    let (status, body) = read(app.delete("/api/v1/user/", Some(&token)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["data"].is_null());
    for t in [&token, &other] {
        expect_error(
            app.get("/api/v1/user/", Some(t)).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    expect_error(
        app.post(
            "/api/v1/auth/login",
            Some(json!({"email": "goner", "password": PASSWORD})),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn sessions_list_and_revoke(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, first) = app.user("devices").await;
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    let res = app
        .other_client()
        .post(app.url("/api/v1/auth/login"))
        .header("user-agent", chrome)
        .json(&json!({"email": "devices", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (_, body) = read(res).await;
    let second = body["data"]["token"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, body) = read(app.get("/api/v1/user/sessions", Some(&first)).await).await;
    assert_eq!(status, StatusCode::OK);
    let sessions = body["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let windows = sessions
        .iter()
        .find(|s| s["device"] == "Chrome 120 | Windows 10 | pc")
        .expect("parsed device");
    assert_eq!(windows["current"], false);
    assert_eq!(windows["ip_address"], "127.0.0.1");
    assert_eq!(windows["user_agent"], chrome);
    for key in ["id", "created_at", "last_activity", "expires_at"] {
        assert!(windows[key].is_string(), "{key}");
    }
    assert!(!body.to_string().contains("jti"), "no jti in listings");

    // Another user cannot revoke it; its owner can.
    let (_, stranger) = app.user("stranger").await;
    let windows_id = windows["id"].as_str().unwrap();
    let path = format!("/api/v1/user/sessions/{windows_id}");
    expect_error(
        app.delete(&path, Some(&stranger)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let (status, _) = read(app.delete(&path, Some(&first)).await).await;
    assert_eq!(status, StatusCode::OK);
    expect_error(
        app.get("/api/v1/user/", Some(&second)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_error(app.delete(&path, Some(&first)).await, StatusCode::NOT_FOUND).await;
    let (_, body) = read(app.get("/api/v1/user/sessions", Some(&first)).await).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
}
