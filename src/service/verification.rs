//! Proof that an address belongs to its user (docs/API.md, "Email: verification, password reset, email change"): the verification mail at
//! registration and on request, and the confirmation of a new address before it replaces the old.

use chrono::Utc;

use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::mail::{OneTimeToken, OutboxKind, TokenPurpose};
use crate::domain::principal::{ClientInfo, Principal};
use crate::domain::{User, UserChanges};
use crate::error::{AppError, AppResult};
use crate::mail::templates::MailKind;
use crate::service::audit::{self, NewEvent};
use crate::service::one_time::{self, Proof};
use crate::service::recovery::{self, mail_enabled};

/// Mails `user` a verification link and code, if mail is on.
pub async fn send_verification(
    ctx: &AppContext,
    user: &User,
    client: &ClientInfo,
) -> AppResult<()> {
    if !ctx.mailer.is_enabled() {
        return Ok(());
    }
    one_time::mail(ctx, user, TokenPurpose::VerifyEmail, &user.email).await?;
    let event = NewEvent::new(EventType::EmailVerificationSent)
        .user(&user.id)
        .from(client);
    audit::record(ctx, event).await;
    Ok(())
}

/// Sends a new verification mail to `email` if it names an active, unverified account, at most
/// once a minute; the same store work and answer for every address (see `recovery::forgot`).
pub async fn resend(ctx: &AppContext, email: &str, client: &ClientInfo) -> AppResult<()> {
    recovery::request_mail(ctx, OutboxKind::VerificationRequest, email, client).await
}

/// Redeems a verification or address-change proof and returns the updated user.
pub async fn verify(ctx: &AppContext, proof: Proof, client: &ClientInfo) -> AppResult<User> {
    mail_enabled(ctx)?;
    let purposes = [TokenPurpose::VerifyEmail, TokenPurpose::ChangeEmail];
    let token = one_time::redeem(ctx, &proof, &purposes).await?;
    let user = ctx
        .store
        .find_user(&token.user_id)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(one_time::invalid)?;
    let (changes, kind) = match token.purpose {
        TokenPurpose::ChangeEmail => (confirm_change(&user, &token)?, EventType::EmailChanged),
        _ if user.email_lower() == token.email_lower => (
            UserChanges {
                email_verified: Some(true),
                ..Default::default()
            },
            EventType::EmailVerified,
        ),
        // The address changed after this mail went out: it proves nothing about the new one.
        _ => return Err(one_time::invalid()),
    };
    // The unique index on the address decides a race for it: 409 if someone took it meanwhile.
    let user = ctx
        .store
        .update_user(&user.id, &changes, None, Utc::now())
        .await?
        .ok_or_else(one_time::invalid)?;
    audit::record(ctx, NewEvent::new(kind).own(&user.id).from(client)).await;
    Ok(user)
}

fn confirm_change(user: &User, token: &OneTimeToken) -> AppResult<UserChanges> {
    let new_email = token.new_email.clone().ok_or_else(one_time::invalid)?;
    // A later request for another address, or a cancelled one, supersedes this mail.
    if user.pending_email.as_deref() != Some(new_email.as_str()) {
        return Err(one_time::invalid());
    }
    Ok(UserChanges {
        email: Some(new_email),
        email_verified: Some(true),
        pending_email: Some(None),
        ..Default::default()
    })
}

/// Starts a change of the caller's address to `new_email` (already validated, the current
/// password already checked): the address becomes pending, the new one gets a confirmation and
/// the old one a notice. Returns the user with `pending_email` set.
pub async fn request_change(
    ctx: &AppContext,
    principal: &Principal,
    new_email: &str,
) -> AppResult<User> {
    let user = &principal.user;
    // Taken already: the same 409 an immediate change would give.
    if ctx
        .store
        .find_user_by_login(&new_email.to_lowercase())
        .await?
        .is_some_and(|other| other.id != user.id)
    {
        return Err(AppError::Conflict("Email already registered".into()));
    }
    let changes = UserChanges {
        pending_email: Some(Some(new_email.to_string())),
        ..Default::default()
    };
    let updated = ctx
        .store
        .update_user(&user.id, &changes, None, Utc::now())
        .await?
        .ok_or_else(AppError::invalid_token)?;
    one_time::mail(ctx, &updated, TokenPurpose::ChangeEmail, new_email).await?;
    let notice = MailKind::EmailChangeNotice { new_email };
    let notice = notice.render(&ctx.settings.mail.product_name);
    ctx.mailer
        .enqueue(ctx.store.as_ref(), &user.email, notice)
        .await?;
    let event = NewEvent::new(EventType::EmailChangeRequested)
        .user(&user.id)
        .by(principal);
    audit::record(ctx, event).await;
    Ok(updated)
}
