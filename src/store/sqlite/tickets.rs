//! SQLite `oauth_tickets`: taken by one `DELETE ... RETURNING`, so of racing takes one wins.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::*;
use crate::domain::ticket::{Ticket, TicketKind};
use crate::store::TicketStore;

#[async_trait]
impl TicketStore for SqliteStore {
    async fn put_ticket(&self, ticket: &Ticket) -> StoreResult<()> {
        let t = ticket.clone();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO oauth_tickets (id_hash, kind, payload, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                t.id_hash,
                t.kind.as_str(),
                t.payload,
                millis(t.expires_at)
            ])
            .map(drop)
        })
        .await
    }

    async fn take_ticket(
        &self,
        kind: TicketKind,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Ticket>> {
        let id_hash = id_hash.to_owned();
        self.write(move |conn| {
            // An expired ticket is deleted too (it is dead either way) but not returned.
            conn.prepare_cached(
                "DELETE FROM oauth_tickets WHERE id_hash = ?1 AND kind = ?2
                 RETURNING payload, expires_at",
            )?
            .query_row(params![id_hash, kind.as_str()], |row| {
                let mut c = Columns::of(row);
                Ok((c.take::<String>()?, c.timestamp()?))
            })
            .optional()
            .map(|taken| {
                taken
                    .map(|(payload, expires_at)| Ticket {
                        id_hash,
                        kind,
                        payload,
                        expires_at,
                    })
                    .filter(|t| t.expires_at > now)
            })
        })
        .await
    }
}
