//! The gaps a security review found, one test each (docs/RELIABILITY.md, "Hardening"), on both
//! stores. Each drives the server as an attacker or an operator would and asserts what they would
//! see.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::abuse::{login, retry_after};
use crate::helpers::{Backend, PASSWORD, TestApp, expect_error, read};
use crate::on_both_stores;

on_both_stores!(
    current_password_guesses_draw_on_the_account_budget,
    one_budget_whether_typed_as_username_or_email,
    ipv6_clients_are_limited_by_their_network,
    a_failed_session_write_still_ends_the_old_sessions,
    reactivation_does_not_revive_ended_sessions,
    bad_path_encoding_is_answered_in_the_envelope,
    admin_search_is_bounded,
    forwarded_for_hops_with_ports_and_garbage,
    a_promotion_during_an_admin_write_is_respected,
    sessions_end_at_their_absolute_lifetime,
    a_full_hashing_queue_answers_503_at_once,
);

/// Logs in with a client of its own (another device); returns its access token.
async fn other_device(app: &TestApp, login: &str, password: &str) -> String {
    let res = app
        .other_client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": login, "password": password}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["token"]["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Starts `n` logins of `login` at once, each from a client of its own.
fn concurrent_logins(
    app: &TestApp,
    login: &str,
    n: usize,
) -> Vec<tokio::task::JoinHandle<reqwest::Response>> {
    (0..n)
        .map(|_| {
            let request = app
                .other_client()
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"email": login, "password": PASSWORD}));
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect()
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    app.get("/api/v1/user/", Some(token)).await.status()
}

/// Item 1: a stolen access token does not give unlimited guesses at the current password.
async fn current_password_guesses_draw_on_the_account_budget(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("LOGIN_LOCKOUT", "3/30s")]).await;
    let (_, token) = app.user("guarded").await;
    let guess = |password: &'static str| {
        app.put(
            "/api/v1/user/",
            json!({"password": "a brand new password", "current_password": password}),
            Some(&token),
        )
    };
    expect_error(guess("wrong guess one").await, StatusCode::BAD_REQUEST).await;
    // The second guess at once is held back, as a second wrong login would be.
    let res = guess("wrong guess two").await;
    assert_eq!(retry_after(&res), 1);
    expect_error(res, StatusCode::TOO_MANY_REQUESTS).await;
    // The budget is the account's: the login is held back too.
    expect_error(
        login(&app, "guarded", PASSWORD, None).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    expect_error(guess("wrong guess three").await, StatusCode::BAD_REQUEST).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    expect_error(guess("wrong guess four").await, StatusCode::BAD_REQUEST).await;
    // Three failures: locked for the window, the right password included.
    let res = guess(PASSWORD).await;
    assert!(retry_after(&res) > 2, "locked for the window");
    expect_error(res, StatusCode::TOO_MANY_REQUESTS).await;
}

/// Item 2: 5 failures as `name` and 5 more as `name@example.com` are one account's 10.
async fn one_budget_whether_typed_as_username_or_email(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("LOGIN_LOCKOUT", "2/30s")]).await;
    app.register("twonames").await;
    expect_error(
        login(&app, "twonames", "wrong password", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let res = login(&app, "TwoNames@Example.com", "wrong password", None).await;
    assert_eq!(
        retry_after(&res),
        1,
        "the email shares the username's budget"
    );
    expect_error(res, StatusCode::TOO_MANY_REQUESTS).await;
}

/// Item 3: one /64 is one client for the per-IP limits; the next /64 is another.
async fn ipv6_clients_are_limited_by_their_network(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("RATE_LIMIT_LOGIN", "2/1m"),
        ],
    )
    .await;
    let from = |ip: &'static str| login(&app, "nobody", "whatever pw", Some(ip));
    for ip in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"] {
        expect_error(from(ip).await, StatusCode::UNAUTHORIZED).await;
    }
    let res = from("2001:db8:1:2:1234:5678:9abc:def0").await;
    expect_error(res, StatusCode::TOO_MANY_REQUESTS).await;
    // The neighbouring network has a budget of its own.
    let res = from("2001:db8:1:3::1").await;
    expect_error(res, StatusCode::UNAUTHORIZED).await;
}

