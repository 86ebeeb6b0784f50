//! `mfa_factors` and `mfa_recovery_codes`: pending and active factors, steps used once,
//! recovery codes used once.

use chrono::Duration;

use super::now;
use crate::domain::mfa::MfaFactor;
use crate::store::Store;

fn pending(user_id: &str, secret: &str) -> MfaFactor {
    let t = now();
    MfaFactor {
        user_id: user_id.into(),
        secret: secret.into(),
        active: false,
        last_step: 0,
        created_at: t,
        confirmed_at: None,
        expires_at: Some(t + Duration::minutes(10)),
    }
}

/// A pending factor is replaced by a new enrolment and activated once, by a later step; an
/// active one is never replaced; a step is used once even when two uses race.
pub async fn factors_activate_once_and_steps_never_repeat(store: &dyn Store) {
    let t = now();
    assert!(
        store
            .put_pending_factor(&pending("ann", "sealed-1"))
            .await
            .unwrap()
    );
    assert!(
        store
            .put_pending_factor(&pending("ann", "sealed-2"))
            .await
            .unwrap()
    );
    let found = store.find_factor("ann").await.unwrap().expect("pending");
    assert_eq!((found.secret.as_str(), found.active), ("sealed-2", false));
    assert!(found.is_pending_at(t));

    let late = t + Duration::minutes(11);
    assert!(
        !store.activate_factor("ann", 100, late).await.unwrap(),
        "expired"
    );
    assert!(store.activate_factor("ann", 100, t).await.unwrap());
    assert!(
        !store.activate_factor("ann", 101, t).await.unwrap(),
        "already active"
    );
    let active = store.find_factor("ann").await.unwrap().unwrap();
    assert_eq!(
        (active.active, active.last_step, active.expires_at),
        (true, 100, None)
    );
    assert_eq!(active.confirmed_at, Some(t));
    assert!(
        !store
            .put_pending_factor(&pending("ann", "sealed-3"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.find_factor("ann").await.unwrap().unwrap().secret,
        "sealed-2"
    );

    assert!(
        !store.use_totp_step("ann", 100).await.unwrap(),
        "the confirming step"
    );
    assert!(
        !store.use_totp_step("ann", 99).await.unwrap(),
        "an older step"
    );
    let racers = (0..6).map(|_| store.use_totp_step("ann", 101));
    let won = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(won, 1, "one of the racing uses of a step");
    assert!(store.use_totp_step("ann", 103).await.unwrap());
    assert!(!store.use_totp_step("nobody", 200).await.unwrap());
}

/// Recovery codes are used once each, replaced as a set, and go with their factor.
pub async fn recovery_codes_work_once_and_go_with_the_factor(store: &dyn Store) {
    let t = now();
    store
        .put_pending_factor(&pending("bob", "sealed"))
        .await
        .unwrap();
    store.activate_factor("bob", 1, t).await.unwrap();
    let first: Vec<String> = (0..3).map(|i| format!("first-{i}")).collect();
    store.replace_recovery_codes("bob", &first).await.unwrap();
    assert!(store.use_recovery_code("bob", "first-0").await.unwrap());
    assert!(
        !store.use_recovery_code("bob", "first-0").await.unwrap(),
        "once"
    );
    assert!(
        !store.use_recovery_code("cat", "first-1").await.unwrap(),
        "bob's code"
    );
    let racers = (0..6).map(|_| store.use_recovery_code("bob", "first-1"));
    let won = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(won, 1);

    store
        .replace_recovery_codes("bob", &["second-0".to_string()])
        .await
        .unwrap();
    assert!(
        !store.use_recovery_code("bob", "first-2").await.unwrap(),
        "replaced"
    );
    assert!(store.delete_factor("bob").await.unwrap());
    assert!(!store.delete_factor("bob").await.unwrap());
    assert_eq!(store.find_factor("bob").await.unwrap(), None);
    assert!(
        !store.use_recovery_code("bob", "second-0").await.unwrap(),
        "gone with it"
    );

    // An abandoned enrolment is swept after it expires.
    store
        .put_pending_factor(&pending("dan", "sealed"))
        .await
        .unwrap();
    store
        .delete_expired(t + Duration::minutes(11))
        .await
        .expect("sweep");
}
