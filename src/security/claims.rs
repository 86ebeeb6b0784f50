//! What a token says: the claims of access and refresh tokens, and why one was refused. Shared by
//! the signer (`jwt`) and the cache of verified tokens (`token_cache`), which must not depend on
//! each other.

use serde::{Deserialize, Serialize};

use crate::domain::Amr;

fn no_methods(amr: &Amr) -> bool {
    amr.is_empty()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The claims of both token types; `jti` is present on refresh tokens only.
#[derive(Clone, Serialize, Deserialize)]
pub struct Claims {
    pub uid: String,
    pub sid: String,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// How the session was signed in (RFC 8176): `["pwd"]`, `["pwd", "otp"]`, `["mail"]`, ...
    /// On access tokens.
    #[serde(default, skip_serializing_if = "no_methods")]
    pub amr: Amr,
    /// When the session's user last signed in (seconds since the epoch). On access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The session's active organization (`POST /api/v1/user/active-org`), on both token types:
    /// the refresh token carries it through refreshes, each of which checks the membership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// The caller's role in it (`owner`, `admin`, `member`), on access tokens, as of issuing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_role: Option<String>,
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("uid", &self.uid)
            .field("sid", &self.sid)
            .field("token_type", &self.token_type)
            .field("jti", &self.jti.as_ref().map(|_| crate::domain::REDACTED))
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .field("iss", &self.iss)
            .field("aud", &self.aud)
            .field("amr", &self.amr)
            .field("auth_time", &self.auth_time)
            .field("org_id", &self.org_id)
            .field("org_role", &self.org_role)
            .finish()
    }
}

/// Why a token was refused. Clients only ever see "invalid or expired token".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
    #[error("wrong token type")]
    WrongType,
    /// Signed under a kid this instance does not know: perhaps a key another instance made
    /// since the last reload (worth one reload), perhaps a forgery.
    #[error("unknown signing key")]
    UnknownKey,
    /// `JWT_ALG=EdDSA` and the keys are not loaded yet (the database has not answered).
    #[error("signing keys not loaded")]
    NoKeys,
}
