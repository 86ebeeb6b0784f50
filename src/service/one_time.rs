//! Issuing and redeeming the one-time secrets that mails carry: a link token or, for apps
//! without deep links, the address and a 6-digit code. Every refusal is the same 400, whether
//! the secret never existed, was used, expired, was replaced or ran out of attempts.

use chrono::{Duration, Utc};

use crate::context::AppContext;
use crate::domain::User;
use crate::domain::mail::{OneTimeToken, TokenPurpose, new_account_key};
use crate::error::{AppError, AppResult};
use crate::mail::templates::MailKind;
use crate::security::one_time::{hash_link_token, is_code, new_code, new_link_token};

/// What a mail carries.
struct Issued {
    link: String,
    code: String,
}

/// How long the `mfa_token` of a login's first step works.
pub const MFA_TOKEN_TTL_SECS: u64 = 300;

/// How a client proves it got the mail.
pub enum Proof {
    Token(String),
    Code { email: String, code: String },
}

/// The one answer to a proof that does not work.
pub fn invalid() -> AppError {
    AppError::BadRequest("Invalid or expired token or code".into())
}

/// How long each kind of secret lives (docs/API.md: 30 minutes and 24 hours by default).
fn lifetime(ctx: &AppContext, purpose: TokenPurpose) -> Duration {
    let mail = &ctx.settings.mail;
    let ttl = match purpose {
        TokenPurpose::PasswordReset => mail.reset_ttl,
        TokenPurpose::VerifyEmail | TokenPurpose::ChangeEmail => mail.verify_ttl,
        TokenPurpose::MfaLogin => std::time::Duration::from_secs(MFA_TOKEN_TTL_SECS),
        TokenPurpose::SignIn => mail.sign_in_ttl,
    };
    Duration::from_std(ttl).unwrap_or(Duration::minutes(30))
}

/// Mails `to` a new secret of `purpose` for `user` (its link and code, in the purpose's mail),
/// replacing the user's previous one of that purpose. For `ChangeEmail`, `to` is the new
/// address, which the secret confirms.
pub async fn mail(ctx: &AppContext, user: &User, purpose: TokenPurpose, to: &str) -> AppResult<()> {
    send(ctx, &user.id, purpose, to).await
}

/// Mails a sign-in secret to an address no account holds yet; redeeming it creates the account
/// (filed under [`new_account_key`], so a newer request replaces it as for an account).
pub async fn mail_new_account(ctx: &AppContext, email_lower: &str) -> AppResult<()> {
    let key = new_account_key(email_lower);
    send(ctx, &key, TokenPurpose::SignIn, email_lower).await
}

async fn send(ctx: &AppContext, user_id: &str, purpose: TokenPurpose, to: &str) -> AppResult<()> {
    let new_email = (purpose == TokenPurpose::ChangeEmail).then_some(to);
    let issued = issue(ctx, user_id, purpose, to, new_email).await?;
    let (link, code) = (issued.link.as_str(), issued.code.as_str());
    let kind = match purpose {
        TokenPurpose::PasswordReset => MailKind::PasswordReset { link, code },
        TokenPurpose::VerifyEmail => MailKind::VerifyEmail { link, code },
        TokenPurpose::ChangeEmail => MailKind::ConfirmNewEmail { link, code },
        TokenPurpose::SignIn => MailKind::SignIn { link, code },
        TokenPurpose::MfaLogin => {
            return Err(AppError::Internal("an mfa_token is never mailed".into()));
        }
    };
    let rendered = kind.render(&ctx.settings.mail.product_name);
    Ok(ctx.mailer.enqueue(ctx.store.as_ref(), to, rendered).await?)
}

/// A new secret for `user_id` and `purpose`, mailed to `to`; it replaces the previous one of
/// that user and purpose. `new_email` is the address being confirmed (`ChangeEmail`).
async fn issue(
    ctx: &AppContext,
    user_id: &str,
    purpose: TokenPurpose,
    to: &str,
    new_email: Option<&str>,
) -> AppResult<Issued> {
    let (token, token_hash) = new_link_token();
    let code = new_code();
    let now = Utc::now();
    ctx.store
        .put_token(&OneTimeToken {
            user_id: user_id.to_string(),
            purpose,
            email_lower: to.to_lowercase(),
            token_hash,
            code_hash: ctx.codes.hash(user_id, purpose, &code),
            new_email: new_email.map(str::to_string),
            attempts: 0,
            created_at: now,
            expires_at: now + lifetime(ctx, purpose),
            used_at: None,
        })
        .await?;
    Ok(Issued {
        link: link(ctx, purpose, &token),
        code,
    })
}

/// The page a mail links to: the app's (`APP_URL`) or this server's own.
fn link(ctx: &AppContext, purpose: TokenPurpose, token: &str) -> String {
    let mail = &ctx.settings.mail;
    let base = mail.app_url.as_deref().unwrap_or(&mail.public_url);
    let page = match purpose {
        TokenPurpose::PasswordReset => "reset-password",
        TokenPurpose::SignIn => "sign-in",
        TokenPurpose::VerifyEmail | TokenPurpose::ChangeEmail | TokenPurpose::MfaLogin => {
            "verify-email"
        }
    };
    format!("{base}/{page}?token={token}")
}

/// Consumes the secret the proof names, if it is live and of one of `purposes`. A wrong code
/// counts against every live token mailed to that address, and 5 of them kill a token.
pub async fn redeem(
    ctx: &AppContext,
    proof: &Proof,
    purposes: &[TokenPurpose],
) -> AppResult<OneTimeToken> {
    let now = Utc::now();
    match proof {
        Proof::Token(token) => {
            let shaped = token.len() == 43
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !shaped {
                return Err(invalid());
            }
            ctx.store
                .consume_token_by_hash(&hash_link_token(token), purposes, now)
                .await?
                .ok_or_else(invalid)
        }
        Proof::Code { email, code } => {
            if !is_code(code) {
                return Err(invalid());
            }
            let email_lower = email.trim().to_lowercase();
            let candidates = ctx
                .store
                .find_tokens_by_email(&email_lower, purposes, now)
                .await?;
            for candidate in &candidates {
                let hash = ctx.codes.hash(&candidate.user_id, candidate.purpose, code);
                if let Some(token) = ctx
                    .store
                    .consume_token_by_code(&candidate.key(), &hash, now)
                    .await?
                {
                    return Ok(token);
                }
            }
            for candidate in &candidates {
                ctx.store.count_token_failure(&candidate.key(), now).await?;
            }
            Err(invalid())
        }
    }
}
