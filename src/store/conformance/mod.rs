//! The store conformance suite: every behaviour the services rely on, written once against
//! [`Store`] and run on both backends by [`conformance_tests!`] (see the bottom of `sqlite/mod.rs`
//! and `mongo/mod.rs`), so the two can never drift. A backend's own module keeps only what is
//! its own (SQLite's migrations, MongoDB's error mapping).
//!
//! Longer than the store's other files on purpose: it is the one specification of what a
//! backend must do, and reads best as one list. A new collection adds its behaviours in a module
//! of its own beside this one (`events.rs`, `mail.rs`, `mfa.rs`, `signing_keys.rs`) and lists them in [`conformance_tests!`].

mod events;
mod mail;
mod mfa;
mod signing_keys;
pub use events::*;
pub(in crate::store) use mail::send_one_mail;
pub use mail::*;
pub use mfa::*;
pub use signing_keys::*;

use chrono::{DateTime, Duration, Utc};

use super::{Store, StoreError, StoreResult};
use crate::domain::{
    RevokeReason, Role, Session, SessionState, User, UserChanges, UserFilter, new_id,
};

/// Declares one `#[tokio::test]` per behaviour of the suite, each on a fresh store from `$open`
/// (an async expression giving `Option<impl Store>`; `None` skips, as an unconfigured MongoDB
/// outside CI does) and closed with `$close` afterwards (MongoDB drops its test database).
#[macro_export]
#[doc(hidden)]
macro_rules! conformance_tests {
    ($open:expr, $close:expr) => {
        $crate::conformance_tests!(@each $open, $close;
            users_are_unique_case_insensitively_and_name_the_field,
            user_updates_rehash_and_soft_delete,
            listing_pages_filters_and_matches_prefixes_literally,
            roles_are_seeded_once_by_name,
            a_session_and_its_user_are_read_together_or_not_at_all,
            refresh_rotates_once_per_token,
            sessions_revoke_one_or_all_and_list_by_activity,
            counters_count_expire_and_restart,
            expired_records_are_never_read_as_live,
            ending_sessions_is_part_of_the_account_write,
            writes_checked_against_a_role_miss_when_it_changed,
            a_session_carries_over_into_a_new_epoch,
            events_page_newest_first_without_gaps_or_repeats,
            events_filter_by_user_type_and_time,
            expired_events_are_never_listed,
            one_time_tokens_work_once_and_replace_older_ones,
            one_time_tokens_race_count_failures_and_expire,
            outbox_claims_are_exclusive_leased_and_retried,
            factors_activate_once_and_steps_never_repeat,
            recovery_codes_work_once_and_go_with_the_factor,
            tokens_are_found_without_consuming_and_requests_keep_their_kind,
            account_and_session_fields_of_mail_and_mfa_round_trip,
            signing_keys_round_trip_and_are_created_once_per_seq,
            signing_keys_activate_once_and_retire_without_their_secret,
        );
    };
    (@each $open:expr, $close:expr; $($name:ident),* $(,)?) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(store) = $open.await else { return };
                    $crate::store::conformance::$name(&*store).await;
                    $close(store).await;
                }
            )*
        }
    };
}

/// Now, in whole milliseconds: what both backends keep, so round-tripped values compare equal.
pub(super) fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("valid time")
}

/// A user as the store tests make them (the backends' own tests too).
pub(super) fn user(name: &str, email: &str, at: DateTime<Utc>) -> User {
    User {
        id: new_id(),
        username: name.into(),
        email: email.into(),
        full_name: Some("Full Name".into()),
        password_hash: "hash-1".into(),
        role_id: "role-user".into(),
        is_active: true,
        session_epoch: 0,
        created_at: at,
        updated_at: at,
        last_login_at: None,
        deleted_at: None,
        email_verified: false,
        pending_email: None,
        mfa_enabled: false,
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
        mfa: false,
        created_at: at,
        last_activity: at,
        expires_at: at + Duration::days(7),
        is_active: true,
        revoked_at: None,
        revoke_reason: None,
    }
}

