//! What a black-box probe of the server found, each attack reproduced and its defence asserted
//! (docs/RELIABILITY.md, "Hardening II"), on both stores: slow bodies that held every request
//! slot, username and email probing, an open `/metrics`, files other local users could read,
//! log lines a client could forge, and JSON read too leniently.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::binary::{Server, store_vars};
use crate::helpers::{Backend, PASSWORD, TestApp, expect_error, read};
use crate::on_both_stores;

on_both_stores!(
    stalled_bodies_from_one_address_leave_the_others_served,
    username_and_email_probes_are_limited,
    metrics_are_for_loopback_or_the_token_only,
    data_and_log_files_are_the_owners_only,
    client_values_cannot_forge_log_lines,
    json_is_read_strictly_and_worded_for_clients,
    swagger_ui_keeps_no_token_in_production,
);

/// Opens a connection that sends the headers of a registration announcing 100 bytes of body,
/// sends 4 of them, and then nothing.
fn stall_a_body(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let head = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"us"
    );
    stream.write_all(head.as_bytes()).expect("send the start");
    stream
}

/// The status line of whatever the server has answered on `stream` by now.
fn status_line(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// 600 connections from 127.0.0.1 stall their bodies (more than MAX_IN_FLIGHT, 512, on
/// purpose). 127.0.0.1 gets its share of the slots (MAX_IN_FLIGHT_PER_CLIENT, 128) and then 429;
/// a client on 127.0.0.2 registers, logs in and reads its account as if nothing were going on;
/// each stalled body ends with 408 when BODY_READ_TIMEOUT passes.
async fn stalled_bodies_from_one_address_leave_the_others_served(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("BODY_READ_TIMEOUT", "8s")]).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let stalled: Vec<TcpStream> = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || (0..600).map(|_| stall_a_body(&addr)).collect())
            .await
            .unwrap()
    };

    // Once the server has taken in its share, the stalling address is refused at once.
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let res = app.get("/api/v1/user/", None).await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.headers().contains_key("retry-after"));
            break;
        }
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(Instant::now() < deadline, "127.0.0.1 was never refused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Another address is served normally meanwhile.
    let other = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let res = other
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"username": "bystander", "email": "bystander@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("served while 600 bodies stall");
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = other
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "bystander", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["data"]["token"]["access_token"].as_str().unwrap();
    let res = other
        .get(app.url("/api/v1/user/"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // ... while the stalled bodies still held their slots.
    let res = app.get("/api/v1/user/", None).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the stalls ended too soon"
    );

    // The stalled bodies end: those admitted with 408 once their body is overdue, the rest
    // already had 429.
    let statuses: Vec<String> = tokio::task::spawn_blocking(move || {
        stalled
            .into_iter()
            .map(|mut stream| status_line(&mut stream))
            .collect()
    })
    .await
    .unwrap();
    let timed_out = statuses.iter().filter(|s| s.contains(" 408 ")).count();
    let refused = statuses.iter().filter(|s| s.contains(" 429 ")).count();
    assert_eq!(timed_out + refused, 600, "{:?}", &statuses[..5]);
    assert!(timed_out <= 128, "{timed_out} admitted");
    assert!(timed_out > 0);

    // Afterwards the address is served again.
    let res = app.get("/api/v1/user/", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// Username and email changes answer 409 for a taken one, so each is a probe: they draw on a
/// budget per account and per client address (RATE_LIMIT_ACCOUNT_CHANGE, 10/5m), as
/// registrations do.
async fn username_and_email_probes_are_limited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("target").await;
    let (_, prober) = app.user("prober").await;
    for n in 0..10 {
        let probe = if n % 2 == 0 {
            json!({"username": "target"})
        } else {
            json!({"email": "target@example.com", "current_password": PASSWORD})
        };
        let res = app.put("/api/v1/user/", probe, Some(&prober)).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "probe {n}");
    }
    let res = app
        .put(
            "/api/v1/user/",
            json!({"username": "target"}),
            Some(&prober),
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    // A second account from the same address finds the address's budget spent too.
    let (_, accomplice) = app.user("accomplice").await;
    let res = app
        .put(
            "/api/v1/user/",
            json!({"username": "target"}),
            Some(&accomplice),
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // What does not change a name or an address is not a probe.
    let res = app
        .put(
            "/api/v1/user/",
            json!({"full_name": "Still Fine"}),
            Some(&prober),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// In development without METRICS_TOKEN, `/metrics` answers loopback clients only (its counters
/// move differently for known and unknown addresses after a forgot-password request). A client
/// elsewhere, here behind a trusted proxy on the loopback, gets 403; with the token it reads them.
async fn metrics_are_for_loopback_or_the_token_only(backend: Backend) {
    let open = TestApp::spawn_with(backend.clone(), &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let res = open.get("/metrics", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let remote = open
        .client
        .get(open.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    let body = expect_error(remote, StatusCode::FORBIDDEN).await;
    assert!(body["message"].as_str().unwrap().contains("METRICS_TOKEN"));

    let guarded = TestApp::spawn_with(
        backend,
        &[
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("METRICS_TOKEN", "metrics-token-for-the-scraper"),
        ],
    )
    .await;
    let remote = guarded
        .client
        .get(guarded.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.7")
        .bearer_auth("metrics-token-for-the-scraper")
        .send()
        .await
        .unwrap();
    assert_eq!(remote.status(), StatusCode::OK);
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn log_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("app.log")
        })
        .collect()
}

/// The binary started the way an operator would, with a umask that lets everyone read
/// (022) and a data directory left 0755 by an earlier version: the data and log directories end
/// up 0700, the database, its WAL files, the generated keys and the log files 0600. In
/// development the log holds each mail, its reset code included.
async fn data_and_log_files_are_the_owners_only(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::set_permissions(
        dir.path().join("data"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let vars = store_vars(&backend);
    let server = Server::start(dir.path(), &vars).await;
    server.wait_ready().await;
    let client = reqwest::Client::new();
    let res = client
        .post(server.url("/api/v1/auth/register"))
        .json(&json!({"username": "owner", "email": "owner@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = client
        .post(server.url("/api/v1/auth/password/forgot"))
        .json(&json!({"email": "owner@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let data = dir.path().join("data");
    assert_eq!(mode(&data), 0o700, "data/");
    assert_eq!(mode(&dir.path().join("logs")), 0o700, "logs/");
    let mut files = vec![data.join("secret_key"), data.join("encryption_key")];
    if matches!(backend, Backend::Sqlite) {
        for name in ["authkit.db", "authkit.db-wal", "authkit.db-shm"] {
            files.push(data.join(name));
        }
    }
    let logs = log_files(dir.path());
    assert!(!logs.is_empty());
    let mail_logged = logs
        .iter()
        .any(|p| std::fs::read_to_string(p).unwrap().contains("reset"));
    assert!(mail_logged, "the development mail is in the log");
    files.extend(logs);
    for file in files {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

/// The words of a key=value log line, as a logfmt reader splits it: at spaces outside double
/// quotes, a backslash escaping the next character inside them.
fn logfmt_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            _ if escaped => {
                word.push(c);
                escaped = false;
            }
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ' ' if !quoted => words.push(std::mem::take(&mut word)),
            _ => word.push(c),
        }
    }
    words.push(word);
    words
}

/// A failed login with a User-Agent written to look like fields of a successful one: in the
/// default (pretty) format the file shows it as one quoted value, so no key=value reader finds an
/// `event=login.succeeded`; and the file holds no colour codes.
async fn client_values_cannot_forge_log_lines(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let vars = store_vars(&backend);
    let server = Server::start(dir.path(), &vars).await;
    server.wait_ready().await;
    let forged = "x event=login.succeeded user_id=00000000-0000-4000-8000-000000000000";
    let client = reqwest::Client::builder()
        .user_agent(forged)
        .build()
        .unwrap();
    let res = client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "nobody@example.com", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let text: String = log_files(dir.path())
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let failed_line = text
        .lines()
        .find(|l| l.contains("login.failed"))
        .unwrap_or_else(|| panic!("no login.failed line in\n{text}"));
    assert!(
        failed_line.contains(&format!("user_agent={forged:?}")),
        "{failed_line}"
    );
    for line in text.lines() {
        assert!(
            !logfmt_words(line)
                .iter()
                .any(|w| w == "event=login.succeeded"),
            "a forged field: {line}"
        );
    }
    assert!(!text.contains('\u{1b}'), "colour codes in the log file");
}

/// Bodies are read as the contract says, not as leniently as a parser allows: data after the
/// JSON value is 400, an array where an object belongs is 422 (never read field by field), a
/// charset other than UTF-8 is 415, and a 422 speaks of the field and its type, never of the
/// server's own type names or the value sent.
async fn json_is_read_strictly_and_worded_for_clients(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("strict").await;
    let raw = |path: &str, content_type: &str, body: &str| {
        app.client
            .post(app.url(path))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
    };
    let login = format!(r#"{{"email": "strict", "password": "{PASSWORD}"}}"#);

    let res = raw(
        "/api/v1/auth/login",
        "application/json",
        &format!("{login}xyz"),
    )
    .await
    .unwrap();
    let body = expect_error(res, StatusCode::BAD_REQUEST).await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("after the JSON value")
    );

    let res = raw(
        "/api/v1/auth/login",
        "application/json",
        &format!(r#"["strict", "{PASSWORD}"]"#),
    )
    .await
    .unwrap();
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["details"][0]["loc"], json!(["body"]));
    assert_eq!(body["details"][0]["type"], "model_attributes_type");

    let res = raw(
        "/api/v1/auth/login",
        "application/json; charset=utf-16",
        &login,
    )
    .await
    .unwrap();
    expect_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let res = raw(
        "/api/v1/auth/login",
        "application/json; charset=UTF-8",
        &login,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let token = app.login("strict", PASSWORD).await;
    for (bad, field, kind) in [
        (json!({"username": 5}), "username", "string_type"),
        (json!({"full_name": ["a"]}), "full_name", "string_type"),
        (
            json!({"username": "ok_name", "email": {"a": 1}}),
            "email",
            "string_type",
        ),
    ] {
        let body = expect_error(
            app.put("/api/v1/user/", bad.clone(), Some(&token)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        let detail = &body["details"][0];
        assert_eq!(detail["loc"], json!(["body", field]), "{bad}");
        assert_eq!(detail["type"], kind, "{bad}");
        assert_eq!(detail["msg"], "Input should be a valid string", "{bad}");
    }
    let body = expect_error(
        app.post(
            "/api/v1/auth/login",
            Some(json!({"email": true, "password": "value-that-must-not-echo"})),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let text = body.to_string();
    for internal in [
        "struct",
        "Request",
        "value-that-must-not-echo",
        "invalid type",
    ] {
        assert!(!text.contains(internal), "{internal} in {text}");
    }
}

/// Swagger UI keeps a pasted token in `localStorage` across reloads in development only.
async fn swagger_ui_keeps_no_token_in_production(backend: Backend) {
    let init = |app: TestApp| async move {
        let res = app.get("/docs/init.js", None).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.text().await.unwrap()
    };
    let development = init(TestApp::spawn(backend.clone()).await).await;
    assert!(development.contains("persistAuthorization: true"));
    let production =
        init(TestApp::spawn_with(backend, &[("ENVIRONMENT", "production")]).await).await;
    assert!(production.contains("persistAuthorization: false"));
    assert!(!production.contains("persistAuthorization: true"));
}
