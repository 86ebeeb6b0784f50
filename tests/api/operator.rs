//! The operator's commands run as an operator runs them, from the binary: `check-config`
//! reporting every problem at once, `backup` of the embedded store under write load and the
//! restore the README describes, and `rotate-keys --revoke-now` against a running server.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::binary::{Server, command, create_admin, published_kids, store_vars};
use crate::helpers::{Backend, PASSWORD, read};
use crate::keys::kid_of;
use crate::on_both_stores;

on_both_stores!(revoke_now_from_the_command_line_kills_the_running_key);

const SECRET: &str = "operator-test-secret-key-0123456789abcdefghij";

fn output_text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_reports_every_problem_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        ("ENVIRONMENT", "production".to_string()),
        ("PORT", "eighty".to_string()),
        ("RATE_LIMIT_LOGIN", "30".to_string()),
        ("MONGO_URL", "postgres://db.example/x".to_string()),
        ("JWT_ALG", "EdDSA".to_string()),
    ];
    let out = command(dir.path(), &bad)
        .arg("check-config")
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    for var in [
        "SECRET_KEY",
        "PORT",
        "RATE_LIMIT_LOGIN",
        "MONGO_URL",
        "ENCRYPTION_KEY",
    ] {
        assert!(
            stderr.contains(&format!("invalid configuration: {var}:")),
            "{var} is reported: {stderr}"
        );
    }
    assert!(
        !stderr.contains("db.example"),
        "no value is echoed: {stderr}"
    );

    // The server's own start reports the same list.
    let out = command(dir.path(), &bad).output().unwrap();
    let (_, start_stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(start_stderr.matches("invalid configuration").count(), 5);

    // A good production configuration: exit 0, a summary, nothing created.
    let good = [
        ("ENVIRONMENT", "production".to_string()),
        ("SECRET_KEY", SECRET.to_string()),
        ("DATA_DIR", dir.path().join("data").display().to_string()),
    ];
    let out = command(dir.path(), &good)
        .arg("check-config")
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert!(stdout.contains("embedded SQLite"), "{stdout}");
    assert!(!stdout.contains(SECRET), "the secret is not shown");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "check-config writes nothing"
    );

    // A data directory the server could not write is a problem too.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let unusable = [
        ("SECRET_KEY", SECRET.to_string()),
        ("DATA_DIR", file.join("data").display().to_string()),
    ];
    let out = command(dir.path(), &unusable)
        .arg("check-config")
        .output()
        .unwrap();
    let (_, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("DATA_DIR"), "{stderr}");
}

