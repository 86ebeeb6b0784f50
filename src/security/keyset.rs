//! The Ed25519 keys of `JWT_ALG=EdDSA` as one instance holds them: built from the store's
//! `signing_keys` records, replaced whole when they change (see `service::signing_keys`).
//!
//! A [`KeySet`] never changes once built, so a request verifies against one consistent view,
//! and its `generation` tells the verified-token cache which view an entry was checked against.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::{SigningKey as Ed25519Secret, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::domain::signing_key::{ED25519_ALG, KeyState, SigningKey};
use crate::security::encryption::Keyring;

/// What a sealed private key is bound to, beside its kid: it opens for no other record.
fn sealing_owner(kid: &str) -> String {
    format!("signing_key:{kid}")
}

#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    #[error("no active signing key in the store")]
    NoActiveKey,
    #[error("signing key {kid}: {problem}")]
    BadKey { kid: String, problem: String },
}

/// A new key record: a fresh Ed25519 key, its seed sealed under the keyring.
pub fn generate(seq: i64, state: KeyState, keyring: &Keyring, now: DateTime<Utc>) -> SigningKey {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("OS random source");
    let secret = Ed25519Secret::from_bytes(&seed);
    let public_key = URL_SAFE_NO_PAD.encode(secret.verifying_key().as_bytes());
    let kid = thumbprint(&public_key);
    let sealed = keyring.seal(&seed, &sealing_owner(&kid));
    SigningKey {
        private_key: Some(sealed),
        seq,
        alg: ED25519_ALG.into(),
        public_key,
        state,
        created_at: now,
        activated_at: (state == KeyState::Active).then_some(now),
        retired_at: None,
        publish_until: None,
        kid,
    }
}

/// RFC 7638 JWK thumbprint of an Ed25519 public key (RFC 8037, section 2): the SHA-256 of the
/// required members in lexicographic order, without spaces.
pub fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The key that signs this instance's access tokens.
pub struct Signer {
    pub kid: String,
    pub key: Ed25519Secret,
    /// `{"alg":"EdDSA","typ":"JWT","kid":...}`, base64url: the header of every token it signs.
    pub header: String,
}

pub struct Verifier {
    pub key: VerifyingKey,
    /// A retired key verifies until then; `None` while next or active.
    pub until: Option<DateTime<Utc>>,
}

impl Verifier {
    pub fn verifies_at(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| until > now)
    }
}

pub struct KeySet {
    /// Unique to this set within the process.
    pub generation: u64,
    pub signer: Signer,
    verifiers: HashMap<String, Verifier>,
    /// Published keys as a JWK Set, serialised once.
    pub jwks: String,
    /// The kid of the oldest `next` key, if any.
    pub next_kid: Option<String>,
    /// HS256 access tokens still verify if they expire by then: those issued before the first
    /// key existed, i.e. before the switch from HS256.
    pub hs256_until: DateTime<Utc>,
    /// What the set was built from, to tell whether a reload changed anything.
    pub fingerprint: Vec<(String, KeyState, Option<DateTime<Utc>>)>,
}

static GENERATIONS: AtomicU64 = AtomicU64::new(1);

impl KeySet {
    /// The set the records describe at `now`. Signs with the newest active key (two can exist
    /// only after an interrupted rotation); publishes and accepts every key that
    /// [`SigningKey::verifies_at`] `now`.
    pub fn build(
        records: &[SigningKey],
        keyring: &Keyring,
        access_ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Self, KeySetError> {
        let active = records
            .iter()
            .filter(|k| k.state == KeyState::Active && k.private_key.is_some())
            .max_by_key(|k| (k.activated_at, k.seq))
            .ok_or(KeySetError::NoActiveKey)?;
        let signer = open_signer(active, keyring)?;

        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        for record in records.iter().filter(|k| k.verifies_at(now)) {
            let key = verifying_key(record)?;
            let until = (record.state == KeyState::Retired)
                .then_some(record.publish_until)
                .flatten();
            verifiers.insert(record.kid.clone(), Verifier { key, until });
            jwks.push(serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": ED25519_ALG,
                "use": "sig",
                "kid": record.kid,
                "x": record.public_key,
            }));
        }
        let first_created = records.iter().map(|k| k.created_at).min().unwrap_or(now);
        Ok(Self {
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
            signer,
            verifiers,
            jwks: serde_json::json!({ "keys": jwks }).to_string(),
            next_kid: records
                .iter()
                .find(|k| k.state == KeyState::Next)
                .map(|k| k.kid.clone()),
            hs256_until: first_created + access_ttl,
            fingerprint: fingerprint(records),
        })
    }

    pub fn verifier(&self, kid: &str) -> Option<&Verifier> {
        self.verifiers.get(kid)
    }

    /// When the first published retired key stops verifying: the JWKS must be rebuilt then.
    pub fn stale_at(&self) -> Option<DateTime<Utc>> {
        self.verifiers.values().filter_map(|v| v.until).min()
    }
}

