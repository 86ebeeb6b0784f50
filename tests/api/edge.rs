use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, expect_error};
use crate::on_both_stores;

on_both_stores!(oversized_body_is_413, security_headers_on_every_answer);

async fn oversized_body_is_413(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let body = json!({"username": "big", "email": "big@example.com", "password": huge});
    expect_error(
        app.post("/api/v1/auth/register", Some(body), None).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
}

async fn security_headers_on_every_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/health", "/api/v1/user/", "/nope"] {
        let res = app.get(path, None).await;
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(h.contains_key("referrer-policy"), "{path}");
        assert!(h.contains_key("x-request-id"), "{path}");
    }
    let res = app.get("/api/v1/user/", None).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
}
