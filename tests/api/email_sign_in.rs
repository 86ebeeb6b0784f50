//! Email sign-in (docs/API.md, "Email sign-in") through a real SMTP server: the link and the code
//! are read from the mail the server received. The attacks beside the behaviours: a replayed
//! secret, two uses of one secret at once, guessed codes, an older mail after a newer one, a mail scanner opening the link, an
//! account someone registered with another person's address, and the probe for existing
//! accounts.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, event_types, expect_error, read};
use crate::mailbox::{self, Mailbox, ask_for_mail, mail_app, unique_address};
use crate::mfa::{claims, code, enable};
use crate::on_both_stores;

on_both_stores!(
    the_first_sign_in_makes_the_account_and_the_next_finds_it,
    every_address_gets_the_same_answer,
    secrets_work_once_and_guessing_ends_them,
    a_mailed_proof_takes_an_address_back_from_an_unverified_password,
    a_first_password_needs_a_recent_sign_in,
    opening_the_link_spends_nothing,
    a_second_factor_still_asks_for_its_code,
    racing_uses_of_one_secret_sign_in_once,
);

const SUBJECT: &str = "sign-in link";

async fn start(app: &TestApp, email: &str) -> Value {
    ask_for_mail(app, "/api/v1/auth/email/sign-in/start", email).await
}

async fn sign_in(app: &TestApp, body: Value) -> (StatusCode, Value) {
    read(
        app.post("/api/v1/auth/email/sign-in", Some(body), None)
            .await,
    )
    .await
}

/// The first sign-in of an address no account holds creates one (address verified, no
/// password, a username from the address, `amr: ["mail"]`); a later one by the link finds it.
async fn the_first_sign_in_makes_the_account_and_the_next_finds_it(backend: Backend) {
    let Some((app, mail)) = mail_app(backend, &[]).await else {
        return;
    };
    let email = unique_address("newcomer");
    start(&app, &email).await;
    let sent = mail.latest(&email, SUBJECT).await;
    assert_eq!(sent.subject, "Your Acme sign-in link");
    assert!(sent.link().contains("/sign-in?token="), "{}", sent.link());
    let (status, body) = sign_in(&app, json!({"email": email, "code": sent.code()})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = &body["data"]["user"];
    assert_eq!(user["email"], email.as_str());
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["has_password"], false);
    assert!(user["username"].as_str().unwrap().starts_with("newcomer-"));
    let token = body["data"]["token"]["access_token"].as_str().unwrap();
    assert_eq!(claims(token)["amr"], json!(["mail"]));
    let id = user["id"].as_str().unwrap().to_string();
    // A password login for the new account answers as a wrong password does.
    let res = app
        .post(
            "/api/v1/auth/login",
            Some(json!({"email": email, "password": PASSWORD})),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    start(&app, &email).await;
    let again = wait_for_another(&mail, &email, &sent.code()).await;
    let (status, body) = sign_in(&app, json!({"token": again.link_token()})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["id"], id.as_str());
    let (_, admin) = app.user_with_role("auditor", "SUPER_ADMIN").await;
    let kinds = event_types(&app, &admin, &id).await;
    assert!(
        kinds.contains(&"email.sign_in_sent".to_string()),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"login.succeeded".to_string()), "{kinds:?}");
    let (_, events) = read(
        app.get(
            &format!("/api/v1/admin/security-events?user_id={id}&type=login.succeeded"),
            Some(&admin),
        )
        .await,
    )
    .await;
    assert_eq!(events["data"]["events"][0]["detail"]["method"], "email");
}

