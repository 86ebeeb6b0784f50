//! Passwords people actually choose: a new password found in the built-in list of common
//! breached passwords is refused wherever a password is set, and, with
//! `PASSWORD_BREACH_CHECK=pwned`, one the breach service lists. The service here is a small
//! local stand-in for the Pwned Passwords range API (`PwnedStandIn`), which serves range
//! answers the way the real one does and can be made slow or failing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::get;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use crate::binary::{Server, create_admin, store_vars};
use crate::helpers::{Backend, PASSWORD, TestApp, expect_error, read};
use crate::mailbox::{self, unique_address};
use crate::on_both_stores;

on_both_stores!(
    common_passwords_are_refused_wherever_a_password_is_set,
    the_common_check_can_be_turned_off,
    the_breach_service_refuses_what_it_lists,
    an_unreachable_breach_service_lets_passwords_through,
    create_admin_refuses_a_common_password,
    an_account_without_a_password_answers_like_a_wrong_one,
);

/// In the list, whatever the case.
const COMMON: [&str; 3] = ["password123", "Qwertyuiop", "ILOVEYOU1"];
/// Not in the built-in list, but listed by the stand-in breach service.
const BREACHED: &str = "listed by the breach stand-in";
/// In neither.
const STRONG: &str = "a strong and unlisted passphrase";

/// Asserts a 422 naming `field` as too common.
async fn too_common(res: reqwest::Response, field: &str) {
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let detail = &body["details"][0];
    assert_eq!(detail["loc"], json!(["body", field]), "{body}");
    assert_eq!(detail["type"], "password_too_common", "{body}");
    assert!(detail["msg"].as_str().unwrap().contains("common"), "{body}");
}

async fn register(app: &TestApp, name: &str, password: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/register",
        Some(
            json!({"username": name, "email": format!("{name}@example.com"), "password": password}),
        ),
        None,
    )
    .await
}

/// Registration, a change of one's own password, an admin's change and a reset all refuse a
/// common password (compared case-insensitively); a strong one passes; existing accounts still
/// log in (the check runs when a password is set, never at login).
async fn common_passwords_are_refused_wherever_a_password_is_set(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (n, common) in COMMON.iter().enumerate() {
        too_common(
            register(&app, &format!("common{n}"), common).await,
            "password",
        )
        .await;
    }
    assert_eq!(
        register(&app, "strong", STRONG).await.status(),
        StatusCode::CREATED
    );

    let token = app.login("strong", STRONG).await;
    let change = json!({"password": "password123", "current_password": STRONG});
    too_common(
        app.put("/api/v1/user/", change, Some(&token)).await,
        "password",
    )
    .await;

    let (_, admin) = app.user_with_role("chief", "SUPER_ADMIN").await;
    let target = app.register("target").await;
    let path = format!("/api/v1/admin/{}", target["id"].as_str().unwrap());
    too_common(
        app.put(&path, json!({"password": "qwertyuiop"}), Some(&admin))
            .await,
        "password",
    )
    .await;
    let res = app
        .put(&path, json!({"password": STRONG}), Some(&admin))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // A reset checks the password before it spends the proof: a made-up token shows the order.
    let reset = |password: &str| json!({"token": "not-a-real-token-but-long-enough-to-look-like-one", "new_password": password});
    too_common(
        app.post(
            "/api/v1/auth/password/reset",
            Some(reset("iloveyou1")),
            None,
        )
        .await,
        "new_password",
    )
    .await;
    let res = app
        .post("/api/v1/auth/password/reset", Some(reset(STRONG)), None)
        .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "the token is what fails"
    );

    // The unchanged account still logs in with its password.
    assert!(!app.login("strong", STRONG).await.is_empty());
}

async fn the_common_check_can_be_turned_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("PASSWORD_COMMON_CHECK", "off")]).await;
    assert_eq!(
        register(&app, "lax", "password123").await.status(),
        StatusCode::CREATED
    );
}

/// How the stand-in answers.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Answer,
    Slow,
    Fail,
}

/// A local stand-in for the Pwned Passwords range API: `GET /range/{prefix}` answers the
/// suffixes it knows under the prefix, padded with zero-count decoys as `Add-Padding` asks. It
/// records each request's path and whether it asked for padding.
#[derive(Clone)]
struct PwnedStandIn {
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<(String, bool)>>>,
}

