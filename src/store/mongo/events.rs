//! MongoDB `security_events`: appended, read newest first by a keyset on (`at`, `_id`); a TTL
//! index on `expires_at` removes them after the retention.

use async_trait::async_trait;
use bson::{Bson, Document, doc};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::event::{EventFilter, SecurityEvent};
use crate::store::EventStore;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EventDoc {
    #[serde(rename = "_id")]
    id: String,
    at: bson::DateTime,
    #[serde(rename = "type")]
    kind: String,
    user_id: Option<String>,
    actor_id: Option<String>,
    session_id: Option<String>,
    #[serde(default)]
    org_id: Option<String>,
    ip: Option<String>,
    device: Option<String>,
    user_agent: Option<String>,
    #[serde(default)]
    detail: Document,
    expires_at: bson::DateTime,
}

impl EventDoc {
    fn of(e: &SecurityEvent) -> StoreResult<Self> {
        Ok(Self {
            id: e.id.clone(),
            at: bson_date(e.at),
            kind: e.kind.clone(),
            user_id: e.user_id.clone(),
            actor_id: e.actor_id.clone(),
            session_id: e.session_id.clone(),
            org_id: e.org_id.clone(),
            ip: e.ip.clone(),
            device: e.device.clone(),
            user_agent: e.user_agent.clone(),
            detail: bson::to_document(&e.detail).map_err(|e| StoreError::Other(e.to_string()))?,
            expires_at: bson_date(e.expires_at),
        })
    }

    fn into_event(self) -> StoreResult<SecurityEvent> {
        Ok(SecurityEvent {
            detail: bson::from_document(self.detail)
                .map_err(|e| StoreError::Other(e.to_string()))?,
            id: self.id,
            at: self.at.to_chrono(),
            kind: self.kind,
            user_id: self.user_id,
            actor_id: self.actor_id,
            session_id: self.session_id,
            org_id: self.org_id,
            ip: self.ip,
            device: self.device,
            user_agent: self.user_agent,
            expires_at: self.expires_at.to_chrono(),
        })
    }
}

/// One index per way of listing, each ending in the listing's order, so a page is one index
/// range at any depth; plus the TTL index.
pub(super) async fn create_indexes(events: &Collection<EventDoc>) -> mongodb::error::Result<()> {
    let plain = || IndexOptions::builder().build();
    events
        .create_indexes([
            index(doc! { "at": -1, "_id": -1 }, plain()),
            index(doc! { "user_id": 1, "at": -1, "_id": -1 }, plain()),
            index(doc! { "type": 1, "at": -1, "_id": -1 }, plain()),
            index(doc! { "org_id": 1, "at": -1, "_id": -1 }, plain()),
            expiry_index(),
        ])
        .await
        .map(drop)
}

fn query(filter: &EventFilter, now: DateTime<Utc>) -> Document {
    let mut all = vec![doc! { "expires_at": { "$gt": bson_date(now) } }];
    if let Some(user_id) = &filter.user_id {
        all.push(doc! { "user_id": user_id });
    }
    if let Some(org_id) = &filter.org_id {
        all.push(doc! { "org_id": org_id });
    }
    if let Some(kind) = filter.kind {
        all.push(doc! { "type": kind.as_str() });
    }
    if let Some(since) = filter.since {
        all.push(doc! { "at": { "$gte": bson_date(since) } });
    }
    if let Some(until) = filter.until {
        all.push(doc! { "at": { "$lt": bson_date(until) } });
    }
    if let Some(before) = &filter.before {
        all.extend(past(
            "at",
            "_id",
            (before.at, &before.id),
            Order::NewestFirst,
        ));
    }
    doc! { "$and": all.into_iter().map(Bson::Document).collect::<Vec<_>>() }
}

#[async_trait]
impl EventStore for MongoStore {
    async fn insert_event(&self, event: &SecurityEvent) -> StoreResult<()> {
        self.security_events
            .insert_one(EventDoc::of(event)?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn list_events(
        &self,
        filter: &EventFilter,
        limit: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SecurityEvent>> {
        let docs: Vec<EventDoc> = self
            .security_events
            .find(query(filter, now))
            .sort(doc! { "at": -1, "_id": -1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        docs.into_iter().map(EventDoc::into_event).collect()
    }
}
