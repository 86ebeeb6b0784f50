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
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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
