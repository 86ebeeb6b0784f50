//! MongoDB `mfa_factors` (`_id` is the user) and `mfa_recovery_codes` (`_id` is the code's
//! keyed hash); a TTL index removes pending factors that were never confirmed.

use async_trait::async_trait;
use bson::doc;
use chrono::{DateTime, Utc};
use mongodb::options::UpdateOptions;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::mfa::MfaFactor;
use crate::store::MfaStore;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct FactorDoc {
    #[serde(rename = "_id")]
    user_id: String,
    secret: String,
    active: bool,
    last_step: i64,
    created_at: bson::DateTime,
    #[serde(default)]
    confirmed_at: Option<bson::DateTime>,
    /// Only on a pending factor: the TTL index ignores documents without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<bson::DateTime>,
}

impl From<FactorDoc> for MfaFactor {
    fn from(d: FactorDoc) -> Self {
        Self {
            user_id: d.user_id,
            secret: d.secret,
            active: d.active,
            last_step: d.last_step,
            created_at: d.created_at.to_chrono(),
            confirmed_at: d.confirmed_at.map(bson::DateTime::to_chrono),
            expires_at: d.expires_at.map(bson::DateTime::to_chrono),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RecoveryCodeDoc {
    #[serde(rename = "_id")]
    hash: String,
    user_id: String,
}

pub(super) async fn create_indexes(
    factors: &Collection<FactorDoc>,
    codes: &Collection<RecoveryCodeDoc>,
) -> mongodb::error::Result<()> {
    factors.create_index(expiry_index()).await?;
    codes
        .create_index(index(
            doc! { "user_id": 1 },
            IndexOptions::builder().build(),
        ))
        .await
        .map(drop)
}

#[async_trait]
impl MfaStore for MongoStore {
    async fn put_pending_factor(&self, factor: &MfaFactor) -> StoreResult<bool> {
        // Upserts on "this user, not active": with an active factor the filter misses and the
        // insert of the same `_id` is refused, which means "not written".
        let set = doc! {
            "secret": &factor.secret,
            "active": false,
            "last_step": 0_i64,
            "created_at": bson_date(factor.created_at),
            "confirmed_at": null,
            "expires_at": factor.expires_at.map(bson_date),
        };
        let written = self
            .mfa_factors
            .update_one(
                doc! { "_id": &factor.user_id, "active": false },
                doc! { "$set": set },
            )
            .with_options(UpdateOptions::builder().upsert(true).build())
            .await;
        match written {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn find_factor(&self, user_id: &str) -> StoreResult<Option<MfaFactor>> {
        Ok(self
            .mfa_factors
            .find_one(doc! { "_id": user_id })
            .await
            .map_err(map_err)?
            .map(MfaFactor::from))
    }

    async fn activate_factor(
        &self,
        user_id: &str,
        step: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = self
            .mfa_factors
            .update_one(
                doc! {
                    "_id": user_id,
                    "active": false,
                    "expires_at": { "$gt": bson_date(now) },
                    "last_step": { "$lt": step },
                },
                doc! {
                    "$set": { "active": true, "last_step": step, "confirmed_at": bson_date(now) },
                    "$unset": { "expires_at": "" },
                },
            )
            .await
            .map_err(map_err)?;
        Ok(done.modified_count == 1)
    }

    async fn use_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
        let done = self
            .mfa_factors
            .update_one(
                doc! { "_id": user_id, "active": true, "last_step": { "$lt": step } },
                doc! { "$set": { "last_step": step } },
            )
            .await
            .map_err(map_err)?;
        Ok(done.modified_count == 1)
    }

    async fn delete_factor(&self, user_id: &str) -> StoreResult<bool> {
        let deleted = self
            .mfa_factors
            .delete_one(doc! { "_id": user_id })
            .await
            .map_err(map_err)?;
        self.mfa_recovery_codes
            .delete_many(doc! { "user_id": user_id })
            .await
            .map_err(map_err)?;
        Ok(deleted.deleted_count == 1)
    }

    async fn replace_recovery_codes(&self, user_id: &str, hashes: &[String]) -> StoreResult<()> {
        self.mfa_recovery_codes
            .delete_many(doc! { "user_id": user_id })
            .await
            .map_err(map_err)?;
        let docs = hashes.iter().map(|hash| RecoveryCodeDoc {
            hash: hash.clone(),
            user_id: user_id.to_string(),
        });
        self.mfa_recovery_codes
            .insert_many(docs)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn use_recovery_code(&self, user_id: &str, hash: &str) -> StoreResult<bool> {
        let deleted = self
            .mfa_recovery_codes
            .delete_one(doc! { "_id": hash, "user_id": user_id })
            .await
            .map_err(map_err)?;
        Ok(deleted.deleted_count == 1)
    }
}
