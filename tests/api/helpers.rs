//! The test harness: each test gets a fresh server on a random port, over real HTTP, backed by a
//! fresh database on one of the two stores (a temp-dir SQLite file, or a uniquely named MongoDB
//! database on the server given by `TEST_MONGO_URL`).

use std::collections::HashMap;

use authkit::{Application, Settings};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery";

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Mongo(String),
}

impl Backend {
    /// The MongoDB backend, if a server is configured. Under `CI=true` a missing server fails the
    /// test; elsewhere the MongoDB half of each test is skipped with a loud note.
    pub fn mongo() -> Option<Self> {
        match std::env::var("TEST_MONGO_URL") {
            Ok(url) if !url.is_empty() => Some(Self::Mongo(url)),
            _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!(
                    "CI=true but TEST_MONGO_URL is not set: run the tests through scripts/test.sh"
                )
            }
            _ => {
                eprintln!(
                    "SKIPPED on MongoDB: TEST_MONGO_URL is not set (scripts/test.sh sets it)"
                );
                None
            }
        }
    }
}

/// Declares each listed `async fn NAME(backend: Backend)` as two tests, `NAME::sqlite` and
/// `NAME::mongo`, so every behaviour is checked on both stores.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mongo() {
                    if let Some(backend) = $crate::helpers::Backend::mongo() {
                        super::$name(backend).await
                    }
                }
            }
        )*
    };
}

pub struct TestApp {
    pub base: String,
    /// A client with a cookie store, like a browser.
    pub client: Client,
    pub vars: HashMap<String, String>,
    _dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // After a failed assertion the test has already failed: a second panic would abort.
        if !std::thread::panicking() {
            assert_no_secret_in_events(&self.vars);
        }
        if let (Some(url), Some(name)) = (self.vars.get("MONGO_URL"), self.vars.get("MONGODB_NAME"))
        {
            drop_test_database(url, name);
        }
    }
}

/// Every password the API tests send (long enough not to match by chance).
const TEST_PASSWORDS: &[&str] = &[
    PASSWORD,
    "wrong password",
    "admin chose this",
    "a brand new password",
    "set by the deputy",
    "not the password",
    "a new password",
    "not my password",
    "a strong and unlisted passphrase",
    "listed by the breach stand-in",
    "a first password of mine",
];

/// The secret scan: no event this test's server recorded holds a secret. Runs for every API
/// test's server as it is dropped, so together they scan every event of the whole test run.
/// Looked for: the test passwords, anything shaped like a JWT or an Argon2 hash, and the refresh
/// jtis of every session an event names. The audit log line is written from the same event, so
/// this covers it too. A store that cannot be opened (the fault tests kill theirs) is skipped.
fn assert_no_secret_in_events(vars: &HashMap<String, String>) {
    let vars = vars.clone();
    let scanned = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let settings = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap();
            let Ok(ctx) = authkit::app::context(settings).await else {
                return Ok(());
            };
            let result = scan_events(&ctx).await;
            ctx.store.shutdown().await;
            result
        })
    });
    if let Err(found) = scanned.join().expect("the secret scan ran") {
        panic!("a security event holds a secret: {found}");
    }
}

pub async fn scan_events(ctx: &authkit::context::AppContext) -> Result<(), String> {
    use authkit::domain::event::{EventCursor, EventFilter};
    let mut filter = EventFilter::default();
    let mut events = Vec::new();
    loop {
        let Ok(page) = ctx
            .store
            .list_events(&filter, 500, chrono::Utc::now())
            .await
        else {
            return Ok(());
        };
        let Some(last) = page.last() else { break };
        filter.before = Some(EventCursor::after(last));
        events.extend(page);
    }
    let mut secrets: Vec<String> = TEST_PASSWORDS.iter().map(|p| p.to_string()).collect();
    secrets.extend(["eyJ".to_string(), "$argon2".to_string()]);
    for session_id in events.iter().filter_map(|e| e.session_id.as_deref()) {
        if let Ok(Some(session)) = ctx.store.find_session(session_id).await {
            secrets.push(session.refresh_jti);
            secrets.extend(session.previous_jti);
        }
    }
    for event in &events {
        let text = format!(
            "{} {} {:?} {:?} {:?} {:?} {:?} {:?} {}",
            event.id,
            event.kind,
            event.user_id,
            event.actor_id,
            event.session_id,
            event.ip,
            event.device,
            event.user_agent,
            serde_json::Value::Object(event.detail.clone()),
        );
        if let Some(secret) = secrets.iter().find(|s| text.contains(s.as_str())) {
            return Err(format!("{secret:?} in {text}"));
        }
    }
    Ok(())
}

/// Drops a test's MongoDB database, so that runs against a long-lived server (a real
/// TEST_MONGO_URL) leave nothing behind. Synchronous, for `Drop`: it runs on a thread of its
/// own with a runtime of its own. A database that is gone (the fault tests kill theirs) is
/// given up on after the short server selection timeout.
pub fn drop_test_database(url: &str, name: &str) {
    let (url, name) = (url.to_string(), name.to_string());
    let dropped = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let Ok(mut options) = mongodb::options::ClientOptions::parse(&url).await else {
                return;
            };
            options.server_selection_timeout = Some(std::time::Duration::from_secs(2));
            if let Ok(client) = mongodb::Client::with_options(options) {
                let _ = client.database(&name).drop().await;
                client.shutdown().await;
            }
        });
    });
    let _ = dropped.join();
}

