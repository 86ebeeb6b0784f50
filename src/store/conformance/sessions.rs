//! `sessions`: read with their user, rotated once per token, revoked, expired, and ended by
//! account writes through the epoch.

use chrono::Duration;

use super::*;

/// What authenticating reads: a session of that user and the user, both or nothing. A login
/// also records `last_login_at` on its user.
pub async fn a_session_and_its_user_are_read_together_or_not_at_all(store: &dyn Store) {
    let t = now();
    let alice = user("alice", "alice@example.com", t);
    store.insert_user(&alice).await.expect("insert user");
    // Every optional field set, so a field read from the wrong place shows.
    let s = Session {
        previous_jti: Some("jti-0".into()),
        rotated_at: Some(t),
        revoked_at: Some(t),
        revoke_reason: Some("logout".into()),
        is_active: false,
        epoch: 3,
        ..session(&alice.id, t)
    };
    store.insert_session(&s).await.expect("insert session");
    let alice = User {
        last_login_at: Some(t),
        ..alice
    };
    let pair = store.find_session_and_user(&s.id, &alice.id).await.unwrap();
    assert_eq!(pair, Some((SessionState::from(&s), alice.clone())));
    assert_eq!(store.find_session(&s.id).await.unwrap(), Some(s.clone()));
    assert_eq!(
        store.find_session_and_user(&s.id, "nobody").await.unwrap(),
        None
    );
    let bob = user("bob", "bob@example.com", t);
    store.insert_user(&bob).await.expect("insert bob");
    let not_his = store.find_session_and_user(&s.id, &bob.id).await.unwrap();
    assert_eq!(
        not_his, None,
        "someone else's session is no session of theirs"
    );
    let none = store
        .find_session_and_user("none", &alice.id)
        .await
        .unwrap();
    assert_eq!(none, None);
}

/// Rotation is one conditional write: the current token rotates once, never for another user,
/// never a revoked or expired session, and a duplicate jti is refused by its index.
pub async fn refresh_rotates_once_per_token(store: &dyn Store) {
    let t = now();
    let day = Duration::days(1);
    let mut s = session("u1", t);
    s.epoch = 7;
    s.expires_at = t + day;
    store.insert_session(&s).await.expect("insert");
    let mut clash = session("u1", t);
    clash.refresh_jti = s.refresh_jti.clone();
    assert_eq!(
        duplicate_of(store.insert_session(&clash).await),
        "refresh_jti"
    );

    let later = t + Duration::seconds(1);
    let (old, new) = (s.refresh_jti.as_str(), "jti-2");
    let wrong_user = store.rotate_refresh(&s.id, "u2", old, new, later + day, later);
    assert!(wrong_user.await.unwrap().is_none());
    let rotated = store
        .rotate_refresh(&s.id, "u1", old, new, later + day, later)
        .await
        .unwrap()
        .expect("rotated");
    // The rotated session's state, for the service's epoch and lifetime checks.
    assert_eq!(
        (
            rotated.is_active,
            rotated.epoch,
            rotated.created_at,
            rotated.expires_at
        ),
        (true, 7, t, later + day)
    );
    let replay = store.rotate_refresh(&s.id, "u1", old, "jti-3", later + day, later);
    assert!(
        replay.await.unwrap().is_none(),
        "the old token rotates only once"
    );
    let stored = store.find_session(&s.id).await.unwrap().expect("session");
    assert_eq!(stored.refresh_jti, "jti-2");
    assert_eq!(stored.previous_jti.as_deref(), Some(old));
    assert_eq!(stored.rotated_at, Some(later));
    assert_eq!(stored.last_activity, later);
    let too_late = later + day + Duration::seconds(1);
    let expired = store.rotate_refresh(&s.id, "u1", "jti-2", "jti-4", too_late + day, too_late);
    assert!(expired.await.unwrap().is_none(), "past its expiry");
    store
        .revoke_session(&s.id, None, RevokeReason::Logout, later)
        .await
        .unwrap();
    let revoked = store.rotate_refresh(&s.id, "u1", "jti-2", "jti-4", later + day, later);
    assert!(revoked.await.unwrap().is_none(), "revoked");
}

