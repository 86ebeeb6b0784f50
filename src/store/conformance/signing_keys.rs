//! `signing_keys`: a key is created once per `seq`, goes next -> active -> retired by conditional
//! writes, and loses its private key when it retires.

use chrono::Duration;

use super::{duplicate_of, now};
use crate::domain::signing_key::{ED25519_ALG, KeyState, SigningKey};
use crate::store::Store;

fn key(kid: &str, seq: i64, state: KeyState) -> SigningKey {
    let t = now();
    SigningKey {
        kid: kid.into(),
        seq,
        alg: ED25519_ALG.into(),
        public_key: format!("public-{kid}"),
        private_key: Some(format!("sealed-{kid}")),
        state,
        created_at: t,
        activated_at: (state == KeyState::Active).then_some(t),
        retired_at: None,
        publish_until: None,
    }
}

/// Keys round-trip and list by `seq`; a second key with a taken `seq` is refused as a duplicate
/// of `seq`, so of two instances creating "the next key" one wins.
pub async fn signing_keys_round_trip_and_are_created_once_per_seq(store: &dyn Store) {
    assert!(store.list_signing_keys().await.unwrap().is_empty());
    let second = key("k2", 2, KeyState::Next);
    let first = key("k1", 1, KeyState::Active);
    store.insert_signing_key(&second).await.unwrap();
    store.insert_signing_key(&first).await.unwrap();
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        vec![first.clone(), second.clone()]
    );

    let (k3a, k3b) = (key("k3a", 3, KeyState::Next), key("k3b", 3, KeyState::Next));
    let (a, b) = tokio::join!(
        store.insert_signing_key(&k3a),
        store.insert_signing_key(&k3b)
    );
    let refused = [a, b]
        .into_iter()
        .filter(Result::is_err)
        .collect::<Vec<_>>();
    assert_eq!(refused.len(), 1, "one of two racing inserts of seq 3 wins");
    assert_eq!(duplicate_of(refused.into_iter().next().unwrap()), "seq");
    assert_eq!(store.list_signing_keys().await.unwrap().len(), 3);
}

/// Activation takes a `next` key once, even when two rotations race; retiring every other
/// active key erases its private key and sets how long it still verifies.
pub async fn signing_keys_activate_once_and_retire_without_their_secret(store: &dyn Store) {
    let t = now();
    store
        .insert_signing_key(&key("old", 1, KeyState::Active))
        .await
        .unwrap();
    store
        .insert_signing_key(&key("new", 2, KeyState::Next))
        .await
        .unwrap();

    let (a, b) = tokio::join!(
        store.activate_signing_key("new", t),
        store.activate_signing_key("new", t),
    );
    assert!(a.unwrap() ^ b.unwrap(), "exactly one activation");
    assert!(!store.activate_signing_key("old", t).await.unwrap());
    assert!(!store.activate_signing_key("missing", t).await.unwrap());

    let until = t + Duration::minutes(16);
    assert_eq!(store.retire_signing_keys("new", t, until).await.unwrap(), 1);
    assert_eq!(store.retire_signing_keys("new", t, until).await.unwrap(), 0);

    let keys = store.list_signing_keys().await.unwrap();
    let (old, new) = (&keys[0], &keys[1]);
    assert_eq!(old.state, KeyState::Retired);
    assert_eq!(old.private_key, None, "a retired key keeps no secret");
    assert_eq!((old.retired_at, old.publish_until), (Some(t), Some(until)));
    assert_eq!(old.public_key, "public-old");
    assert!(old.verifies_at(t) && !old.verifies_at(until));
    assert_eq!(new.state, KeyState::Active);
    assert_eq!(new.activated_at, Some(t));
    assert_eq!(new.private_key.as_deref(), Some("sealed-new"));
}

/// Revoking withdraws every published key at once, the retired ones too: none signs or verifies
/// from then on, none keeps a secret, and a key that expired before is left as it was.
pub async fn signing_keys_revoke_withdraws_every_published_key(store: &dyn Store) {
    let t = now();
    let mut expired = key("expired", 1, KeyState::Retired);
    expired.private_key = None;
    expired.retired_at = Some(t - Duration::days(2));
    expired.publish_until = Some(t - Duration::days(1));
    let mut retired = key("retired", 2, KeyState::Retired);
    retired.private_key = None;
    retired.retired_at = Some(t - Duration::minutes(5));
    retired.publish_until = Some(t + Duration::minutes(10));
    for k in [
        expired.clone(),
        retired,
        key("active", 3, KeyState::Active),
        key("next", 4, KeyState::Next),
    ] {
        store.insert_signing_key(&k).await.unwrap();
    }

    assert_eq!(store.revoke_signing_keys(t).await.unwrap(), 3);
    assert_eq!(store.revoke_signing_keys(t).await.unwrap(), 0, "idempotent");

    let keys = store.list_signing_keys().await.unwrap();
    assert_eq!(keys[0], expired, "an expired key is left alone");
    for k in &keys[1..] {
        assert_eq!(k.state, KeyState::Retired, "{}", k.kid);
        assert_eq!(k.private_key, None, "{} keeps no secret", k.kid);
        assert_eq!(k.publish_until, Some(t), "{}", k.kid);
        assert!(!k.verifies_at(t), "{} verifies no more", k.kid);
    }
    assert_eq!(keys[1].retired_at, Some(t - Duration::minutes(5)));
    assert_eq!(keys[2].retired_at, Some(t));
}
