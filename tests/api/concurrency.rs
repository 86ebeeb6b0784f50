use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, read};
use crate::on_both_stores;

on_both_stores!(
    racing_registrations_make_one_account,
    racing_renames_make_no_duplicates
);

async fn racing_registrations_make_one_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut handles = Vec::new();
    for i in 0..20 {
        let client = app.other_client();
        let url = app.url("/api/v1/auth/register");
        // Same username in varying case, distinct emails: only the username collides.
        let username = if i % 2 == 0 { "Racer" } else { "racer" };
        let body = json!({"username": username, "email": format!("racer{i}@example.com"), "password": PASSWORD});
        handles.push(tokio::spawn(async move {
            client.post(url).json(&body).send().await.unwrap().status()
        }));
    }
    let mut created = 0;
    let mut conflicts = 0;
    for h in handles {
        match h.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => conflicts += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created, conflicts), (1, 19));
}

async fn racing_renames_make_no_duplicates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut tokens = Vec::new();
    for i in 0..6 {
        tokens.push(app.user(&format!("renamer{i}")).await.1);
    }
    let mut handles = Vec::new();
    for token in tokens {
        let client = app.other_client();
        let url = app.url("/api/v1/user/");
        handles.push(tokio::spawn(async move {
            client
                .put(url)
                .bearer_auth(token)
                .json(&json!({"username": "TheOne"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        5,
        "{statuses:?}"
    );
    let (status, _) = read(
        app.post(
            "/api/v1/auth/login",
            Some(json!({"email": "theone", "password": PASSWORD})),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
