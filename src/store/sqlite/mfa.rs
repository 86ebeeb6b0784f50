//! SQLite `mfa_factors` and `mfa_recovery_codes`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::*;
use crate::domain::mfa::MfaFactor;
use crate::store::MfaStore;

fn factor_from_row(row: &Row<'_>) -> rusqlite::Result<MfaFactor> {
    let mut c = Columns::of(row);
    Ok(MfaFactor {
        user_id: c.take()?,
        secret: c.take()?,
        active: c.take()?,
        last_step: c.take()?,
        created_at: c.timestamp()?,
        confirmed_at: c.optional_timestamp()?,
        expires_at: c.optional_timestamp()?,
    })
}

#[async_trait]
impl MfaStore for SqliteStore {
    async fn put_pending_factor(&self, factor: &MfaFactor) -> StoreResult<bool> {
        let f = factor.clone();
        self.write(move |conn| {
            // Replaces a pending factor; an active one is left alone (`DO UPDATE ... WHERE`).
            conn.prepare_cached(
                "INSERT INTO mfa_factors (user_id, secret, active, last_step, created_at,
                    confirmed_at, expires_at)
                 VALUES (?1, ?2, 0, 0, ?3, NULL, ?4)
                 ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = 0,
                    created_at = excluded.created_at, expires_at = excluded.expires_at
                 WHERE active = 0",
            )?
            .execute(params![
                f.user_id,
                f.secret,
                millis(f.created_at),
                f.expires_at.map(millis),
            ])
            .map(|n| n == 1)
        })
        .await
    }

    async fn find_factor(&self, user_id: &str) -> StoreResult<Option<MfaFactor>> {
        let user_id = user_id.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached(
                "SELECT user_id, secret, active, last_step, created_at, confirmed_at, expires_at
                 FROM mfa_factors WHERE user_id = ?1",
            )?
            .query_row([user_id], factor_from_row)
            .optional()
        })
        .await
    }

    async fn activate_factor(
        &self,
        user_id: &str,
        step: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let user_id = user_id.to_owned();
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE mfa_factors SET active = 1, last_step = ?2, confirmed_at = ?3,
                    expires_at = NULL
                 WHERE user_id = ?1 AND active = 0 AND expires_at > ?3 AND last_step < ?2",
            )?
            .execute(params![user_id, step, millis(now)])
            .map(|n| n == 1)
        })
        .await
    }

    async fn use_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
        let user_id = user_id.to_owned();
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE mfa_factors SET last_step = ?2
                 WHERE user_id = ?1 AND active = 1 AND last_step < ?2",
            )?
            .execute(params![user_id, step])
            .map(|n| n == 1)
        })
        .await
    }

    async fn delete_factor(&self, user_id: &str) -> StoreResult<bool> {
        let user_id = user_id.to_owned();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let deleted = tx
                .prepare_cached("DELETE FROM mfa_factors WHERE user_id = ?1")?
                .execute([&user_id])?;
            tx.prepare_cached("DELETE FROM mfa_recovery_codes WHERE user_id = ?1")?
                .execute([&user_id])?;
            tx.commit()?;
            Ok(deleted == 1)
        })
        .await
    }

    async fn replace_recovery_codes(&self, user_id: &str, hashes: &[String]) -> StoreResult<()> {
        let (user_id, hashes) = (user_id.to_owned(), hashes.to_vec());
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached("DELETE FROM mfa_recovery_codes WHERE user_id = ?1")?
                .execute([&user_id])?;
            for hash in &hashes {
                tx.prepare_cached(
                    "INSERT INTO mfa_recovery_codes (code_hash, user_id) VALUES (?1, ?2)",
                )?
                .execute(params![hash, user_id])?;
            }
            tx.commit()
        })
        .await
    }

    async fn use_recovery_code(&self, user_id: &str, hash: &str) -> StoreResult<bool> {
        let (user_id, hash) = (user_id.to_owned(), hash.to_owned());
        self.write(move |conn| {
            conn.prepare_cached(
                "DELETE FROM mfa_recovery_codes WHERE code_hash = ?1 AND user_id = ?2",
            )?
            .execute(params![hash, user_id])
            .map(|n| n == 1)
        })
        .await
    }
}
