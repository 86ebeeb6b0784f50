//! MongoDB `identities`: a unique index on `(provider, subject)`, owner-scoped writes.

use async_trait::async_trait;
use bson::doc;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::identity::Identity;
use crate::store::IdentityStore;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct IdentityDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    provider: String,
    subject: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    created_at: bson::DateTime,
    #[serde(default)]
    last_used_at: Option<bson::DateTime>,
}

impl From<&Identity> for IdentityDoc {
    fn from(i: &Identity) -> Self {
        Self {
            id: i.id.clone(),
            user_id: i.user_id.clone(),
            provider: i.provider.clone(),
            subject: i.subject.clone(),
            email: i.email.clone(),
            email_verified: i.email_verified,
            created_at: bson_date(i.created_at),
            last_used_at: i.last_used_at.map(bson_date),
        }
    }
}

impl From<IdentityDoc> for Identity {
    fn from(doc: IdentityDoc) -> Self {
        Self {
            id: doc.id,
            user_id: doc.user_id,
            provider: doc.provider,
            subject: doc.subject,
            email: doc.email,
            email_verified: doc.email_verified,
            created_at: doc.created_at.to_chrono(),
            last_used_at: doc.last_used_at.map(bson::DateTime::to_chrono),
        }
    }
}

/// One account per provider subject (the index is named `identity_1`, so a duplicate names
/// the `identity` field), and a user's identities found together.
pub(super) async fn create_indexes(
    identities: &Collection<IdentityDoc>,
) -> mongodb::error::Result<()> {
    identities
        .create_indexes([
            index(
                doc! { "provider": 1, "subject": 1 },
                IndexOptions::builder()
                    .unique(true)
                    .name("identity_1".to_string())
                    .build(),
            ),
            index(doc! { "user_id": 1 }, IndexOptions::default()),
        ])
        .await
        .map(drop)
}

#[async_trait]
impl IdentityStore for MongoStore {
    async fn insert_identity(&self, identity: &Identity) -> StoreResult<()> {
        self.identities
            .insert_one(IdentityDoc::from(identity))
            .await
            .map(drop)
            .map_err(map_err)
    }

    async fn find_identity(&self, provider: &str, subject: &str) -> StoreResult<Option<Identity>> {
        Ok(self
            .identities
            .find_one(doc! { "provider": provider, "subject": subject })
            .await
            .map_err(map_err)?
            .map(Identity::from))
    }

    async fn list_identities(&self, user_id: &str) -> StoreResult<Vec<Identity>> {
        let docs: Vec<IdentityDoc> = self
            .identities
            .find(doc! { "user_id": user_id })
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        Ok(docs.into_iter().map(Identity::from).collect())
    }

    async fn touch_identity(
        &self,
        id: &str,
        email: Option<&str>,
        email_verified: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.identities
            .update_one(
                doc! { "_id": id },
                doc! { "$set": {
                    "email": email,
                    "email_verified": email_verified,
                    "last_used_at": bson_date(at),
                } },
            )
            .await
            .map(drop)
            .map_err(map_err)
    }

    async fn delete_identity(&self, id: &str, user_id: &str) -> StoreResult<bool> {
        let deleted = self
            .identities
            .delete_one(doc! { "_id": id, "user_id": user_id })
            .await
            .map_err(map_err)?;
        Ok(deleted.deleted_count == 1)
    }
}
