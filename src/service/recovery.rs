//! A forgotten password (docs/API.md, "Email: verification, password reset, email change"): the reset mail, and the reset by its link or code.
//!
//! `forgot` does the same store work for every address: it counts the limits and puts a request
//! into the outbox. The lookup, and the writes a known address causes (the token, the mail, the
//! event), happen when the outbox worker fulfils the request, so unknown, inactive and known
//! addresses get the same answer after the same work, and SMTP shows in none of them.

use chrono::Utc;

use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::mail::{OutboxKind, OutboxMail, TokenPurpose};
use crate::domain::principal::{ClientInfo, Principal};
use crate::domain::validate::{self, Problems};
use crate::domain::{RevokeReason, User, UserChanges};
use crate::error::{AppError, AppResult};
use crate::mail::templates::MailKind;
use crate::service;
use crate::service::audit::{self, NewEvent};
use crate::service::limits::{self, Account};
use crate::service::one_time::{self, Proof};
use crate::service::password_policy;
use crate::service::verification;

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
    request_mail(ctx, OutboxKind::PasswordResetRequest, email, client).await
}

/// `forgot` and `resend`: the same store work for every address (the limits, then one outbox
/// request that the worker fulfils), and the same answer.
pub async fn request_mail(
    ctx: &AppContext,
    kind: OutboxKind,
    email: &str,
    client: &ClientInfo,
) -> AppResult<()> {
    mail_enabled(ctx)?;
    let email = checked_email(email)?;
    let resend = kind == OutboxKind::VerificationRequest;
    if within_mail_limits(ctx, client, &email, resend).await? {
        ctx.mailer
            .request(ctx.store.as_ref(), kind, &email, client)
            .await?;
    }
    Ok(())
}

/// Counts a mail request against the per-IP and per-address limits; `false` when over one
/// (the caller then sends nothing and answers as ever). `resend` adds the one-a-minute cooldown.
async fn within_mail_limits(
    ctx: &AppContext,
    client: &ClientInfo,
    email_lower: &str,
    resend: bool,
) -> AppResult<bool> {
    let counted = match limits::mail_from_ip(ctx, client.ip).await {
        Ok(()) => limits::mail_to_address(ctx, email_lower, resend).await,
        over => over,
    };
    match counted {
        Ok(()) => Ok(true),
        Err(AppError::TooManyRequests { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The outbox worker's half of `forgot`, `resend` and an email sign-in's start: looks the address
/// up and mails it if it names an account that should get the mail (a sign-in also mails an
/// address no account holds, see `email_sign_in::fulfil`).
pub async fn fulfil(ctx: &AppContext, request: &OutboxMail) -> AppResult<()> {
    let requester: serde_json::Value = serde_json::from_str(&request.text).unwrap_or_default();
    let client = ClientInfo {
        ip: requester["ip"]
            .as_str()
            .and_then(|ip| ip.parse().ok())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
        user_agent: requester["user_agent"].as_str().unwrap_or_default().into(),
    };
    let user = ctx.store.find_user_by_login(&request.to).await?;
    match (request.kind, user) {
        (OutboxKind::SignInRequest, user) => {
            super::email_sign_in::fulfil(ctx, request, user, &client).await
        }
        (OutboxKind::PasswordResetRequest, Some(user)) if user.is_active => {
            send_reset(ctx, &user, &client, None).await
        }
        (OutboxKind::VerificationRequest, Some(user)) if user.is_active && !user.email_verified => {
            verification::send_verification(ctx, &user, &client).await
        }
        _ => Ok(()),
    }
}

/// An admin sends `user_id` the reset mail (same limits as `forgot`, same privilege rule as any
/// admin change).
pub async fn admin_forgot(ctx: &AppContext, actor: &Principal, user_id: &str) -> AppResult<()> {
    mail_enabled(ctx)?;
    let (user, _) =
        service::admin::modifiable_target(ctx, actor, user_id, service::admin::USE_SELF_SERVICE)
            .await?;
    if user.is_active && within_mail_limits(ctx, &actor.client, &user.email_lower(), false).await? {
        send_reset(ctx, &user, &actor.client, Some(actor)).await?;
    }
    Ok(())
}

async fn send_reset(
    ctx: &AppContext,
    user: &User,
    client: &ClientInfo,
    by_admin: Option<&Principal>,
) -> AppResult<()> {
    one_time::mail(ctx, user, TokenPurpose::PasswordReset, &user.email).await?;
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
    problems.check(password_policy::offline(ctx, "new_password", &new_password));
    problems.into_result().map_err(AppError::Validation)?;
    password_policy::online(ctx, "new_password", &new_password).await?;
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
