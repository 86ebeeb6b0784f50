//! Attacks on the login and its neighbours: brute force on one account, spraying accounts from
//! one address, spoofed client addresses, floods of registrations and refreshes, CORS.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, expect_error, read};
use crate::on_both_stores;

on_both_stores!(
    brute_force_backs_off_then_locks_the_account,
    lock_looks_the_same_for_unknown_accounts,
    spraying_accounts_from_one_ip_is_limited,
    forwarded_for_counts_only_from_trusted_proxies,
    registration_and_refresh_floods_are_limited,
    cors_allows_only_listed_origins,
);

pub(crate) async fn login(
    app: &TestApp,
    login: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": login, "password": password}));
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    req.send().await.unwrap()
}

pub(crate) fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
}

async fn brute_force_backs_off_then_locks_the_account(backend: Backend) {
    // 3 attempts per 20 s window: the first is free, then 1 s and 2 s of backoff, then a lock.
    let app = TestApp::spawn_with(backend, &[("LOGIN_LOCKOUT", "3/20s")]).await;
    app.register("target").await;
    expect_error(
        login(&app, "target", "guess 1 guess", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let res = login(&app, "target", "guess 2 guess", None).await;
    assert_eq!(retry_after(&res), 1);
    expect_error(res, StatusCode::TOO_MANY_REQUESTS).await;

    tokio::time::sleep(Duration::from_millis(1100)).await;
    expect_error(
        login(&app, "target", "guess 2 guess", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    expect_error(
        login(&app, "target", "guess 3 guess", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Locked: even the right password waits for the window to end.
    let res = login(&app, "target", PASSWORD, None).await;
    let wait = retry_after(&res);
    assert!((1..=20).contains(&wait), "Retry-After {wait}");
    let body = expect_error(res, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Too many failed login attempts")
    );
    // Other accounts are unaffected.
    app.register("bystander").await;
    app.login("bystander", PASSWORD).await;
}

async fn lock_looks_the_same_for_unknown_accounts(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("LOGIN_LOCKOUT", "2/30s")]).await;
    app.register("realone").await;
    let mut answers: Vec<(StatusCode, Value, u64)> = Vec::new();
    for account in ["realone", "ghost"] {
        expect_error(
            login(&app, account, "wrong password", None).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        let res = login(&app, account, "wrong password", None).await;
        let wait = retry_after(&res);
        let (status, body) = read(res).await;
        answers.push((status, body, wait));
    }
    assert_eq!(
        answers[0], answers[1],
        "an existing and a missing account answer alike"
    );
    assert_eq!(answers[0].0, StatusCode::TOO_MANY_REQUESTS);
}

async fn spraying_accounts_from_one_ip_is_limited(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("RATE_LIMIT_LOGIN", "5/1m")]).await;
    for i in 0..5 {
        expect_error(
            login(&app, &format!("victim{i}"), "Winter2026!", None).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let res = login(&app, "victim5", "Winter2026!", None).await;
    assert!((1..=60).contains(&retry_after(&res)));
    expect_error(res, StatusCode::TOO_MANY_REQUESTS).await;
}

async fn forwarded_for_counts_only_from_trusted_proxies(backend: Backend) {
    // Not trusted: the header is ignored, every request counts against 127.0.0.1.
    let app = TestApp::spawn_with(backend.clone(), &[("RATE_LIMIT_LOGIN", "3/1m")]).await;
    for i in 0..3 {
        let spoofed = format!("198.51.100.{i}");
        expect_error(
            login(&app, "nobody", "whatever pw", Some(&spoofed)).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    expect_error(
        login(&app, "nobody", "whatever pw", Some("198.51.100.99")).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    let (_, root) = read(
        app.client
            .get(app.url("/"))
            .header("x-forwarded-for", "198.51.100.7")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(root["client_ip"], "127.0.0.1");

    // Trusted: each forwarded client has its own budget, and the address is what `/` reports.
    let app = TestApp::spawn_with(
        backend,
        &[
            ("RATE_LIMIT_LOGIN", "3/1m"),
            ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    )
    .await;
    for _ in 0..3 {
        expect_error(
            login(&app, "nobody", "whatever pw", Some("198.51.100.1")).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    expect_error(
        login(&app, "nobody", "whatever pw", Some("198.51.100.1")).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    expect_error(
        login(&app, "nobody", "whatever pw", Some("198.51.100.2")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let (_, root) = read(
        app.client
            .get(app.url("/"))
            .header("x-forwarded-for", "203.0.113.5")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(root["client_ip"], "203.0.113.5");
}

async fn registration_and_refresh_floods_are_limited(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("RATE_LIMIT_REGISTER", "3/1m"),
            ("RATE_LIMIT_REFRESH", "2/1m"),
        ],
    )
    .await;
    app.register("flood0").await;
    app.register("flood1").await;
    app.register("flood2").await;
    let body = json!({"username": "flood3", "email": "flood3@example.com", "password": PASSWORD});
    expect_error(
        app.post("/api/v1/auth/register", Some(body), None).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;

    app.login("flood0", PASSWORD).await;
    for _ in 0..2 {
        assert_eq!(
            app.post("/api/v1/auth/refresh", None, None).await.status(),
            StatusCode::OK
        );
    }
    expect_error(
        app.post("/api/v1/auth/refresh", None, None).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}

async fn cors_allows_only_listed_origins(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("CORS_ORIGINS", "https://app.example")]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let res = preflight("https://app.example").await.unwrap();
    assert!(res.status().is_success());
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let res = preflight("https://evil.example").await.unwrap();
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "unlisted origin gets no CORS grant"
    );
    // A simple request from a listed origin is granted, never with `*`.
    let res = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
}
