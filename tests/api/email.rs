//! Email (docs/API.md, "Email: verification, password reset, email change") through a real SMTP
//! server: every mail is read back from what the server received.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, event_types, expect_error, read};
use crate::mailbox::{ask_for_mail, mail_app, unique_address};
use crate::on_both_stores;

const NEW_PASSWORD: &str = "a brand new password";
const SOON: Duration = Duration::from_secs(10);

/// Registers `name` at a fresh address; returns (user id, address).
async fn register(app: &TestApp, name: &str) -> (String, String) {
    let email = unique_address(name);
    let res = app
        .post(
            "/api/v1/auth/register",
            Some(json!({"username": name, "email": email, "password": PASSWORD})),
            None,
        )
        .await;
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (body["data"]["id"].as_str().unwrap().to_string(), email)
}

async fn forgot(app: &TestApp, email: &str) -> Value {
    ask_for_mail(app, "/api/v1/auth/password/forgot", email).await
}

async fn reset(app: &TestApp, body: Value) -> (StatusCode, Value) {
    read(
        app.post("/api/v1/auth/password/reset", Some(body), None)
            .await,
    )
    .await
}

async fn login_status(app: &TestApp, login: &str, password: &str) -> StatusCode {
    let body = json!({"email": login, "password": password});
    app.post("/api/v1/auth/login", Some(body), None)
        .await
        .status()
}

