//! The store as the services see it: either backend, counted (operations by name and failures
//! by kind, for `/metrics` and the benchmarks' round-trip figures) and closed until prepared.
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
use crate::domain::{
    Counter, RevokeReason, Role, Session, SessionState, User, UserChanges, UserFilter,
};
use crate::metrics::Metrics;

pub struct MeteredStore {
    inner: Arc<dyn Store>,
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

    async fn observe<T>(
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

    async fn insert_role_if_absent(&self, role: &Role) -> StoreResult<()> {
        self.observe(
            "insert_role_if_absent",
            self.inner.insert_role_if_absent(role),
        )
        .await
    }

    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        self.observe("list_roles", self.inner.list_roles()).await
    }

    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        self.observe("insert_user", self.inner.insert_user(user))
            .await
    }

    async fn find_user(&self, id: &str) -> StoreResult<Option<User>> {
        self.observe("find_user", self.inner.find_user(id)).await
    }

    async fn find_user_by_login(&self, login_lower: &str) -> StoreResult<Option<User>> {
        self.observe(
            "find_user_by_login",
            self.inner.find_user_by_login(login_lower),
        )
        .await
    }

    async fn update_user(
        &self,
        id: &str,
        changes: &UserChanges,
        if_role: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let call = self.inner.update_user(id, changes, if_role, now);
        self.observe("update_user", call).await
    }

    async fn replace_password_hash(
        &self,
        id: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> StoreResult<()> {
        self.observe(
            "replace_password_hash",
            self.inner.replace_password_hash(id, old_hash, new_hash),
        )
        .await
    }

    async fn soft_delete_user(
        &self,
        id: &str,
        if_role: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let call = self.inner.soft_delete_user(id, if_role, now);
        self.observe("soft_delete_user", call).await
    }

    async fn list_users(
        &self,
        filter: &UserFilter,
        skip: u64,
        limit: u64,
    ) -> StoreResult<(Vec<User>, u64)> {
        self.observe("list_users", self.inner.list_users(filter, skip, limit))
            .await
    }

    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        self.observe("insert_session", self.inner.insert_session(session))
            .await
    }

    async fn find_session(&self, id: &str) -> StoreResult<Option<Session>> {
        self.observe("find_session", self.inner.find_session(id))
            .await
    }

    async fn find_session_and_user(
        &self,
        session_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<(SessionState, User)>> {
        self.observe(
            "find_session_and_user",
            self.inner.find_session_and_user(session_id, user_id),
        )
        .await
    }

    async fn rotate_refresh(
        &self,
        id: &str,
        user_id: &str,
        current_jti: &str,
        new_jti: &str,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionState>> {
        let call =
            self.inner
                .rotate_refresh(id, user_id, current_jti, new_jti, new_expires_at, now);
        self.observe("rotate_refresh", call).await
    }

    async fn carry_session_over(&self, id: &str, user_id: &str, epoch: i64) -> StoreResult<bool> {
        let call = self.inner.carry_session_over(id, user_id, epoch);
        self.observe("carry_session_over", call).await
    }

    async fn touch_session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.observe("touch_session", self.inner.touch_session(id, now))
            .await
    }

    async fn revoke_session(
        &self,
        id: &str,
        user_id: Option<&str>,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.observe(
            "revoke_session",
            self.inner.revoke_session(id, user_id, reason, now),
        )
        .await
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.observe(
            "revoke_user_sessions",
            self.inner.revoke_user_sessions(user_id, keep, reason, now),
        )
        .await
    }

    async fn list_active_sessions(
        &self,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Session>> {
        self.observe(
            "list_active_sessions",
            self.inner.list_active_sessions(user_id, now),
        )
        .await
    }

    async fn hit_counter(
        &self,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Counter> {
        self.observe("hit_counter", self.inner.hit_counter(key, expires_at, now))
            .await
    }

    async fn get_counter(&self, key: &str, now: DateTime<Utc>) -> StoreResult<Option<Counter>> {
        self.observe("get_counter", self.inner.get_counter(key, now))
            .await
    }

    async fn delete_counter(&self, key: &str) -> StoreResult<()> {
        self.observe("delete_counter", self.inner.delete_counter(key))
            .await
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.observe("delete_expired", self.inner.delete_expired(now))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
