//! `one_time_tokens` and `mail_outbox`: replacement, single consumption, attempt limits, exclusive
//! claims, leases and retries.

use chrono::{DateTime, Duration, Utc};

use super::now;
use crate::domain::mail::{
    MAX_TOKEN_ATTEMPTS, MailOutcome, OneTimeToken, OutboxKind, OutboxMail, TokenPurpose,
    new_account_key,
};
use crate::domain::new_id;
use crate::store::Store;

fn token(user_id: &str, purpose: TokenPurpose, hash: &str, at: DateTime<Utc>) -> OneTimeToken {
    OneTimeToken {
        user_id: user_id.into(),
        purpose,
        email_lower: format!("{user_id}@example.com"),
        token_hash: hash.into(),
        code_hash: format!("code-of-{hash}"),
        new_email: (purpose == TokenPurpose::ChangeEmail).then(|| "new@example.com".into()),
        attempts: 0,
        created_at: at,
        expires_at: at + Duration::minutes(30),
        used_at: None,
    }
}

const RESET: &[TokenPurpose] = &[TokenPurpose::PasswordReset];

/// A token is consumed once, by its hash or by its code, and only for its purposes; a new
/// token of the same user and purpose replaces the old one, one of another purpose does not.
pub async fn one_time_tokens_work_once_and_replace_older_ones(store: &dyn Store) {
    let t = now();
    let first = token("ann", TokenPurpose::PasswordReset, "h1", t);
    store.put_token(&first).await.expect("put");
    let verify = token("ann", TokenPurpose::VerifyEmail, "h2", t);
    store.put_token(&verify).await.expect("put");
    let second = token("ann", TokenPurpose::PasswordReset, "h3", t);
    store.put_token(&second).await.expect("put");

    assert_eq!(
        store.consume_token_by_hash("h1", RESET, t).await.unwrap(),
        None,
        "replaced"
    );
    let wrong_purpose = store.consume_token_by_hash("h3", &[TokenPurpose::VerifyEmail], t);
    assert_eq!(wrong_purpose.await.unwrap(), None);
    let used = store
        .consume_token_by_hash("h3", RESET, t)
        .await
        .unwrap()
        .expect("consumed");
    assert_eq!(used.used_at, Some(t));
    assert_eq!(used.user_id, "ann");
    assert_eq!(
        store.consume_token_by_hash("h3", RESET, t).await.unwrap(),
        None,
        "once"
    );

    // The verify token lives on, and is found by its address and consumed by its code.
    let found = store
        .find_tokens_by_email("ann@example.com", &[TokenPurpose::VerifyEmail], t)
        .await
        .unwrap();
    assert_eq!(found, std::slice::from_ref(&verify));
    let key = verify.key();
    let by_code = store.consume_token_by_code(&key, "code-of-wrong", t);
    assert_eq!(by_code.await.unwrap(), None);
    let by_code = store.consume_token_by_code(&key, "code-of-h2", t);
    assert!(by_code.await.unwrap().is_some());
    let found = store
        .find_tokens_by_email("ann@example.com", &[TokenPurpose::VerifyEmail], t)
        .await
        .unwrap();
    assert!(found.is_empty(), "a used token is not live");
}

/// Of racing consumptions, one wins; wrong codes use the token up; expiry is checked at read.
pub async fn one_time_tokens_race_count_failures_and_expire(store: &dyn Store) {
    let t = now();
    store
        .put_token(&token("bob", TokenPurpose::PasswordReset, "race", t))
        .await
        .unwrap();
    let racers = (0..8).map(|_| store.consume_token_by_hash("race", RESET, t));
    let won = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_some())
        .count();
    assert_eq!(won, 1, "exactly one consumption");

    let guessed = token("cat", TokenPurpose::PasswordReset, "guess", t);
    store.put_token(&guessed).await.unwrap();
    for _ in 0..MAX_TOKEN_ATTEMPTS {
        store.count_token_failure(&guessed.key(), t).await.unwrap();
    }
    let key = guessed.key();
    let late = store.consume_token_by_code(&key, "code-of-guess", t);
    assert_eq!(late.await.unwrap(), None, "dead after the attempts");

    let old = token("dan", TokenPurpose::PasswordReset, "old", t);
    store.put_token(&old).await.unwrap();
    let after = old.expires_at + Duration::seconds(1);
    assert_eq!(
        store
            .consume_token_by_hash("old", RESET, after)
            .await
            .unwrap(),
        None
    );
    store.delete_expired(after).await.expect("sweep");
}

