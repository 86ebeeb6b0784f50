//! SQLite `rate_limits`: one upsert per hit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::*;
use crate::domain::Counter;
use crate::store::CounterStore;

/// Reads `count, last_hit_at, expires_at`.
pub(super) fn counter_from_row(row: &Row<'_>) -> rusqlite::Result<Counter> {
    let mut c = Columns::of(row);
    Ok(Counter {
        count: c.take::<i64>()?.try_into().unwrap_or(0),
        last_hit_at: c.timestamp()?,
        expires_at: c.timestamp()?,
    })
}

#[async_trait]
impl CounterStore for SqliteStore {
    async fn hit_counter(
        &self,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Counter> {
        let key = key.to_owned();
        self.write(move |conn| {
            // In DO UPDATE, bare column names are the existing row: an expired counter restarts.
            conn.prepare_cached(
                "INSERT INTO rate_limits (key, count, last_hit_at, expires_at) VALUES (?1, 1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET
                     count = CASE WHEN expires_at <= ?2 THEN 1 ELSE count + 1 END,
                     expires_at = CASE WHEN expires_at <= ?2 THEN ?3 ELSE expires_at END,
                     last_hit_at = ?2
                 RETURNING count, last_hit_at, expires_at",
            )?
            .query_row(params![key, millis(now), millis(expires_at)], counter_from_row)
        })
        .await
    }

    async fn get_counter(&self, key: &str, now: DateTime<Utc>) -> StoreResult<Option<Counter>> {
        let key = key.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached(
                "SELECT count, last_hit_at, expires_at FROM rate_limits
                 WHERE key = ?1 AND expires_at > ?2",
            )?
            .query_row(params![key, millis(now)], counter_from_row)
            .optional()
        })
        .await
    }

    async fn delete_counter(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM rate_limits WHERE key = ?1")?
                .execute([key])
                .map(drop)
        })
        .await
    }
}