impl PwnedStandIn {
    async fn start() -> (Self, SocketAddr) {
        let stand_in = Self {
            mode: Arc::new(Mutex::new(Mode::Answer)),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let router = axum::Router::new()
            .route("/range/{prefix}", get(Self::range))
            .with_state(stand_in.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (stand_in, addr)
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    async fn range(
        State(stand_in): State<Self>,
        UrlPath(prefix): UrlPath<String>,
        headers: HeaderMap,
    ) -> (AxumStatus, String) {
        let padded = headers.get("add-padding").is_some_and(|v| v == "true");
        stand_in
            .seen
            .lock()
            .unwrap()
            .push((format!("/range/{prefix}"), padded));
        let mode = *stand_in.mode.lock().unwrap();
        match mode {
            Mode::Fail => return (AxumStatus::INTERNAL_SERVER_ERROR, String::new()),
            Mode::Slow => tokio::time::sleep(Duration::from_secs(5)).await,
            Mode::Answer => {}
        }
        let mut lines = vec!["0018A45C4D1DEF81644B54AB7F969B88D65:2".to_string()];
        let listed = sha1_hex(BREACHED);
        if listed.starts_with(&prefix) {
            lines.push(format!("{}:3861493", &listed[5..]));
        }
        // A decoy for the strong password's suffix: count 0, as padding lines are.
        let strong = sha1_hex(STRONG);
        if strong.starts_with(&prefix) {
            lines.push(format!("{}:0", &strong[5..]));
        }
        (AxumStatus::OK, lines.join("\r\n"))
    }
}

fn sha1_hex(password: &str) -> String {
    Sha1::digest(password.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

async fn breach_app(backend: Backend, addr: SocketAddr) -> TestApp {
    let url = format!("http://{addr}");
    TestApp::spawn_with(
        backend,
        &[
            ("PASSWORD_BREACH_CHECK", "pwned"),
            ("PASSWORD_BREACH_CHECK_URL", url.as_str()),
            ("PASSWORD_BREACH_CHECK_TIMEOUT", "1s"),
        ],
    )
    .await
}

/// A password the service lists is refused at registration and at a change; one it does not
/// list, or lists only as a zero-count decoy, passes. Only the first five hex digits of the
/// SHA-1 reach the service, and padding is asked for.
async fn the_breach_service_refuses_what_it_lists(backend: Backend) {
    let (stand_in, addr) = PwnedStandIn::start().await;
    let app = breach_app(backend, addr).await;
    let body = expect_error(
        register(&app, "breached", BREACHED).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["details"][0]["type"], "password_breached", "{body}");
    assert_eq!(body["details"][0]["loc"], json!(["body", "password"]));
    assert_eq!(
        register(&app, "clear", STRONG).await.status(),
        StatusCode::CREATED
    );
    let token = app.login("clear", STRONG).await;
    let change = json!({"password": BREACHED, "current_password": STRONG});
    let body = expect_error(
        app.put("/api/v1/user/", change, Some(&token)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["details"][0]["type"], "password_breached");

    let seen = stand_in.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for (path, padded) in &seen {
        let prefix = path.strip_prefix("/range/").unwrap();
        assert!(
            prefix.len() == 5 && prefix.chars().all(|c| c.is_ascii_hexdigit()),
            "{path}"
        );
        assert!(padded, "Add-Padding was not sent");
    }
    // A common password never reaches the service: the built-in list answers first.
    too_common(register(&app, "common", "password123").await, "password").await;
    assert_eq!(stand_in.seen.lock().unwrap().len(), 3);
}

/// When the service fails (500) or is slower than PASSWORD_BREACH_CHECK_TIMEOUT, passwords are
/// accepted, never a 5xx, and `/metrics` counts each unavailable check.
async fn an_unreachable_breach_service_lets_passwords_through(backend: Backend) {
    let (stand_in, addr) = PwnedStandIn::start().await;
    let app = breach_app(backend, addr).await;
    stand_in.set(Mode::Fail);
    assert_eq!(
        register(&app, "during500", BREACHED).await.status(),
        StatusCode::CREATED
    );
    stand_in.set(Mode::Slow);
    let started = Instant::now();
    assert_eq!(
        register(&app, "duringslow", BREACHED).await.status(),
        StatusCode::CREATED
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "waited {:?} for a slow service",
        started.elapsed()
    );
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"authkit_password_breach_checks_total{outcome="unavailable"} 2"#),
        "{metrics}"
    );
    // Back: it refuses again.
    stand_in.set(Mode::Answer);
    let res = register(&app, "after", BREACHED).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// The operator's `create-admin` refuses a common password (exit 1, the reason on stderr), and
/// the log of a server whose breach service fails names neither the password nor its hash.
async fn create_admin_refuses_a_common_password(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let vars = store_vars(&backend);
    let out = create_admin(dir.path(), &vars, "root@example.com", "root", "password123");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("common"), "{stderr}");
    let out = create_admin(dir.path(), &vars, "root@example.com", "root", STRONG);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (stand_in, addr) = PwnedStandIn::start().await;
    stand_in.set(Mode::Fail);
    let mut with_check = vars.to_vec();
    with_check.push(("PASSWORD_BREACH_CHECK", "pwned".to_string()));
    with_check.push(("PASSWORD_BREACH_CHECK_URL", format!("http://{addr}")));
    let server = Server::start(dir.path(), &with_check).await;
    server.wait_ready().await;
    let res = reqwest::Client::new()
        .post(server.url("/api/v1/auth/register"))
        .json(&json!({"username": "logged", "email": "logged@example.com", "password": BREACHED}))
        .send()
        .await
        .unwrap();
    let (status, body): (StatusCode, Value) = read(res).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log: String = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(log.contains("breach service did not answer"), "{log}");
    let digest = sha1_hex(BREACHED);
    for secret in [BREACHED, &digest[..5], &digest[5..]] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
    let _ = PASSWORD;
}

/// Removes an account's password in the store, as a provider or an emailed code will create
/// accounts: an empty hash.
async fn remove_password(app: &TestApp, user_id: &str) {
    let settings = authkit::Settings::from_lookup(|k| app.vars.get(k).cloned()).unwrap();
    let ctx = authkit::app::context(settings).await.expect("context");
    let changes = authkit::domain::UserChanges {
        password_hash: Some(String::new()),
        ..Default::default()
    };
    ctx.store
        .update_user(user_id, &changes, None, chrono::Utc::now())
        .await
        .unwrap()
        .expect("the user");
    ctx.store.shutdown().await;
}

/// An account without a password: a password login answers exactly as a wrong password does
/// (401 `Invalid credentials`, checked against a dummy hash so the time is the same), the views
/// say `has_password: false`, and the forgot/reset flow sets a first password.
async fn an_account_without_a_password_answers_like_a_wrong_one(backend: Backend) {
    let Some((url, mail)) = mailbox::smtp() else {
        return;
    };
    let app = TestApp::spawn_with(backend, &[("SMTP_URL", url.as_str())]).await;
    let email = unique_address("nopass");
    let res = app
        .post(
            "/api/v1/auth/register",
            Some(json!({"username": "nopass", "email": email, "password": STRONG})),
            None,
        )
        .await;
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["has_password"], true);
    let id = body["data"]["id"].as_str().unwrap().to_string();
    remove_password(&app, &id).await;

    for password in [STRONG, "any other password"] {
        let body = expect_error(
            app.post(
                "/api/v1/auth/login",
                Some(json!({"email": "nopass", "password": password})),
                None,
            )
            .await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(body["message"], "Invalid credentials");
    }
    let (_, admin) = app.user_with_role("overseer", "SUPER_ADMIN").await;
    let (_, view) = read(app.get(&format!("/api/v1/admin/{id}"), Some(&admin)).await).await;
    assert_eq!(view["data"]["has_password"], false, "{view}");

    // A first password through forgot and reset.
    let res = app
        .post(
            "/api/v1/auth/password/forgot",
            Some(json!({"email": email})),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let sent = mail.latest(&email, "Reset your").await;
    let body = json!({"token": sent.link_token(), "new_password": "a first password of mine"});
    let (status, body) = read(
        app.post("/api/v1/auth/password/reset", Some(body), None)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = app.login("nopass", "a first password of mine").await;
    let (_, me) = read(app.get("/api/v1/user/", Some(&token)).await).await;
    assert_eq!(me["data"]["has_password"], true);
}
