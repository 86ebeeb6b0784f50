//! Security events (docs/API.md, "Security events"): each act a user or an admin performs is found
//! through the API with the right type, account, actor and client address; the listings page by
//! cursor without repeats or gaps and refuse bad queries; the read path records nothing; events
//! expire after `AUDIT_RETENTION`; a failed event write does not fail the act.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, expect_error, read};
use crate::on_both_stores;

/// The client's address as the trusted proxy in front of the test server reports it.
const CLIENT_IP: &str = "203.0.113.9";

/// A server behind a trusted proxy (127.0.0.1), whose clients all come from [`CLIENT_IP`].
async fn behind_proxy(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("TRUSTED_PROXIES", "127.0.0.1/32")];
    vars.extend_from_slice(extra);
    let mut app = TestApp::spawn_with(backend, &vars).await;
    app.client = proxied_client();
    app
}

fn proxied_client() -> Client {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_static(CLIENT_IP));
    headers.insert(
        "user-agent",
        HeaderValue::from_static(
            "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        ),
    );
    Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .expect("http client")
}

/// Every page of a listing, following `next`; checks each page's shape on the way.
async fn all_pages(app: &TestApp, path: &str, token: &str, limit: u64) -> Vec<Value> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut url = format!("{path}{separator}limit={limit}");
    let mut events = Vec::new();
    loop {
        let (status, body) = read(app.get(&url, Some(token)).await).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        let page = body["data"]["events"].as_array().expect("events").clone();
        assert!(page.len() as u64 <= limit, "{body}");
        events.extend(page);
        match body["data"]["next"].as_str() {
            Some(next) => url = format!("{path}{separator}limit={limit}&before={next}"),
            None => return events,
        }
    }
}

async fn own_events(app: &TestApp, token: &str) -> Vec<Value> {
    all_pages(app, "/api/v1/user/security-events", token, 100).await
}

/// The newest event of `kind` in `events`, which must exist.
fn find<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event in {events:#?}"))
}

/// The event was made by a request of the proxied client.
fn from_client(event: &Value) {
    assert_eq!(event["ip_address"], CLIENT_IP, "{event}");
    assert!(
        event["device"]
            .as_str()
            .is_some_and(|d| d.contains("Firefox")),
        "{event}"
    );
    for key in ["id", "at", "type", "user_id", "actor_id", "detail"] {
        assert!(event.get(key).is_some(), "{key} missing: {event}");
    }
    for hidden in ["session_id", "user_agent", "ip", "expires_at"] {
        assert!(event.get(hidden).is_none(), "{hidden} shown: {event}");
    }
}

/// An act of the user themself: about them, by them, from the client.
fn own_act(event: &Value, user_id: &str) {
    assert_eq!(event["user_id"], user_id, "{event}");
    assert_eq!(event["actor_id"], user_id, "{event}");
    from_client(event);
}

