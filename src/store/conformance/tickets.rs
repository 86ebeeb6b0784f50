//! `oauth_tickets`: a provider flow's steps are taken once, only as the kind they were filed as,
//! never after they expire.

use super::*;
use crate::domain::ticket::{Ticket, TicketKind};

fn ticket(kind: TicketKind, expires_at: DateTime<Utc>) -> Ticket {
    Ticket {
        id_hash: new_id(),
        kind,
        payload: r#"{"provider":"google","nonce":"n-1"}"#.into(),
        expires_at,
    }
}

/// A ticket comes back once, as filed; a second take, a take as another kind, and racing takes
/// after the winner's find nothing.
pub async fn tickets_are_taken_once_and_only_as_their_kind(store: &dyn Store) {
    let t = now();
    let flow = ticket(TicketKind::Flow, t + Duration::minutes(10));
    store.put_ticket(&flow).await.expect("put");
    assert_eq!(
        store
            .take_ticket(TicketKind::Grant, &flow.id_hash, t)
            .await
            .unwrap(),
        None,
        "another kind"
    );
    assert_eq!(
        store
            .take_ticket(TicketKind::Flow, &flow.id_hash, t)
            .await
            .unwrap(),
        Some(flow.clone())
    );
    assert_eq!(
        store
            .take_ticket(TicketKind::Flow, &flow.id_hash, t)
            .await
            .unwrap(),
        None,
        "taken already"
    );

    let grant = ticket(TicketKind::Grant, t + Duration::seconds(60));
    store.put_ticket(&grant).await.expect("put");
    let takes = futures_util::future::join_all(
        (0..6).map(|_| store.take_ticket(TicketKind::Grant, &grant.id_hash, t)),
    )
    .await;
    let won: Vec<_> = takes.into_iter().filter_map(|r| r.unwrap()).collect();
    assert_eq!(won, vec![grant], "exactly one racer takes it");
}

/// An expired ticket is never returned, and the sweep removes it.
pub async fn expired_tickets_are_never_taken(store: &dyn Store) {
    let t = now();
    let stale = ticket(TicketKind::Link, t - Duration::seconds(1));
    store.put_ticket(&stale).await.expect("put");
    assert_eq!(
        store
            .take_ticket(TicketKind::Link, &stale.id_hash, t)
            .await
            .unwrap(),
        None
    );
    let swept = ticket(TicketKind::Flow, t - Duration::seconds(1));
    store.put_ticket(&swept).await.expect("put");
    store.delete_expired(t).await.expect("sweep");
    assert_eq!(
        store
            .take_ticket(TicketKind::Flow, &swept.id_hash, t)
            .await
            .unwrap(),
        None
    );
}
