//! SQLite `signing_keys`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Row, params};

use super::*;
use crate::domain::signing_key::{KeyState, SigningKey};
use crate::store::KeyStore;

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<SigningKey> {
    let mut c = Columns::of(row);
    Ok(SigningKey {
        kid: c.take()?,
        seq: c.take()?,
        alg: c.take()?,
        public_key: c.take()?,
        private_key: c.take()?,
        state: {
            let name: String = c.take()?;
            KeyState::parse(&name).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    5,
                    rusqlite::types::Type::Text,
                    format!("unknown key state {name:?}").into(),
                )
            })?
        },
        created_at: c.timestamp()?,
        activated_at: c.optional_timestamp()?,
        retired_at: c.optional_timestamp()?,
        publish_until: c.optional_timestamp()?,
    })
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT kid, seq, alg, public_key, private_key, state, created_at, activated_at,
                    retired_at, publish_until
                 FROM signing_keys ORDER BY seq",
            )?
            .query_map([], key_from_row)?
            .collect()
        })
        .await
    }

    async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        let k = key.clone();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO signing_keys (kid, seq, alg, public_key, private_key, state,
                    created_at, activated_at, retired_at, publish_until)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                k.kid,
                k.seq,
                k.alg,
                k.public_key,
                k.private_key,
                k.state.as_str(),
                millis(k.created_at),
                k.activated_at.map(millis),
                k.retired_at.map(millis),
                k.publish_until.map(millis),
            ])
            .map(drop)
        })
        .await
    }

    async fn activate_signing_key(&self, kid: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let kid = kid.to_owned();
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE signing_keys SET state = 'active', activated_at = ?2
                 WHERE kid = ?1 AND state = 'next'",
            )?
            .execute(params![kid, millis(now)])
            .map(|n| n == 1)
        })
        .await
    }

    async fn retire_signing_keys(
        &self,
        keep: &str,
        now: DateTime<Utc>,
        publish_until: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let keep = keep.to_owned();
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE signing_keys SET state = 'retired', private_key = NULL, retired_at = ?2,
                    publish_until = ?3
                 WHERE state = 'active' AND kid <> ?1",
            )?
            .execute(params![keep, millis(now), millis(publish_until)])
            .map(count)
        })
        .await
    }

    async fn revoke_signing_keys(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE signing_keys SET state = 'retired', private_key = NULL,
                    retired_at = COALESCE(retired_at, ?1), publish_until = ?1
                 WHERE state IN ('active', 'next') OR publish_until > ?1",
            )?
            .execute(params![millis(now)])
            .map(count)
        })
        .await
    }
}
