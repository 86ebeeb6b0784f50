//! MongoDB `roles`: a unique index on `name`, so seeding is an idempotent upsert by name.

use async_trait::async_trait;
use bson::doc;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::Role;
use crate::store::RoleStore;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RoleDoc {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    description: String,
    permissions: Vec<String>,
    is_active: bool,
    created_at: bson::DateTime,
}

impl From<&Role> for RoleDoc {
    fn from(role: &Role) -> Self {
        Self {
            id: role.id.clone(),
            name: role.name.clone(),
            description: role.description.clone(),
            permissions: role.permissions.clone(),
            is_active: role.is_active,
            created_at: bson_date(role.created_at),
        }
    }
}

impl From<RoleDoc> for Role {
    fn from(doc: RoleDoc) -> Self {
        Self {
            id: doc.id,
            name: doc.name,
            description: doc.description,
            permissions: doc.permissions,
            is_active: doc.is_active,
            created_at: doc.created_at.to_chrono(),
        }
    }
}

/// One role per name, so seeding is an idempotent upsert.
pub(super) async fn create_indexes(roles: &Collection<RoleDoc>) -> mongodb::error::Result<()> {
    roles.create_index(unique_index("name")).await.map(drop)
}

#[async_trait]
impl RoleStore for MongoStore {
    async fn seed_role(&self, role: &Role) -> StoreResult<()> {
        let mut on_insert = to_document(&RoleDoc::from(role))?;
        // The upsert takes `name` from the filter; the code's definition is `$set` either way.
        for field in ["name", "description", "permissions"] {
            on_insert.remove(field);
        }
        let filter = doc! { "name": &role.name };
        let update = doc! {
            "$set": { "description": &role.description, "permissions": &role.permissions },
            "$setOnInsert": on_insert,
        };
        match self
            .roles
            .update_one(filter.clone(), update.clone())
            .upsert(true)
            .await
        {
            Ok(_) => Ok(()),
            // Two instances seeding at once: the other inserted it first. The role exists now,
            // so the same update without the insert brings it to this definition.
            Err(e) if is_duplicate_key(&e) => self
                .roles
                .update_one(filter, update)
                .await
                .map(drop)
                .map_err(map_err),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        let docs: Vec<RoleDoc> = self
            .roles
            .find(doc! {})
            .sort(doc! { "name": 1 })
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        Ok(docs.into_iter().map(Role::from).collect())
    }
}