fn duplicate_of<T: std::fmt::Debug>(result: StoreResult<T>) -> &'static str {
    match result {
        Err(StoreError::Duplicate { field }) => field,
        other => panic!("expected a duplicate, got {other:?}"),
    }
}

/// Usernames and emails are unique whatever their case, on insert and on update, and the error
/// names the field; logins find the account by either, case-insensitively.
pub async fn users_are_unique_case_insensitively_and_name_the_field(store: &dyn Store) {
    let t = now();
    let alice = user("Alice", "Alice@Example.com", t);
    store.insert_user(&alice).await.expect("insert");
    assert_eq!(
        store.find_user(&alice.id).await.unwrap(),
        Some(alice.clone())
    );
    for login in ["alice", "alice@example.com"] {
        let found = store.find_user_by_login(login).await.unwrap();
        assert_eq!(found.map(|u| u.id), Some(alice.id.clone()), "{login}");
    }
    let clash = user("ALICE", "other@example.com", t);
    assert_eq!(duplicate_of(store.insert_user(&clash).await), "username");
    let clash = user("bob", "alice@EXAMPLE.com", t);
    assert_eq!(duplicate_of(store.insert_user(&clash).await), "email");

    let bob = user("bob", "bob@example.com", t);
    store.insert_user(&bob).await.expect("insert bob");
    let rename = UserChanges {
        username: Some("aLiCe".into()),
        ..Default::default()
    };
    let result = store.update_user(&bob.id, &rename, None, t).await;
    assert_eq!(duplicate_of(result), "username");
    let re_email = UserChanges {
        email: Some("ALICE@example.COM".into()),
        ..Default::default()
    };
    let result = store.update_user(&bob.id, &re_email, None, t).await;
    assert_eq!(duplicate_of(result), "email");
    // A refused rename leaves the account as it was.
    assert_eq!(store.find_user(&bob.id).await.unwrap(), Some(bob));
}

