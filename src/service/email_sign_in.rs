//! Signing in with a link or a code mailed to the address, instead of a password.
//!
//! - **Start** does the same store work for every address, as `forgot` does: the limits, then
//!   one outbox request. The outbox worker looks the address up and mails a link and a code to an
//!   active account, or, when `EMAIL_SIGNUP` allows it, to an address no account holds (the
//!   account is made when the secret is redeemed). So neither the answer, its timing nor the
//!   store traffic of the request tells whether an account exists.
//! - **Verify** redeems the secret (single use; 5 wrong codes end it; a newer request voids the
//!   older) and signs in with `amr: ["mail"]`, or asks for the second factor when the account
//!   has one.
//! - **The mail proves the address.** An account whose address was never verified gets it
//!   verified; and if such an account had a password, whoever set it never proved the address
//!   (the takeover of an address someone else registered): the password is removed and every
//!   session of the account ends (`account.password_removed`).

use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::mail::{OutboxKind, OutboxMail, TokenPurpose, new_account_address};
use crate::domain::principal::ClientInfo;
use crate::domain::{Amr, User};
use crate::error::{AppError, AppResult};
use crate::service::audit::{self, NewEvent};
use crate::service::one_time::{self, Proof};
use crate::service::sessions::{self, LoginResult};
use crate::service::{passwordless, recovery};

/// Asks for a sign-in mail to `email`; answers alike for every address.
pub async fn start(ctx: &AppContext, email: &str, client: &ClientInfo) -> AppResult<()> {
    recovery::request_mail(ctx, OutboxKind::SignInRequest, email, client).await
}

/// The outbox worker's half of `start`: mails the account the address names, or the address
/// itself when no account holds it and sign-up by mail is on.
pub async fn fulfil(
    ctx: &AppContext,
    request: &OutboxMail,
    user: Option<User>,
    client: &ClientInfo,
) -> AppResult<()> {
    let sent = NewEvent::new(EventType::EmailSignInSent).from(client);
    match user {
        Some(user) if user.is_active => {
            one_time::mail(ctx, &user, TokenPurpose::SignIn, &user.email).await?;
            audit::record(ctx, sent.user(&user.id)).await;
        }
        Some(_) => {}
        None if ctx.settings.mail.sign_up_by_email => {
            one_time::mail_new_account(ctx, &request.to).await?;
            audit::record(ctx, sent).await;
        }
        None => {}
    }
    Ok(())
}

/// Redeems a sign-in link or code: a session (`amr: ["mail"]`), or the second factor's step.
pub async fn verify(ctx: &AppContext, proof: Proof, client: &ClientInfo) -> AppResult<LoginResult> {
    recovery::mail_enabled(ctx)?;
    let token = one_time::redeem(ctx, &proof, &[TokenPurpose::SignIn]).await?;
    let user = match new_account_address(&token.user_id) {
        Some(address) => account_for_new_address(ctx, address).await?,
        None => ctx
            .store
            .find_user(&token.user_id)
            .await?
            .ok_or_else(one_time::invalid)?,
    };
    if !user.is_active {
        let failed = NewEvent::new(EventType::LoginFailed)
            .user(&user.id)
            .from(client)
            .method("email")
            .reason("inactive");
        audit::record(ctx, failed).await;
        return Err(AppError::Unauthorized("Account is inactive".into()));
    }
    // The secret went to the address the account had then; it proves that address only.
    let user = if user.email_lower() == token.email_lower {
        let reason = "unverified_address_proven_by_mail";
        passwordless::proven_address(ctx, user, client, "email", reason).await?
    } else {
        user
    };
    if ctx
        .store
        .find_factor(&user.id)
        .await?
        .is_some_and(|f| f.active)
    {
        let mfa_token = super::mfa::challenge(ctx, &user, Amr::MAIL).await?;
        return Ok(LoginResult::SecondFactor { mfa_token });
    }
    let signed_in = sessions::open_session(ctx, user, client, Amr::MAIL).await?;
    Ok(LoginResult::SignedIn(Box::new(signed_in)))
}

/// The account a sign-up secret makes: created now (address verified, no password), or, if an
/// account took the address since the mail went out, that one.
async fn account_for_new_address(ctx: &AppContext, address: &str) -> AppResult<User> {
    match passwordless::create_account(ctx, address, true, None, "email").await {
        Ok(user) => Ok(user),
        Err(AppError::Conflict(_)) => ctx
            .store
            .find_user_by_login(address)
            .await?
            .ok_or_else(one_time::invalid),
        Err(e) => Err(e),
    }
}
