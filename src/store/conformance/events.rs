//! `security_events`: keyset paging, filters, retention.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::now;
use crate::domain::event::{EventCursor, EventFilter, EventType, SecurityEvent};
use crate::domain::new_id;
use crate::store::Store;

fn event(kind: EventType, user_id: Option<&str>, at: DateTime<Utc>) -> SecurityEvent {
    SecurityEvent {
        id: new_id(),
        at,
        kind: kind.as_str().to_string(),
        user_id: user_id.map(str::to_string),
        actor_id: user_id.map(str::to_string),
        session_id: Some(new_id()),
        org_id: None,
        ip: Some("203.0.113.7".into()),
        device: Some("Firefox 120 | Linux | pc".into()),
        user_agent: Some("Mozilla/5.0".into()),
        detail: json!({"fields": ["email", "role"], "revoked": 2})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        expires_at: at + Duration::days(90),
    }
}

/// Every page after the first, following the cursor, until the last.
async fn walk(store: &dyn Store, filter: EventFilter, limit: u64) -> Vec<SecurityEvent> {
    let t = now();
    let mut filter = filter;
    let mut seen = Vec::new();
    loop {
        // One more than the page, as the service asks, to know whether a next page exists.
        let mut page = store
            .list_events(&filter, limit + 1, t)
            .await
            .expect("list");
        let more = page.len() as u64 > limit;
        page.truncate(limit as usize);
        seen.extend(page.iter().cloned());
        match page.last() {
            Some(last) if more => filter.before = Some(EventCursor::after(last)),
            _ => return seen,
        }
    }
}

fn ids(events: &[SecurityEvent]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

/// Newest first by (`at`, `id`), so events of one millisecond keep a stable order; a cursor
/// page is strictly older than its cursor, so events written while a client pages (always
/// newer) neither repeat on a later page nor push one out of it. Every field reads back.
pub async fn events_page_newest_first_without_gaps_or_repeats(store: &dyn Store) {
    let t = now() - Duration::minutes(10);
    let mut written = Vec::new();
    for i in 0..12 {
        // Pairs share a millisecond: the id decides their order.
        let e = event(
            EventType::LoginSucceeded,
            Some("u1"),
            t + Duration::milliseconds(i / 2),
        );
        store.insert_event(&e).await.expect("insert");
        written.push(e);
    }
    let mut newest_first = written.clone();
    newest_first.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));

    let all = store
        .list_events(&EventFilter::default(), 100, now())
        .await
        .unwrap();
    assert_eq!(all, newest_first, "every field reads back, newest first");

    // Page by 5 while new events arrive after the first page.
    let first = store
        .list_events(&EventFilter::default(), 5, now())
        .await
        .unwrap();
    assert_eq!(ids(&first), ids(&newest_first[..5]));
    for _ in 0..3 {
        let newer = event(EventType::Logout, Some("u1"), now());
        store.insert_event(&newer).await.expect("insert");
    }
    let rest = walk(
        store,
        EventFilter {
            before: first.last().map(EventCursor::after),
            ..Default::default()
        },
        5,
    )
    .await;
    assert_eq!(
        ids(&rest),
        ids(&newest_first[5..]),
        "no repeats, no gaps after newer events arrived"
    );
}

/// The filters (user, organization, type, time) combine; `since` is inclusive, `until` exclusive.
pub async fn events_filter_by_user_type_and_time(store: &dyn Store) {
    let t = now() - Duration::hours(1);
    let at = |minutes| t + Duration::minutes(minutes);
    let in_org = |mut e: SecurityEvent| {
        e.org_id = Some("org-1".into());
        e
    };
    let events = [
        event(EventType::LoginFailed, Some("ann"), at(0)),
        in_org(event(EventType::LoginSucceeded, Some("ann"), at(1))),
        event(EventType::LoginFailed, None, at(2)),
        in_org(event(EventType::LoginFailed, Some("bob"), at(3))),
        event(EventType::PasswordChanged, Some("ann"), at(4)),
    ];
    for e in &events {
        store.insert_event(e).await.expect("insert");
    }
    let list = |filter: EventFilter| async move {
        let found = walk(store, filter, 2).await;
        found.into_iter().map(|e| e.at).collect::<Vec<_>>()
    };
    let by_user = EventFilter {
        user_id: Some("ann".into()),
        ..Default::default()
    };
    assert_eq!(list(by_user.clone()).await, [at(4), at(1), at(0)]);
    let by_type = EventFilter {
        kind: Some(EventType::LoginFailed),
        ..Default::default()
    };
    assert_eq!(list(by_type.clone()).await, [at(3), at(2), at(0)]);
    let both = EventFilter {
        kind: Some(EventType::LoginFailed),
        ..by_user
    };
    assert_eq!(list(both).await, [at(0)]);
    let window = EventFilter {
        since: Some(at(1)),
        until: Some(at(3)),
        ..by_type
    };
    assert_eq!(list(window).await, [at(2)]);
    let by_org = EventFilter {
        org_id: Some("org-1".into()),
        ..Default::default()
    };
    assert_eq!(list(by_org).await, [at(3), at(1)]);
    let nobody = EventFilter {
        user_id: Some("carol".into()),
        ..Default::default()
    };
    assert!(list(nobody).await.is_empty());
}

/// An event past its `expires_at` is never listed, swept or not (MongoDB's TTL monitor runs
/// about once a minute, SQLite sweeps on a timer).
pub async fn expired_events_are_never_listed(store: &dyn Store) {
    let t = now();
    let mut old = event(EventType::Logout, Some("u"), t - Duration::days(91));
    old.expires_at = t - Duration::seconds(1);
    let fresh = event(EventType::Logout, Some("u"), t);
    store.insert_event(&old).await.expect("insert");
    store.insert_event(&fresh).await.expect("insert");
    let listed = store
        .list_events(&EventFilter::default(), 10, t)
        .await
        .unwrap();
    assert_eq!(ids(&listed), [fresh.id.as_str()]);
    store.delete_expired(t).await.expect("sweep");
    let listed = store
        .list_events(&EventFilter::default(), 10, t)
        .await
        .unwrap();
    assert_eq!(ids(&listed), [fresh.id.as_str()]);
}
