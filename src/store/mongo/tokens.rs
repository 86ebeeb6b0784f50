//! MongoDB `one_time_tokens`: `_id` is the user and purpose, so a new request replaces the older
//! token in one write; consumption is one `findAndModify` on the token's live state.

use async_trait::async_trait;
use bson::{Document, doc};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::options::{ReplaceOptions, ReturnDocument};
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::mail::{MAX_TOKEN_ATTEMPTS, OneTimeToken, TokenPurpose};
use crate::store::TokenStore;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct TokenDoc {
    #[serde(rename = "_id")]
    key: String,
    user_id: String,
    purpose: String,
    email_lower: String,
    token_hash: String,
    code_hash: String,
    new_email: Option<String>,
    attempts: u32,
    created_at: bson::DateTime,
    expires_at: bson::DateTime,
    used_at: Option<bson::DateTime>,
}

impl From<&OneTimeToken> for TokenDoc {
    fn from(t: &OneTimeToken) -> Self {
        Self {
            key: t.key(),
            user_id: t.user_id.clone(),
            purpose: t.purpose.as_str().to_string(),
            email_lower: t.email_lower.clone(),
            token_hash: t.token_hash.clone(),
            code_hash: t.code_hash.clone(),
            new_email: t.new_email.clone(),
            attempts: t.attempts,
            created_at: bson_date(t.created_at),
            expires_at: bson_date(t.expires_at),
            used_at: t.used_at.map(bson_date),
        }
    }
}

impl TryFrom<TokenDoc> for OneTimeToken {
    type Error = StoreError;
    fn try_from(doc: TokenDoc) -> StoreResult<Self> {
        Ok(Self {
            purpose: TokenPurpose::parse(&doc.purpose).ok_or_else(|| {
                StoreError::Other(format!("unknown token purpose {:?}", doc.purpose))
            })?,
            user_id: doc.user_id,
            email_lower: doc.email_lower,
            token_hash: doc.token_hash,
            code_hash: doc.code_hash,
            new_email: doc.new_email,
            attempts: doc.attempts,
            created_at: doc.created_at.to_chrono(),
            expires_at: doc.expires_at.to_chrono(),
            used_at: doc.used_at.map(bson::DateTime::to_chrono),
        })
    }
}

/// Found by the link's hash (unique: two live tokens can never share one) and by the address;
/// removed after expiry.
pub(super) async fn create_indexes(tokens: &Collection<TokenDoc>) -> mongodb::error::Result<()> {
    tokens
        .create_indexes([
            unique_index("token_hash"),
            index(doc! { "email_lower": 1 }, IndexOptions::builder().build()),
            expiry_index(),
        ])
        .await
        .map(drop)
}

/// The conditions of a usable token.
fn live(now: DateTime<Utc>) -> Document {
    doc! {
        "used_at": null,
        "expires_at": { "$gt": bson_date(now) },
        "attempts": { "$lt": MAX_TOKEN_ATTEMPTS },
    }
}

fn purposes_in(purposes: &[TokenPurpose]) -> Document {
    let names: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    doc! { "$in": names }
}

impl MongoStore {
    async fn consume(
        &self,
        mut filter: Document,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OneTimeToken>> {
        filter.extend(live(now));
        self.one_time_tokens
            .find_one_and_update(filter, doc! { "$set": { "used_at": bson_date(now) } })
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err)?
            .map(OneTimeToken::try_from)
            .transpose()
    }
}

#[async_trait]
impl TokenStore for MongoStore {
    async fn put_token(&self, token: &OneTimeToken) -> StoreResult<()> {
        self.one_time_tokens
            .replace_one(doc! { "_id": token.key() }, TokenDoc::from(token))
            .with_options(ReplaceOptions::builder().upsert(true).build())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn consume_token_by_hash(
        &self,
        token_hash: &str,
        purposes: &[TokenPurpose],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OneTimeToken>> {
        let filter = doc! { "token_hash": token_hash, "purpose": purposes_in(purposes) };
        self.consume(filter, now).await
    }

    async fn find_token_by_hash(
        &self,
        token_hash: &str,
        purposes: &[TokenPurpose],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OneTimeToken>> {
        let mut filter = doc! { "token_hash": token_hash, "purpose": purposes_in(purposes) };
        filter.extend(live(now));
        self.one_time_tokens
            .find_one(filter)
            .await
            .map_err(map_err)?
            .map(OneTimeToken::try_from)
            .transpose()
    }

    async fn find_tokens_by_email(
        &self,
        email_lower: &str,
        purposes: &[TokenPurpose],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<OneTimeToken>> {
        let mut filter = doc! { "email_lower": email_lower, "purpose": purposes_in(purposes) };
        filter.extend(live(now));
        let docs: Vec<TokenDoc> = self
            .one_time_tokens
            .find(filter)
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        docs.into_iter().map(OneTimeToken::try_from).collect()
    }

    async fn consume_token_by_code(
        &self,
        key: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OneTimeToken>> {
        self.consume(doc! { "_id": key, "code_hash": code_hash }, now)
            .await
    }

    async fn count_token_failure(&self, key: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let mut filter = doc! { "_id": key };
        filter.extend(live(now));
        self.one_time_tokens
            .update_one(filter, doc! { "$inc": { "attempts": 1 } })
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
