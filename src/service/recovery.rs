//! A forgotten password (API.md, "Email"): the reset mail, and the reset by its link or code.
//!
//! `forgot` answers before it does anything that depends on the address: the limits, the lookup
//! and the mail happen in a task of their own, so unknown, inactive and known addresses get the
//! same answer after the same work, and a slow database or SMTP server shows in none of them.

use chrono::Utc;

use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::mail::TokenPurpose;
use crate::domain::validate::{self, Problems};
use crate::domain::{RevokeReason, User, UserChanges};
use crate::error::{AppError, AppResult};
use crate::mail::templates::MailKind;
use crate::service;
use crate::service::audit::{self, NewEvent};
use crate::service::limits::{self, Account};
use crate::service::one_time::{self, Proof};
use crate::service::sessions::{ClientInfo, Principal};

/// 503 unless mail can go out (SMTP configured, or the log in development).
pub fn mail_enabled(ctx: &AppContext) -> AppResult<()> {
    if ctx.mailer.is_enabled() {
        Ok(())
    } else {
        Err(AppError::NotConfigured(
            "email delivery is not configured".into(),
        ))
    }
}

/// Checks the shape of an address a client typed (a 422 reveals nothing about accounts).
pub fn checked_email(email: &str) -> AppResult<String> {
    let mut problems = Problems::default();
    problems.check(validate::email(email.trim()));
    problems.into_result().map_err(AppError::Validation)?;
    Ok(email.trim().to_lowercase())
}

/// Starts a reset for `email` if it names an active account; always answers the same.
pub async fn forgot(ctx: &AppContext, email: &str, client: &ClientInfo) -> AppResult<()> {
    mail_enabled(ctx)?;
    let email = checked_email(email)?;
    let slot = ctx.mailer.background_slot().await;
    let (ctx, client) = (ctx.clone(), client.clone());
    tokio::spawn(async move {
        if let Err(e) = send_reset(&ctx, &email, &client, None).await {
            tracing::warn!(error = %e, "a password reset mail was not queued");
        }
        drop(slot);
    });
    Ok(())
}

/// An admin sends `user_id` the reset mail (same limits as `forgot`, same privilege rule as any
/// admin change).
pub async fn admin_forgot(ctx: &AppContext, actor: &Principal, user_id: &str) -> AppResult<()> {
    mail_enabled(ctx)?;
    let (user, _) = service::admin::modifiable_target(ctx, actor, user_id).await?;
    send_reset(ctx, &user.email.to_lowercase(), &actor.client, Some(actor)).await
}

async fn send_reset(
    ctx: &AppContext,
    email_lower: &str,
    client: &ClientInfo,
    by_admin: Option<&Principal>,
) -> AppResult<()> {
    let within_limits = limits::mail_from_ip(ctx, client.ip).await.is_ok()
        && limits::mail_to_address(ctx, email_lower, false)
            .await
            .is_ok();
    if !within_limits {
        return Ok(());
    }
    let Some(user) = ctx.store.find_user_by_login(email_lower).await? else {
        return Ok(());
    };
    if !user.is_active {
        return Ok(());
    }
    one_time::mail(ctx, &user, TokenPurpose::PasswordReset, &user.email).await?;
    let mut event = NewEvent::new(EventType::PasswordResetRequested).user(&user.id);
    event = match by_admin {
        Some(admin) => event.by(admin),
        None => event.from(client),
    };
    audit::record(ctx, event).await;
    Ok(())
}

/// Sets a new password with the proof from the reset mail: every session ends, the lockout is
/// cleared, the address counts as verified (the mail reached it), and a notice goes out.
pub async fn reset(
    ctx: &AppContext,
    proof: Proof,
    new_password: String,
    client: &ClientInfo,
) -> AppResult<()> {
    mail_enabled(ctx)?;
    let mut problems = Problems::default();
    problems.check(validate::password("new_password", &new_password));
    problems.into_result().map_err(AppError::Validation)?;
    // Hashed before the token is spent, so a full hashing queue does not burn it.
    let password_hash = ctx.passwords.hash(new_password).await?;
    let token = one_time::redeem(ctx, &proof, &[TokenPurpose::PasswordReset]).await?;
    let (ctx, client) = (ctx.clone(), client.clone());
    service::to_completion(async move {
        let user = ctx
            .store
            .find_user(&token.user_id)
            .await?
            .filter(|u| u.is_active)
            .ok_or_else(one_time::invalid)?;
        let changes = UserChanges {
            password_hash: Some(password_hash),
            end_sessions: true,
            // Only if the mail went to the address the account still has.
            email_verified: (user.email_lower() == token.email_lower).then_some(true),
            ..Default::default()
        };
        let user = ctx
            .store
            .update_user(&user.id, &changes, None, Utc::now())
            .await?
            .ok_or_else(one_time::invalid)?;
        let reason = RevokeReason::PasswordChanged;
        let revoked = service::record_ended_sessions(&ctx, &user.id, None, reason).await;
        limits::password_accepted(&ctx, Account::Id(&user.id)).await?;
        notify_password_changed(&ctx, &user).await;
        let event = NewEvent::new(EventType::PasswordResetCompleted)
            .own(&user.id)
            .from(&client)
            .count("revoked", revoked);
        audit::record(&ctx, event).await;
        Ok(())
    })
    .await
}

/// The "your password was changed" notice. Best effort: the reset has happened either way.
async fn notify_password_changed(ctx: &AppContext, user: &User) {
    let mail = MailKind::PasswordChanged.render(&ctx.settings.mail.product_name);
    if let Err(e) = ctx
        .mailer
        .enqueue(ctx.store.as_ref(), &user.email, mail)
        .await
    {
        tracing::warn!(error = %e, "the password-changed notice was not queued");
    }
}