/// Partial updates change only what they name (and the lower-cased copies); a rehash is a
/// compare-and-set; a soft delete happens once and a reactivation undoes it.
pub async fn user_updates_rehash_and_soft_delete(store: &dyn Store) {
    let t = now();
    let carol = user("carol", "carol@example.com", t);
    store.insert_user(&carol).await.expect("insert");
    let later = t + Duration::seconds(5);
    let changes = UserChanges {
        username: Some("Caroline".into()),
        full_name: Some(None),
        last_login_at: Some(later),
        ..Default::default()
    };
    let updated = store
        .update_user(&carol.id, &changes, None, later)
        .await
        .unwrap()
        .expect("known id");
    assert_eq!(updated.username, "Caroline");
    assert_eq!(updated.full_name, None);
    assert_eq!(updated.last_login_at, Some(later));
    assert_eq!(updated.updated_at, later);
    assert_eq!(updated.email, carol.email);
    let by_new = store.find_user_by_login("caroline").await.unwrap();
    assert_eq!(by_new.map(|u| u.id), Some(carol.id.clone()));
    assert_eq!(store.find_user_by_login("carol").await.unwrap(), None);
    let unknown = store.update_user("nope", &changes, None, later).await;
    assert_eq!(unknown.unwrap(), None);

    store
        .replace_password_hash(&carol.id, "stale", "hash-x")
        .await
        .unwrap();
    let hash = |u: Option<User>| u.expect("user").password_hash;
    assert_eq!(hash(store.find_user(&carol.id).await.unwrap()), "hash-1");
    store
        .replace_password_hash(&carol.id, "hash-1", "hash-2")
        .await
        .unwrap();
    assert_eq!(hash(store.find_user(&carol.id).await.unwrap()), "hash-2");

    assert!(
        store
            .soft_delete_user(&carol.id, None, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .soft_delete_user(&carol.id, None, later)
            .await
            .unwrap()
    );
    let deleted = store.find_user(&carol.id).await.unwrap().expect("kept");
    assert!(!deleted.is_active);
    assert_eq!(deleted.deleted_at, Some(later));
    let reactivate = UserChanges {
        is_active: Some(true),
        ..Default::default()
    };
    let back = store
        .update_user(&carol.id, &reactivate, None, later)
        .await
        .unwrap()
        .expect("user");
    assert!(back.is_active);
    assert_eq!(back.deleted_at, None);
}

/// The admin listing: newest first, pages by skip/limit with the total, filters by role and
/// activity, and a prefix of username or email matched literally (no wildcard, no pattern).
pub async fn listing_pages_filters_and_matches_prefixes_literally(store: &dyn Store) {
    let base = now();
    let names = ["a.b", "axb", "a+c", "zed", "a.bc", "ab_1", "ab%2"];
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut u = user(
            name,
            &format!("mail{i}@example.com"),
            base + Duration::seconds(i as i64),
        );
        u.role_id = if i % 2 == 0 { "even" } else { "odd" }.into();
        store.insert_user(&u).await.expect("insert");
        ids.push(u.id);
    }
    let names_of = |users: Vec<User>| users.into_iter().map(|u| u.username).collect::<Vec<_>>();
    let all = UserFilter::default();
    let (page, total) = store.list_users(&all, 0, 2).await.unwrap();
    assert_eq!(
        (names_of(page), total),
        (vec!["ab%2".into(), "ab_1".into()], 7)
    );
    let (page, _) = store.list_users(&all, 6, 2).await.unwrap();
    assert_eq!(names_of(page), vec!["a.b".to_string()]);
    let (page, total) = store.list_users(&all, 0, 0).await.unwrap();
    assert_eq!((page.len(), total), (0, 7));

    let prefix = |p: &str| UserFilter {
        prefix: Some(p.into()),
        ..Default::default()
    };
    let (page, total) = store.list_users(&prefix("a.b"), 0, 10).await.unwrap();
    assert_eq!(
        (names_of(page), total),
        (vec!["a.bc".into(), "a.b".into()], 2)
    );
    let (page, _) = store.list_users(&prefix("a+"), 0, 10).await.unwrap();
    assert_eq!(names_of(page), vec!["a+c".to_string()]);
    let (page, _) = store.list_users(&prefix("ab_"), 0, 10).await.unwrap();
    assert_eq!(names_of(page), vec!["ab_1".to_string()], "_ is no wildcard");
    let (page, _) = store.list_users(&prefix("ab%"), 0, 10).await.unwrap();
    assert_eq!(names_of(page), vec!["ab%2".to_string()], "% is no wildcard");
    for weird in ["(", "[", "*", "\\", "a.b$", "^a", "%", "_"] {
        let (page, total) = store.list_users(&prefix(weird), 0, 10).await.expect(weird);
        assert_eq!((page.len(), total), (0, 0), "{weird}");
    }
    let (_, total) = store.list_users(&prefix("mail"), 0, 10).await.unwrap();
    assert_eq!(total, 7, "the prefix matches emails too");

    let odd = UserFilter {
        role_id: Some("odd".into()),
        ..Default::default()
    };
    let (page, total) = store.list_users(&odd, 0, 10).await.unwrap();
    assert_eq!(
        (names_of(page), total),
        (vec!["ab_1".into(), "zed".into(), "axb".into()], 3)
    );
    store.soft_delete_user(&ids[3], None, base).await.unwrap();
    let inactive = UserFilter {
        is_active: Some(false),
        ..Default::default()
    };
    let (page, total) = store.list_users(&inactive, 0, 10).await.unwrap();
    assert_eq!((names_of(page), total), (vec!["zed".to_string()], 1));
}