/// Makes the store refuse to mark a second session as revoked by the same reason: a partial
/// unique index on `revoke_reason`, created in the database itself. The write that records
/// revocations then fails after its first row, as a database fault midway would make it.
async fn break_revocation_records(app: &TestApp) {
    match app.vars.get("MONGO_URL") {
        None => {
            let path = std::path::Path::new(&app.vars["DATA_DIR"]).join("authkit.db");
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch(
                "CREATE UNIQUE INDEX injected_fault ON sessions (revoke_reason)
                 WHERE revoke_reason IS NOT NULL",
            )
            .unwrap();
        }
        Some(url) => {
            let client = mongodb::Client::with_uri_str(url).await.unwrap();
            let sessions = client
                .database(&app.vars["MONGODB_NAME"])
                .collection::<bson::Document>("sessions");
            let options = mongodb::options::IndexOptions::builder()
                .unique(true)
                .partial_filter_expression(bson::doc! { "revoke_reason": { "$type": "string" } })
                .name("injected_fault".to_string())
                .build();
            let index = mongodb::IndexModel::builder()
                .keys(bson::doc! { "revoke_reason": 1 })
                .options(options)
                .build();
            sessions.create_index(index).await.unwrap();
        }
    }
}

/// Item 4: the sessions a password change ends are ended by the change's own write, so a
/// failure of the write that records their revocation leaves none of them alive.
async fn a_failed_session_write_still_ends_the_old_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, current) = app.user("careful").await;
    let laptop = other_device(&app, "careful", PASSWORD).await;
    let phone = other_device(&app, "careful", PASSWORD).await;
    break_revocation_records(&app).await;

    let res = app
        .put(
            "/api/v1/user/",
            json!({"password": "a brand new password", "current_password": PASSWORD}),
            Some(&current),
        )
        .await;
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(me_status(&app, &laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&app, &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me_status(&app, &current).await,
        StatusCode::OK,
        "the session that changed the password lives on"
    );
    // Nor do the ended sessions show in the list.
    let (_, list) = read(app.get("/api/v1/user/sessions", Some(&current)).await).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    // The same holds for an admin's deactivation.
    let (_, admin) = app.user_with_role("keeper", "SUPER_ADMIN").await;
    let (victim_id, victim) = app.user("victim").await;
    let victim_phone = other_device(&app, "victim", PASSWORD).await;
    let res = app
        .put(
            &format!("/api/v1/admin/{victim_id}"),
            json!({"is_active": false}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(me_status(&app, &victim).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me_status(&app, &victim_phone).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Item 4, seen from the account: a deactivation ends the sessions for good, so reactivating
/// the account (or a refresh token kept from before) opens nothing old.
async fn reactivation_does_not_revive_ended_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.user_with_role("boss", "SUPER_ADMIN").await;
    let user = app.register("sleeper").await;
    let id = user["id"].as_str().unwrap();
    let device = app.other_client();
    let res = device
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "sleeper", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (_, body) = read(res).await;
    let token = body["data"]["token"]["access_token"].as_str().unwrap();
    for active in [false, true] {
        let res = app
            .put(
                &format!("/api/v1/admin/{id}"),
                json!({"is_active": active}),
                Some(&admin),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(me_status(&app, token).await, StatusCode::UNAUTHORIZED);
    let refresh = device
        .post(app.url("/api/v1/auth/refresh"))
        .send()
        .await
        .unwrap();
    expect_error(refresh, StatusCode::UNAUTHORIZED).await;
    // A new login works as usual.
    app.login("sleeper", PASSWORD).await;
}

/// Item 5: a percent-encoding that is not UTF-8 in any path parameter.
async fn bad_path_encoding_is_answered_in_the_envelope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, user) = app.user("plain").await;
    let (_, admin) = app.user_with_role("chief", "SUPER_ADMIN").await;
    let cases = [
        ("DELETE", "/api/v1/user/sessions/%FF", &user),
        ("GET", "/api/v1/admin/%FF", &admin),
        ("PUT", "/api/v1/admin/%FF%FE", &admin),
        ("DELETE", "/api/v1/admin/%C3%28", &admin),
        ("GET", "/api/v1/admin/%FF/sessions", &admin),
        ("DELETE", "/api/v1/admin/%FF/sessions", &admin),
    ];
    for (method, path, token) in cases {
        let mut req = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(token);
        if method == "PUT" {
            req = req.json(&json!({"full_name": "x"}));
        }
        let res = req.send().await.unwrap();
        assert_eq!(
            res.headers()["content-type"],
            "application/json",
            "{method} {path}"
        );
        expect_error(res, StatusCode::BAD_REQUEST).await;
    }
}

/// Item 6: the admin search is at most 100 characters, without control characters.
async fn admin_search_is_bounded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.user_with_role("searcher", "ADMIN").await;
    let search = |q: String| {
        let url = app.url("/api/v1/admin/users");
        app.client
            .get(url)
            .query(&[("q", q)])
            .bearer_auth(&admin)
            .send()
    };
    let ok = search("s".repeat(100)).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    for bad in ["s".repeat(101), "sea\0rch".into(), "line\nbreak".into()] {
        let body = expect_error(
            search(bad.clone()).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(body["details"][0]["loc"], json!(["query", "q"]), "{bad:?}");
    }
    // Regular expression syntax is matched literally, never refused.
    let res = search("(((a*)*)*)[".into()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// Item 7: proxies that write `ip:port`; an entry that does not parse ends the walk.
async fn forwarded_for_hops_with_ports_and_garbage(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let app = &app;
    let client_ip = |xff: &'static str| async move {
        let res = app
            .client
            .get(app.url("/"))
            .header("x-forwarded-for", xff)
            .send()
            .await
            .unwrap();
        let (_, body) = read(res).await;
        body["client_ip"].as_str().unwrap().to_string()
    };
    assert_eq!(client_ip("6.6.6.6, 203.0.113.5:4711").await, "203.0.113.5");
    assert_eq!(
        client_ip("6.6.6.6, [2001:db8::5]:4711").await,
        "2001:db8::5"
    );
    // The forged 6.6.6.6 left of an entry the server cannot read is not believed.
    assert_eq!(client_ip("6.6.6.6, unknown").await, "127.0.0.1");
    assert_eq!(client_ip("6.6.6.6, 1.2.3.4:port").await, "127.0.0.1");
}

/// Item 8: a plain ADMIN's write checked against the target's role is refused if a promotion
/// lands between the check and the write. The admin's request sets a password, so its write
/// waits for a hash; the hashing queue is kept busy so the promotion surely lands first.
async fn a_promotion_during_an_admin_write_is_respected(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("WORKERS", "1"), ("LOGIN_LOCKOUT", "off")]).await;
    let (_, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let (_, admin) = app.user_with_role("deputy", "ADMIN").await;
    let target = app.register("rising").await;
    let target_id = target["id"].as_str().unwrap().to_string();
    app.register("busybee").await;

    // Twelve logins queue about a quarter of a second of hashing on the one hashing thread.
    let busy = concurrent_logins(&app, "busybee", 12);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let admin_write = {
        let client = app.other_client();
        let url = app.url(&format!("/api/v1/admin/{target_id}"));
        let admin = admin.clone();
        tokio::spawn(async move {
            client
                .put(url)
                .bearer_auth(admin)
                .json(&json!({"password": "set by the deputy"}))
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let promotion = app
        .put(
            &format!("/api/v1/admin/{target_id}"),
            json!({"role": "ADMIN"}),
            Some(&root),
        )
        .await;
    assert_eq!(promotion.status(), StatusCode::OK);
    let res = admin_write.await.unwrap();
    expect_error(res, StatusCode::FORBIDDEN).await;
    for login in busy {
        login.await.unwrap();
    }
    // The password is the one the account had.
    app.login("rising", PASSWORD).await;
}

/// Item 10: refreshing slides a session's expiry, but not past SESSION_MAX_LIFETIME.
async fn sessions_end_at_their_absolute_lifetime(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("SESSION_MAX_LIFETIME", "3s")]).await;
    app.user("mortal").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let res = app.post("/api/v1/auth/refresh", None, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    let max_age: i64 = cookie
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Max-Age="))
        .expect("Max-Age")
        .parse()
        .unwrap();
    assert!(max_age <= 3, "the cookie ends with the session: {cookie}");
    let (_, body) = read(res).await;
    let token = body["data"]["token"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(2300)).await;
    expect_error(
        app.post("/api/v1/auth/refresh", None, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(me_status(&app, &token).await, StatusCode::UNAUTHORIZED);
    app.login("mortal", PASSWORD).await;
}

/// Item 12: with every hashing thread busy and the queue full, a login is refused at once with
/// 503 and Retry-After, never queued without bound and never a 500.
async fn a_full_hashing_queue_answers_503_at_once(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("WORKERS", "1"),
            ("PASSWORD_HASH_QUEUE", "1"),
            ("LOGIN_LOCKOUT", "off"),
        ],
    )
    .await;
    app.register("crowded").await;
    let logins = concurrent_logins(&app, "crowded", 12);
    let mut by_status = std::collections::BTreeMap::<u16, u32>::new();
    for login in logins {
        let res = login.await.unwrap();
        let status = res.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(res.headers().contains_key("retry-after"));
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["code"], 503, "{body}");
        }
        *by_status.entry(status.as_u16()).or_default() += 1;
    }
    assert!(by_status.get(&503).is_some_and(|n| *n > 0), "{by_status:?}");
    assert!(by_status.get(&200).is_some_and(|n| *n > 0), "{by_status:?}");
    assert_eq!(
        by_status.keys().copied().collect::<Vec<_>>(),
        vec![200, 503],
        "{by_status:?}"
    );
}
