//! MongoDB `oauth_tickets`: `_id` is the secret's hash; taken by one `findOneAndDelete` on the
//! live ticket, so of racing takes one wins; removed after expiry by the TTL index.

use async_trait::async_trait;
use bson::doc;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::ticket::{Ticket, TicketKind};
use crate::store::TicketStore;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct TicketDoc {
    #[serde(rename = "_id")]
    id_hash: String,
    kind: String,
    payload: String,
    expires_at: bson::DateTime,
}

pub(super) async fn create_indexes(tickets: &Collection<TicketDoc>) -> mongodb::error::Result<()> {
    tickets.create_indexes([expiry_index()]).await.map(drop)
}

#[async_trait]
impl TicketStore for MongoStore {
    async fn put_ticket(&self, ticket: &Ticket) -> StoreResult<()> {
        let doc = TicketDoc {
            id_hash: ticket.id_hash.clone(),
            kind: ticket.kind.as_str().to_string(),
            payload: ticket.payload.clone(),
            expires_at: bson_date(ticket.expires_at),
        };
        self.oauth_tickets
            .insert_one(doc)
            .await
            .map(drop)
            .map_err(map_err)
    }

    async fn take_ticket(
        &self,
        kind: TicketKind,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Ticket>> {
        let taken = self
            .oauth_tickets
            .find_one_and_delete(doc! {
                "_id": id_hash,
                "kind": kind.as_str(),
                "expires_at": { "$gt": bson_date(now) },
            })
            .await
            .map_err(map_err)?;
        Ok(taken.map(|doc| Ticket {
            id_hash: doc.id_hash,
            kind,
            payload: doc.payload,
            expires_at: doc.expires_at.to_chrono(),
        }))
    }
}
