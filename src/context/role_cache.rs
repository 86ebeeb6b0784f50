//! Roles are few and change only by seeding, so they live in memory: resolving a user's role costs
//! no database round trip on the request path. A miss (a role added by another instance or by hand)
//! reloads the table once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::store::{Store, StoreResult};

#[derive(Default)]
pub struct RoleCache {
    by_id: RwLock<HashMap<String, Arc<Role>>>,
}

impl RoleCache {
    async fn reload(&self, store: &dyn Store) -> StoreResult<()> {
        let roles = store.list_roles().await?;
        let map = roles
            .into_iter()
            .map(|r| (r.id.clone(), Arc::new(r)))
            .collect();
        *self.by_id.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(())
    }

    fn cached(&self, pred: impl Fn(&Role) -> bool) -> Option<Arc<Role>> {
        let map = self.by_id.read().unwrap_or_else(|e| e.into_inner());
        map.values().find(|r| pred(r)).cloned()
    }

    async fn find(
        &self,
        store: &dyn Store,
        pred: impl Fn(&Role) -> bool,
    ) -> AppResult<Option<Arc<Role>>> {
        if let Some(role) = self.cached(&pred) {
            return Ok(Some(role));
        }
        self.reload(store).await?;
        Ok(self.cached(&pred))
    }

    /// The role with this id; a user whose role vanished is a data bug, reported as such.
    pub async fn by_id(&self, store: &dyn Store, id: &str) -> AppResult<Arc<Role>> {
        self.find(store, |r| r.id == id)
            .await?
            .ok_or_else(|| AppError::Internal(format!("role {id} not found")))
    }

    /// The role with this name (case-insensitive), if any.
    pub async fn by_name(&self, store: &dyn Store, name: &str) -> AppResult<Option<Arc<Role>>> {
        self.find(store, |r| r.name.eq_ignore_ascii_case(name))
            .await
    }
}
