//! Tokens, sessions and the refresh cookie: the signing secret, lifetimes, the rotation grace,
//! the claims other services check, and the cookie's SameSite.

use std::time::Duration;

use super::vars::Vars;
use super::{Environment, Secret, bad};

/// Minimum length of SECRET_KEY in bytes (HS256 wants at least its 256-bit output size).
pub const MIN_SECRET_LEN: usize = 32;

/// The refresh cookie's SameSite attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// The JWT signing key as configured; see `security::secret` for the development fallback.
    pub secret_key: Option<Secret>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long after a rotation the previous refresh token is answered instead of treated as theft.
    pub refresh_grace: Duration,
    /// Absolute lifetime of a session from its login: refreshing never extends it past this.
    pub session_max_lifetime: Duration,
    pub cookie_samesite: SameSite,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// How recent a sign-in must be for a sensitive change on an account without a password.
    pub reauth_window: Duration,
}

/// Never fails: each problem is reported through `vars` (SECRET_KEY is the one most often met,
/// so it must not hide the others).
pub(super) fn read(vars: &Vars, environment: Environment) -> TokenSettings {
    let access_ttl = vars.positive_duration("ACCESS_TOKEN_TTL", Duration::from_secs(15 * 60));
    let refresh_ttl = vars.duration("REFRESH_TOKEN_TTL", Duration::from_secs(30 * 24 * 3600));
    if refresh_ttl <= access_ttl {
        vars.report(bad(
            "REFRESH_TOKEN_TTL",
            "must be longer than ACCESS_TOKEN_TTL",
        ));
    }
    let refresh_grace = vars.duration("REFRESH_GRACE_PERIOD", Duration::from_secs(10));
    if refresh_grace > Duration::from_secs(300) {
        vars.report(bad("REFRESH_GRACE_PERIOD", "must be at most 5 minutes"));
    }
    TokenSettings {
        secret_key: secret_key(vars, environment),
        access_ttl,
        refresh_ttl,
        refresh_grace,
        session_max_lifetime: vars
            .positive_duration("SESSION_MAX_LIFETIME", Duration::from_secs(90 * 24 * 3600)),
        cookie_samesite: cookie_samesite(vars, environment),
        jwt_issuer: vars.get("JWT_ISSUER"),
        jwt_audience: vars.get("JWT_AUDIENCE"),
        reauth_window: vars.positive_duration("REAUTH_WINDOW", Duration::from_secs(10 * 60)),
    }
}

/// Production refuses to start without a long key: a generated one would differ per instance.
fn secret_key(vars: &Vars, environment: Environment) -> Option<Secret> {
    let key = vars.get("SECRET_KEY");
    if environment == Environment::Production {
        let flaw = match &key {
            None => Some(
                "required when ENVIRONMENT=production (the container's default): set at least 32 \
                 random bytes, e.g. SECRET_KEY=\"$(openssl rand -base64 48)\""
                    .to_string(),
            ),
            Some(k) if k.len() < MIN_SECRET_LEN => Some(format!(
                "must be at least {MIN_SECRET_LEN} bytes in production"
            )),
            Some(k) => obviously_guessable(k).map(|flaw| {
                format!("{flaw}: use random bytes, e.g. SECRET_KEY=\"$(openssl rand -base64 48)\"")
            }),
        };
        if let Some(flaw) = flaw {
            vars.report(bad("SECRET_KEY", flaw));
            return None;
        }
    }
    key.map(Secret::new)
}

/// Fewer than this many different characters is no random key, whatever its length.
const MIN_DISTINCT_CHARS: usize = 8;

/// What makes a key obviously not random: few different characters (`kkkk...`), or one short
/// pattern repeated (`abcdefghabcdefgh...`). Not an entropy estimate, which random keys of
/// ordinary lengths can fail; only the keys nobody should be running with.
fn obviously_guessable(key: &str) -> Option<&'static str> {
    let bytes = key.as_bytes();
    let mut seen = [false; 256];
    let distinct = bytes
        .iter()
        .filter(|&&b| !std::mem::replace(&mut seen[b as usize], true))
        .count();
    if distinct < MIN_DISTINCT_CHARS {
        return Some("has too few different characters to be random");
    }
    let repeats = |period: usize| (period..bytes.len()).all(|i| bytes[i] == bytes[i - period]);
    if (1..=bytes.len() / 2).any(repeats) {
        return Some("repeats a short pattern");
    }
    None
}

fn cookie_samesite(vars: &Vars, environment: Environment) -> SameSite {
    let samesite = vars.choice(
        "COOKIE_SAMESITE",
        SameSite::Lax,
        &[
            ("lax", SameSite::Lax),
            ("strict", SameSite::Strict),
            ("none", SameSite::None),
        ],
    );
    if samesite == SameSite::None && environment != Environment::Production {
        // Browsers reject SameSite=None without Secure, and Secure is only set in production.
        vars.report(bad(
            "COOKIE_SAMESITE",
            "none requires ENVIRONMENT=production (Secure cookies)",
        ));
        return SameSite::Lax;
    }
    samesite
}
