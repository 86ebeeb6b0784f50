//! Encryption at rest for the secrets the server must read back (TOTP secrets): XChaCha20-Poly1305
//! under `ENCRYPTION_KEY`, a key of its own, so that rotating `SECRET_KEY` (which signs tokens)
//! leaves stored secrets readable. Each sealed value names the id of its key, and
//! `ENCRYPTION_KEYS_PREVIOUS` keeps old keys for reading, so the key itself can be rotated too.
//! The owner's id is bound in as associated data: a value copied onto another account does not
//! open.
//!
//! Sealed form: `v1.<key id>.<nonce, base64url>.<ciphertext, base64url>`.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::domain::REDACTED;

const KEY_FILE: &str = "encryption_key";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl Key {
    fn new(bytes: &[u8]) -> Self {
        // The id tells keys apart without revealing them: 8 bytes of the key's SHA-256.
        let digest = Sha256::digest(bytes);
        Self {
            id: digest[..8].iter().map(|b| format!("{b:02x}")).collect(),
            cipher: XChaCha20Poly1305::new_from_slice(bytes).expect("a 32-byte key"),
        }
    }
}

/// The current key (sealing and opening) and previous ones (opening only).
pub struct Keyring {
    current: Key,
    previous: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field("keys", &REDACTED)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("sealed with key {0}, which is not configured (ENCRYPTION_KEYS_PREVIOUS?)")]
    UnknownKey(String),
    #[error("not a sealed value, or altered, or sealed for another owner")]
    Invalid,
}

impl Keyring {
    /// `ENCRYPTION_KEY` (and `ENCRYPTION_KEYS_PREVIOUS`) when set; in development, a key made
    /// once under DATA_DIR; in production without it, none (the features that need it answer
    /// 503 and say so).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Self>> {
        let current = match &settings.encryption.key {
            Some(text) => decode_key("ENCRYPTION_KEY", text.expose())?,
            None if settings.is_production() => return Ok(None),
            None => load_or_create(&settings.store.data_dir.join(KEY_FILE))?,
        };
        let previous = settings
            .encryption
            .previous
            .iter()
            .map(|k| decode_key("ENCRYPTION_KEYS_PREVIOUS", k.expose()).map(|b| Key::new(&b)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Some(Self {
            current: Key::new(&current),
            previous,
        }))
    }

    #[cfg(test)]
    pub(crate) fn of(current: &[u8], previous: &[&[u8]]) -> Self {
        Self {
            current: Key::new(current),
            previous: previous.iter().map(|k| Key::new(k)).collect(),
        }
    }

    pub fn seal(&self, plaintext: &[u8], owner: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("OS random source");
        let sealed = self
            .current
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: owner.as_bytes(),
                },
            )
            .expect("encryption of a small value cannot fail");
        format!(
            "v1.{}.{}.{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(sealed)
        )
    }

    pub fn open(&self, sealed: &str, owner: &str) -> Result<Vec<u8>, OpenError> {
        let mut parts = sealed.split('.');
        let (Some("v1"), Some(id), Some(nonce), Some(body), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(OpenError::Invalid);
        };
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| OpenError::UnknownKey(id.to_string()))?;
        let nonce: [u8; NONCE_LEN] = URL_SAFE_NO_PAD
            .decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(OpenError::Invalid)?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::Invalid)?;
        key.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &body,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Invalid)
    }
}

/// A key as configured: 32 bytes, base64 (standard or URL-safe) or 64 hex digits.
fn decode_key(var: &str, text: &str) -> anyhow::Result<Vec<u8>> {
    let text = text.trim();
    let bytes = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..KEY_LEN)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| {
                anyhow::anyhow!(
                    "{var}: not 64 hex digits nor base64 ({} characters); make one with \
                     openssl rand -base64 32",
                    text.len()
                )
            })?
    };
    if bytes.len() != KEY_LEN {
        bail!(
            "{var}: must be {KEY_LEN} bytes, e.g. {var}=\"$(openssl rand -base64 32)\", got {}",
            bytes.len()
        );
    }
    Ok(bytes)
}

/// The development key: read from `path`, or made and written there (owner-only) the first time.
fn load_or_create(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(text) = fs::read_to_string(path) {
        return decode_key("DATA_DIR/encryption_key", &text);
    }
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    if let Some(dir) = path.parent() {
        crate::files::private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(STANDARD.encode(key).as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a development encryption key");
            Ok(key.to_vec())
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            decode_key("DATA_DIR/encryption_key", &fs::read_to_string(path)?)
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_owner_and_survive_a_key_rotation() {
        let old = Keyring::of(&[1; 32], &[]);
        let sealed = old.seal(b"JBSWY3DPEHPK3PXP", "user-1");
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(old.open(&sealed, "user-1").unwrap(), b"JBSWY3DPEHPK3PXP");
        assert!(matches!(
            old.open(&sealed, "user-2"),
            Err(OpenError::Invalid)
        ));
        let mut altered = sealed.clone();
        altered.replace_range(altered.len() - 2.., "AA");
        assert!(matches!(
            old.open(&altered, "user-1"),
            Err(OpenError::Invalid)
        ));

        let rotated = Keyring::of(&[2; 32], &[&[1; 32]]);
        assert_eq!(
            rotated.open(&sealed, "user-1").unwrap(),
            b"JBSWY3DPEHPK3PXP"
        );
        let resealed = rotated.seal(b"x", "user-1");
        assert!(matches!(
            old.open(&resealed, "user-1"),
            Err(OpenError::UnknownKey(_))
        ));
        assert!(!format!("{rotated:?}").contains("[2, 2"));
    }

    #[test]
    fn keys_are_32_bytes_of_base64_or_hex() {
        assert!(decode_key("K", &STANDARD.encode([7u8; 32])).is_ok());
        assert!(decode_key("K", &"ab".repeat(32)).is_ok());
        assert!(decode_key("K", "short").is_err());
        assert!(decode_key("K", &STANDARD.encode([7u8; 16])).is_err());
    }
}