fn mail(to: &str, due: DateTime<Utc>) -> OutboxMail {
    OutboxMail {
        id: new_id(),
        kind: OutboxKind::Mail,
        to: to.into(),
        subject: "Hello".into(),
        text: "the link".into(),
        html: "<p>the link</p>".into(),
        attempts: 0,
        next_attempt_at: due,
        lease_until: DateTime::<Utc>::UNIX_EPOCH,
        created_at: due,
        expires_at: due + Duration::days(7),
    }
}

/// Each mail is claimed by one claimer at a time, oldest due first; a lease that runs out lets
/// another claim it; a retry waits for its time; a sent mail is never claimed again and keeps
/// no body; an outcome reported under a lost claim changes nothing.
pub async fn outbox_claims_are_exclusive_leased_and_retried(store: &dyn Store) {
    let t = now();
    let a = mail("a@example.com", t - Duration::seconds(2));
    let b = mail("b@example.com", t - Duration::seconds(1));
    let later = mail("c@example.com", t + Duration::hours(1));
    for m in [&later, &b, &a] {
        store.enqueue_mail(m).await.expect("enqueue");
    }
    let lease = t + Duration::seconds(60);
    let claims = (0..6).map(|_| store.claim_mail(t, lease));
    let mut claimed: Vec<OutboxMail> = futures_util::future::join_all(claims)
        .await
        .into_iter()
        .filter_map(|c| c.unwrap())
        .collect();
    assert_eq!(claimed.len(), 2, "two mails due, each claimed once");
    claimed.sort_by_key(|m| m.next_attempt_at);
    assert_eq!(
        (claimed[0].id.as_str(), claimed[0].attempts),
        (a.id.as_str(), 1)
    );
    assert_eq!(claimed[0].text, "the link");

    // `a` is sent; `b`'s claimer dies, its lease runs out and another instance takes it over.
    let sent = MailOutcome::Sent { at: t };
    store.finish_mail(&claimed[0], &sent).await.unwrap();
    let after_lease = lease + Duration::seconds(1);
    let retaken = store
        .claim_mail(after_lease, after_lease + Duration::seconds(60))
        .await
        .unwrap()
        .expect("lease ran out");
    assert_eq!((retaken.id.as_str(), retaken.attempts), (b.id.as_str(), 2));
    // The first claimer wakes up: its report is ignored.
    let stale = MailOutcome::Failed {
        at: t,
        error: "late".into(),
    };
    store.finish_mail(&claimed[1], &stale).await.unwrap();
    let retry_at = after_lease + Duration::seconds(30);
    let retry = MailOutcome::Retry {
        at: retry_at,
        error: "451 try later".into(),
    };
    store.finish_mail(&retaken, &retry).await.unwrap();
    assert_eq!(
        store.claim_mail(after_lease, retry_at).await.unwrap(),
        None,
        "not due yet"
    );
    let again = store
        .claim_mail(retry_at, retry_at + Duration::seconds(60))
        .await
        .unwrap()
        .expect("due again");
    assert_eq!((again.id.as_str(), again.attempts), (b.id.as_str(), 3));
    let failed = MailOutcome::Failed {
        at: retry_at,
        error: "550 no such user".into(),
    };
    store.finish_mail(&again, &failed).await.unwrap();

    // Only `later` remains, once it is due.
    let far = t + Duration::hours(2);
    let last = store
        .claim_mail(far, far + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(last.map(|m| m.id), Some(later.id));
    assert_eq!(
        store
            .claim_mail(far, far + Duration::seconds(60))
            .await
            .unwrap(),
        None
    );
}

/// The second step of a login finds its token by hash without using it up, and only while it
/// is live; outbox requests (a reset, a verification for an address) keep their kind.
pub async fn tokens_are_found_without_consuming_and_requests_keep_their_kind(store: &dyn Store) {
    let t = now();
    let mfa = token("eve", TokenPurpose::MfaLogin, "mfa-hash", t);
    store.put_token(&mfa).await.expect("put");
    let login = [TokenPurpose::MfaLogin];
    for _ in 0..2 {
        let found = store
            .find_token_by_hash("mfa-hash", &login, t)
            .await
            .unwrap();
        assert_eq!(
            found.as_ref().map(|f| f.user_id.as_str()),
            Some("eve"),
            "not consumed"
        );
    }
    assert_eq!(
        store
            .find_token_by_hash("mfa-hash", RESET, t)
            .await
            .unwrap(),
        None
    );
    let later = mfa.expires_at + Duration::seconds(1);
    assert_eq!(
        store
            .find_token_by_hash("mfa-hash", &login, later)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .consume_token_by_hash("mfa-hash", &login, t)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .find_token_by_hash("mfa-hash", &login, t)
            .await
            .unwrap(),
        None,
        "used"
    );

    let request = OutboxMail {
        kind: OutboxKind::PasswordResetRequest,
        text: r#"{"ip":"203.0.113.7","user_agent":"curl"}"#.into(),
        ..mail("someone@example.com", t)
    };
    store.enqueue_mail(&request).await.expect("enqueue");
    let claimed = store
        .claim_mail(t, t + Duration::seconds(40))
        .await
        .unwrap()
        .expect("due");
    assert_eq!((claimed.kind, claimed.text), (request.kind, request.text));
}

/// A sign-in secret for an address no account holds is filed under the address's new-account
/// key: found by the address, replaced by a newer one for it, consumed once by its hash, by
/// racing calls once; a sign-in request keeps its kind through the outbox.
pub async fn sign_in_secrets_for_new_addresses_are_kept_by_address(store: &dyn Store) {
    let t = now();
    let key = new_account_key("new@example.com");
    let signed = |hash: &str| OneTimeToken {
        email_lower: "new@example.com".into(),
        ..token(&key, TokenPurpose::SignIn, hash, t)
    };
    let sign_in = [TokenPurpose::SignIn];
    store.put_token(&signed("older")).await.expect("put");
    store.put_token(&signed("newer")).await.expect("replace");
    let found = store
        .find_tokens_by_email("new@example.com", &sign_in, t)
        .await
        .unwrap();
    assert_eq!(
        found
            .iter()
            .map(|f| f.token_hash.as_str())
            .collect::<Vec<_>>(),
        ["newer"]
    );
    assert_eq!(found[0].user_id, key);
    assert!(
        store
            .consume_token_by_hash("older", &sign_in, t)
            .await
            .unwrap()
            .is_none(),
        "replaced"
    );
    let racers = (0..6).map(|_| store.consume_token_by_hash("newer", &sign_in, t));
    let won = futures_util::future::join_all(racers).await;
    assert_eq!(won.iter().filter(|r| matches!(r, Ok(Some(_)))).count(), 1);

    let request = OutboxMail {
        kind: OutboxKind::SignInRequest,
        text: r#"{"ip":"203.0.113.7","user_agent":"curl"}"#.into(),
        ..mail("new@example.com", t)
    };
    store.enqueue_mail(&request).await.expect("enqueue");
    let claimed = store
        .claim_mail(t, t + Duration::seconds(40))
        .await
        .unwrap()
        .expect("due");
    assert_eq!(claimed.kind, OutboxKind::SignInRequest);
}

/// A sent mail keeps no body (its link and code leave the store), only the record that it went.
/// Read back around the store's own methods, by the backend's test (`a_sent_mail_keeps_no_body`).
pub(in crate::store) async fn send_one_mail(store: &dyn Store) {
    let t = now();
    let sent = OutboxMail {
        id: "m1".into(),
        text: "token=SECRET-LINK code 123456".into(),
        html: "<p>SECRET-LINK</p>".into(),
        ..mail("a@example.com", t)
    };
    store.enqueue_mail(&sent).await.expect("enqueue");
    let claimed = store
        .claim_mail(t, t + Duration::seconds(40))
        .await
        .expect("claim")
        .expect("due");
    store
        .finish_mail(&claimed, &MailOutcome::Sent { at: t })
        .await
        .expect("finish");
}
