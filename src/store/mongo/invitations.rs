//! MongoDB `invitations`: `_id` is the organization and the address, so a new invitation
//! replaces the older in one upsert; `id` (the public one) and the token's hash are unique;
//! taken by one `findOneAndDelete`; removed after expiry by the TTL index.

use async_trait::async_trait;
use bson::{Document, doc};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::org::{Invitation, OrgRole};
use crate::store::InvitationStore;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct InvitationDoc {
    #[serde(rename = "_id")]
    key: String,
    id: String,
    org_id: String,
    email: String,
    role: String,
    invited_by: String,
    token_hash: String,
    created_at: bson::DateTime,
    expires_at: bson::DateTime,
}

impl InvitationDoc {
    fn new(i: &Invitation) -> Self {
        Self {
            key: format!("{}:{}", i.org_id, i.email),
            id: i.id.clone(),
            org_id: i.org_id.clone(),
            email: i.email.clone(),
            role: i.role.as_str().to_string(),
            invited_by: i.invited_by.clone(),
            token_hash: i.token_hash.clone(),
            created_at: bson_date(i.created_at),
            expires_at: bson_date(i.expires_at),
        }
    }
}

impl TryFrom<InvitationDoc> for Invitation {
    type Error = StoreError;
    fn try_from(d: InvitationDoc) -> StoreResult<Self> {
        Ok(Self {
            role: OrgRole::parse(&d.role).ok_or_else(|| {
                StoreError::Other(format!("unknown organization role {:?}", d.role))
            })?,
            id: d.id,
            org_id: d.org_id,
            email: d.email,
            invited_by: d.invited_by,
            token_hash: d.token_hash,
            created_at: d.created_at.to_chrono(),
            expires_at: d.expires_at.to_chrono(),
        })
    }
}

pub(super) async fn create_indexes(
    invitations: &Collection<InvitationDoc>,
) -> mongodb::error::Result<()> {
    invitations
        .create_indexes([
            unique_index("id"),
            unique_index("token_hash"),
            index(
                doc! { "org_id": 1, "created_at": -1 },
                IndexOptions::default(),
            ),
            index(
                doc! { "email": 1, "created_at": -1 },
                IndexOptions::default(),
            ),
            expiry_index(),
        ])
        .await
        .map(drop)
}

impl MongoStore {
    async fn invitations_where(
        &self,
        mut filter: Document,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Invitation>> {
        filter.insert("expires_at", doc! { "$gt": bson_date(now) });
        let docs: Vec<InvitationDoc> = self
            .invitations
            .find(filter)
            .sort(doc! { "created_at": -1, "id": -1 })
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        docs.into_iter().map(Invitation::try_from).collect()
    }
}

#[async_trait]
impl InvitationStore for MongoStore {
    async fn put_invitation(&self, invitation: &Invitation) -> StoreResult<()> {
        let doc = InvitationDoc::new(invitation);
        self.invitations
            .replace_one(doc! { "_id": &doc.key }, doc)
            .upsert(true)
            .await
            .map(drop)
            .map_err(map_err)
    }

    async fn find_invitation(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Invitation>> {
        Ok(self.invitations_where(doc! { "id": id }, now).await?.pop())
    }

    async fn find_invitation_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Invitation>> {
        Ok(self
            .invitations_where(doc! { "token_hash": token_hash }, now)
            .await?
            .pop())
    }

    async fn list_org_invitations(
        &self,
        org_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Invitation>> {
        self.invitations_where(doc! { "org_id": org_id }, now).await
    }

    async fn list_invitations_to(
        &self,
        email: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Invitation>> {
        self.invitations_where(doc! { "email": email }, now).await
    }

    async fn take_invitation(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Invitation>> {
        self.invitations
            .find_one_and_delete(doc! { "id": id, "expires_at": { "$gt": bson_date(now) } })
            .await
            .map_err(map_err)?
            .map(Invitation::try_from)
            .transpose()
    }
}
