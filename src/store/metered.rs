//! The store as the services see it: either backend, counted (operations by name and failures
//! by kind, for `/metrics` and the benchmarks' round-trip figures) and closed until prepared.
//! The collection methods are forwarded by the `store_trait!` declarations in `store/mod.rs`;
//! this file holds the wrapper, its one `observe`, and the database-wide methods.
//!
//! Closed until prepared: a server may start before its database is reachable (operators start
//! both together). Until [`Store::prepare`] has created the indexes and seeded the roles, every
//! operation answers `Unavailable` (a 503) without reaching the backend, so no write can land
//! before the unique indexes that guard it exist. This is the one wrapper every call already
//! passes through, which is why the gate lives here: one atomic load per operation.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Store, StoreError, StoreResult};
use crate::metrics::Metrics;

pub struct MeteredStore {
    pub(super) inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    prepared: AtomicBool,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Self {
            inner,
            metrics,
            prepared: AtomicBool::new(false),
        }
    }

    /// Counts `call` under `operation` and runs it, or refuses it while the store is unprepared.
    /// The collection traits' forwarding (see `store_trait!` in `store/mod.rs`) goes through here.
    pub(super) async fn observe<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        self.metrics.store_operation(operation);
        let result = if self.prepared.load(Ordering::Acquire) {
            call.await
        } else {
            Err(StoreError::Unavailable(
                "the database has not been reachable since the server started".into(),
            ))
        };
        if let Err(e) = &result {
            let kind = match e {
                StoreError::Duplicate { .. } => "duplicate",
                StoreError::Unavailable(_) => "unavailable",
                StoreError::Other(_) => "other",
            };
            self.metrics.store_error(operation, kind);
        }
        result
    }
}

#[async_trait]
impl Store for MeteredStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn command_counts(&self) -> Vec<(String, u64)> {
        self.inner.command_counts()
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await;
    }

    async fn prepare(&self) -> StoreResult<()> {
        if self.prepared.load(Ordering::Acquire) {
            return Ok(());
        }
        self.inner.prepare().await?;
        super::seed_default_roles(self.inner.as_ref()).await?;
        self.prepared.store(true, Ordering::Release);
        Ok(())
    }

    fn is_prepared(&self) -> bool {
        self.prepared.load(Ordering::Acquire)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.observe("ping", self.inner.ping()).await
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.observe("delete_expired", self.inner.delete_expired(now))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RoleStore;

    #[tokio::test]
    async fn closed_until_prepared_then_seeded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend =
            super::super::sqlite::SqliteStore::open(&dir.path().join("db")).expect("open");
        let store = MeteredStore::new(Arc::new(backend), Arc::new(Metrics::default()));
        assert!(!store.is_prepared());
        let refused = store.list_roles().await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{refused:?}"
        );
        store.prepare().await.expect("prepare");
        assert!(store.is_prepared());
        let roles = store.list_roles().await.expect("open now");
        assert_eq!(roles.len(), 3, "the default roles are seeded");
    }
}
