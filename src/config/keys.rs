//! Keys: the one that seals secrets at rest, and how access tokens are signed (`JWT_ALG`) with
//! the lifecycle of the Ed25519 keys.

use std::time::Duration;

use super::vars::Vars;
use super::{ConfigError, Secret, bad};

/// The key that seals TOTP secrets and private signing keys at rest.
#[derive(Debug, Clone)]
pub struct EncryptionSettings {
    /// 32 bytes, base64 or hex; unset: generated under DATA_DIR in development, and the features
    /// that need it are off in production.
    pub key: Option<Secret>,
    /// Earlier keys, still used to open what they sealed.
    pub previous: Vec<Secret>,
}

pub(super) fn encryption(vars: &Vars) -> EncryptionSettings {
    EncryptionSettings {
        key: vars.get("ENCRYPTION_KEY").map(Secret::new),
        previous: vars
            .list("ENCRYPTION_KEYS_PREVIOUS")
            .into_iter()
            .map(Secret::new)
            .collect(),
    }
}

/// Which algorithm signs access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlg {
    /// HMAC-SHA256 under SECRET_KEY: only this server can verify.
    Hs256,
    /// Ed25519 keys kept in the store: anyone with the JWKS can verify.
    EdDsa,
}

/// Access-token signing (`JWT_ALG`) and, with EdDSA, the key lifecycle.
#[derive(Debug, Clone)]
pub struct SigningSettings {
    pub alg: JwtAlg,
    /// `Cache-Control: max-age` of the JWKS, and so how long a new key is published before it
    /// signs (verifiers may hold the previous key set that long).
    pub jwks_max_age: Duration,
    /// Rotate when the active key is this old; unset: only by hand.
    pub rotation_interval: Option<Duration>,
}

pub(super) fn signing(vars: &Vars) -> Result<SigningSettings, ConfigError> {
    // Case matters here: these are the names the JOSE headers carry.
    let alg = match vars.get("JWT_ALG").as_deref() {
        None | Some("HS256") => JwtAlg::Hs256,
        Some("EdDSA") => JwtAlg::EdDsa,
        Some(other) => {
            return Err(bad(
                "JWT_ALG",
                format!("expected HS256 or EdDSA, got {other:?}"),
            ));
        }
    };
    let jwks_max_age = vars.positive_duration("JWKS_MAX_AGE", Duration::from_secs(300));
    if jwks_max_age > Duration::from_secs(24 * 3600) {
        return Err(bad("JWKS_MAX_AGE", "must be at most 24 hours"));
    }
    // Unset: no schedule. Set, it must be a positive duration.
    let rotation_interval = vars
        .get("KEY_ROTATION_INTERVAL")
        .map(|_| vars.positive_duration("KEY_ROTATION_INTERVAL", Duration::ZERO));
    Ok(SigningSettings {
        alg,
        jwks_max_age,
        rotation_interval,
    })
}
