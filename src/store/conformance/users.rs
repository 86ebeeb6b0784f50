//! `users`: uniqueness, updates, soft delete, listing, and writes checked against the role.

use chrono::Duration;

use super::*;
use crate::domain::event::EventCursor;

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

/// Keyset pages: after a cursor (a user's `created_at` and `id`), the users after it in the
/// newest-first order, ties of one millisecond ordered by id, with the filters, and the total
/// counting every match as before. Walking from the first page visits each user once.
pub async fn listing_continues_after_a_keyset_cursor(store: &dyn Store) {
    let base = now();
    // Two users share each millisecond: the id decides between them.
    let mut expected = Vec::new();
    for i in 0..7 {
        let mut u = user(
            &format!("k{i}"),
            &format!("k{i}@example.com"),
            base + Duration::milliseconds(i / 2),
        );
        u.role_id = if i % 3 == 0 { "third" } else { "other" }.into();
        store.insert_user(&u).await.expect("insert");
        expected.push(u);
    }
    expected.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let cursor_after = |u: &User| EventCursor {
        at: u.created_at,
        id: u.id.clone(),
    };

    let mut seen = Vec::new();
    let mut filter = UserFilter::default();
    loop {
        let (page, total) = store.list_users(&filter, 0, 3).await.unwrap();
        assert_eq!(total, 7, "the total ignores the cursor");
        let Some(last) = page.last() else { break };
        filter.before = Some(cursor_after(last));
        seen.extend(page.into_iter().map(|u| u.id));
    }
    let order: Vec<String> = expected.iter().map(|u| u.id.clone()).collect();
    assert_eq!(seen, order, "every user once, newest first");

    let thirds = UserFilter {
        role_id: Some("third".into()),
        before: Some(cursor_after(&expected[0])),
        ..Default::default()
    };
    let (page, total) = store.list_users(&thirds, 0, 10).await.unwrap();
    let want: Vec<&str> = expected[1..]
        .iter()
        .filter(|u| u.role_id == "third")
        .map(|u| u.id.as_str())
        .collect();
    assert_eq!(page.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), want);
    assert_eq!(total, 3);
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
        amr: Amr::PWD.with(Amr::OTP),
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
    assert_eq!(state.amr, Amr::PWD.with(Amr::OTP));
    assert_eq!(state.authenticated_at, with_factor.authenticated_at);
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
    assert_eq!(
        (rotated.amr, rotated.authenticated_at),
        (with_factor.amr, with_factor.authenticated_at),
        "a refresh keeps how and when the session signed in"
    );
}
