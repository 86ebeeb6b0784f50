//! Who may do what. Two rules serve every route:
//!
//! - **Permissions.** [`require`] checks one permission (`ns:action`, granted by itself, `ns:*` or
//!   `*`) of the caller's role; the api layer's `permission_extractor!` turns the same check into
//!   an extractor (`Admin` is `admin:*`), so a handler's signature says what it needs.
//! - **Ownership.** A record that belongs to someone carries its owner's id, and every store call
//!   that reads or changes it takes that id in its filter (`revoke_session(id, Some(owner))`): one
//!   conditional query, no find-then-check, so there is no window between the check and the act.
//!   A record of another owner then looks exactly like a missing one, and [`owned`] answers both
//!   with the same 404, so ids of other people's records reveal nothing.
//! - **Recent authentication.** A sensitive change needs the current password when the account
//!   has one, else a session signed in within `REAUTH_WINDOW` ([`recently_signed_in`]).

use chrono::Utc;

use crate::context::AppContext;
use crate::domain::principal::Principal;
use crate::error::{AppError, AppResult};

/// The template's text for a caller without the permission.
pub const INSUFFICIENT: &str = "Insufficient permissions";

/// Refuses with 403 unless the caller's role grants `permission`.
pub fn require(principal: &Principal, permission: &str) -> AppResult<()> {
    require_because(principal, permission, INSUFFICIENT)
}

/// [`require`], with a refusal that says what the permission is for.
pub fn require_because(principal: &Principal, permission: &str, refusal: &str) -> AppResult<()> {
    if principal.can(permission) {
        Ok(())
    } else {
        Err(AppError::Forbidden(refusal.into()))
    }
}

/// The refusal of a sensitive change without a recent enough sign-in.
pub const REAUTHENTICATE: &str = "reauthentication required";

/// For an account without a password (nothing to type again): refuses with 403 unless the
/// session signed in within `REAUTH_WINDOW`. Signing in again renews it.
pub fn recently_signed_in(ctx: &AppContext, principal: &Principal) -> AppResult<()> {
    let window = chrono::Duration::from_std(ctx.settings.tokens.reauth_window)
        .unwrap_or(chrono::Duration::minutes(10));
    if Utc::now() - principal.authentication.at <= window {
        Ok(())
    } else {
        Err(AppError::Forbidden(REAUTHENTICATE.into()))
    }
}

/// The answer to an owner-scoped store call: the record, or 404 "`what` not found" whether it is
/// missing or someone else's.
pub fn owned<T>(record: Option<T>, what: &str) -> AppResult<T> {
    record.ok_or_else(|| AppError::NotFound(format!("{what} not found")))
}