async fn login_with_body_token(app: &TestApp, login: &str) -> (String, String) {
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-refresh-token-transport", "body")
        .json(&json!({"email": login, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = &body["data"]["token"];
    (
        token["access_token"].as_str().unwrap().to_string(),
        token["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn user_and_admin_acts_are_recorded(backend: Backend) {
    let app = behind_proxy(
        backend,
        &[("LOGIN_LOCKOUT", "2/1m"), ("REFRESH_GRACE_PERIOD", "0s")],
    )
    .await;
    let (_, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let (id, token) = app.user("ada").await;

    // Sign-in acts.
    let wrong = json!({"email": "ada", "password": "not the password"});
    let res = app
        .post("/api/v1/auth/login", Some(wrong.clone()), None)
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the backoff
    let res = app.post("/api/v1/auth/login", Some(wrong), None).await;
    expect_error(res, StatusCode::UNAUTHORIZED).await;
    let nobody = json!({"email": "nobody@example.com", "password": "not the password"});
    let res = app.post("/api/v1/auth/login", Some(nobody), None).await;
    expect_error(res, StatusCode::UNAUTHORIZED).await;

    let events = own_events(&app, &token).await;
    own_act(find(&events, "user.registered"), &id);
    own_act(find(&events, "login.succeeded"), &id);
    let failed = find(&events, "login.failed");
    assert_eq!(failed["user_id"], id.as_str());
    assert!(failed["actor_id"].is_null(), "nobody known acted: {failed}");
    assert_eq!(failed["detail"]["reason"], "invalid_credentials");
    from_client(failed);
    let locked = find(&events, "login.locked");
    assert_eq!(locked["user_id"], id.as_str());
    from_client(locked);
    let unknown = all_pages(
        &app,
        "/api/v1/admin/security-events?type=login.failed",
        &root,
        100,
    )
    .await;
    assert!(
        unknown.iter().any(|e| e["user_id"].is_null()),
        "a login naming no account is recorded without a user: {unknown:#?}"
    );
}

async fn self_service_acts_are_recorded(backend: Backend) {
    let app = behind_proxy(backend, &[("REFRESH_GRACE_PERIOD", "0s")]).await;
    let (id, token) = app.user("ada").await;

    let put = |body: Value| app.put("/api/v1/user/", body, Some(&token));
    let res =
        put(json!({"password": "a brand new password", "current_password": "not my password"}))
            .await;
    expect_error(res, StatusCode::BAD_REQUEST).await;
    let (status, _) = read(put(json!({"full_name": "Ada L", "username": "ada2"})).await).await;
    assert_eq!(status, StatusCode::OK);

    // A second device, revoked from the first.
    let (_, _) = login_with_body_token(&app, "ada2").await;
    let (_, body) = read(app.get("/api/v1/user/sessions", Some(&token)).await).await;
    let other = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .expect("the other session")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .delete(&format!("/api/v1/user/sessions/{other}"), Some(&token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // A third device whose refresh token is replayed after it rotated.
    let (_, refresh) = login_with_body_token(&app, "ada2").await;
    let body = json!({"refresh_token": refresh});
    let (status, _) = read(
        app.post("/api/v1/auth/refresh", Some(body.clone()), None)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let res = app.post("/api/v1/auth/refresh", Some(body), None).await;
    expect_error(res, StatusCode::UNAUTHORIZED).await;

    let (status, _) =
        read(put(json!({"password": "a brand new password", "current_password": PASSWORD})).await)
            .await;
    assert_eq!(status, StatusCode::OK);

    let events = own_events(&app, &token).await;
    let check_failed = find(&events, "password.check_failed");
    assert_eq!(check_failed["user_id"], id.as_str());
    from_client(check_failed);
    let updated = find(&events, "user.updated");
    own_act(updated, &id);
    assert_eq!(
        updated["detail"]["fields"],
        json!(["username", "full_name"])
    );
    let revoked = find(&events, "session.revoked");
    own_act(revoked, &id);
    assert_eq!(revoked["detail"]["reason"], "revoked_by_user");
    let reuse = find(&events, "refresh.reuse_detected");
    assert_eq!(reuse["user_id"], id.as_str());
    from_client(reuse);
    let changed = find(&events, "password.changed");
    own_act(changed, &id);
    assert_eq!(
        changed["detail"]["revoked"], 0,
        "the other sessions had ended"
    );
    assert!(
        !events.iter().any(|e| e["type"] == "user.updated"
            && e["detail"]["fields"].to_string().contains("password")),
        "a password change is its own event"
    );

    // Sign-out acts, then the deletion (seen through an admin afterwards).
    let second = app.login("ada2", "a brand new password").await;
    let res = app.post("/api/v1/auth/logout", None, Some(&second)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let third = app.login("ada2", "a brand new password").await;
    let res = app
        .post("/api/v1/auth/logout-all", None, Some(&third))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let last = app.login("ada2", "a brand new password").await;
    let res = app.delete("/api/v1/user/", Some(&last)).await;
    assert_eq!(res.status(), StatusCode::OK);

    let (_, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let events = all_pages(
        &app,
        &format!("/api/v1/admin/security-events?user_id={id}"),
        &root,
        100,
    )
    .await;
    own_act(find(&events, "logout"), &id);
    let all = find(&events, "logout_all");
    own_act(all, &id);
    assert!(all["detail"]["revoked"].as_u64().unwrap() >= 1, "{all}");
    let deleted = find(&events, "user.deleted");
    own_act(deleted, &id);
    assert_eq!(deleted["detail"]["revoked"], 1);
}

async fn admin_acts_name_the_admin(backend: Backend) {
    let app = behind_proxy(backend, &[]).await;
    let (root_id, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let (bob, _) = app.user("bob").await;
    let bob_token = app.login("bob", PASSWORD).await;

    let update = json!({"role": "ADMIN", "full_name": "Bob B"});
    let (status, body) = read(
        app.put(&format!("/api/v1/admin/{bob}"), update, Some(&root))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let res = app
        .delete(&format!("/api/v1/admin/{bob}/sessions"), Some(&root))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .delete(&format!("/api/v1/admin/{bob}"), Some(&root))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let events = all_pages(
        &app,
        &format!("/api/v1/admin/security-events?user_id={bob}"),
        &root,
        3,
    )
    .await;
    let by_admin = |kind| {
        let e = find(&events, kind).clone();
        assert_eq!(e["user_id"], bob.as_str(), "{e}");
        assert_eq!(e["actor_id"], root_id.as_str(), "{e}");
        from_client(&e);
        e
    };
    let updated = by_admin("admin.user_updated");
    assert_eq!(updated["detail"]["fields"], json!(["full_name", "role"]));
    let revoked = by_admin("admin.sessions_revoked");
    assert_eq!(revoked["detail"]["revoked"], 2, "both of bob's sessions");
    by_admin("admin.user_deleted");
    drop(bob_token);

    // Bob sees none of root's own events, and root's listing holds everyone's.
    let bob_login = events
        .iter()
        .find(|e| e["type"] == "login.succeeded")
        .unwrap();
    assert_eq!(bob_login["user_id"], bob.as_str());
    let own = own_events(&app, &root).await;
    assert!(
        own.iter().all(|e| e["user_id"] == root_id.as_str()),
        "{own:#?}"
    );
}

async fn paging_is_stable_while_events_arrive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    for name in ["user1", "user2", "user3", "user4"] {
        app.user(name).await;
    }
    let snapshot = all_pages(&app, "/api/v1/admin/security-events", &root, 100).await;
    assert!(snapshot.len() >= 10, "{}", snapshot.len());
    let ats: Vec<&str> = snapshot.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(
        ats.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {ats:?}"
    );

    // Page by 3, with new events written between the pages.
    let mut seen = Vec::new();
    let mut url = "/api/v1/admin/security-events?limit=3".to_string();
    loop {
        let (_, body) = read(app.get(&url, Some(&root)).await).await;
        seen.extend(body["data"]["events"].as_array().unwrap().iter().cloned());
        app.user(&format!("new{}", seen.len())).await;
        match body["data"]["next"].as_str() {
            Some(next) => url = format!("/api/v1/admin/security-events?limit=3&before={next}"),
            None => break,
        }
    }
    let ids = |events: &[Value]| events.iter().map(|e| e["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&seen), ids(&snapshot), "no repeats and no gaps");
}

async fn bad_queries_are_422_and_the_admin_listing_needs_an_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let (_, user) = app.user("ada").await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "before=not-a-cursor",
        "before=MTIzOmEgYg",
    ] {
        let res = app
            .get(
                &format!("/api/v1/user/security-events?{query}"),
                Some(&user),
            )
            .await;
        let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        let param = query.split('=').next().unwrap();
        assert_eq!(body["details"][0]["loc"], json!(["query", param]), "{body}");
    }
    for query in [
        "type=login",
        "since=yesterday",
        "until=2026-13-01T00:00:00Z",
        "since=2026-02-02T00:00:00Z&until=2026-02-01T00:00:00Z",
        "user_id=%01",
    ] {
        let res = app
            .get(
                &format!("/api/v1/admin/security-events?{query}"),
                Some(&root),
            )
            .await;
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let ok = "/api/v1/admin/security-events?type=user.registered&since=2020-01-01T00:00:00Z&until=2100-01-01T00:00:00%2B02:00";
    let (status, body) = read(app.get(ok, Some(&root)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["events"].as_array().unwrap().len(),
        2,
        "{body}"
    );

    let res = app.get("/api/v1/admin/security-events", Some(&user)).await;
    expect_error(res, StatusCode::FORBIDDEN).await;
    let res = app.get("/api/v1/user/security-events", None).await;
    expect_error(res, StatusCode::UNAUTHORIZED).await;
}

async fn the_read_path_records_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let (id, user) = app.user("ada").await;
    let count = || async {
        all_pages(&app, "/api/v1/admin/security-events", &root, 100)
            .await
            .len()
    };
    let before = count().await;
    for path in [
        "/api/v1/user/",
        "/api/v1/user/sessions",
        "/api/v1/user/security-events",
    ] {
        assert_eq!(app.get(path, Some(&user)).await.status(), StatusCode::OK);
    }
    for path in [
        "/api/v1/admin/users".to_string(),
        format!("/api/v1/admin/{id}"),
        format!("/api/v1/admin/{id}/sessions"),
    ] {
        assert_eq!(app.get(&path, Some(&root)).await.status(), StatusCode::OK);
    }
    assert_eq!(count().await, before);
}

async fn events_expire_after_the_retention(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUDIT_RETENTION", "2s")]).await;
    let (_, token) = app.user("ada").await;
    // Registered, verification mail sent (to the log), logged in.
    assert_eq!(own_events(&app, &token).await.len(), 3);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(own_events(&app, &token).await.is_empty(), "expired");
}

on_both_stores!(
    user_and_admin_acts_are_recorded,
    self_service_acts_are_recorded,
    admin_acts_name_the_admin,
    paging_is_stable_while_events_arrive,
    bad_queries_are_422_and_the_admin_listing_needs_an_admin,
    the_read_path_records_nothing,
    events_expire_after_the_retention,
);

/// A failed event write is counted and logged, and the act it describes still succeeds. The
/// test server fails the next `insert` command of this server's connections (a `failCommand`
/// fail point, which only the MongoDB protocol offers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_event_write_does_not_fail_the_act() {
    let Some(Backend::Mongo(url)) = Backend::mongo() else {
        return;
    };
    // The fail point fires on connections of this application name only: other tests' servers
    // share the database server and must not see it.
    let app_name = format!(
        "failpoint{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let separator = if url.contains('?') { "&" } else { "/?" };
    let named_url = format!("{url}{separator}appName={app_name}");
    let app = TestApp::spawn_with(Backend::Mongo(url.clone()), &[("MONGO_URL", &named_url)]).await;
    let (_, token) = app.user("ada").await;
    let client = mongodb::Client::with_uri_str(&url).await.unwrap();
    let admin = client.database("admin");
    let fail_point = |mode: mongodb::bson::Bson| {
        mongodb::bson::doc! {
            "configureFailPoint": "failCommand",
            "mode": mode,
            "data": { "failCommands": ["insert"], "errorCode": 2, "appName": &app_name },
        }
    };
    admin
        .run_command(fail_point(mongodb::bson::doc! { "times": 1 }.into()))
        .await
        .unwrap();
    let res = app
        .post("/api/v1/auth/logout-all", None, Some(&token))
        .await;
    admin.run_command(fail_point("off".into())).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the act succeeded");
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("authkit_audit_write_failures_total 1"),
        "{metrics}"
    );
    client.shutdown().await;
}

/// The secret scan every test's server gets when it is dropped (see `helpers.rs`) is not
/// vacuous: an event holding a password, or a session's refresh jti, is caught.
#[tokio::test]
async fn the_secret_scan_catches_a_planted_secret() {
    use authkit::domain::event::SecurityEvent;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let settings = authkit::Settings::from_lookup(|k| match k {
        "DATA_DIR" => Some(data.clone()),
        "SECRET_KEY" => Some("test-secret-key-that-is-long-enough-0123456789".into()),
        _ => None,
    })
    .unwrap();
    let ctx = authkit::app::context(settings).await.unwrap();
    assert_eq!(crate::helpers::scan_events(&ctx).await, Ok(()));
    let now = chrono::Utc::now();
    let planted = SecurityEvent {
        id: authkit::domain::new_id(),
        at: now,
        kind: "login.failed".into(),
        user_id: None,
        actor_id: None,
        session_id: None,
        org_id: None,
        ip: None,
        device: None,
        user_agent: Some(format!("curl {PASSWORD}")),
        detail: Default::default(),
        expires_at: now + chrono::Duration::days(1),
    };
    ctx.store.insert_event(&planted).await.unwrap();
    let found = crate::helpers::scan_events(&ctx).await.unwrap_err();
    assert!(found.contains(PASSWORD), "{found}");
}