/// The part of the records a key set depends on (beside time).
pub fn fingerprint(records: &[SigningKey]) -> Vec<(String, KeyState, Option<DateTime<Utc>>)> {
    records
        .iter()
        .map(|k| (k.kid.clone(), k.state, k.publish_until))
        .collect()
}

fn bad(record: &SigningKey, problem: impl Into<String>) -> KeySetError {
    KeySetError::BadKey {
        kid: record.kid.clone(),
        problem: problem.into(),
    }
}

fn verifying_key(record: &SigningKey) -> Result<VerifyingKey, KeySetError> {
    if record.alg != ED25519_ALG {
        return Err(bad(record, format!("unknown algorithm {:?}", record.alg)));
    }
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(&record.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad(record, "public key is not 32 bytes of base64url"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| bad(record, "public key is not a curve point"))
}

fn open_signer(record: &SigningKey, keyring: &Keyring) -> Result<Signer, KeySetError> {
    let sealed = record.private_key.as_deref().unwrap_or_default();
    let seed: [u8; 32] = keyring
        .open(sealed, &sealing_owner(&record.kid))
        .map_err(|e| bad(record, format!("private key cannot be opened: {e}")))?
        .try_into()
        .map_err(|_| bad(record, "private key is not a 32-byte seed"))?;
    let key = Ed25519Secret::from_bytes(&seed);
    if URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()) != record.public_key {
        return Err(bad(record, "private key does not match the public key"));
    }
    let header = serde_json::json!({ "alg": ED25519_ALG, "typ": "JWT", "kid": record.kid });
    Ok(Signer {
        kid: record.kid.clone(),
        key,
        header: URL_SAFE_NO_PAD.encode(header.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037, appendix A.3: the thumbprint of its example key.
    #[test]
    fn thumbprint_matches_the_rfc_example() {
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn a_set_signs_with_the_newest_active_key_and_publishes_what_verifies() {
        let keyring = Keyring::of(&[1; 32], &[]);
        let now = Utc::now();
        let ttl = Duration::minutes(15);
        let mut old = generate(1, KeyState::Active, &keyring, now - Duration::hours(2));
        let active = generate(2, KeyState::Active, &keyring, now - Duration::hours(1));
        let next = generate(3, KeyState::Next, &keyring, now);
        let mut expired = generate(0, KeyState::Retired, &keyring, now - Duration::days(9));
        expired.publish_until = Some(now);
        expired.private_key = None;

        let set = KeySet::build(
            &[expired.clone(), old.clone(), active.clone(), next.clone()],
            &keyring,
            ttl,
            now,
        )
        .unwrap();
        assert_eq!(set.signer.kid, active.kid);
        assert_eq!(set.next_kid.as_deref(), Some(next.kid.as_str()));
        assert!(set.verifier(&old.kid).is_some() && set.verifier(&next.kid).is_some());
        assert!(set.verifier(&expired.kid).is_none(), "retired and expired");
        let jwks: serde_json::Value = serde_json::from_str(&set.jwks).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 3);
        assert!(!set.jwks.contains("sealed") && !set.jwks.contains("v1."));
        assert_eq!(set.hs256_until, expired.created_at + ttl);

        // A sealed key opens only for its own record.
        old.private_key = active.private_key.clone();
        old.activated_at = Some(now);
        assert!(matches!(
            KeySet::build(&[old], &keyring, ttl, now),
            Err(KeySetError::BadKey { .. })
        ));
        assert!(matches!(
            KeySet::build(&[next], &keyring, ttl, now),
            Err(KeySetError::NoActiveKey)
        ));
    }
}
