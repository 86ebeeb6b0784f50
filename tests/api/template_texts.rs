//! The `message` texts that clients written for the FastAPI template may match on, kept word for
//! word (README, "Coming from the FastAPI template"). Statuses and envelopes are checked
//! everywhere else; here only the words.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, read};
use crate::on_both_stores;

on_both_stores!(
    success_texts_are_the_templates,
    refusal_texts_are_the_templates
);

async fn message(res: reqwest::Response) -> (StatusCode, String) {
    let (status, body) = read(res).await;
    (
        status,
        body["message"].as_str().unwrap_or_default().to_string(),
    )
}

async fn success_texts_are_the_templates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"username": "texts", "email": "texts@example.com", "password": PASSWORD});
    let created = message(app.post("/api/v1/auth/register", Some(body), None).await).await;
    assert_eq!(
        created,
        (StatusCode::CREATED, "User registered successfully".into())
    );
    let login = json!({"email": "texts", "password": PASSWORD});
    let answer = message(
        app.post("/api/v1/auth/login", Some(login.clone()), None)
            .await,
    )
    .await;
    assert_eq!(answer.1, "Login successful");
    let token = app.login("texts", PASSWORD).await;

    for (res, want) in [
        (app.get("/api/v1/user/", Some(&token)).await, "success"),
        (
            app.put("/api/v1/user/", json!({"full_name": "T"}), Some(&token))
                .await,
            "Profile updated successfully",
        ),
        (
            app.post("/api/v1/auth/refresh", None, None).await,
            "Token refreshed successfully",
        ),
    ] {
        assert_eq!(message(res).await, (StatusCode::OK, want.into()));
    }

    let (_, admin) = app.user_with_role("texts_admin", "ADMIN").await;
    let listed = message(app.get("/api/v1/admin/users?size=1", Some(&admin)).await).await;
    assert_eq!(listed.1, "Retrieved 1 users successfully");
    let (status, body) = read(app.post("/api/v1/auth/logout", None, Some(&token)).await).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::OK, Some("Logged out successfully"))
    );
    let other = app.login("texts", PASSWORD).await;
    let deleted = message(app.delete("/api/v1/user/", Some(&other)).await).await;
    assert_eq!(deleted.1, "Account deleted successfully");
}

async fn refusal_texts_are_the_templates(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("ACCESS_TOKEN_TTL", "1s")]).await;
    let (admin_id, admin) = app.user_with_role("boss", "ADMIN").await;
    let (user_id, token) = app.user("plain").await;

    let cases = [
        (
            app.get("/api/v1/admin/users", Some(&token)).await,
            StatusCode::FORBIDDEN,
            "Insufficient permissions",
        ),
        (
            app.put(
                &format!("/api/v1/admin/{admin_id}"),
                json!({"full_name": "B"}),
                Some(&admin),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "Use PUT /user/ to update your own profile",
        ),
        (
            app.delete(&format!("/api/v1/admin/{admin_id}"), Some(&admin))
                .await,
            StatusCode::BAD_REQUEST,
            "Use DELETE /user/ to delete your own account",
        ),
        (
            app.put("/api/v1/user/", json!({"role": "ADMIN"}), Some(&token))
                .await,
            StatusCode::FORBIDDEN,
            "Cannot change your own role. Contact an administrator.",
        ),
        (
            app.post(
                "/api/v1/auth/login",
                Some(json!({"email": "plain", "password": "not the password"})),
                None,
            )
            .await,
            StatusCode::UNAUTHORIZED,
            "Invalid credentials",
        ),
    ];
    for (res, status, text) in cases {
        assert_eq!(message(res).await, (status, text.into()));
    }

    let path = format!("/api/v1/admin/{user_id}");
    assert_eq!(
        app.delete(&path, Some(&admin)).await.status(),
        StatusCode::OK
    );
    let again = message(app.delete(&path, Some(&admin)).await).await;
    assert_eq!(
        again,
        (StatusCode::BAD_REQUEST, "User already deactivated".into())
    );
    // The deleted user's token: its session ended with the account.
    let ended = message(app.get("/api/v1/user/", Some(&token)).await).await;
    assert_eq!(
        ended,
        (
            StatusCode::UNAUTHORIZED,
            "Session expired or revoked. Please login again".into()
        )
    );
    // An access token past its `exp` (the TTL here is one second).
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = message(app.get("/api/v1/user/", Some(&admin)).await).await;
    assert_eq!(
        expired,
        (
            StatusCode::UNAUTHORIZED,
            "Token has expired. Please login again".into()
        )
    );
}
