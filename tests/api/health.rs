use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, expect_error, read};
use crate::on_both_stores;

on_both_stores!(
    health_ready_and_root,
    unknown_route_and_wrong_method,
    docs_and_openapi,
    request_id_round_trip
);

async fn health_ready_and_root(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = read(app.get("/health", None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "healthy");
    assert!(body["version"].is_string() && body["timestamp"].as_str().unwrap().ends_with('Z'));

    let (status, body) = read(app.get("/ready", None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");

    let (status, body) = read(app.get("/", None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["client_ip"], "127.0.0.1");
    assert_eq!(body["docs"], "/docs");
}

async fn unknown_route_and_wrong_method(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    expect_error(app.get("/nope", None).await, StatusCode::NOT_FOUND).await;
    expect_error(app.get("/api/v1/nope/", None).await, StatusCode::NOT_FOUND).await;
    expect_error(
        app.delete("/health", None).await,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    expect_error(
        app.get("/api/v1/auth/login", None).await,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}

async fn docs_and_openapi(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, doc) = read(app.get("/openapi.json", None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/health",
        "/ready",
        "/",
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/logout-all",
        "/api/v1/user/",
        "/api/v1/user/sessions",
        "/api/v1/user/sessions/{session_id}",
        "/api/v1/admin/users",
        "/api/v1/admin/{user_id}",
        "/api/v1/admin/{user_id}/sessions",
    ] {
        assert!(paths.contains_key(path), "OpenAPI lacks {path}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // Swagger UI is vendored: it renders offline.
    let res = app.get("/docs/", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("swagger-ui"));
    let res = app.get("/docs/swagger-ui-bundle.js", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The template's ReDoc address leads to the same document's viewer.
    let res = app.get("/redoc", None).await;
    assert_eq!((res.status(), res.url().path()), (StatusCode::OK, "/docs"));
}

async fn request_id_round_trip(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app.get("/health", None).await;
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 36, "a UUID is generated: {generated}");
    // A forged id with a newline or a huge one is replaced.
    let res = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"].len(), 36);
}

on_both_stores!(
    metrics_count_requests_logins_and_store_work,
    metrics_are_guarded
);

async fn metrics_count_requests_logins_and_store_work(backend: Backend) {
    let app = TestApp::spawn(backend.clone()).await;
    let (id, token) = app.user("counted").await;
    app.get("/api/v1/user/", Some(&token)).await;
    app.get(&format!("/api/v1/admin/{id}"), Some(&token)).await;
    app.get("/no/such/path", None).await;
    crate::helpers::read(
        app.post(
            "/api/v1/auth/login",
            Some(serde_json::json!({"email": "counted", "password": "wrong password"})),
            None,
        )
        .await,
    )
    .await;
    let res = app.get("/metrics", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    for line in [
        r#"authkit_http_requests_total{method="GET",route="/api/v1/user",status="200"} 1"#,
        r#"authkit_http_requests_total{method="GET",route="/api/v1/admin/{user_id}",status="403"} 1"#,
        r#"authkit_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"authkit_logins_total{outcome="success"} 1"#,
        r#"authkit_logins_total{outcome="invalid_credentials"} 1"#,
        r#"authkit_store_operations_total{operation="find_session_and_user"}"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(text.contains("authkit_http_request_duration_seconds_bucket"));
    if matches!(backend, Backend::Mongo(_)) {
        assert!(
            text.contains(r#"authkit_mongodb_commands_total{command="find"}"#),
            "{text}"
        );
    }
    assert!(
        !text.contains("counted@example.com"),
        "no personal data in metrics"
    );
}

async fn metrics_are_guarded(backend: Backend) {
    let app = TestApp::spawn_with(backend.clone(), &[("METRICS_TOKEN", "scrape-me")]).await;
    expect_error(app.get("/metrics", None).await, StatusCode::UNAUTHORIZED).await;
    expect_error(
        app.get("/metrics", Some("wrong")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        app.get("/metrics", Some("scrape-me")).await.status(),
        StatusCode::OK
    );
    let app = TestApp::spawn_with(backend, &[("ENVIRONMENT", "production")]).await;
    expect_error(app.get("/metrics", None).await, StatusCode::NOT_FOUND).await;
}