/// The newest mail to `email` whose code is not `old`.
async fn wait_for_another(mail: &Mailbox, email: &str, old: &str) -> mailbox::Mail {
    for _ in 0..100 {
        let latest = mail.latest(email, SUBJECT).await;
        if latest.code() != old {
            return latest;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no second mail to {email}");
}

/// Known, unknown, and (with EMAIL_SIGNUP=false) unknown addresses get the same 202 and body; a
/// mail goes only where a sign-in may follow.
async fn every_address_gets_the_same_answer(backend: Backend) {
    let Some((app, mail)) = mail_app(backend, &[("EMAIL_SIGNUP", "false")]).await else {
        return;
    };
    let known = unique_address("known");
    let res = app
        .post(
            "/api/v1/auth/register",
            Some(json!({"username": "known", "email": known, "password": PASSWORD})),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let unknown = unique_address("stranger");
    let answer_known = start(&app, &known).await;
    let answer_unknown = start(&app, &unknown).await;
    assert_eq!(answer_known, answer_unknown);
    mail.latest(&known, SUBJECT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        mail.to(&unknown).is_empty(),
        "no account may be made: no mail"
    );
    expect_error(
        app.post(
            "/api/v1/auth/email/sign-in/start",
            Some(json!({"email": "not an address"})),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

/// A link works once; five wrong codes end the secret (the right code is refused after); a
/// newer request voids the older mail.
async fn secrets_work_once_and_guessing_ends_them(backend: Backend) {
    // Four mails to one address: above the default of three per 15 minutes.
    let limit = [("RATE_LIMIT_MAIL_ADDRESS", "10/15m")];
    let Some((app, mail)) = mail_app(backend, &limit).await else {
        return;
    };
    let email = unique_address("guarded");
    start(&app, &email).await;
    let first = mail.latest(&email, SUBJECT).await;
    let (status, _) = sign_in(&app, json!({"token": first.link_token()})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = sign_in(&app, json!({"token": first.link_token()})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a replayed link");

    start(&app, &email).await;
    let second = wait_for_another(&mail, &email, &first.code()).await;
    for n in 0..5 {
        let wrong = format!(
            "{:06}",
            (second.code().parse::<u32>().unwrap() + 1 + n) % 1_000_000
        );
        let (status, _) = sign_in(&app, json!({"email": email, "code": wrong})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, _) = sign_in(&app, json!({"email": email, "code": second.code()})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "five wrong codes ended it");

    start(&app, &email).await;
    let third = wait_for_another(&mail, &email, &second.code()).await;
    start(&app, &email).await;
    let fourth = wait_for_another(&mail, &email, &third.code()).await;
    let (status, _) = sign_in(&app, json!({"token": third.link_token()})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the newer mail voided the older"
    );
    let (status, _) = sign_in(&app, json!({"token": fourth.link_token()})).await;
    assert_eq!(status, StatusCode::OK);
}

/// Someone registered another person's address with a password of their own and never verified
/// it. When the address's owner signs in by mail, the address is verified, that password is
/// removed and every session it opened ends (`account.password_removed`).
async fn a_mailed_proof_takes_an_address_back_from_an_unverified_password(backend: Backend) {
    let Some((app, mail)) = mail_app(backend, &[]).await else {
        return;
    };
    let email = unique_address("victim");
    let res = app
        .post(
            "/api/v1/auth/register",
            Some(json!({"username": "squatter", "email": email, "password": PASSWORD})),
            None,
        )
        .await;
    let (_, registered) = read(res).await;
    let id = registered["data"]["id"].as_str().unwrap().to_string();
    let squatter = app.login("squatter", PASSWORD).await;

    start(&app, &email).await;
    let sent = mail.latest(&email, SUBJECT).await;
    let (status, body) = sign_in(&app, json!({"token": sent.link_token()})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["id"], id.as_str());
    assert_eq!(body["data"]["user"]["email_verified"], true);
    assert_eq!(body["data"]["user"]["has_password"], false);
    expect_error(
        app.get("/api/v1/user/", Some(&squatter)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let res = app
        .post(
            "/api/v1/auth/login",
            Some(json!({"email": "squatter", "password": PASSWORD})),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let owner = body["data"]["token"]["access_token"].as_str().unwrap();
    let res = app.get("/api/v1/user/", Some(owner)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, admin) = app.user_with_role("auditor", "SUPER_ADMIN").await;
    let kinds = event_types(&app, &admin, &id).await;
    assert!(
        kinds.contains(&"account.password_removed".to_string()),
        "{kinds:?}"
    );
}

/// An account without a password sets its first one with no current password to type, as long
/// as its session signed in within REAUTH_WINDOW; later it is 403 `reauthentication required`.
async fn a_first_password_needs_a_recent_sign_in(backend: Backend) {
    let Some((app, mail)) = mail_app(backend, &[("REAUTH_WINDOW", "2s")]).await else {
        return;
    };
    let email = unique_address("passwordless");
    start(&app, &email).await;
    let sent = mail.latest(&email, SUBJECT).await;
    let (_, body) = sign_in(&app, json!({"token": sent.link_token()})).await;
    let token = body["data"]["token"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let body = expect_error(
        app.put(
            "/api/v1/user/",
            json!({"password": "my very first password"}),
            Some(&token),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(body["message"], "reauthentication required");

    // Signing in again renews it.
    start(&app, &email).await;
    let again = wait_for_another(&mail, &email, &sent.code()).await;
    let (_, body) = sign_in(&app, json!({"token": again.link_token()})).await;
    let fresh = body["data"]["token"]["access_token"].as_str().unwrap();
    let res = app
        .put(
            "/api/v1/user/",
            json!({"password": "my very first password"}),
            Some(fresh),
        )
        .await;
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["has_password"], true);
    let username = body["data"]["username"].as_str().unwrap().to_string();
    assert!(
        !app.login(&username, "my very first password")
            .await
            .is_empty()
    );
}

/// The mail's link opens a page that signs in only when its button is pressed: fetching it (a
/// mail scanner, a prefetch) spends nothing, and the token still works afterwards.
async fn opening_the_link_spends_nothing(backend: Backend) {
    let Some((app, mail)) = mail_app(backend, &[]).await else {
        return;
    };
    let email = unique_address("scanned");
    start(&app, &email).await;
    let sent = mail.latest(&email, SUBJECT).await;
    for _ in 0..3 {
        let res = app
            .get(&format!("/sign-in?token={}", sent.link_token()), None)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["referrer-policy"], "no-referrer");
        assert!(res.text().await.unwrap().contains("Sign me in"));
    }
    let (status, _) = sign_in(&app, json!({"token": sent.link_token()})).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the link still works after being opened"
    );
}

/// An account with a second factor: the mailed code is the first step; the TOTP code finishes
/// it, and the tokens say both (`["otp", "mail"]` in RFC 8176's order of this server).
async fn a_second_factor_still_asks_for_its_code(backend: Backend) {
    let Some((app, mail)) = mail_app(backend, &[]).await else {
        return;
    };
    let email = unique_address("careful");
    let res = app
        .post(
            "/api/v1/auth/register",
            Some(json!({"username": "careful", "email": email, "password": PASSWORD})),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // The address verified first (so the mailed sign-in removes nothing), then a factor.
    let verification = mail.latest(&email, "Confirm your").await;
    let (status, body) = read(
        app.post(
            "/api/v1/auth/email/verify",
            Some(json!({"token": verification.link_token()})),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = app.login("careful", PASSWORD).await;
    let (secret, _) = enable(&app, &token).await;

    start(&app, &email).await;
    let sent = mail.latest(&email, SUBJECT).await;
    let (status, body) = sign_in(&app, json!({"token": sent.link_token()})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["mfa_required"], true, "{body}");
    let mfa_token = body["data"]["mfa_token"].as_str().unwrap();
    let (status, body) = read(
        app.post(
            "/api/v1/auth/mfa/verify",
            Some(json!({"mfa_token": mfa_token, "code": code(&secret, 1)})),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["data"]["token"]["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["amr"], json!(["otp", "mail"]));
}

/// Six sign-ins with one link at once, then six with one code at once: each time one session,
/// and the others 400 (the secret is spent by one conditional write).
async fn racing_uses_of_one_secret_sign_in_once(backend: Backend) {
    let Some((app, mail)) = mail_app(backend, &[]).await else {
        return;
    };
    let email = unique_address("racer");
    let mut seen = String::new();
    for by_code in [false, true] {
        start(&app, &email).await;
        let sent = wait_for_another(&mail, &email, &seen).await;
        seen = sent.code();
        let proof = if by_code {
            json!({"email": email, "code": sent.code()})
        } else {
            json!({"token": sent.link_token()})
        };
        let racers = (0..6).map(|_| sign_in(&app, proof.clone()));
        let mut statuses: Vec<StatusCode> = futures_util::future::join_all(racers)
            .await
            .into_iter()
            .map(|(status, _)| status)
            .collect();
        statuses.sort();
        let mut expected = vec![StatusCode::BAD_REQUEST; 5];
        expected.insert(0, StatusCode::OK);
        assert_eq!(statuses, expected, "by code: {by_code}");
    }
}
