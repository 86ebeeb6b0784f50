//! `identities`: one account per provider subject, found by it, listed per owner, unlinked only
//! by their owner.

use super::*;
use crate::domain::identity::Identity;

fn identity(user_id: &str, provider: &str, subject: &str, at: DateTime<Utc>) -> Identity {
    Identity {
        id: new_id(),
        user_id: user_id.into(),
        provider: provider.into(),
        subject: subject.into(),
        email: Some(format!("{subject}@example.com")),
        email_verified: true,
        created_at: at,
        last_used_at: None,
    }
}

/// A provider's subject links to one account, also when two links race; the same subject at
/// another provider is another identity.
pub async fn identities_are_unique_per_provider_subject(store: &dyn Store) {
    let t = now();
    let first = identity("u1", "google", "s-1", t);
    store.insert_identity(&first).await.expect("insert");
    assert_eq!(
        duplicate_of(
            store
                .insert_identity(&identity("u2", "google", "s-1", t))
                .await
        ),
        "identity"
    );
    store
        .insert_identity(&identity("u2", "github", "s-1", t))
        .await
        .expect("another provider");
    let racers: Vec<Identity> = (0..6)
        .map(|n| identity(&format!("r{n}"), "apple", "s-race", t))
        .collect();
    let results =
        futures_util::future::join_all(racers.iter().map(|i| store.insert_identity(i))).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        store.find_identity("google", "s-1").await.unwrap(),
        Some(first)
    );
    assert_eq!(store.find_identity("google", "s-2").await.unwrap(), None);
}

/// A user's identities are listed oldest first; a sign-in records itself; only the owner's id
/// unlinks one, once.
pub async fn identities_are_listed_touched_and_unlinked_by_their_owner(store: &dyn Store) {
    let t = now();
    let older = identity("owner", "google", "g-1", t);
    let newer = identity("owner", "github", "h-1", t + Duration::seconds(1));
    let other = identity("someone", "google", "g-2", t);
    for i in [&newer, &older, &other] {
        store.insert_identity(i).await.expect("insert");
    }
    let listed = store.list_identities("owner").await.unwrap();
    assert_eq!(listed, vec![older.clone(), newer.clone()]);

    let later = t + Duration::minutes(5);
    store
        .touch_identity(&older.id, Some("new@example.com"), false, later)
        .await
        .unwrap();
    let touched = store.find_identity("google", "g-1").await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(later));
    assert_eq!(
        (touched.email.as_deref(), touched.email_verified),
        (Some("new@example.com"), false)
    );

    assert!(!store.delete_identity(&older.id, "someone").await.unwrap());
    assert!(store.delete_identity(&older.id, "owner").await.unwrap());
    assert!(!store.delete_identity(&older.id, "owner").await.unwrap());
    assert_eq!(store.list_identities("owner").await.unwrap(), vec![newer]);
    assert_eq!(store.list_identities("someone").await.unwrap(), vec![other]);
}
