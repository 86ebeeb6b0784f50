//! What a new password must be, wherever one is set (registration, a change of one's own, a
//! reset, an admin's change, `create-admin`): 8 to 128 characters, not one of the most common
//! breached passwords (`PASSWORD_COMMON_CHECK`, on by default), and, when configured, unknown to
//! a breach service (`PASSWORD_BREACH_CHECK=pwned`). Only new passwords are checked, never a
//! login: an existing account keeps working until its owner changes the password.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::Utc;

use crate::context::AppContext;
use crate::domain::validate::{self, FieldError};
use crate::error::{AppError, AppResult};
use crate::security::common_passwords;
use crate::security::pwned::Verdict;

const TOO_COMMON: &str =
    "This password is one of the most common ones and easy to guess: choose another";
const BREACHED: &str =
    "This password appears in a known data breach and is easy to guess: choose another";

/// The rules that need nothing but the password: its length, and the built-in list.
pub fn offline(ctx: &AppContext, field: &str, password: &str) -> Result<(), FieldError> {
    validate::password(field, password)?;
    if ctx.settings.passwords.common_check && common_passwords::is_common(password) {
        return Err(FieldError::body(field, TOO_COMMON, "password_too_common"));
    }
    Ok(())
}

/// The breach service, when configured. Asked last, once everything else is valid. When it does
/// not answer in time the password is accepted (the service is a help, not a gate): the outcome
/// is counted in `/metrics` and logged at most once a minute.
pub async fn online(ctx: &AppContext, field: &str, password: &str) -> AppResult<()> {
    let Some(service) = &ctx.breach_check else {
        return Ok(());
    };
    match service.check(password).await {
        Verdict::Breached => {
            ctx.metrics.breach_check("breached");
            Err(AppError::validation(FieldError::body(
                field,
                BREACHED,
                "password_breached",
            )))
        }
        Verdict::Clear => {
            ctx.metrics.breach_check("clear");
            Ok(())
        }
        Verdict::Unavailable(reason) => {
            ctx.metrics.breach_check("unavailable");
            if once_a_minute() {
                tracing::warn!(%reason, "the password breach service did not answer; new passwords are accepted unchecked meanwhile");
            }
            Ok(())
        }
    }
}

/// True at most once a minute for the whole process.
fn once_a_minute() -> bool {
    static LAST: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = Utc::now().timestamp();
    let last = LAST.load(Ordering::Relaxed);
    now.saturating_sub(last) >= 60
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}
