//! `counters`: the rate-limit and lockout counters count, expire and restart.

use chrono::Duration;

use super::*;

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
