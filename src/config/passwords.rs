//! What a new password must not be: one of the most common (a list compiled into the binary),
//! and, when asked for, one a breach service knows.

use std::time::Duration;

use super::vars::Vars;
use super::{ConfigError, bad};

#[derive(Debug, Clone)]
pub struct PasswordSettings {
    /// Refuse new passwords found in the built-in list of common breached passwords.
    pub common_check: bool,
    /// Look new passwords up in a Pwned Passwords range API; `None`: off.
    pub breach_check: Option<BreachCheck>,
}

/// The Pwned Passwords range API (`PASSWORD_BREACH_CHECK=pwned`).
#[derive(Debug, Clone)]
pub struct BreachCheck {
    /// Base URL; `/range/{first five hex digits of the SHA-1}` is appended.
    pub url: String,
    /// A slower answer counts as no answer: the password is accepted.
    pub timeout: Duration,
}

pub(super) fn read(vars: &Vars) -> Result<PasswordSettings, ConfigError> {
    let breach_check = match vars.choice(
        "PASSWORD_BREACH_CHECK",
        false,
        &[("off", false), ("pwned", true)],
    ) {
        false => None,
        true => {
            let url = vars
                .string_or(
                    "PASSWORD_BREACH_CHECK_URL",
                    "https://api.pwnedpasswords.com",
                )
                .trim_end_matches('/')
                .to_string();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(bad(
                    "PASSWORD_BREACH_CHECK_URL",
                    format!("must start with https:// or http://, got {url:?}"),
                ));
            }
            let timeout =
                vars.positive_duration("PASSWORD_BREACH_CHECK_TIMEOUT", Duration::from_secs(2));
            if timeout > Duration::from_secs(10) {
                return Err(bad(
                    "PASSWORD_BREACH_CHECK_TIMEOUT",
                    "must be at most 10 seconds: a registration waits for it",
                ));
            }
            Some(BreachCheck { url, timeout })
        }
    };
    Ok(PasswordSettings {
        common_check: vars.bool("PASSWORD_COMMON_CHECK", true),
        breach_check,
    })
}