/// Server logs in the test output, only when `TEST_LOG` is set.
fn init_test_logging() {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("info")
            .try_init();
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// A server with extra settings (environment variable names and values).
    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Self {
        init_test_logging();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("HOST".into(), "127.0.0.1".into());
        vars.insert("PORT".into(), "0".into());
        vars.insert("WORKERS".into(), "2".into());
        vars.insert(
            "SECRET_KEY".into(),
            "test-secret-key-that-is-long-enough-0123456789".into(),
        );
        vars.insert(
            "DATA_DIR".into(),
            dir.path().join("data").display().to_string(),
        );
        vars.insert(
            "LOG_DIR".into(),
            dir.path().join("logs").display().to_string(),
        );
        // Limits stay on, but loose enough for tests that register many users from 127.0.0.1;
        // tests/api/abuse.rs tightens them.
        vars.insert("RATE_LIMIT_REGISTER".into(), "1000/1m".into());
        vars.insert("RATE_LIMIT_LOGIN".into(), "1000/1m".into());
        if let Backend::Mongo(url) = &backend {
            vars.insert("MONGO_URL".into(), url.clone());
            let db = format!("t{}", uuid::Uuid::new_v4().simple());
            vars.insert("MONGODB_NAME".into(), db[..24].to_string());
        }
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        let settings =
            Settings::from_lookup(|k| vars.get(k).cloned()).expect("valid test settings");
        let application = Application::build(settings)
            .await
            .expect("application starts");
        let addr = application.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(application.run_until_stopped(async {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            client: browser(),
            vars,
            _dir: dir,
            shutdown: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.delete(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    pub async fn post(&self, path: &str, body: Option<Value>, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    pub async fn put(&self, path: &str, body: Value, token: Option<&str>) -> Response {
        let mut req = self.client.put(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    /// Registers `username` with `username@example.com` and [`PASSWORD`]; returns the user object.
    pub async fn register(&self, username: &str) -> Value {
        let res = self
            .post(
                "/api/v1/auth/register",
                Some(json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD})),
                None,
            )
            .await;
        let (status, body) = read(res).await;
        assert_eq!(status, StatusCode::CREATED, "register {username}: {body}");
        body["data"].clone()
    }

    /// Logs in with this app's cookie-keeping client; returns the access token.
    pub async fn login(&self, login: &str, password: &str) -> String {
        let res = self
            .post(
                "/api/v1/auth/login",
                Some(json!({"email": login, "password": password})),
                None,
            )
            .await;
        let (status, body) = read(res).await;
        assert_eq!(status, StatusCode::OK, "login {login}: {body}");
        body["data"]["token"]["access_token"]
            .as_str()
            .expect("access token")
            .to_string()
    }

    /// Registers and logs in a fresh user; returns (user id, access token).
    pub async fn user(&self, username: &str) -> (String, String) {
        let user = self.register(username).await;
        let token = self.login(username, PASSWORD).await;
        (user["id"].as_str().unwrap().to_string(), token)
    }

    /// A user promoted to `role` directly through the operator path (as `create-admin` does for
    /// SUPER_ADMIN); returns (user id, access token).
    pub async fn user_with_role(&self, username: &str, role: &str) -> (String, String) {
        let user = self.register(username).await;
        let id = user["id"].as_str().unwrap().to_string();
        let settings = Settings::from_lookup(|k| self.vars.get(k).cloned()).unwrap();
        let ctx = authkit::app::context(settings).await.expect("context");
        let role_id = ctx
            .store
            .list_roles()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.name == role)
            .expect("role exists")
            .id;
        let changes = authkit::domain::UserChanges {
            role_id: Some(role_id),
            // As create-admin does: the operator vouches for the address.
            email_verified: Some(true),
            ..Default::default()
        };
        ctx.store
            .update_user(&id, &changes, None, chrono::Utc::now())
            .await
            .unwrap()
            .unwrap();
        ctx.store.shutdown().await;
        let token = self.login(username, PASSWORD).await;
        (id, token)
    }

    /// Runs `f` with a second, independent client (its own cookie jar), e.g. another device.
    pub fn other_client(&self) -> Client {
        browser()
    }
}

pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .build()
        .expect("http client")
}

/// Status and JSON body of a response (any non-JSON body fails the test: the API always answers JSON).
pub async fn read(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.expect("body");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body ({status}): {text}"));
    (status, body)
}

/// Asserts an error envelope with this status.
pub async fn expect_error(res: Response, status: StatusCode) -> Value {
    let (got, body) = read(res).await;
    assert_eq!(got, status, "body: {body}");
    assert_eq!(body["code"], status.as_u16(), "envelope code: {body}");
    assert!(body["data"].is_null(), "error data must be null: {body}");
    assert!(body["message"].is_string(), "message: {body}");
    body
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// The types of the user's events, newest first (through an admin).
pub async fn event_types(app: &TestApp, admin: &str, user_id: &str) -> Vec<String> {
    let path = format!("/api/v1/admin/security-events?user_id={user_id}&limit=100");
    let (_, body) = read(app.get(&path, Some(admin)).await).await;
    body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}
