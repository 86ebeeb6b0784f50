//! MongoDB `organizations` and `memberships`. The owner count on the organization is moved by
//! conditional `$inc`s: unmaking an owner first takes one from a count above 1 (so two racing
//! demotions of the last two owners cannot both pass), then changes the membership, and gives
//! the owner back if the membership had changed meanwhile.

use async_trait::async_trait;
use bson::doc;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::org::{Membership, OrgRole, Organization};
use crate::store::{MemberChange, OrgStore};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct OrgDoc {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    slug: String,
    owners: i64,
    created_at: bson::DateTime,
    updated_at: bson::DateTime,
}

impl From<OrgDoc> for Organization {
    fn from(d: OrgDoc) -> Self {
        Self {
            id: d.id,
            name: d.name,
            slug: d.slug,
            owners: d.owners,
            created_at: d.created_at.to_chrono(),
            updated_at: d.updated_at.to_chrono(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct MembershipDoc {
    #[serde(rename = "_id")]
    id: String,
    org_id: String,
    user_id: String,
    role: String,
    joined_at: bson::DateTime,
}

impl MembershipDoc {
    fn new(m: &Membership) -> Self {
        Self {
            id: format!("{}:{}", m.org_id, m.user_id),
            org_id: m.org_id.clone(),
            user_id: m.user_id.clone(),
            role: m.role.as_str().to_string(),
            joined_at: bson_date(m.joined_at),
        }
    }
}

impl TryFrom<MembershipDoc> for Membership {
    type Error = StoreError;
    fn try_from(d: MembershipDoc) -> StoreResult<Self> {
        Ok(Self {
            role: OrgRole::parse(&d.role).ok_or_else(|| {
                StoreError::Other(format!("unknown organization role {:?}", d.role))
            })?,
            org_id: d.org_id,
            user_id: d.user_id,
            joined_at: d.joined_at.to_chrono(),
        })
    }
}

/// A unique slug; one membership per user and organization (its `_id` is both, and the index
/// named `membership_1` names the field), found by user and paged by join time.
pub(super) async fn create_indexes(
    orgs: &Collection<OrgDoc>,
    memberships: &Collection<MembershipDoc>,
) -> mongodb::error::Result<()> {
    orgs.create_indexes([
        unique_index("slug"),
        index(
            doc! { "created_at": -1, "_id": -1 },
            IndexOptions::default(),
        ),
    ])
    .await?;
    memberships
        .create_indexes([
            index(
                doc! { "org_id": 1, "user_id": 1 },
                IndexOptions::builder()
                    .unique(true)
                    .name("membership_1".to_string())
                    .build(),
            ),
            index(
                doc! { "user_id": 1, "joined_at": 1 },
                IndexOptions::default(),
            ),
            index(
                doc! { "org_id": 1, "joined_at": 1, "user_id": 1 },
                IndexOptions::default(),
            ),
        ])
        .await
        .map(drop)
}

fn members_of(docs: Vec<MembershipDoc>) -> StoreResult<Vec<Membership>> {
    docs.into_iter().map(Membership::try_from).collect()
}

#[async_trait]
impl OrgStore for MongoStore {
    async fn create_org(&self, org: &Organization, owner: &Membership) -> StoreResult<()> {
        let doc = OrgDoc {
            id: org.id.clone(),
            name: org.name.clone(),
            slug: org.slug.clone(),
            owners: 1,
            created_at: bson_date(org.created_at),
            updated_at: bson_date(org.updated_at),
        };
        self.organizations.insert_one(doc).await.map_err(map_err)?;
        let owner = Membership {
            role: OrgRole::Owner,
            ..owner.clone()
        };
        if let Err(e) = self
            .memberships
            .insert_one(MembershipDoc::new(&owner))
            .await
        {
            // No organization without its owner.
            let _ = self.organizations.delete_one(doc! { "_id": &org.id }).await;
            return Err(map_err(e));
        }
        Ok(())
    }

    async fn find_org(&self, id: &str) -> StoreResult<Option<Organization>> {
        Ok(self
            .organizations
            .find_one(doc! { "_id": id })
            .await
            .map_err(map_err)?
            .map(Organization::from))
    }

    async fn update_org(
        &self,
        id: &str,
        name: Option<&str>,
        slug: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Organization>> {
        let mut set = doc! { "updated_at": bson_date(now) };
        if let Some(name) = name {
            set.insert("name", name);
        }
        if let Some(slug) = slug {
            set.insert("slug", slug);
        }
        Ok(self
            .organizations
            .find_one_and_update(doc! { "_id": id }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err)?
            .map(Organization::from))
    }

    async fn delete_org(&self, id: &str) -> StoreResult<bool> {
        let deleted = self
            .organizations
            .delete_one(doc! { "_id": id })
            .await
            .map_err(map_err)?;
        self.memberships
            .delete_many(doc! { "org_id": id })
            .await
            .map_err(map_err)?;
        self.invitations
            .delete_many(doc! { "org_id": id })
            .await
            .map_err(map_err)?;
        Ok(deleted.deleted_count == 1)
    }

    async fn list_orgs(
        &self,
        slug_prefix: Option<&str>,
        limit: u32,
        before: Option<(DateTime<Utc>, String)>,
    ) -> StoreResult<Vec<Organization>> {
        let mut filter = doc! {};
        if let Some(prefix) = slug_prefix.filter(|p| !p.is_empty()) {
            let pattern = format!("^{}", super::users::escape_regex(prefix));
            filter.insert("slug", doc! { "$regex": pattern });
        }
        if let Some((at, id)) = &before {
            filter.insert(
                "$and",
                past("created_at", "_id", (*at, id), Order::NewestFirst),
            );
        }
        let docs: Vec<OrgDoc> = self
            .organizations
            .find(filter)
            .sort(doc! { "created_at": -1, "_id": -1 })
            .limit(i64::from(limit))
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        Ok(docs.into_iter().map(Organization::from).collect())
    }

    async fn orgs_of_user(&self, user_id: &str) -> StoreResult<Vec<(Organization, OrgRole)>> {
        let memberships: Vec<MembershipDoc> = self
            .memberships
            .find(doc! { "user_id": user_id })
            .sort(doc! { "joined_at": 1, "org_id": 1 })
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        let ids: Vec<&str> = memberships.iter().map(|m| m.org_id.as_str()).collect();
        let orgs: Vec<OrgDoc> = self
            .organizations
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        let mut by_id: std::collections::HashMap<String, Organization> = orgs
            .into_iter()
            .map(|o| (o.id.clone(), Organization::from(o)))
            .collect();
        members_of(memberships)?
            .into_iter()
            .filter_map(|m| by_id.remove(&m.org_id).map(|o| Ok((o, m.role))))
            .collect()
    }

    async fn find_membership(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Membership>> {
        self.memberships
            .find_one(doc! { "org_id": org_id, "user_id": user_id })
            .await
            .map_err(map_err)?
            .map(Membership::try_from)
            .transpose()
    }

    async fn add_member(&self, membership: &Membership) -> StoreResult<()> {
        self.memberships
            .insert_one(MembershipDoc::new(membership))
            .await
            .map_err(map_err)?;
        if membership.role == OrgRole::Owner {
            self.organizations
                .update_one(
                    doc! { "_id": &membership.org_id },
                    doc! { "$inc": { "owners": 1 } },
                )
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn list_members(
        &self,
        org_id: &str,
        limit: u32,
        after: Option<(DateTime<Utc>, String)>,
    ) -> StoreResult<Vec<Membership>> {
        let mut filter = doc! { "org_id": org_id };
        if let Some((at, user_id)) = &after {
            filter.insert(
                "$and",
                past("joined_at", "user_id", (*at, user_id), Order::OldestFirst),
            );
        }
        let docs: Vec<MembershipDoc> = self
            .memberships
            .find(filter)
            .sort(doc! { "joined_at": 1, "user_id": 1 })
            .limit(i64::from(limit))
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        members_of(docs)
    }

    async fn set_member_role(
        &self,
        org_id: &str,
        user_id: &str,
        from: OrgRole,
        to: OrgRole,
    ) -> StoreResult<MemberChange> {
        self.change_member(org_id, user_id, from, Some(to)).await
    }

    async fn remove_member(
        &self,
        org_id: &str,
        user_id: &str,
        from: OrgRole,
    ) -> StoreResult<MemberChange> {
        self.change_member(org_id, user_id, from, None).await
    }
}

impl MongoStore {
    /// A role change (`to`) or a removal (`None`), with the owner count moved around it.
    async fn change_member(
        &self,
        org_id: &str,
        user_id: &str,
        from: OrgRole,
        to: Option<OrgRole>,
    ) -> StoreResult<MemberChange> {
        let delta = i64::from(to == Some(OrgRole::Owner)) - i64::from(from == OrgRole::Owner);
        if delta < 0 {
            let taken = self
                .organizations
                .find_one_and_update(
                    doc! { "_id": org_id, "owners": { "$gt": 1 } },
                    doc! { "$inc": { "owners": -1 } },
                )
                .await
                .map_err(map_err)?;
            if taken.is_none() {
                let exists = self.find_org(org_id).await?.is_some();
                return Ok(if exists {
                    MemberChange::LastOwner
                } else {
                    MemberChange::Raced
                });
            }
        }
        let filter = doc! { "org_id": org_id, "user_id": user_id, "role": from.as_str() };
        let changed = match to {
            Some(to) => {
                self.memberships
                    .update_one(filter, doc! { "$set": { "role": to.as_str() } })
                    .await
                    .map_err(map_err)?
                    .modified_count
            }
            None => {
                self.memberships
                    .delete_one(filter)
                    .await
                    .map_err(map_err)?
                    .deleted_count
            }
        };
        if changed == 0 {
            if delta < 0 {
                // Give back the owner taken above: this member was no longer one.
                self.organizations
                    .update_one(doc! { "_id": org_id }, doc! { "$inc": { "owners": 1 } })
                    .await
                    .map_err(map_err)?;
            }
            return Ok(MemberChange::Raced);
        }
        if delta > 0 {
            self.organizations
                .update_one(doc! { "_id": org_id }, doc! { "$inc": { "owners": 1 } })
                .await
                .map_err(map_err)?;
        }
        Ok(MemberChange::Done)
    }
}