async fn register(http: &reqwest::Client, server: &Server, username: &str) -> StatusCode {
    let body = json!({
        "username": username,
        "email": format!("{username}@example.com"),
        "password": PASSWORD,
    });
    http.post(server.url("/api/v1/auth/register"))
        .json(&body)
        .send()
        .await
        .map(|res| res.status())
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

async fn usernames(http: &reqwest::Client, server: &Server, token: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for page in 1.. {
        let res = http
            .get(server.url(&format!("/api/v1/admin/users?size=100&page={page}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let (status, body) = read(res).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let users = body["data"]["users"].as_array().unwrap();
        names.extend(
            users
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_string()),
        );
        if !body["data"]["pagination"]["has_next"].as_bool().unwrap() {
            break;
        }
    }
    names
}

/// Writers register accounts all along; the backup runs in the middle. Every account whose 201
/// arrived before the backup started is in the copy, the copy opens as a new server's store,
/// and a backup never overwrites a file or runs against MongoDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_write_load_restores_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [("SECRET_KEY", SECRET.to_string())];
    let admin = create_admin(dir.path(), &vars, "root@example.com", "root", PASSWORD);
    assert!(admin.status.success(), "{:?}", output_text(&admin));
    let server = Arc::new(Server::start(dir.path(), &vars).await);

    // (username, when its 201 arrived)
    let acknowledged: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (server, acknowledged, stop) = (server.clone(), acknowledged.clone(), stop.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("w{w}n{i}");
                    if register(&http, &server, &name).await == StatusCode::CREATED {
                        acknowledged.lock().unwrap().push((name, Instant::now()));
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 8 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let backup = dir.path().join("backup.db");
    let started = Instant::now();
    let out = command(dir.path(), &vars)
        .args(["backup", backup.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("To restore"), "{stdout}");
    // The writers go on a little after the backup, then stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let before: BTreeSet<String> = acknowledged
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at < started)
        .map(|(name, _)| name.clone())
        .collect();
    let total = acknowledged.lock().unwrap().len();
    eprintln!(
        "{} accounts acknowledged before the backup, {total} in all",
        before.len()
    );

    // A second backup to the same file is refused; the first is left as it was.
    let size = std::fs::metadata(&backup).unwrap().len();
    let again = command(dir.path(), &vars)
        .args(["backup", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(output_text(&again).1.contains("exists already"));
    assert_eq!(std::fs::metadata(&backup).unwrap().len(), size);

    // Restore into a new directory, as the README says, and serve from it.
    let restored = tempfile::tempdir().unwrap();
    restore(&backup, &restored.path().join("data"));
    let copy = Server::start(restored.path(), &vars).await;
    copy.wait_ready().await;
    let http = reqwest::Client::new();
    let (status, body) = read(
        http.post(copy.url("/api/v1/auth/login"))
            .json(&json!({"email": "root", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["data"]["token"]["access_token"].as_str().unwrap();
    let present = usernames(&http, &copy, token).await;
    let missing: Vec<_> = before.difference(&present).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not restored: {missing:?}"
    );
    // A restored account signs in with its password.
    let first = before.iter().next().unwrap();
    let res = http
        .post(copy.url("/api/v1/auth/login"))
        .json(&json!({"email": first, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let mongo = [
        ("MONGO_URL", "mongodb://127.0.0.1:9/none".to_string()),
        ("SECRET_KEY", SECRET.to_string()),
    ];
    let out = command(dir.path(), &mongo)
        .args(["backup", dir.path().join("m.db").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(output_text(&out).1.contains("mongodump"));
}

/// The README's restore: the copy becomes `DATA_DIR/authkit.db`.
fn restore(backup: &Path, data_dir: &Path) {
    std::fs::create_dir_all(data_dir).unwrap();
    std::fs::copy(backup, data_dir.join("authkit.db")).unwrap();
}

/// `rotate-keys --revoke-now` from another process: the running server stops accepting the
/// tokens of the key it signed with within its reload interval (1 s here), signs with the fresh
/// key, and a client with a refresh token gets going again with one refresh.
async fn revoke_now_from_the_command_line_kills_the_running_key(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = store_vars(&backend).to_vec();
    vars.extend([
        ("JWT_ALG", "EdDSA".to_string()),
        ("JWKS_MAX_AGE", "1s".to_string()),
        ("ENCRYPTION_KEY", crate::keys::ENCRYPTION_KEY.to_string()),
        ("SECRET_KEY", SECRET.to_string()),
    ]);
    let server = Server::start(dir.path(), &vars).await;
    server.wait_ready().await;
    let http = reqwest::Client::new();
    assert_eq!(
        register(&http, &server, "holder").await,
        StatusCode::CREATED
    );
    let login = |http: reqwest::Client| {
        let url = server.url("/api/v1/auth/login");
        async move {
            let res = http
                .post(url)
                .header("x-refresh-token-transport", "body")
                .json(&json!({"email": "holder", "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            let (status, body) = read(res).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["data"]["token"].clone()
        }
    };
    let token = login(http.clone()).await;
    let leaked = token["access_token"].as_str().unwrap().to_string();
    let leaked_kid = kid_of(&leaked);
    let me = |token: String| {
        let (http, url) = (http.clone(), server.url("/api/v1/user/"));
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(leaked.clone()).await, StatusCode::OK);

    let out = command(dir.path(), &vars)
        .args(["rotate-keys", "--revoke-now"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&leaked_kid),
        "names the revoked key: {stdout}"
    );
    assert!(stdout.contains("refresh on their next 401"), "{stdout}");
    let revoked_at = Instant::now();

    // Refused within the reload interval, and no longer published.
    loop {
        if me(leaked.clone()).await == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(10),
            "the revoked key's token is still accepted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("refused {:?} after the revocation", revoked_at.elapsed());
    let published = published_kids(&server).await;
    assert!(!published.contains(&leaked_kid), "{published:?}");

    // The client's next 401 sends it to refresh: a fresh key signs its new token.
    let res = http
        .post(server.url("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": token["refresh_token"]}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let renewed = body["data"]["token"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(kid_of(&renewed), leaked_kid);
    assert_eq!(me(renewed).await, StatusCode::OK);
}
