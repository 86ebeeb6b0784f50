//! `passkeys`: one account per credential id, found by it, listed per owner, renamed and removed
//! only by their owner.

use super::*;
use crate::domain::passkey::Passkey;

fn passkey(user_id: &str, credential_id: &str, at: DateTime<Utc>) -> Passkey {
    Passkey {
        id: new_id(),
        user_id: user_id.into(),
        credential_id: credential_id.into(),
        name: "Laptop".into(),
        credential: r#"{"cred":{"counter":0}}"#.into(),
        backed_up: false,
        transports: vec!["internal".into(), "hybrid".into()],
        created_at: at,
        last_used_at: None,
    }
}

/// A credential id belongs to one passkey, also when two registrations race; it is found by
/// that id with every field as written.
pub async fn passkeys_are_unique_per_credential(store: &dyn Store) {
    let t = now();
    let first = passkey("u1", "cred-1", t);
    store.insert_passkey(&first).await.expect("insert");
    assert_eq!(
        duplicate_of(store.insert_passkey(&passkey("u2", "cred-1", t)).await),
        "credential"
    );
    let racers: Vec<Passkey> = (0..6)
        .map(|n| passkey(&format!("r{n}"), "cred-race", t))
        .collect();
    let results =
        futures_util::future::join_all(racers.iter().map(|p| store.insert_passkey(p))).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        store.find_passkey_by_credential("cred-1").await.unwrap(),
        Some(first)
    );
    assert_eq!(
        store.find_passkey_by_credential("cred-none").await.unwrap(),
        None
    );
}

/// Listed oldest first per owner; renamed and removed only by the owner (another account's id
/// finds nothing); a sign-in records the credential's new state and the time.
pub async fn passkeys_are_listed_renamed_used_and_removed_by_their_owner(store: &dyn Store) {
    let t = now();
    let older = passkey("owner", "cred-a", t);
    let newer = passkey("owner", "cred-b", t + Duration::seconds(1));
    for p in [&newer, &older] {
        store.insert_passkey(p).await.expect("insert");
    }
    store
        .insert_passkey(&passkey("someone", "cred-c", t))
        .await
        .unwrap();
    let ids: Vec<String> = store
        .list_passkeys("owner")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, [older.id.clone(), newer.id.clone()]);

    assert_eq!(
        store
            .rename_passkey(&older.id, "someone", "Stolen")
            .await
            .unwrap(),
        None
    );
    let renamed = store
        .rename_passkey(&older.id, "owner", "Phone")
        .await
        .unwrap()
        .expect("renamed");
    assert_eq!(renamed.name, "Phone");

    let used_at = t + Duration::minutes(1);
    store
        .record_passkey_use(&older.id, r#"{"cred":{"counter":7}}"#, true, used_at)
        .await
        .unwrap();
    let used = store
        .find_passkey_by_credential("cred-a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.credential, r#"{"cred":{"counter":7}}"#);
    assert!(used.backed_up);
    assert_eq!(used.last_used_at, Some(used_at));

    assert_eq!(
        store.delete_passkey(&older.id, "someone").await.unwrap(),
        None
    );
    let removed = store.delete_passkey(&older.id, "owner").await.unwrap();
    assert_eq!(removed.map(|p| p.id), Some(older.id.clone()));
    assert_eq!(
        store.delete_passkey(&older.id, "owner").await.unwrap(),
        None
    );
    assert_eq!(store.list_passkeys("owner").await.unwrap().len(), 1);
}
