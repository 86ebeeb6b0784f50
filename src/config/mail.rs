//! Mail: how it leaves (SMTP, or the log in development), what its links point to, and the
//! limits and lifetimes of what it carries.

use std::time::Duration;

use super::vars::Vars;
use super::{ConfigError, Limit, Secret, bad};

#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://` or `smtps://`, with optional `user:password@`; unset: mail goes to the log in
    /// development and is off in production.
    pub smtp_url: Option<Secret>,
    /// The From of every mail.
    pub from: String,
    /// Where the app's own pages live (`/reset-password`, `/verify-email`); unset: the pages this
    /// server serves, at `public_url`.
    pub app_url: Option<String>,
    /// The URL this server is reached at, for links to its own pages.
    pub public_url: String,
    /// The product's name in mails and pages.
    pub product_name: String,
    /// Refuse logins of accounts whose address is not verified (403, after a correct password).
    pub require_verified_email: bool,
    /// Mails per address (forgot, resend, admin-triggered reset); over it, silently none.
    pub address_limit: Option<Limit>,
    /// Mail-sending requests per client IP; over it, silently none.
    pub ip_limit: Option<Limit>,
    /// How long a password reset link and code work.
    pub reset_ttl: Duration,
    /// How long a verification or address-change link and code work.
    pub verify_ttl: Duration,
    /// How long an emailed sign-in link and code work.
    pub sign_in_ttl: Duration,
    /// An emailed sign-in for an address no account holds creates the account.
    pub sign_up_by_email: bool,
}

pub(super) fn read(vars: &Vars, port: u16) -> Result<MailSettings, ConfigError> {
    let smtp_url = vars.get("SMTP_URL");
    if let Some(url) = &smtp_url
        && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
    {
        return Err(bad("SMTP_URL", "must start with smtp:// or smtps://"));
    }
    let from = vars.string_or("MAIL_FROM", "authkit <no-reply@localhost>");
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(bad(
            "MAIL_FROM",
            format!("not an address such as \"Name <no-reply@example.com>\": {from:?}"),
        ));
    }
    Ok(MailSettings {
        smtp_url: smtp_url.map(Secret::new),
        from,
        app_url: http_url(vars, "APP_URL")?,
        public_url: http_url(vars, "PUBLIC_URL")?
            .unwrap_or_else(|| format!("http://localhost:{port}")),
        product_name: vars.string_or("PRODUCT_NAME", "authkit"),
        require_verified_email: vars.bool("REQUIRE_VERIFIED_EMAIL", false),
        address_limit: vars.limit("RATE_LIMIT_MAIL_ADDRESS", "3/15m"),
        ip_limit: vars.limit("RATE_LIMIT_MAIL_IP", "20/15m"),
        reset_ttl: vars.positive_duration("PASSWORD_RESET_TTL", Duration::from_secs(30 * 60)),
        verify_ttl: vars.positive_duration("EMAIL_VERIFY_TTL", Duration::from_secs(24 * 3600)),
        sign_in_ttl: vars.positive_duration("EMAIL_SIGNIN_TTL", Duration::from_secs(15 * 60)),
        sign_up_by_email: vars.bool("EMAIL_SIGNUP", true),
    })
}

/// An `http(s)://` base URL, without its trailing slash.
fn http_url(vars: &Vars, var: &'static str) -> Result<Option<String>, ConfigError> {
    match vars.get(var) {
        None => Ok(None),
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
            Ok(Some(u.trim_end_matches('/').to_string()))
        }
        Some(u) => Err(bad(
            var,
            format!("must start with http:// or https://, got {u:?}"),
        )),
    }
}
