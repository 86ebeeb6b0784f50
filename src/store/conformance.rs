//! Store behaviours written once and run against both backends: each function takes any
//! [`Store`] and asserts what the services rely on. `sqlite.rs` and `mongo.rs` call every one of
//! them from their test modules (the MongoDB half needs `TEST_MONGO_URL`, as their other tests
//! do), so the two backends cannot drift on these.

use chrono::{DateTime, Duration, Utc};

use super::Store;
use crate::domain::{RevokeReason, Session, User, UserChanges, new_id};

/// Now, in whole milliseconds: what both backends keep, so round-tripped values compare equal.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("valid time")
}

fn user(name: &str, role_id: &str, at: DateTime<Utc>) -> User {
    User {
        id: new_id(),
        username: name.into(),
        email: format!("{name}@example.com"),
        full_name: None,
        password_hash: "hash".into(),
        role_id: role_id.into(),
        is_active: true,
        session_epoch: 0,
        created_at: at,
        updated_at: at,
        last_login_at: None,
        deleted_at: None,
    }
}

fn session(user_id: &str, at: DateTime<Utc>) -> Session {
    Session {
        id: new_id(),
        user_id: user_id.into(),
        refresh_jti: new_id(),
        previous_jti: None,
        rotated_at: None,
        device: "Firefox on Linux".into(),
        ip_address: "127.0.0.1".into(),
        user_agent: "test".into(),
        epoch: 0,
        created_at: at,
        last_activity: at,
        expires_at: at + Duration::days(7),
        is_active: true,
        revoked_at: None,
        revoke_reason: None,
    }
}

/// `end_sessions` and a soft delete bump the user's session epoch in the same write; other
/// changes leave it alone.
pub async fn ending_sessions_is_part_of_the_account_write(store: &dyn Store) {
    let t = now();
    let u = user("epochs", "role-user", t);
    store.insert_user(&u).await.expect("insert");
    let rename = UserChanges {
        full_name: Some(Some("Renamed".into())),
        ..Default::default()
    };
    let renamed = store.update_user(&u.id, &rename, None, t).await.unwrap();
    assert_eq!(renamed.map(|u| u.session_epoch), Some(0));
    let new_password = UserChanges {
        password_hash: Some("new hash".into()),
        end_sessions: true,
        ..Default::default()
    };
    let changed = store.update_user(&u.id, &new_password, None, t).await;
    assert_eq!(changed.unwrap().map(|u| u.session_epoch), Some(1));
    assert!(store.soft_delete_user(&u.id, None, t).await.unwrap());
    let deleted = store.find_user(&u.id).await.unwrap().expect("kept");
    assert_eq!((deleted.is_active, deleted.session_epoch), (false, 2));
}

/// A write checked against the role the caller saw misses once the role changed, and changes
/// nothing; with the same role it applies.
pub async fn writes_checked_against_a_role_miss_when_it_changed(store: &dyn Store) {
    let t = now();
    let u = user("checked", "role-user", t);
    store.insert_user(&u).await.expect("insert");
    let rename = UserChanges {
        full_name: Some(Some("By a deputy".into())),
        ..Default::default()
    };
    let missed = store
        .update_user(&u.id, &rename, Some("role-admin"), t)
        .await;
    assert!(missed.unwrap().is_none());
    assert!(
        !store
            .soft_delete_user(&u.id, Some("role-admin"), t)
            .await
            .unwrap()
    );
    let unchanged = store.find_user(&u.id).await.unwrap().expect("kept");
    assert_eq!((unchanged.full_name, unchanged.is_active), (None, true));
    let applied = store
        .update_user(&u.id, &rename, Some("role-user"), t)
        .await;
    let applied = applied.unwrap().expect("the role is as seen");
    assert_eq!(applied.full_name.as_deref(), Some("By a deputy"));
    assert!(
        store
            .soft_delete_user(&u.id, Some("role-user"), t)
            .await
            .unwrap()
    );
}

/// A session moves into a new epoch only while active and only for its own user.
pub async fn a_session_carries_over_into_a_new_epoch(store: &dyn Store) {
    let t = now();
    let s = session("carry-user", t);
    store.insert_session(&s).await.expect("insert");
    assert!(
        !store
            .carry_session_over(&s.id, "someone-else", 3)
            .await
            .unwrap()
    );
    assert!(
        store
            .carry_session_over(&s.id, "carry-user", 3)
            .await
            .unwrap()
    );
    assert_eq!(store.find_session(&s.id).await.unwrap().unwrap().epoch, 3);
    store
        .revoke_session(&s.id, None, RevokeReason::Logout, t)
        .await
        .unwrap();
    assert!(
        !store
            .carry_session_over(&s.id, "carry-user", 4)
            .await
            .unwrap()
    );
}

/// A rotation answers with the rotated session's state (the service checks its epoch and its
/// absolute lifetime from it); a rotation that does not happen answers `None`.
pub async fn rotation_answers_the_rotated_state(store: &dyn Store) {
    let t = now();
    let mut s = session("rotating-user", t);
    s.epoch = 7;
    store.insert_session(&s).await.expect("insert");
    let later = t + Duration::seconds(1);
    let expires = later + Duration::days(7);
    let rotated = store
        .rotate_refresh(&s.id, &s.user_id, &s.refresh_jti, "next", expires, later)
        .await
        .unwrap()
        .expect("rotated");
    assert_eq!(
        (rotated.epoch, rotated.created_at, rotated.expires_at),
        (7, t, expires)
    );
    assert!(rotated.is_active);
    let again = store
        .rotate_refresh(&s.id, &s.user_id, &s.refresh_jti, "other", expires, later)
        .await
        .unwrap();
    assert!(again.is_none(), "the old token rotates only once");
}

/// Runs every behaviour above against one store.
pub async fn run_all(store: &dyn Store) {
    ending_sessions_is_part_of_the_account_write(store).await;
    writes_checked_against_a_role_miss_when_it_changed(store).await;
    a_session_carries_over_into_a_new_epoch(store).await;
    rotation_answers_the_rotated_state(store).await;
}
