//! Two server processes on one database, as behind a load balancer: everything that decides who
//! may do what lives in the store, so what one instance did, the other knows on the next request.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::binary::{Server, create_admin, store_vars};
use crate::helpers::{Backend, PASSWORD, expect_error, read};
use crate::on_both_stores;

on_both_stores!(two_instances_share_one_truth);

struct Pair {
    a: Server,
    b: Server,
    http: reqwest::Client,
}

impl Pair {
    async fn post(
        &self,
        on: &Server,
        path: &str,
        body: Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self.http.post(on.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    async fn get(&self, on: &Server, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(on.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Logs in through `on` with the refresh token in the body; returns (access, refresh).
    async fn login(&self, on: &Server, login: &str) -> (String, String) {
        let res = self
            .http
            .post(on.url("/api/v1/auth/login"))
            .header("x-refresh-token-transport", "body")
            .json(&json!({"email": login, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let (status, body) = read(res).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = &body["data"]["token"];
        (
            token["access_token"].as_str().unwrap().into(),
            token["refresh_token"].as_str().unwrap().into(),
        )
    }
}

/// The `jti` claim of a refresh token.
fn jti(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["jti"].as_str().unwrap().to_string()
}

async fn two_instances_share_one_truth(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = store_vars(&backend);
    vars.extend([
        (
            "SECRET_KEY",
            "a-shared-secret-key-of-two-instances-0123456789".to_string(),
        ),
        ("DATA_DIR", dir.path().join("data").display().to_string()),
        ("LOGIN_LOCKOUT", "2/30s".to_string()),
        ("RATE_LIMIT_LOGIN", "1000/1m".to_string()),
        ("RATE_LIMIT_REGISTER", "1000/1m".to_string()),
    ]);
    let created = create_admin(dir.path(), &vars, "root@example.com", "root", PASSWORD);
    assert!(created.status.success(), "{created:?}");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pair = Pair {
        a: Server::start(dir_a.path(), &vars).await,
        b: Server::start(dir_b.path(), &vars).await,
        http: reqwest::Client::new(),
    };
    pair.a.wait_ready().await;
    pair.b.wait_ready().await;
    let (a, b) = (&pair.a, &pair.b);
    let register = |name: &'static str| {
        pair.post(
            a,
            "/api/v1/auth/register",
            json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD}),
            None,
        )
    };
    for name in ["wanderer", "guessed", "deposed"] {
        assert_eq!(register(name).await.status(), StatusCode::CREATED);
    }

    // A session revoked through A is refused by B on the next request.
    let (access, _) = pair.login(a, "wanderer").await;
    assert_eq!(
        pair.get(b, "/api/v1/user/", &access).await.status(),
        StatusCode::OK
    );
    let res = pair
        .post(a, "/api/v1/auth/logout", json!({}), Some(&access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    expect_error(
        pair.get(b, "/api/v1/user/", &access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Login failures through A and B add up to one lockout.
    let wrong = json!({"email": "guessed", "password": "not the password"});
    expect_error(
        pair.post(a, "/api/v1/auth/login", wrong.clone(), None)
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_error(
        pair.post(b, "/api/v1/auth/login", wrong, None).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;

    // Two refreshes of one token, one through each instance at once: one rotates, the other is
    // answered inside the grace window with the same new token id.
    let (_, refresh) = pair.login(a, "wanderer").await;
    let refresh_on = |on: &'static str| {
        let server = if on == "a" { a } else { b };
        pair.http
            .post(server.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": refresh}))
            .send()
    };
    let (from_a, from_b) = tokio::join!(refresh_on("a"), refresh_on("b"));
    let mut rotated = Vec::new();
    for res in [from_a.unwrap(), from_b.unwrap()] {
        let (status, body) = read(res).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        rotated.push(jti(body["data"]["token"]["refresh_token"]
            .as_str()
            .unwrap()));
    }
    assert_eq!(rotated[0], rotated[1], "rotated exactly once");
    assert_ne!(rotated[0], jti(&refresh));

    // A user deactivated through A is refused by B at once.
    let (root, _) = pair.login(a, "root").await;
    let (deposed, _) = pair.login(b, "deposed").await;
    let (_, me) = read(pair.get(b, "/api/v1/user/", &deposed).await).await;
    let id = me["data"]["id"].as_str().unwrap();
    let res = pair
        .http
        .put(a.url(&format!("/api/v1/admin/{id}")))
        .bearer_auth(&root)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    expect_error(
        pair.get(b, "/api/v1/user/", &deposed).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}
