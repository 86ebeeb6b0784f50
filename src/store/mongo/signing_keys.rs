//! MongoDB `signing_keys`: `_id` is the kid; a unique index on `seq` lets one of two racing
//! instances create a key. No TTL: the records are kept (see `domain::signing_key`).

use async_trait::async_trait;
use bson::doc;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::signing_key::{KeyState, SigningKey};
use crate::store::KeyStore;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct KeyDoc {
    #[serde(rename = "_id")]
    kid: String,
    seq: i64,
    alg: String,
    public_key: String,
    private_key: Option<String>,
    state: String,
    created_at: bson::DateTime,
    activated_at: Option<bson::DateTime>,
    retired_at: Option<bson::DateTime>,
    publish_until: Option<bson::DateTime>,
}

impl From<&SigningKey> for KeyDoc {
    fn from(k: &SigningKey) -> Self {
        Self {
            kid: k.kid.clone(),
            seq: k.seq,
            alg: k.alg.clone(),
            public_key: k.public_key.clone(),
            private_key: k.private_key.clone(),
            state: k.state.as_str().to_string(),
            created_at: bson_date(k.created_at),
            activated_at: k.activated_at.map(bson_date),
            retired_at: k.retired_at.map(bson_date),
            publish_until: k.publish_until.map(bson_date),
        }
    }
}

impl TryFrom<KeyDoc> for SigningKey {
    type Error = StoreError;
    fn try_from(d: KeyDoc) -> StoreResult<Self> {
        Ok(Self {
            state: KeyState::parse(&d.state)
                .ok_or_else(|| StoreError::Other(format!("unknown key state {:?}", d.state)))?,
            kid: d.kid,
            seq: d.seq,
            alg: d.alg,
            public_key: d.public_key,
            private_key: d.private_key,
            created_at: d.created_at.to_chrono(),
            activated_at: d.activated_at.map(bson::DateTime::to_chrono),
            retired_at: d.retired_at.map(bson::DateTime::to_chrono),
            publish_until: d.publish_until.map(bson::DateTime::to_chrono),
        })
    }
}

pub(super) async fn create_indexes(keys: &Collection<KeyDoc>) -> mongodb::error::Result<()> {
    keys.create_index(unique_index("seq")).await.map(drop)
}

#[async_trait]
impl KeyStore for MongoStore {
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        let docs: Vec<KeyDoc> = self
            .signing_keys
            .find(doc! {})
            .sort(doc! { "seq": 1 })
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        docs.into_iter().map(SigningKey::try_from).collect()
    }

    async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        self.signing_keys
            .insert_one(KeyDoc::from(key))
            .await
            .map_err(map_err)
            .map(drop)
    }

    async fn activate_signing_key(&self, kid: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let done = self
            .signing_keys
            .update_one(
                doc! { "_id": kid, "state": "next" },
                doc! { "$set": { "state": "active", "activated_at": bson_date(now) } },
            )
            .await
            .map_err(map_err)?;
        Ok(done.modified_count == 1)
    }

    async fn retire_signing_keys(
        &self,
        keep: &str,
        now: DateTime<Utc>,
        publish_until: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let done = self
            .signing_keys
            .update_many(
                doc! { "state": "active", "_id": { "$ne": keep } },
                doc! { "$set": {
                    "state": "retired",
                    "private_key": null,
                    "retired_at": bson_date(now),
                    "publish_until": bson_date(publish_until),
                } },
            )
            .await
            .map_err(map_err)?;
        Ok(done.modified_count)
    }

    async fn revoke_signing_keys(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let now = bson_date(now);
        // Two writes, each idempotent: the signing and next keys retire now; the retired keys
        // keep their `retired_at` and stop being published now.
        let signing = self
            .signing_keys
            .update_many(
                doc! { "state": { "$in": ["active", "next"] } },
                doc! { "$set": {
                    "state": "retired",
                    "private_key": null,
                    "retired_at": now,
                    "publish_until": now,
                } },
            )
            .await
            .map_err(map_err)?;
        let published = self
            .signing_keys
            .update_many(
                doc! { "state": "retired", "publish_until": { "$gt": now } },
                doc! { "$set": { "publish_until": now } },
            )
            .await
            .map_err(map_err)?;
        Ok(signing.modified_count + published.modified_count)
    }
}
