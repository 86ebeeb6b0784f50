//! The secrets a mail carries (docs/API.md, "Email: verification, password reset, email change"): a link token of 32 random bytes and a 6-digit
//! code for apps without deep links, and how each is stored. The token is unguessable, so its
//! SHA-256 is enough; a million codes could be enumerated from a plain hash, so a code is stored
//! as an HMAC under a key derived from the server secret, bound to its user and purpose.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::domain::REDACTED;
use crate::domain::mail::TokenPurpose;

type HmacSha256 = Hmac<Sha256>;

/// Hashes codes; holds a key derived from the server secret (never the secret itself).
pub struct CodeHasher {
    key: [u8; 32],
}

impl std::fmt::Debug for CodeHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeHasher")
            .field("key", &REDACTED)
            .finish()
    }
}

impl CodeHasher {
    pub fn new(secret: &[u8]) -> Self {
        // A key of its own, so a code hash says nothing about the JWT signing key.
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"authkit one-time codes v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    pub fn hash(&self, user_id: &str, purpose: TokenPurpose, code: &str) -> String {
        self.hash_labelled(user_id, purpose.as_str(), code)
    }

    /// A recovery code of the second factor, as typed (normalised here).
    pub fn hash_recovery_code(&self, user_id: &str, code: &str) -> String {
        let code = crate::security::totp::normalize_recovery_code(code);
        self.hash_labelled(user_id, "mfa_recovery", &code)
    }

    fn hash_labelled(&self, user_id: &str, label: &str, code: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in [user_id, label, code] {
            // Length-prefixed, so no two different triples hash the same input.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        hex(&mac.finalize().into_bytes())
    }
}

/// A fresh link token (base64url of 32 random bytes) and its stored hash.
pub fn new_link_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("OS random source");
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_link_token(&token);
    (token, hash)
}

pub fn hash_link_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A uniformly random 6-digit code (rejection sampling: no digit is likelier than another).
pub fn new_code() -> String {
    loop {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).expect("OS random source");
        let n = u32::from_be_bytes(bytes);
        // The largest multiple of 10^6 that fits in a u32.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// Whether `code` has the shape of a code (checked before any store work).
pub fn is_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_tokens_have_their_shape_and_hashes_bind_user_and_purpose() {
        let code = new_code();
        assert!(is_code(&code), "{code}");
        let (token, hash) = new_link_token();
        assert_eq!(token.len(), 43);
        assert_eq!(hash, hash_link_token(&token));
        assert_ne!(new_link_token().0, token);

        let hasher = CodeHasher::new(b"a secret of the server, long enough");
        let reset = hasher.hash("u1", TokenPurpose::PasswordReset, "123456");
        assert_eq!(
            reset,
            hasher.hash("u1", TokenPurpose::PasswordReset, "123456")
        );
        assert_ne!(
            reset,
            hasher.hash("u2", TokenPurpose::PasswordReset, "123456")
        );
        assert_ne!(
            reset,
            hasher.hash("u1", TokenPurpose::VerifyEmail, "123456")
        );
        let other = CodeHasher::new(b"another secret of the server, also long");
        assert_ne!(
            reset,
            other.hash("u1", TokenPurpose::PasswordReset, "123456")
        );
        assert!(!format!("{hasher:?}").contains(&format!("{:?}", hasher.key)));
    }
}
