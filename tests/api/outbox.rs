//! The mail outbox under an SMTP outage (docs/API.md, "Email: verification, password reset, email change"): mail requested while the SMTP server
//! is down is sent once it is back, all of it and each mail once, also when two server instances
//! share the store and both send. The SMTP server is a real process (`TEST_SMTPD_CMD`, aiosmtpd),
//! started late and stopped by the test.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, free_port, read};
use crate::mailbox::{Mailbox, unique_address};
use crate::on_both_stores;

/// The command that starts an SMTP server; `{port}` and `{dir}` (its Maildir) are substituted.
fn smtpd_command() -> Option<String> {
    match std::env::var("TEST_SMTPD_CMD") {
        Ok(cmd) if !cmd.is_empty() => Some(cmd),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but TEST_SMTPD_CMD is not set: run the tests through scripts/test.sh")
        }
        _ => {
            eprintln!("SKIPPED: TEST_SMTPD_CMD is not set (scripts/test.sh sets it)");
            None
        }
    }
}

struct Smtpd {
    child: Child,
}

impl Smtpd {
    fn start(cmd: &str, port: u16, dir: &std::path::Path) -> Self {
        let line = cmd
            .replace("{port}", &port.to_string())
            .replace("{dir}", &dir.display().to_string());
        let child = Command::new("sh")
            .args(["-c", &format!("exec {line}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the SMTP server starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the SMTP server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child }
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MAILS: usize = 20;

async fn an_smtp_outage_delays_mail_and_loses_none(backend: Backend) {
    let Some(cmd) = smtpd_command() else { return };
    let port = free_port();
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let shared = tempfile::tempdir().unwrap();
    let data_dir = shared.path().join("data").display().to_string();
    let db_name = format!("o{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
    let mut vars = vec![
        ("SMTP_URL", smtp_url.as_str()),
        ("RATE_LIMIT_MAIL_ADDRESS", "off"),
        ("RATE_LIMIT_MAIL_IP", "off"),
    ];
    // Both instances on one store.
    match backend {
        Backend::Sqlite => vars.push(("DATA_DIR", &data_dir)),
        Backend::Mongo(_) => vars.push(("MONGODB_NAME", &db_name)),
    }
    let first = TestApp::spawn_with(backend.clone(), &vars).await;
    let second = TestApp::spawn_with(backend, &vars).await;

    // Up: accounts are made (each gets its verification mail).
    let maildir = shared.path().join("mail");
    let mailbox = Mailbox::at(&maildir);
    let smtpd = Smtpd::start(&cmd, port, &maildir);
    let mut addresses = Vec::new();
    for i in 0..MAILS {
        let email = unique_address(&format!("outage{i}"));
        let body = json!({"username": format!("outage{i}"), "email": email, "password": PASSWORD});
        let (status, answer) =
            read(first.post("/api/v1/auth/register", Some(body), None).await).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        addresses.push(email);
    }
    for email in &addresses {
        mailbox.wait_for(email, 1, Duration::from_secs(30)).await;
    }

    // Down: 20 resets requested through both instances, each answered at once.
    drop(smtpd);
    let down = Instant::now();
    for (i, email) in addresses.iter().enumerate() {
        let via = if i % 2 == 0 { &first } else { &second };
        let res = via
            .post(
                "/api/v1/auth/password/forgot",
                Some(json!({"email": email})),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    // Until every one of them has been tried and put off.
    let deadline = Instant::now() + Duration::from_secs(30);
    while retried(&first).await + retried(&second).await < MAILS as u64 {
        assert!(
            Instant::now() < deadline,
            "no delivery was tried during the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("the SMTP server was down for {:?}", down.elapsed());

    // Back: every mail arrives, each once.
    let _smtpd = Smtpd::start(&cmd, port, &maildir);
    let back = Instant::now();
    for email in &addresses {
        mailbox.wait_for(email, 2, Duration::from_secs(60)).await;
    }
    eprintln!(
        "all mail arrived {:?} after the SMTP server came back",
        back.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    for email in &addresses {
        let subjects: Vec<String> = mailbox.to(email).into_iter().map(|m| m.subject).collect();
        assert_eq!(
            subjects.len(),
            2,
            "each mail once: {email} got {subjects:?}"
        );
        assert!(
            subjects.iter().any(|s| s.contains("Confirm")),
            "{subjects:?}"
        );
        assert!(subjects.iter().any(|s| s.contains("Reset")), "{subjects:?}");
    }
}

/// Deliveries this instance put off for a retry.
async fn retried(app: &TestApp) -> u64 {
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("authkit_mail_deliveries_total{outcome=\"retried\"} "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

on_both_stores!(an_smtp_outage_delays_mail_and_loses_none);
