//! What a single-page app in a browser relies on (README, "Using it from a browser app"): the
//! refresh cookie's routes refuse other origins (the CSRF defence), the headers its scripts must
//! read are exposed, and extra request headers can be allowed. The same flows in a real browser
//! are in tests/browser/spa_flow.js.

use reqwest::StatusCode;
use serde_json::json;

use crate::abuse::login;
use crate::helpers::{Backend, PASSWORD, TestApp, expect_error};
use crate::on_both_stores;

on_both_stores!(
    cookie_routes_refuse_foreign_origins_and_change_nothing,
    scripts_can_read_retry_after_and_send_extra_headers,
);

const APP_ORIGIN: &str = "http://localhost:5173";
/// Same site as the API (another port on localhost), but not listed.
const SIBLING_ORIGIN: &str = "http://localhost:5174";

async fn cookie_routes_refuse_foreign_origins_and_change_nothing(backend: Backend) {
    // No grace window: had a refused refresh rotated the cookie, the original would now be a
    // replay and end the session.
    let app = TestApp::spawn_with(
        backend,
        &[("CORS_ORIGINS", APP_ORIGIN), ("REFRESH_GRACE_PERIOD", "0s")],
    )
    .await;
    let (_, access) = app.user("spa").await;
    let cookie_post = |path: &'static str, origin: Option<&str>, site: Option<&'static str>| {
        let mut req = app.client.post(app.url(path));
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        if let Some(site) = site {
            req = req.header("sec-fetch-site", site);
        }
        req.send()
    };
    for (origin, site) in [
        (Some(SIBLING_ORIGIN), Some("same-site")),
        (Some("https://evil.example"), Some("cross-site")),
        (Some("null"), None),
        (None, Some("cross-site")),
    ] {
        for path in ["/api/v1/auth/refresh", "/api/v1/auth/logout"] {
            let res = cookie_post(path, origin, site).await.unwrap();
            assert!(
                !res.headers().contains_key("set-cookie"),
                "{path} from {origin:?} touched the cookie"
            );
            expect_error(res, StatusCode::FORBIDDEN).await;
        }
    }
    // Nothing changed: the session is alive and its refresh token still the current one.
    assert_eq!(
        app.get("/api/v1/user/", Some(&access)).await.status(),
        StatusCode::OK
    );
    let listed = cookie_post("/api/v1/auth/refresh", Some(APP_ORIGIN), Some("same-site"));
    assert_eq!(listed.await.unwrap().status(), StatusCode::OK);
    let own_origin = cookie_post("/api/v1/auth/refresh", Some(&app.base), None);
    assert_eq!(own_origin.await.unwrap().status(), StatusCode::OK);
    let native = cookie_post("/api/v1/auth/refresh", None, None);
    assert_eq!(native.await.unwrap().status(), StatusCode::OK);
    // A Bearer logout needs no origin check: a page cannot send one without a CORS grant.
    let res = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header("origin", SIBLING_ORIGIN)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn scripts_can_read_retry_after_and_send_extra_headers(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("CORS_ORIGINS", APP_ORIGIN),
            ("CORS_ALLOW_HEADERS", "X-CSRF-Token, sentry-trace"),
            ("LOGIN_LOCKOUT", "2/30s"),
        ],
    )
    .await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
        .header("origin", APP_ORIGIN)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-csrf-token,sentry-trace",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "content-type",
        "authorization",
        "x-csrf-token",
        "sentry-trace",
    ] {
        assert!(allowed.contains(name), "{name} in {allowed}");
    }

    app.register("impatient").await;
    let _ = login(&app, "impatient", "wrong password", None).await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("origin", APP_ORIGIN)
        .json(&json!({"email": "impatient", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in ["retry-after", "x-request-id", "www-authenticate"] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
}
