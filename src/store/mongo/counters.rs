//! MongoDB `rate_limits`: `findAndModify` increments, a restart of an expired window, a TTL index.

use async_trait::async_trait;
use bson::doc;
use chrono::{DateTime, Utc};
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::Counter;
use crate::store::CounterStore;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CounterDoc {
    #[serde(rename = "_id")]
    id: String,
    count: i64,
    last_hit_at: bson::DateTime,
    expires_at: bson::DateTime,
}

impl From<CounterDoc> for Counter {
    fn from(doc: CounterDoc) -> Self {
        Self {
            count: u64::try_from(doc.count).unwrap_or(0),
            last_hit_at: doc.last_hit_at.to_chrono(),
            expires_at: doc.expires_at.to_chrono(),
        }
    }
}

/// Expired counters swept.
pub(super) async fn create_indexes(
    counters: &Collection<CounterDoc>,
) -> mongodb::error::Result<()> {
    counters.create_index(expiry_index()).await.map(drop)
}

#[async_trait]
impl CounterStore for MongoStore {
    async fn hit_counter(
        &self,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Counter> {
        // Steady state is one round trip: increment the live counter. A missing or expired one is
        // (re)started; of two racing inserts the loser sees a duplicate `_id` and increments.
        for _ in 0..3 {
            let live = self
                .rate_limits
                .find_one_and_update(
                    doc! { "_id": key, "expires_at": { "$gt": bson_date(now) } },
                    doc! { "$inc": { "count": 1_i64 }, "$set": { "last_hit_at": bson_date(now) } },
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?;
            if let Some(counter) = live {
                return Ok(counter.into());
            }
            let fresh = CounterDoc {
                id: key.to_string(),
                count: 1,
                last_hit_at: bson_date(now),
                expires_at: bson_date(expires_at),
            };
            let restarted = self
                .rate_limits
                .find_one_and_replace(
                    doc! { "_id": key, "expires_at": { "$lte": bson_date(now) } },
                    &fresh,
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?;
            if let Some(counter) = restarted {
                return Ok(counter.into());
            }
            match self.rate_limits.insert_one(&fresh).await {
                Ok(_) => return Ok(fresh.into()),
                Err(e) if is_duplicate_key(&e) => continue,
                Err(e) => return Err(map_err(e)),
            }
        }
        Err(StoreError::Other(format!(
            "rate-limit counter {key} kept changing under contention"
        )))
    }

    async fn get_counter(&self, key: &str, now: DateTime<Utc>) -> StoreResult<Option<Counter>> {
        Ok(self
            .rate_limits
            .find_one(doc! { "_id": key, "expires_at": { "$gt": bson_date(now) } })
            .await
            .map_err(map_err)?
            .map(Counter::from))
    }

    async fn delete_counter(&self, key: &str) -> StoreResult<()> {
        self.rate_limits
            .delete_one(doc! { "_id": key })
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