/// Revoking one session (optionally only the caller's), all of a user's but one, and listing
/// the live ones by recent activity; activity is recorded on live sessions only.
pub async fn sessions_revoke_one_or_all_and_list_by_activity(store: &dyn Store) {
    let t = now();
    let [a, b, c] = [0, 1, 2].map(|i| {
        let mut s = session("owner", t);
        s.last_activity = t + Duration::seconds(i);
        s
    });
    for s in [&a, &b, &c] {
        store.insert_session(s).await.expect("insert");
    }
    let ids = |list: Vec<Session>| list.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let listed = store.list_active_sessions("owner", t).await.unwrap();
    assert_eq!(ids(listed), [c.id.clone(), b.id.clone(), a.id.clone()]);

    let later = t + Duration::seconds(10);
    store.touch_session(&a.id, later).await.unwrap();
    let listed = store.list_active_sessions("owner", t).await.unwrap();
    assert_eq!(ids(listed)[0], a.id, "most recent activity first");

    let reason = RevokeReason::RevokedByUser;
    assert!(
        !store
            .revoke_session(&b.id, Some("intruder"), reason, t)
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_session(&b.id, Some("owner"), reason, t)
            .await
            .unwrap()
    );
    assert!(
        !store.revoke_session(&b.id, None, reason, t).await.unwrap(),
        "only once"
    );
    let stored = store.find_session(&b.id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.is_active,
            stored.revoked_at,
            stored.revoke_reason.as_deref()
        ),
        (false, Some(t), Some("revoked_by_user"))
    );
    store.touch_session(&b.id, later).await.unwrap();
    let stored = store.find_session(&b.id).await.unwrap().unwrap();
    assert_eq!(
        stored.last_activity, b.last_activity,
        "a revoked session keeps its activity"
    );

    let all = RevokeReason::LogoutAll;
    let n = store
        .revoke_user_sessions("owner", Some(&a.id), all, t)
        .await
        .unwrap();
    assert_eq!(n, 1, "c only: b was revoked already, a is kept");
    let live = store.list_active_sessions("owner", t).await.unwrap();
    assert_eq!(ids(live), vec![a.id]);
    let n = store
        .revoke_user_sessions("owner", None, all, t)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(
        store
            .list_active_sessions("owner", t)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Records past their `expires_at` are never read as live, whether or not the backend has swept
/// them yet (MongoDB's TTL monitor runs about once a minute; SQLite sweeps on a timer).
pub async fn expired_records_are_never_read_as_live(store: &dyn Store) {
    let t = now();
    let mut old = session("sleepy", t - Duration::days(8));
    old.expires_at = t - Duration::seconds(1);
    let fresh = session("sleepy", t);
    store.insert_session(&old).await.expect("insert");
    store.insert_session(&fresh).await.expect("insert");
    let live = store.list_active_sessions("sleepy", t).await.unwrap();
    assert_eq!(live.iter().map(|s| &s.id).collect::<Vec<_>>(), [&fresh.id]);
    store
        .hit_counter("gone", t + Duration::milliseconds(1), t)
        .await
        .unwrap();
    let after = t + Duration::seconds(1);
    assert_eq!(store.get_counter("gone", after).await.unwrap(), None);
    store.delete_expired(after).await.expect("sweep");
    let live = store.list_active_sessions("sleepy", after).await.unwrap();
    assert_eq!(live.len(), 1);
}

/// `end_sessions` and a soft delete bump the user's session epoch in the same write; other
/// changes leave it alone.
pub async fn ending_sessions_is_part_of_the_account_write(store: &dyn Store) {
    let t = now();
    let u = user("epochs", "epochs@example.com", t);
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
