//! The database goes away and comes back: readiness follows it, liveness does not, and the server
//! recovers without a restart. Needs its own MongoDB-compatible server process to kill, started
//! from `TEST_MONGOD_CMD` (scripts/test.sh sets it to SecantusDB).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp};

/// The command that starts a MongoDB-compatible server; `{port}` and `{data}` are substituted.
fn mongod_command() -> Option<String> {
    match std::env::var("TEST_MONGOD_CMD") {
        Ok(cmd) if !cmd.is_empty() => Some(cmd),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but TEST_MONGOD_CMD is not set: run the tests through scripts/test.sh")
        }
        _ => {
            eprintln!("SKIPPED: TEST_MONGOD_CMD is not set (scripts/test.sh sets it)");
            None
        }
    }
}

struct Mongod {
    child: Child,
}

impl Mongod {
    fn start(cmd: &str, port: u16, data: &std::path::Path) -> Self {
        let line = cmd
            .replace("{port}", &port.to_string())
            .replace("{data}", &data.display().to_string());
        let log = std::fs::File::create(data.with_extension("log")).expect("database log file");
        let child = Command::new("sh")
            .args(["-c", &format!("exec {line}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("database starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "database did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mongod {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn status_of(app: &TestApp, path: &str) -> StatusCode {
    app.get(path, None).await.status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_and_recovers() {
    let Some(cmd) = mongod_command() else { return };
    let (data, port) = (tempfile::tempdir().unwrap(), crate::helpers::free_port());
    let mut mongod = Mongod::start(&cmd, port, data.path());
    let app = TestApp::spawn(Backend::Mongo(format!("mongodb://127.0.0.1:{port}"))).await;
    let (_, token) = app.user("survivor").await;
    assert_eq!(status_of(&app, "/ready").await, StatusCode::OK);

    mongod.kill();
    let down_at = Instant::now();
    let ready = status_of(&app, "/ready").await;
    assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        down_at.elapsed() < Duration::from_secs(3),
        "503 within 3 s, took {:?}",
        down_at.elapsed()
    );
    assert_eq!(
        status_of(&app, "/health").await,
        StatusCode::OK,
        "liveness does not depend on the database"
    );
    // A request that needs the database fails fast with 503 in the envelope, not 500.
    let res = app.get("/api/v1/user/", Some(&token)).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    let _mongod = Mongod::start(&cmd, port, data.path());
    let deadline = Instant::now() + Duration::from_secs(15);
    while status_of(&app, "/ready").await != StatusCode::OK {
        assert!(Instant::now() < deadline, "/ready did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        app.get("/api/v1/user/", Some(&token)).await.status(),
        StatusCode::OK,
        "data survived, service resumed"
    );
}

/// Outcome counts of a load phase.
#[derive(Default, Debug)]
struct Tally {
    requests: u64,
    by_status: std::collections::BTreeMap<u16, u64>,
    slowest: Duration,
}

impl Tally {
    fn add(&mut self, status: u16, took: Duration) {
        self.requests += 1;
        *self.by_status.entry(status).or_default() += 1;
        self.slowest = self.slowest.max(took);
    }
    fn count(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }
}

/// Registers fresh users and logs in as already registered ones, from `workers` tasks, until
/// `stop` is set. Returns the tally and the usernames whose registration was acknowledged (201).
async fn drive_load(
    base: String,
    phase: &'static str,
    workers: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (Tally, Vec<String>) {
    use std::sync::atomic::Ordering;
    let mut handles = Vec::new();
    for w in 0..workers {
        let base = base.clone();
        let stop = stop.clone();
        handles.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
            let mut tally = Tally::default();
            let mut acknowledged = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let username = format!("{phase}{w}x{i}");
                let body = serde_json::json!({"username": username, "email": format!("{username}@example.com"), "password": crate::helpers::PASSWORD});
                let started = Instant::now();
                let status = match client.post(format!("{base}/api/v1/auth/register")).json(&body).send().await {
                    Ok(res) => res.status().as_u16(),
                    Err(_) => 0,
                };
                tally.add(status, started.elapsed());
                if status == 201 {
                    acknowledged.push(username);
                }
                if let Some(known) = acknowledged.last() {
                    let body = serde_json::json!({"email": known, "password": crate::helpers::PASSWORD});
                    let started = Instant::now();
                    let status = match client.post(format!("{base}/api/v1/auth/login")).json(&body).send().await {
                        Ok(res) => res.status().as_u16(),
                        Err(_) => 0,
                    };
                    tally.add(status, started.elapsed());
                }
                if status != 201 && status != 200 {
                    // The database is away: do not spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            (tally, acknowledged)
        }));
    }
    let mut total = Tally::default();
    let mut acknowledged = Vec::new();
    for h in handles {
        let (t, a) = h.await.unwrap();
        total.requests += t.requests;
        for (s, n) in t.by_status {
            *total.by_status.entry(s).or_default() += n;
        }
        total.slowest = total.slowest.max(t.slowest);
        acknowledged.extend(a);
    }
    (total, acknowledged)
}

async fn load_for(
    base: &str,
    phase: &'static str,
    workers: usize,
    secs: u64,
) -> (Tally, Vec<String>) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn(drive_load(base.to_string(), phase, workers, stop.clone()));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await.unwrap()
}

fn assert_only_expected_statuses(phase: &str, tally: &Tally, allowed: &[u16]) {
    for (status, n) in &tally.by_status {
        assert!(
            allowed.contains(status),
            "{phase}: {n} answers with status {status} ({tally:?})"
        );
    }
}

/// Kill -9 the database under a registration and login load, restart it on the same data, and
/// check that nothing acknowledged was lost and that the outage was answered with quick 503s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_crash_under_load_loses_no_acknowledged_write() {
    let Some(cmd) = mongod_command() else { return };
    let (data, port) = (tempfile::tempdir().unwrap(), crate::helpers::free_port());
    let mut mongod = Mongod::start(&cmd, port, data.path());
    let limits_off = [
        ("RATE_LIMIT_LOGIN", "off"),
        ("RATE_LIMIT_REGISTER", "off"),
        ("LOGIN_LOCKOUT", "off"),
    ];
    let app = TestApp::spawn_with(
        Backend::Mongo(format!("mongodb://127.0.0.1:{port}")),
        &limits_off,
    )
    .await;

    // Load runs across the crash: a steady phase, the kill, the outage, the restart.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn(drive_load(app.base.clone(), "crash", 4, stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    mongod.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _mongod = Mongod::start(&cmd, port, data.path());
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_of(&app, "/ready").await != StatusCode::OK {
        assert!(Instant::now() < deadline, "/ready did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status_of(&app, "/health").await, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (crash, mut acknowledged) = load.await.unwrap();
    assert_only_expected_statuses("across the crash", &crash, &[200, 201, 503]);
    assert!(crash.count(503) > 0, "the outage produced 503s: {crash:?}");
    assert!(
        crash.slowest < Duration::from_secs(6),
        "no request hung: slowest {:?}",
        crash.slowest
    );

    // Recovered without a restart: a clean phase of only successes.
    let (after, more) = load_for(&app.base, "after", 4, 2).await;
    assert_only_expected_statuses("after recovery", &after, &[200, 201]);
    assert!(after.count(201) > 0);
    acknowledged.extend(more);

    // Every acknowledged registration survived the crash.
    let client = reqwest::Client::new();
    for username in &acknowledged {
        let body = serde_json::json!({"email": username, "password": crate::helpers::PASSWORD});
        let res = client
            .post(app.url("/api/v1/auth/login"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "acknowledged user {username} cannot log in"
        );
    }
    eprintln!(
        "FAULT mongodb kill -9: {} requests across the crash {:?}, slowest {:?}; {} after recovery; {} acknowledged registrations, 0 lost",
        crash.requests,
        crash.by_status,
        crash.slowest,
        after.requests,
        acknowledged.len()
    );
}

/// The embedded store's disk fills up: writes answer 503 (not 500), reads keep working, and once
/// space is freed the same process carries on with its data intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_disk_full_is_a_clean_503() {
    let mount = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(mount.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: mounting a small tmpfs needs root (CAP_SYS_ADMIN)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.path().to_path_buf());
    let data_dir = mount.path().join("data").display().to_string();
    let app = TestApp::spawn_with(Backend::Sqlite, &[("DATA_DIR", data_dir.as_str())]).await;
    let (_, token) = app.user("before").await;

    // Fill the disk.
    let filler = mount.path().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k", "count=1000"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status();
    let mut statuses = Vec::new();
    for i in 0..20 {
        let body = serde_json::json!({"username": format!("full{i}"), "email": format!("full{i}@example.com"), "password": crate::helpers::PASSWORD});
        let res = app.post("/api/v1/auth/register", Some(body), None).await;
        statuses.push(res.status().as_u16());
    }
    assert!(
        statuses.iter().all(|s| *s == 503 || *s == 201),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "a full disk refuses writes with 503: {statuses:?}"
    );
    assert_eq!(
        app.get("/api/v1/user/", Some(&token)).await.status(),
        StatusCode::OK,
        "reads still work"
    );

    std::fs::remove_file(&filler).unwrap();
    let body = serde_json::json!({"username": "after", "email": "after@example.com", "password": crate::helpers::PASSWORD});
    let res = app.post("/api/v1/auth/register", Some(body), None).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "writes resume once space is free"
    );
    app.login("before", crate::helpers::PASSWORD).await;
    app.login("after", crate::helpers::PASSWORD).await;
    eprintln!(
        "FAULT sqlite disk full: 20 registrations on a full disk -> {statuses:?}; recovered after freeing space"
    );
}

/// The server starts before its database: alive at once, not ready, every database route a 503
/// in the envelope; when the database comes up it creates its indexes, seeds the roles and
/// serves, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_before_the_database_and_serves_once_it_answers() {
    let Some(cmd) = mongod_command() else { return };
    let (data, port) = (tempfile::tempdir().unwrap(), crate::helpers::free_port());
    let app = TestApp::spawn(Backend::Mongo(format!("mongodb://127.0.0.1:{port}"))).await;
    assert_eq!(status_of(&app, "/health").await, StatusCode::OK);
    assert_eq!(
        status_of(&app, "/ready").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let register = || {
        app.post(
            "/api/v1/auth/register",
            Some(serde_json::json!({
                "username": "early", "email": "early@example.com", "password": crate::helpers::PASSWORD
            })),
            None,
        )
    };
    crate::helpers::expect_error(register().await, StatusCode::SERVICE_UNAVAILABLE).await;

    let _mongod = Mongod::start(&cmd, port, data.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    while status_of(&app, "/ready").await != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "/ready did not follow the database"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(register().await.status(), StatusCode::CREATED);
    // The unique indexes exist: the same account again is a 409, not a second account.
    crate::helpers::expect_error(register().await, StatusCode::CONFLICT).await;
    app.login("early", crate::helpers::PASSWORD).await;
}
