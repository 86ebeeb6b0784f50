//! SQLite `passkeys`: a unique index on the credential id, owner-scoped writes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::*;
use crate::domain::passkey::Passkey;
use crate::store::PasskeyStore;

const COLUMNS: &str = "id, user_id, credential_id, name, credential, backed_up, transports, \
                       created_at, last_used_at";

fn passkey_from_row(row: &Row<'_>) -> rusqlite::Result<Passkey> {
    let mut c = Columns::of(row);
    Ok(Passkey {
        id: c.take()?,
        user_id: c.take()?,
        credential_id: c.take()?,
        name: c.take()?,
        credential: c.take()?,
        backed_up: c.take()?,
        transports: c.take::<JsonList>()?.0,
        created_at: c.timestamp()?,
        last_used_at: c.optional_timestamp()?,
    })
}

#[async_trait]
impl PasskeyStore for SqliteStore {
    async fn insert_passkey(&self, passkey: &Passkey) -> StoreResult<()> {
        let p = passkey.clone();
        let transports = serde_json::to_string(&p.transports).unwrap_or_else(|_| "[]".into());
        self.write(move |conn| {
            conn.prepare_cached(&format!(
                "INSERT INTO passkeys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?
            .execute(params![
                p.id,
                p.user_id,
                p.credential_id,
                p.name,
                p.credential,
                p.backed_up,
                transports,
                millis(p.created_at),
                p.last_used_at.map(millis),
            ])
            .map(drop)
        })
        .await
    }

    async fn find_passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<Passkey>> {
        let credential_id = credential_id.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM passkeys WHERE credential_id = ?1"
            ))?
            .query_row([credential_id], passkey_from_row)
            .optional()
        })
        .await
    }

    async fn list_passkeys(&self, user_id: &str) -> StoreResult<Vec<Passkey>> {
        let user_id = user_id.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM passkeys WHERE user_id = ?1 ORDER BY created_at, id"
            ))?
            .query_map([user_id], passkey_from_row)?
            .collect()
        })
        .await
    }

    async fn rename_passkey(
        &self,
        id: &str,
        user_id: &str,
        name: &str,
    ) -> StoreResult<Option<Passkey>> {
        let (id, user_id, name) = (id.to_owned(), user_id.to_owned(), name.to_owned());
        self.write(move |conn| {
            conn.prepare_cached(&format!(
                "UPDATE passkeys SET name = ?3 WHERE id = ?1 AND user_id = ?2 RETURNING {COLUMNS}"
            ))?
            .query_row(params![id, user_id, name], passkey_from_row)
            .optional()
        })
        .await
    }

    async fn record_passkey_use(
        &self,
        id: &str,
        credential: &str,
        backed_up: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (id, credential) = (id.to_owned(), credential.to_owned());
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE passkeys SET credential = ?2, backed_up = ?3, last_used_at = ?4
                 WHERE id = ?1",
            )?
            .execute(params![id, credential, backed_up, millis(at)])
            .map(drop)
        })
        .await
    }

    async fn delete_passkey(&self, id: &str, user_id: &str) -> StoreResult<Option<Passkey>> {
        let (id, user_id) = (id.to_owned(), user_id.to_owned());
        self.write(move |conn| {
            conn.prepare_cached(&format!(
                "DELETE FROM passkeys WHERE id = ?1 AND user_id = ?2 RETURNING {COLUMNS}"
            ))?
            .query_row(params![id, user_id], passkey_from_row)
            .optional()
        })
        .await
    }
}
