//! SQLite `identities`: a unique index on `(provider, subject)`, owner-scoped writes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::*;
use crate::domain::identity::Identity;
use crate::store::IdentityStore;

const COLUMNS: &str =
    "id, user_id, provider, subject, email, email_verified, created_at, last_used_at";

fn identity_from_row(row: &Row<'_>) -> rusqlite::Result<Identity> {
    let mut c = Columns::of(row);
    Ok(Identity {
        id: c.take()?,
        user_id: c.take()?,
        provider: c.take()?,
        subject: c.take()?,
        email: c.take()?,
        email_verified: c.take()?,
        created_at: c.timestamp()?,
        last_used_at: c.optional_timestamp()?,
    })
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn insert_identity(&self, identity: &Identity) -> StoreResult<()> {
        let i = identity.clone();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO identities (id, user_id, provider, subject, email, email_verified,
                    created_at, last_used_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                i.id,
                i.user_id,
                i.provider,
                i.subject,
                i.email,
                i.email_verified,
                millis(i.created_at),
                i.last_used_at.map(millis),
            ])
            .map(drop)
        })
        .await
    }

    async fn find_identity(&self, provider: &str, subject: &str) -> StoreResult<Option<Identity>> {
        let (provider, subject) = (provider.to_owned(), subject.to_owned());
        self.read_point(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM identities WHERE provider = ?1 AND subject = ?2"
            ))?
            .query_row([provider, subject], identity_from_row)
            .optional()
        })
        .await
    }

    async fn list_identities(&self, user_id: &str) -> StoreResult<Vec<Identity>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM identities WHERE user_id = ?1 ORDER BY created_at, id"
            ))?
            .query_map([user_id], identity_from_row)?
            .collect()
        })
        .await
    }

    async fn touch_identity(
        &self,
        id: &str,
        email: Option<&str>,
        email_verified: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (id, email) = (id.to_owned(), email.map(str::to_owned));
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE identities SET email = ?2, email_verified = ?3, last_used_at = ?4
                 WHERE id = ?1",
            )?
            .execute(params![id, email, email_verified, millis(at)])
            .map(drop)
        })
        .await
    }

    async fn delete_identity(&self, id: &str, user_id: &str) -> StoreResult<bool> {
        let (id, user_id) = (id.to_owned(), user_id.to_owned());
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM identities WHERE id = ?1 AND user_id = ?2")?
                .execute([id, user_id])
                .map(|n| n == 1)
        })
        .await
    }
}
