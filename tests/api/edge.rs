use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, expect_error};
use crate::on_both_stores;

on_both_stores!(oversized_body_is_413, security_headers_on_every_answer);

async fn oversized_body_is_413(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let body = json!({"username": "big", "email": "big@example.com", "password": huge});
    // Every time, never a reset connection: the server reads the body it refuses before
    // answering, so the client is not cut off while still sending.
    for attempt in 0..50 {
        let res = app
            .client
            .post(app.url("/api/v1/auth/register"))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
        expect_error(res, StatusCode::PAYLOAD_TOO_LARGE).await;
    }
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

on_both_stores!(
    slow_header_client_is_cut_off,
    load_beyond_the_in_flight_cap_is_shed,
    slow_request_times_out_with_503
);

/// Opens a connection and sends the headers of a registration plus half its body, leaving the
/// request in flight until the returned stream is dropped.
fn half_sent_request(app: &TestApp) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(app.base.trim_start_matches("http://")).unwrap();
    write!(
        stream,
        "POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"user"
    )
    .unwrap();
    stream
}

async fn slow_header_client_is_cut_off(backend: Backend) {
    use std::io::{Read, Write};
    let app = TestApp::spawn_with(backend, &[("HEADER_READ_TIMEOUT", "1")]).await;
    let mut stream = std::net::TcpStream::connect(app.base.trim_start_matches("http://")).unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    // The server closes the connection (possibly after a 408) instead of waiting forever.
    let _ = stream.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(4),
        "cut off after {waited:?}"
    );
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "not before the timeout: {waited:?}"
    );
    // Well-behaved clients are unaffected.
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
}

async fn load_beyond_the_in_flight_cap_is_shed(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("MAX_IN_FLIGHT", "1")]).await;
    let _busy = half_sent_request(&app);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let res = app.get("/api/v1/user/", None).await;
    assert!(res.headers().contains_key("retry-after"));
    let body = expect_error(res, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["message"], "Server is busy, try again");
    assert_eq!(
        app.get("/health", None).await.status(),
        StatusCode::OK,
        "probes are never shed"
    );
    drop(_busy);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    expect_error(
        app.get("/api/v1/user/", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn slow_request_times_out_with_503(backend: Backend) {
    use std::io::Read;
    let app = TestApp::spawn_with(backend, &[("REQUEST_TIMEOUT", "1")]).await;
    let mut stream = half_sent_request(&app);
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut answer = [0u8; 512];
    let n = stream.read(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("Request timed out"), "{text}");
}

on_both_stores!(production_adds_hsts_and_secure_cookies);

async fn production_adds_hsts_and_secure_cookies(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("ENVIRONMENT", "production")]).await;
    let res = app.get("/health", None).await;
    assert!(
        res.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age="),
        "HSTS in production"
    );
    app.register("prod").await;
    let res = app
        .post(
            "/api/v1/auth/login",
            Some(json!({"email": "prod", "password": crate::helpers::PASSWORD})),
            None,
        )
        .await;
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("; Secure"),
        "refresh cookie is Secure in production: {cookie}"
    );
    assert!(cookie.contains("HttpOnly"));
    // Development sends no HSTS (plain-HTTP local runs must keep working).
    let dev = TestApp::spawn(Backend::Sqlite).await;
    assert!(
        dev.get("/health", None)
            .await
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}
