//! MongoDB `passkeys`: a unique index on the credential id, owner-scoped writes.

use async_trait::async_trait;
use bson::doc;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::passkey::Passkey;
use crate::store::PasskeyStore;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct PasskeyDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    credential_id: String,
    name: String,
    credential: String,
    #[serde(default)]
    backed_up: bool,
    #[serde(default)]
    transports: Vec<String>,
    created_at: bson::DateTime,
    #[serde(default)]
    last_used_at: Option<bson::DateTime>,
}

impl From<&Passkey> for PasskeyDoc {
    fn from(p: &Passkey) -> Self {
        Self {
            id: p.id.clone(),
            user_id: p.user_id.clone(),
            credential_id: p.credential_id.clone(),
            name: p.name.clone(),
            credential: p.credential.clone(),
            backed_up: p.backed_up,
            transports: p.transports.clone(),
            created_at: bson_date(p.created_at),
            last_used_at: p.last_used_at.map(bson_date),
        }
    }
}

impl From<PasskeyDoc> for Passkey {
    fn from(doc: PasskeyDoc) -> Self {
        Self {
            id: doc.id,
            user_id: doc.user_id,
            credential_id: doc.credential_id,
            name: doc.name,
            credential: doc.credential,
            backed_up: doc.backed_up,
            transports: doc.transports,
            created_at: doc.created_at.to_chrono(),
            last_used_at: doc.last_used_at.map(bson::DateTime::to_chrono),
        }
    }
}

/// One account per credential id (a duplicate names the `credential` field), and a user's
/// passkeys found together.
pub(super) async fn create_indexes(
    passkeys: &Collection<PasskeyDoc>,
) -> mongodb::error::Result<()> {
    passkeys
        .create_indexes([
            unique_index("credential_id"),
            index(doc! { "user_id": 1 }, IndexOptions::default()),
        ])
        .await
        .map(drop)
}

#[async_trait]
impl PasskeyStore for MongoStore {
    async fn insert_passkey(&self, passkey: &Passkey) -> StoreResult<()> {
        self.passkeys
            .insert_one(PasskeyDoc::from(passkey))
            .await
            .map(drop)
            .map_err(map_err)
    }

    async fn find_passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<Passkey>> {
        Ok(self
            .passkeys
            .find_one(doc! { "credential_id": credential_id })
            .await
            .map_err(map_err)?
            .map(Passkey::from))
    }

    async fn list_passkeys(&self, user_id: &str) -> StoreResult<Vec<Passkey>> {
        let docs: Vec<PasskeyDoc> = self
            .passkeys
            .find(doc! { "user_id": user_id })
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        Ok(docs.into_iter().map(Passkey::from).collect())
    }

    async fn rename_passkey(
        &self,
        id: &str,
        user_id: &str,
        name: &str,
    ) -> StoreResult<Option<Passkey>> {
        Ok(self
            .passkeys
            .find_one_and_update(
                doc! { "_id": id, "user_id": user_id },
                doc! { "$set": { "name": name } },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err)?
            .map(Passkey::from))
    }

    async fn record_passkey_use(
        &self,
        id: &str,
        credential: &str,
        backed_up: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.passkeys
            .update_one(
                doc! { "_id": id },
                doc! { "$set": {
                    "credential": credential,
                    "backed_up": backed_up,
                    "last_used_at": bson_date(at),
                } },
            )
            .await
            .map(drop)
            .map_err(map_err)
    }

    async fn delete_passkey(&self, id: &str, user_id: &str) -> StoreResult<Option<Passkey>> {
        Ok(self
            .passkeys
            .find_one_and_delete(doc! { "_id": id, "user_id": user_id })
            .await
            .map_err(map_err)?
            .map(Passkey::from))
    }
}
