//! The rules of the product: accounts, sessions and tokens, permissions. Services take the
//! [`AppContext`](crate::context::AppContext) and plain values; they never see HTTP or driver types.

pub mod accounts;
pub mod admin;
pub mod limits;
pub mod roles;
pub mod sessions;

use std::future::Future;

use crate::error::{AppError, AppResult};

/// Runs `work` to its end even if the request that started it is dropped (the client went away,
/// or the request timeout fired). For writes that must not stop halfway, such as a password
/// change followed by the bookkeeping of the sessions it ended.
pub(crate) async fn to_completion<T: Send + 'static>(
    work: impl Future<Output = AppResult<T>> + Send + 'static,
) -> AppResult<T> {
    tokio::spawn(work)
        .await
        .map_err(|e| AppError::Internal(format!("account write task failed: {e}")))?
}

/// Marks the sessions a change already ended (through the account's epoch) as revoked, with the
/// reason. Only bookkeeping: if it fails the sessions stay unusable, so it is logged, not raised.
pub(crate) async fn record_ended_sessions(
    ctx: &crate::context::AppContext,
    user_id: &str,
    keep: Option<&str>,
    reason: crate::domain::RevokeReason,
) -> u64 {
    match ctx
        .store
        .revoke_user_sessions(user_id, keep, reason, chrono::Utc::now())
        .await
    {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, reason = reason.as_str(), "could not mark ended sessions as revoked");
            0
        }
    }
}
