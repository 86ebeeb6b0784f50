//! The released binary as an operator meets it: started in an empty directory with only
//! environment variables, stopped with SIGTERM, and its `create-admin` command.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, free_port, read};
use crate::on_both_stores;

const BIN: &str = env!("CARGO_BIN_EXE_authkit");

/// The binary with a clean environment: only PATH and what the test passes.
pub(crate) fn command(dir: &Path, vars: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// The store settings of a test's server processes; on MongoDB a fresh database, dropped when
/// this is.
pub(crate) struct StoreVars(Vec<(&'static str, String)>);

impl std::ops::Deref for StoreVars {
    type Target = Vec<(&'static str, String)>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for StoreVars {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for StoreVars {
    fn drop(&mut self) {
        let get = |key| self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v);
        if let (Some(url), Some(name)) = (get("MONGO_URL"), get("MONGODB_NAME")) {
            crate::helpers::drop_test_database(url, name);
        }
    }
}

pub(crate) fn store_vars(backend: &Backend) -> StoreVars {
    StoreVars(match backend {
        Backend::Sqlite => vec![],
        Backend::Mongo(url) => vec![
            ("MONGO_URL", url.clone()),
            (
                "MONGODB_NAME",
                format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..20]),
            ),
        ],
    })
}

pub(crate) struct Server {
    child: Child,
    port: u16,
}

impl Server {
    pub(crate) async fn start(dir: &Path, vars: &[(&str, String)]) -> Self {
        let port = free_port();
        let mut all = vars.to_vec();
        all.push(("PORT", port.to_string()));
        let child = command(dir, &all)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary starts");
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(res) = reqwest::get(server.url("/health")).await
                && res.status() == StatusCode::OK
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not come up");
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Waits until `/ready` answers 200 (the store is prepared).
    pub(crate) async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(res) = reqwest::get(self.url("/ready")).await
                && res.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become ready");
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`; returns its exit code.
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("process still running after {limit:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

on_both_stores!(
    runs_in_an_empty_directory,
    sigterm_finishes_the_slow_request,
    create_admin_is_idempotent,
    rotate_keys_rotates_what_a_running_server_signs_with
);

async fn runs_in_an_empty_directory(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let vars = store_vars(&backend);
    let mut server = Server::start(dir.path(), &vars).await;
    let res = reqwest::get(server.url("/ready")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let port = [("PORT", server.port.to_string())];
    let healthcheck = || {
        command(dir.path(), &port)
            .arg("healthcheck")
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(healthcheck(), "the container HEALTHCHECK command passes");
    // The request log reaches the rotating file under ./logs.
    server.terminate();
    assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(!healthcheck(), "and fails once the server is gone");
    let logs: Vec<_> = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        logs.iter()
            .any(|n| n.to_string_lossy().starts_with("app.log")),
        "{logs:?}"
    );
    let log_name = logs
        .iter()
        .find(|n| n.to_string_lossy().starts_with("app.log"))
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join("logs").join(log_name)).unwrap();
    assert!(
        text.contains("/ready") && text.contains("request_id"),
        "{text}"
    );
    if matches!(backend, Backend::Sqlite) {
        assert!(dir.path().join("data/authkit.db").exists());
        assert!(
            dir.path().join("data/secret_key").exists(),
            "development key kept under DATA_DIR"
        );
    }
}

/// Sends a registration whose body arrives slowly, stops the server in the middle of it, and
/// checks the request still completes and the process exits 0.
async fn sigterm_finishes_the_slow_request(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let vars = store_vars(&backend);
    let mut server = Server::start(dir.path(), &vars).await;
    let port = server.port;
    let body = json!({"username": "slowpoke", "email": "slow@example.com", "password": PASSWORD})
        .to_string();
    let (first, rest) = body.split_at(10);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /api/v1/auth/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.terminate();
    std::thread::sleep(Duration::from_millis(700));
    stream.write_all(rest.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the in-flight request completes: {answer}"
    );
    let started = Instant::now();
    assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(started.elapsed() < Duration::from_secs(5));
    // New connections are refused after shutdown.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

pub(crate) fn create_admin(
    dir: &Path,
    vars: &[(&str, String)],
    email: &str,
    username: &str,
    password: &str,
) -> Output {
    let mut child = command(dir, vars)
        .args([
            "create-admin",
            "--email",
            email,
            "--username",
            username,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

async fn create_admin_is_idempotent(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let vars = store_vars(&backend);
    let first = create_admin(dir.path(), &vars, "root@example.com", "root", PASSWORD);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("Created SUPER_ADMIN"), "{stdout}");
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(!stderr.contains("panicked"), "clean exit: {stderr}");
    assert!(!stdout.contains(PASSWORD));

    let second = create_admin(dir.path(), &vars, "root@example.com", "root", PASSWORD);
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success());
    assert!(stdout.contains("already an active SUPER_ADMIN"), "{stdout}");

    let bad = create_admin(dir.path(), &vars, "not-an-email", "x", "short");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("email"));

    // The server on the same store lets the admin in with full rights.
    let server = Server::start(dir.path(), &vars).await;
    let client = reqwest::Client::new();
    let (status, body) = read(
        client
            .post(server.url("/api/v1/auth/login"))
            .json(&json!({"email": "root", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["user"]["role"]["name"], "SUPER_ADMIN");
    let token = body["data"]["token"]["access_token"].as_str().unwrap();
    let res = client
        .get(server.url("/api/v1/admin/users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Promotion of an existing account.
    client
        .post(server.url("/api/v1/auth/register"))
        .json(
            &json!({"username": "promoted", "email": "promoted@example.com", "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    let promoted = create_admin(
        dir.path(),
        &vars,
        "promoted@example.com",
        "promoted",
        PASSWORD,
    );
    assert!(String::from_utf8_lossy(&promoted.stdout).contains("Promoted"));

    // Both operator acts are security events, made by no account (the command line).
    let (_, body) = read(
        client
            .get(server.url("/api/v1/admin/security-events?limit=100"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let by_command = body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"]["reason"] == "create_admin_command")
        .map(|e| (e["type"].as_str().unwrap(), e["actor_id"].is_null()))
        .collect::<Vec<_>>();
    assert_eq!(
        by_command,
        [("admin.user_updated", true), ("user.registered", true)],
        "{body}"
    );
}

#[test]
fn bad_configuration_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (vars, name) in [
        (vec![("PORT", "eighty".to_string())], "PORT"),
        (
            vec![("ENVIRONMENT", "production".to_string())],
            "SECRET_KEY",
        ),
        (
            vec![
                ("ENVIRONMENT", "production".to_string()),
                ("SECRET_KEY", "too-short".to_string()),
            ],
            "SECRET_KEY",
        ),
        // Long enough, but one character repeated: refused as no random key.
        (
            vec![
                ("ENVIRONMENT", "production".to_string()),
                ("SECRET_KEY", "k".repeat(48)),
            ],
            "SECRET_KEY",
        ),
        (vec![("LOG_FORMAT", "xml".to_string())], "LOG_FORMAT"),
        (
            vec![("ACCESS_TOKEN_TTL", "soon".to_string())],
            "ACCESS_TOKEN_TTL",
        ),
    ] {
        let out = command(dir.path(), &vars).output().unwrap();
        assert!(!out.status.success(), "{vars:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name), "{vars:?}: {stderr}");
        assert!(
            !stderr.contains("too-short"),
            "the secret is not echoed: {stderr}"
        );
    }
}

/// The `ENV` settings of the Dockerfile's runtime stage, as the container starts with them.
fn dockerfile_env() -> Vec<(String, String)> {
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile"))
        .expect("Dockerfile");
    let runtime = dockerfile
        .split("AS runtime")
        .nth(1)
        .expect("a runtime stage");
    // Join continued lines, then read `ENV K=V K=V ...` instructions.
    let joined = runtime.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|line| line.trim().strip_prefix("ENV "))
        .flat_map(|pairs| pairs.split_whitespace())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_starts_in_production_and_needs_only_the_secret() {
    let image_env = dockerfile_env();
    assert!(
        image_env.contains(&("ENVIRONMENT".into(), "production".into())),
        "the image defaults to production: {image_env:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    // The image's environment, with its paths moved into a temp dir and loopback for the test.
    let vars: Vec<(&str, String)> = image_env
        .iter()
        .map(|(k, v)| match k.as_str() {
            "DATA_DIR" => (k.as_str(), dir.path().join("data").display().to_string()),
            "LOG_DIR" => (k.as_str(), dir.path().join("logs").display().to_string()),
            "HOST" => (k.as_str(), "127.0.0.1".to_string()),
            _ => (k.as_str(), v.clone()),
        })
        .collect();

    let out = command(dir.path(), &vars).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "refuses to start without SECRET_KEY"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SECRET_KEY") && stderr.contains("required"),
        "{stderr}"
    );

    let mut with_key = vars.clone();
    with_key.push((
        "SECRET_KEY",
        "hT4v9QmX2pL7sK1zR8wB3nC6yF0gD5jE-production-test".to_string(),
    ));
    let server = Server::start(dir.path(), &with_key).await;
    server.wait_ready().await;
    let client = reqwest::Client::new();
    let res = client
        .post(server.url("/api/v1/auth/register"))
        .json(&json!({"username": "boxed", "email": "boxed@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "boxed", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("Secure"), "production cookie: {cookie}");
    assert!(res.headers().contains_key("strict-transport-security"));
    let metrics = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(
        metrics.status(),
        StatusCode::NOT_FOUND,
        "/metrics is closed"
    );
}

#[tokio::test]
async fn development_key_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]).await;
    let client = reqwest::Client::new();
    client
        .post(server.url("/api/v1/auth/register"))
        .json(&json!({"username": "keeper", "email": "keeper@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (_, body) = read(
        client
            .post(server.url("/api/v1/auth/login"))
            .json(&json!({"email": "keeper", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = body["data"]["token"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    server.terminate();
    server.wait_exit(Duration::from_secs(5));
    drop(server);

    let server = Server::start(dir.path(), &[]).await;
    let res = client
        .get(server.url("/api/v1/user/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "tokens survive a restart");
}

/// The JWKS's kids.
pub(crate) async fn published_kids(server: &Server) -> Vec<String> {
    let jwks: serde_json::Value = reqwest::get(server.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

async fn rotate_keys_rotates_what_a_running_server_signs_with(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = store_vars(&backend);
    let rotate = |vars: &[(&str, String)]| {
        let out = command(dir.path(), vars)
            .arg("rotate-keys")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };

    let (ok, text) = rotate(&store);
    assert!(!ok && text.contains("HS256"), "no keys under HS256: {text}");

    let mut vars = store.to_vec();
    vars.extend([
        ("JWT_ALG", "EdDSA".to_string()),
        ("JWKS_MAX_AGE", "1s".to_string()),
        ("ENCRYPTION_KEY", crate::keys::ENCRYPTION_KEY.to_string()),
    ]);
    let server = Server::start(dir.path(), &vars).await;
    let before = published_kids(&server).await;
    assert_eq!(before.len(), 2, "{before:?}");
    let (ok, text) = rotate(&vars);
    assert!(!ok && text.contains("rotate again in"), "too early: {text}");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (ok, text) = rotate(&vars);
    assert!(ok, "{text}");
    let active = text
        .strip_prefix("Rotated the signing keys: ")
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        before.contains(&active.to_string()),
        "published before it signs"
    );

    // The running server reloads within its interval (1 s here) and signs with it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let http = reqwest::Client::new();
    let register =
        json!({"username": "signer", "email": "signer@example.com", "password": PASSWORD});
    let res = http
        .post(server.url("/api/v1/auth/register"))
        .json(&register)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    loop {
        let login = json!({"email": "signer", "password": PASSWORD});
        let res = http
            .post(server.url("/api/v1/auth/login"))
            .json(&login)
            .send()
            .await
            .unwrap();
        let (_, body) = read(res).await;
        let token = body["data"]["token"]["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        if crate::keys::kid_of(&token) == active {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never signed with {active}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(published_kids(&server).await.len(), 3, "old, active, next");
}
