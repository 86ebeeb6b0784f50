//! SQLite `one_time_tokens`: one row per user and purpose (replaced by a new request), consumed
//! by one conditional `UPDATE ... RETURNING`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::*;
use crate::domain::mail::{MAX_TOKEN_ATTEMPTS, OneTimeToken, TokenPurpose};
use crate::store::TokenStore;

macro_rules! token_columns {
    () => {
        "user_id, purpose, email_lower, token_hash, code_hash, new_email, attempts, created_at, \
         expires_at, used_at"
    };
}

/// What makes a token usable, for the `WHERE` of a consumption (`?now` is the parameter named
/// `:now`).
const LIVE: &str = "used_at IS NULL AND expires_at > :now AND attempts < :max_attempts";

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<OneTimeToken> {
    let mut c = Columns::of(row);
    Ok(OneTimeToken {
        user_id: c.take()?,
        purpose: {
            let name: String = c.take()?;
            TokenPurpose::parse(&name).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    1,
                    rusqlite::types::Type::Text,
                    format!("unknown token purpose {name:?}").into(),
                )
            })?
        },
        email_lower: c.take()?,
        token_hash: c.take()?,
        code_hash: c.take()?,
        new_email: c.take()?,
        attempts: c.take()?,
        created_at: c.timestamp()?,
        expires_at: c.timestamp()?,
        used_at: c.optional_timestamp()?,
    })
}

/// `purpose IN (...)` for at most three purposes, as literals (they are fixed names, not input).
fn purpose_list(purposes: &[TokenPurpose]) -> String {
    let names: Vec<String> = purposes
        .iter()
        .map(|p| format!("'{}'", p.as_str()))
        .collect();
    format!("purpose IN ({})", names.join(", "))
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn put_token(&self, token: &OneTimeToken) -> StoreResult<()> {
        let token = token.clone();
        self.write(move |conn| {
            conn.prepare_cached(concat!(
                "INSERT OR REPLACE INTO one_time_tokens (key, ",
                token_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))?
            .execute(params![
                token.key(),
                token.user_id,
                token.purpose.as_str(),
                token.email_lower,
                token.token_hash,
                token.code_hash,
                token.new_email,
                token.attempts,
                millis(token.created_at),
                millis(token.expires_at),
                token.used_at.map(millis),
            ])
            .map(drop)
        })
        .await
    }

    async fn consume_token_by_hash(
        &self,
        token_hash: &str,
        purposes: &[TokenPurpose],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OneTimeToken>> {
        let token_hash = token_hash.to_owned();
        let sql = format!(
            concat!(
                "UPDATE one_time_tokens SET used_at = :now WHERE token_hash = :hash AND {} AND {} ",
                "RETURNING ",
                token_columns!()
            ),
            purpose_list(purposes),
            LIVE
        );
        self.write(move |conn| {
            conn.prepare_cached(&sql)?
                .query_row(
                    rusqlite::named_params! {
                        ":now": millis(now),
                        ":hash": token_hash,
                        ":max_attempts": MAX_TOKEN_ATTEMPTS,
                    },
                    token_from_row,
                )
                .optional()
        })
        .await
    }

    async fn find_token_by_hash(
        &self,
        token_hash: &str,
        purposes: &[TokenPurpose],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OneTimeToken>> {
        let token_hash = token_hash.to_owned();
        let sql = format!(
            concat!(
                "SELECT ",
                token_columns!(),
                " FROM one_time_tokens WHERE token_hash = :hash AND {} AND {}"
            ),
            purpose_list(purposes),
            LIVE
        );
        self.read_point(move |conn| {
            conn.prepare_cached(&sql)?
                .query_row(
                    rusqlite::named_params! {
                        ":hash": token_hash,
                        ":now": millis(now),
                        ":max_attempts": MAX_TOKEN_ATTEMPTS,
                    },
                    token_from_row,
                )
                .optional()
        })
        .await
    }

    async fn find_tokens_by_email(
        &self,
        email_lower: &str,
        purposes: &[TokenPurpose],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<OneTimeToken>> {
        let email_lower = email_lower.to_owned();
        let sql = format!(
            concat!(
                "SELECT ",
                token_columns!(),
                " FROM one_time_tokens WHERE email_lower = :email AND {} AND {}"
            ),
            purpose_list(purposes),
            LIVE
        );
        self.read(move |conn| {
            conn.prepare_cached(&sql)?
                .query_map(
                    rusqlite::named_params! {
                        ":email": email_lower,
                        ":now": millis(now),
                        ":max_attempts": MAX_TOKEN_ATTEMPTS,
                    },
                    token_from_row,
                )?
                .collect()
        })
        .await
    }

    async fn consume_token_by_code(
        &self,
        key: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OneTimeToken>> {
        let (key, code_hash) = (key.to_owned(), code_hash.to_owned());
        let sql = format!(
            concat!(
                "UPDATE one_time_tokens SET used_at = :now ",
                "WHERE key = :key AND code_hash = :code AND {} RETURNING ",
                token_columns!()
            ),
            LIVE
        );
        self.write(move |conn| {
            conn.prepare_cached(&sql)?
                .query_row(
                    rusqlite::named_params! {
                        ":now": millis(now),
                        ":key": key,
                        ":code": code_hash,
                        ":max_attempts": MAX_TOKEN_ATTEMPTS,
                    },
                    token_from_row,
                )
                .optional()
        })
        .await
    }

    async fn count_token_failure(&self, key: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let key = key.to_owned();
        let sql = format!(
            "UPDATE one_time_tokens SET attempts = attempts + 1 WHERE key = :key AND {LIVE}"
        );
        self.write(move |conn| {
            conn.prepare_cached(&sql)?
                .execute(rusqlite::named_params! {
                    ":key": key,
                    ":now": millis(now),
                    ":max_attempts": MAX_TOKEN_ATTEMPTS,
                })
                .map(drop)
        })
        .await
    }
}