async fn reset_by_link_then_by_code(backend: Backend) {
    let Some((app, mail)) = mail_app(backend, &[("LOGIN_LOCKOUT", "2/15m")]).await else {
        return;
    };
    let (id, email) = register(&app, "ada").await;
    let old_token = app.login("ada", PASSWORD).await;
    // A locked account: the reset clears the lock.
    for _ in 0..2 {
        login_status(&app, "ada", "not the password").await;
        tokio::time::sleep(Duration::from_millis(1100)).await; // past the backoff
    }
    assert_eq!(
        login_status(&app, "ada", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    forgot(&app, &email).await;
    let sent = mail.latest(&email, "Reset your").await;
    assert_eq!(sent.subject, "Reset your Acme password");
    assert!(
        sent.raw.contains("no-reply@acme.example"),
        "From: {}",
        sent.raw
    );
    let link = sent.link();
    assert!(link.contains("/reset-password?token="), "{link}");
    let (status, body) = reset(
        &app,
        json!({"token": sent.link_token(), "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Every session ended; the new password works at once; the notice went out.
    expect_error(
        app.get("/api/v1/user/", Some(&old_token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let token = app.login("ada", NEW_PASSWORD).await;
    let (_, me) = read(app.get("/api/v1/user/", Some(&token)).await).await;
    assert_eq!(
        me["data"]["email_verified"], true,
        "the mail reached the address"
    );
    mail.latest(&email, "password was changed").await;
    // The old password is gone (checked last: a wrong password starts the backoff).
    assert_eq!(
        login_status(&app, "ada", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );

    // The same link again: refused. By code, with the address: works once.
    let (status, _) = reset(
        &app,
        json!({"token": sent.link_token(), "new_password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    forgot(&app, &email.to_uppercase()).await;
    let second = mail.wait_for(&email, 4, SOON).await.pop().unwrap();
    assert!(second.subject.contains("Reset your"), "{}", second.subject);
    let by_code = json!({"email": email, "code": second.code(), "new_password": PASSWORD});
    let (status, body) = reset(&app, by_code.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = reset(&app, by_code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "Invalid or expired token or code");
    app.login("ada", PASSWORD).await;

    let (_, admin) = app.user_with_role("root", "SUPER_ADMIN").await;
    let types = event_types(&app, &admin, &id).await;
    for kind in ["password.reset_requested", "password.reset_completed"] {
        assert!(types.contains(&kind.to_string()), "{kind} in {types:?}");
    }
}

async fn every_rule_of_the_secrets(backend: Backend) {
    let Some((app, mail)) = mail_app(
        backend,
        &[
            ("PASSWORD_RESET_TTL", "2s"),
            ("RATE_LIMIT_MAIL_ADDRESS", "off"),
        ],
    )
    .await
    else {
        return;
    };
    let (_, email) = register(&app, "bob").await;

    // A new request voids the older secret.
    forgot(&app, &email).await;
    let first = mail.latest(&email, "Reset your").await;
    forgot(&app, &email).await;
    let second = mail.wait_for(&email, 3, SOON).await.pop().unwrap();
    assert_ne!(first.link_token(), second.link_token());
    let (status, _) = reset(
        &app,
        json!({"token": first.link_token(), "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "voided by the newer request"
    );

    // Five wrong codes kill it: the right code is refused afterwards.
    let right = second.code();
    let wrong = if right == "000000" {
        "000001"
    } else {
        "000000"
    };
    for _ in 0..5 {
        let (status, _) = reset(
            &app,
            json!({"email": email, "code": wrong, "new_password": NEW_PASSWORD}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, _) = reset(
        &app,
        json!({"email": email, "code": right, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "dead after 5 wrong codes");

    // Expiry: a secret older than its lifetime is refused.
    forgot(&app, &email).await;
    let third = mail.wait_for(&email, 4, SOON).await.pop().unwrap();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (status, _) = reset(
        &app,
        json!({"token": third.link_token(), "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "expired");

    // Junk proofs: the same 400; a missing proof or a weak password: 422, nothing spent.
    forgot(&app, &email).await;
    let fourth = mail.wait_for(&email, 5, SOON).await.pop().unwrap();
    for junk in [
        json!({"token": "x"}),
        json!({"email": email, "code": "12345a"}),
        json!({"email": "nobody@example.com", "code": "123456"}),
    ] {
        let mut body = junk.clone();
        body["new_password"] = json!(NEW_PASSWORD);
        let (status, _) = reset(&app, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{junk}");
    }
    let res = app
        .post(
            "/api/v1/auth/password/reset",
            Some(json!({"new_password": NEW_PASSWORD})),
            None,
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let weak = json!({"token": fourth.link_token(), "new_password": "short"});
    let (status, _) = reset(&app, weak).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = reset(
        &app,
        json!({"token": fourth.link_token(), "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the weak password spent nothing: {body}"
    );
}

async fn forgot_answers_alike_and_is_limited_silently(backend: Backend) {
    let Some((app, mail)) = mail_app(backend, &[("RATE_LIMIT_MAIL_ADDRESS", "2/15m")]).await else {
        return;
    };
    let (id, known) = register(&app, "cat").await;
    let (_, inactive) = register(&app, "dan").await;
    let (_, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let (_, dan) = read(app.get("/api/v1/admin/users?q=dan", Some(&root)).await).await;
    let dan_id = dan["data"]["users"][0]["id"].as_str().unwrap().to_string();
    let res = app
        .delete(&format!("/api/v1/admin/{dan_id}"), Some(&root))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let unknown = unique_address("nobody");

    let answers = [
        forgot(&app, &known).await,
        forgot(&app, &inactive).await,
        forgot(&app, &unknown).await,
    ];
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    // Over the address's limit: still 202, no third mail.
    forgot(&app, &known).await;
    forgot(&app, &known).await;
    // The verification mail of the registration, then two resets; no third reset comes.
    mail.wait_for(&known, 3, SOON).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let resets = mail
        .to(&known)
        .into_iter()
        .filter(|m| m.subject.contains("Reset"))
        .count();
    assert_eq!(resets, 2, "two within the limit");
    assert!(
        mail.to(&inactive)
            .iter()
            .all(|m| !m.subject.contains("Reset"))
    );
    assert!(mail.to(&unknown).is_empty());
    let res = app
        .post(
            "/api/v1/auth/password/forgot",
            Some(json!({"email": "not an address"})),
            None,
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    drop(id);
}

async fn verification_and_required_verification(backend: Backend) {
    let Some((app, mail)) = mail_app(backend, &[("REQUIRE_VERIFIED_EMAIL", "true")]).await else {
        return;
    };
    let (id, email) = register(&app, "eve").await;
    let first = mail.latest(&email, "Confirm your").await;
    assert!(
        first.link().contains("/verify-email?token="),
        "{}",
        first.link()
    );

    // Unverified: a wrong password is 401 as ever, the right one 403.
    assert_eq!(
        login_status(&app, "eve", "not the password").await,
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .post(
            "/api/v1/auth/login",
            Some(json!({"email": "eve", "password": PASSWORD})),
            None,
        )
        .await;
    let body = expect_error(res, StatusCode::FORBIDDEN).await;
    assert_eq!(body["message"], "email not verified");

    // Resend: one mail a minute at most, and the newest one works (by code).
    let resend = || {
        app.post(
            "/api/v1/auth/email/verify/resend",
            Some(json!({"email": email})),
            None,
        )
    };
    assert_eq!(resend().await.status(), StatusCode::ACCEPTED);
    assert_eq!(resend().await.status(), StatusCode::ACCEPTED);
    let mails = mail.wait_for(&email, 2, SOON).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        mail.to(&email).len(),
        2,
        "the second resend was within the minute"
    );
    let newest = mails.last().unwrap();
    let (status, body) = read(
        app.post(
            "/api/v1/auth/email/verify",
            Some(json!({"token": first.link_token()})),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "replaced by the resend: {body}"
    );
    let by_code = json!({"email": email, "code": newest.code()});
    let (status, body) = read(
        app.post("/api/v1/auth/email/verify", Some(by_code), None)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email_verified"], true);
    assert_eq!(body["data"]["id"], id.as_str());
    assert_eq!(login_status(&app, "eve", PASSWORD).await, StatusCode::OK);

    // Verified: a resend sends nothing.
    assert_eq!(resend().await.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(mail.to(&email).len(), 2);

    let (_, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let types = event_types(&app, &root, &id).await;
    for kind in ["email.verification_sent", "email.verified"] {
        assert!(types.contains(&kind.to_string()), "{kind} in {types:?}");
    }
}

async fn address_change_waits_for_the_new_address(backend: Backend) {
    let Some((app, mail)) = mail_app(backend, &[]).await else {
        return;
    };
    let (id, old) = register(&app, "fay").await;
    let token = app.login("fay", PASSWORD).await;
    let new = unique_address("fay-new");
    let change = json!({"email": new, "current_password": PASSWORD});
    let (status, body) = read(app.put("/api/v1/user/", change, Some(&token)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email"], old.as_str(), "not changed yet");
    assert_eq!(body["data"]["pending_email"], new.as_str());

    let notice = mail.latest(&old, "about to change").await;
    assert!(notice.text.contains(&new), "{}", notice.text);
    let confirm = mail.latest(&new, "Confirm your new").await;
    let (status, body) = read(
        app.post(
            "/api/v1/auth/email/verify",
            Some(json!({"token": confirm.link_token()})),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email"], new.as_str());
    assert_eq!(body["data"]["email_verified"], true);
    assert!(body["data"]["pending_email"].is_null());
    app.login(&new, PASSWORD).await;

    // Two accounts ask for one address; the first to confirm gets it, the second gets 409.
    let contested = unique_address("contested");
    let mut confirmations = Vec::new();
    for name in ["gus", "hal"] {
        register(&app, name).await;
        let t = app.login(name, PASSWORD).await;
        let change = json!({"email": contested, "current_password": PASSWORD});
        let (status, _) = read(app.put("/api/v1/user/", change, Some(&t)).await).await;
        assert_eq!(status, StatusCode::OK);
        let mails = mail
            .wait_for(&contested, confirmations.len() + 1, SOON)
            .await;
        confirmations.push(mails.last().unwrap().link_token());
    }
    let verify = |token: &String| {
        app.post(
            "/api/v1/auth/email/verify",
            Some(json!({"token": token})),
            None,
        )
    };
    assert_eq!(verify(&confirmations[0]).await.status(), StatusCode::OK);
    expect_error(verify(&confirmations[1]).await, StatusCode::CONFLICT).await;

    let (_, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let types = event_types(&app, &root, &id).await;
    for kind in ["email.change_requested", "email.changed"] {
        assert!(types.contains(&kind.to_string()), "{kind} in {types:?}");
    }
}

async fn an_admin_sends_the_reset_mail(backend: Backend) {
    let Some((app, mail)) = mail_app(backend, &[]).await else {
        return;
    };
    let (id, email) = register(&app, "ivy").await;
    let (root_id, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let res = app
        .post(
            &format!("/api/v1/admin/{id}/password-reset"),
            None,
            Some(&root),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let sent = mail.latest(&email, "Reset your").await;
    let (status, _) = reset(
        &app,
        json!({"token": sent.link_token(), "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let path = format!("/api/v1/admin/security-events?user_id={id}&type=password.reset_requested");
    let (_, body) = read(app.get(&path, Some(&root)).await).await;
    assert_eq!(
        body["data"]["events"][0]["actor_id"],
        root_id.as_str(),
        "{body}"
    );

    // A plain ADMIN may not send one to a super admin.
    let (_, deputy) = app.user_with_role("deputy", "ADMIN").await;
    let res = app
        .post(
            &format!("/api/v1/admin/{root_id}/password-reset"),
            None,
            Some(&deputy),
        )
        .await;
    expect_error(res, StatusCode::FORBIDDEN).await;
}

on_both_stores!(
    reset_by_link_then_by_code,
    every_rule_of_the_secrets,
    forgot_answers_alike_and_is_limited_silently,
    verification_and_required_verification,
    address_change_waits_for_the_new_address,
    an_admin_sends_the_reset_mail,
);

/// Production without SMTP_URL: the mail routes say so (503), everything else works, and an
/// address changes at once as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_in_production_mail_routes_are_503() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("ENVIRONMENT", "production")]).await;
    let (_, token) = app.user("jay").await;
    for (path, body) in [
        (
            "/api/v1/auth/password/forgot",
            json!({"email": "jay@example.com"}),
        ),
        (
            "/api/v1/auth/email/verify/resend",
            json!({"email": "jay@example.com"}),
        ),
        (
            "/api/v1/auth/password/reset",
            json!({"token": "x", "new_password": NEW_PASSWORD}),
        ),
        ("/api/v1/auth/email/verify", json!({"token": "x"})),
    ] {
        let res = app.post(path, Some(body), None).await;
        let body = expect_error(res, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(
            body["message"], "email delivery is not configured",
            "{path}"
        );
    }
    let change = json!({"email": "jay2@example.com", "current_password": PASSWORD});
    let (status, body) = read(app.put("/api/v1/user/", change, Some(&token)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["email"], "jay2@example.com");
    assert_eq!(body["data"]["email_verified"], false);
}
