//! A key that signs access tokens when `JWT_ALG=EdDSA` (docs/API.md, "Signing keys and JWKS").
//!
//! A key lives through three states, each entered by one conditional write:
//! - `next`: published in the JWKS but not signing yet, so every verifier's cached key set holds
//!   it before the first token it signs;
//! - `active`: signs new access tokens (the newest active key, should a crash leave two);
//! - `retired`: signs nothing (its private key is erased), still verifies and stays published
//!   until `publish_until`, when the last token it signed has expired.
//!
//! Records are never deleted: a retired key is a few hundred bytes of public data, and the
//! oldest record dates the switch from HS256, which bounds how long HS256 tokens still verify.

use chrono::{DateTime, Utc};

use crate::domain::REDACTED;

/// The only algorithm of stored keys today; the field exists so records say what they are.
pub const ED25519_ALG: &str = "EdDSA";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Active,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "next" => Some(Self::Next),
            "active" => Some(Self::Active),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

#[derive(Clone, PartialEq)]
pub struct SigningKey {
    /// The RFC 7638 thumbprint of the public key: stable, and the same wherever it is computed.
    pub kid: String,
    /// Order of creation, unique: of two instances creating "the next key" at once, one wins.
    pub seq: i64,
    pub alg: String,
    /// The raw Ed25519 public key, base64url (the JWK's `x`).
    pub public_key: String,
    /// The 32-byte seed, sealed under ENCRYPTION_KEY with the kid as associated data; `None`
    /// once retired.
    pub private_key: Option<String>,
    pub state: KeyState,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    /// A retired key verifies, and is published, until then.
    pub publish_until: Option<DateTime<Utc>>,
}

impl SigningKey {
    /// Whether tokens signed by this key are still accepted (and the key published) at `now`.
    pub fn verifies_at(&self, now: DateTime<Utc>) -> bool {
        match self.state {
            KeyState::Next | KeyState::Active => true,
            KeyState::Retired => self.publish_until.is_some_and(|until| until > now),
        }
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("seq", &self.seq)
            .field("alg", &self.alg)
            .field("public_key", &self.public_key)
            .field("private_key", &self.private_key.as_ref().map(|_| REDACTED))
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .field("activated_at", &self.activated_at)
            .field("retired_at", &self.retired_at)
            .field("publish_until", &self.publish_until)
            .finish()
    }
}