/// Seeding a role is idempotent by name, also when several instances seed at once.
pub async fn roles_are_seeded_once_by_name(store: &dyn Store) {
    let role = |name: &str| Role {
        id: new_id(),
        name: name.into(),
        description: format!("{name} role"),
        permissions: vec!["users:read".into()],
        is_active: true,
        created_at: now(),
    };
    let first = role("user");
    store.insert_role_if_absent(&first).await.expect("insert");
    store
        .insert_role_if_absent(&role("user"))
        .await
        .expect("again");
    let racers = (0..8).map(|_| role("admin")).collect::<Vec<_>>();
    let results =
        futures_util::future::join_all(racers.iter().map(|r| store.insert_role_if_absent(r))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let roles = store.list_roles().await.expect("list");
    let names = roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>();
    assert_eq!(names, ["admin", "user"]);
    assert_eq!(roles[1], first);
}

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

/// Rate-limit counters: atomic increments within a window, a fresh start after it, concurrent
/// hits all counted, and deletion.
pub async fn counters_count_expire_and_restart(store: &dyn Store) {
    let t = now();
    let window = t + Duration::seconds(30);
    assert_eq!(store.get_counter("k", t).await.unwrap(), None);
    let first = store.hit_counter("k", window, t).await.unwrap();
    assert_eq!(
        (first.count, first.expires_at, first.last_hit_at),
        (1, window, t)
    );
    let later = t + Duration::seconds(1);
    let second = store
        .hit_counter("k", window + Duration::seconds(1), later)
        .await
        .unwrap();
    assert_eq!(
        (second.count, second.expires_at),
        (2, window),
        "the window does not slide"
    );
    assert_eq!(second.last_hit_at, later);
    assert_eq!(store.get_counter("k", later).await.unwrap(), Some(second));

    let hits =
        futures_util::future::join_all((0..10).map(|_| store.hit_counter("race", window, t))).await;
    let mut counts = hits
        .into_iter()
        .map(|h| h.unwrap().count)
        .collect::<Vec<_>>();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=10).collect::<Vec<_>>(),
        "every concurrent hit counted once"
    );

    let after = window + Duration::seconds(1);
    assert_eq!(
        store.get_counter("k", after).await.unwrap(),
        None,
        "expired"
    );
    let restarted = store
        .hit_counter("k", after + Duration::seconds(30), after)
        .await
        .unwrap();
    assert_eq!(restarted.count, 1);
    store.delete_counter("k").await.unwrap();
    assert_eq!(store.get_counter("k", after).await.unwrap(), None);
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

/// A write checked against the role the caller saw misses once the role changed, and changes
/// nothing; with the same role it applies.
pub async fn writes_checked_against_a_role_miss_when_it_changed(store: &dyn Store) {
    let t = now();
    let u = user("checked", "checked@example.com", t);
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
    assert_eq!(unchanged, u);
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

/// The fields mail and the second factor added: `email_verified`, `pending_email` (set and
/// cleared) and `mfa_enabled` on the account, `mfa` on a session, all read back as written.
pub async fn account_and_session_fields_of_mail_and_mfa_round_trip(store: &dyn Store) {
    let t = now();
    let u = User {
        email_verified: true,
        pending_email: Some("next@example.com".into()),
        mfa_enabled: true,
        ..user("fields", "fields@example.com", t)
    };
    store.insert_user(&u).await.expect("insert");
    assert_eq!(store.find_user(&u.id).await.unwrap(), Some(u.clone()));
    let changes = UserChanges {
        email_verified: Some(false),
        pending_email: Some(None),
        mfa_enabled: Some(false),
        ..Default::default()
    };
    let updated = store
        .update_user(&u.id, &changes, None, t)
        .await
        .unwrap()
        .expect("updated");
    assert_eq!(
        (
            updated.email_verified,
            updated.pending_email,
            updated.mfa_enabled
        ),
        (false, None, false)
    );
    let with_factor = Session {
        mfa: true,
        ..session(&u.id, t)
    };
    store
        .insert_session(&with_factor)
        .await
        .expect("insert session");
    let (state, _) = store
        .find_session_and_user(&with_factor.id, &u.id)
        .await
        .unwrap()
        .expect("found");
    assert!(state.mfa);
    let rotated = store
        .rotate_refresh(
            &with_factor.id,
            &u.id,
            &with_factor.refresh_jti,
            "next-jti",
            t + Duration::days(7),
            t,
        )
        .await
        .unwrap()
        .expect("rotated");
    assert!(rotated.mfa, "a refresh keeps the session's second factor");
}
