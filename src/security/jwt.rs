//! Access and refresh tokens: JWTs signed with HMAC-SHA256 (HS256) under SECRET_KEY, or, with
//! `JWT_ALG=EdDSA`, access tokens signed with Ed25519 keys from the store (see `keyset`).
//!
//! HS256 is built on `hmac` and `sha2` directly rather than on a general JWT library.
//! Verification runs on every authenticated request, and a general library's path (parsing the
//! header and the claims twice each, setting up the HMAC key for every token) measured as a
//! quarter of that request's cost; the key schedule here is computed once. The rules:
//! - the header's `alg` decides nothing by itself: each algorithm is accepted only where this
//!   server issues it, with its own key (so `none`, an HS256 token "signed" with our public key,
//!   or an EdDSA token under an unknown or expired `kid` are refused), and `crit` is refused (no
//!   extension is understood);
//! - `exp` is required and exact (one clock issues and checks; no leeway); `iss` and `aud` are
//!   required and compared when configured;
//! - the `type` claim keeps a refresh token out of `Authorization` and the reverse.
//!
//! Refresh tokens stay HS256 under both settings, as Keycloak's do: only this server ever reads
//! them, their authority is the session record they name, and so switching `JWT_ALG` or
//! rotating keys never logs anybody out.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer as _};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::domain::org::ActiveOrg;
use crate::domain::{Amr, Authentication};
pub use crate::security::claims::{Claims, TokenError, TokenType};
use crate::security::keyset::KeySet;
use crate::security::token_cache::VerifiedTokens;

type HmacSha256 = Hmac<Sha256>;

/// `{"alg":"HS256","typ":"JWT"}`, base64url: the header of every HS256 token this server issues.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Longer tokens are refused unread; ours are a few hundred bytes.
const MAX_TOKEN_LEN: usize = 4096;

/// The header fields that matter; any others (`typ`) are ignored.
#[derive(Deserialize)]
struct Header<'a> {
    alg: &'a str,
    kid: Option<&'a str>,
    crit: Option<serde::de::IgnoredAny>,
}

/// Signs and verifies the server's tokens.
pub struct TokenKeys {
    /// Keyed once; each token clones it rather than hashing the key again.
    mac: HmacSha256,
    issuer: Option<String>,
    audience: Option<String>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// With `JWT_ALG=EdDSA`: the key set access tokens are signed and verified with.
    ed25519: Option<Ed25519Tokens>,
    /// Access tokens that passed the full check, under either algorithm (see `token_cache`).
    verified: VerifiedTokens,
}

/// Under HS256 the key never changes while the process runs: one generation for its lifetime.
const HS256_GENERATION: u64 = 0;

struct Ed25519Tokens {
    /// `None` until first loaded from the store; then replaced whole on each change.
    keys: RwLock<Option<Arc<KeySet>>>,
    /// When a token's unknown kid last caused a reload.
    unknown_kid_reload: Mutex<Option<Instant>>,
}

impl TokenKeys {
    pub fn new(
        secret: &[u8],
        access_ttl: Duration,
        refresh_ttl: Duration,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Self {
        Self {
            mac: HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length"),
            issuer,
            audience,
            access_ttl,
            refresh_ttl,
            ed25519: None,
            verified: VerifiedTokens::default(),
        }
    }

    /// Signs access tokens with the Ed25519 key set [`TokenKeys::install`] gives it.
    pub fn with_ed25519(mut self) -> Self {
        self.ed25519 = Some(Ed25519Tokens {
            keys: RwLock::new(None),
            unknown_kid_reload: Mutex::new(None),
        });
        self
    }

    pub fn uses_ed25519(&self) -> bool {
        self.ed25519.is_some()
    }

    /// The key set in use, if `JWT_ALG=EdDSA` and it is loaded.
    pub fn key_set(&self) -> Option<Arc<KeySet>> {
        let ed = self.ed25519.as_ref()?;
        ed.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether a reload for an unknown kid may happen now: none has in the last `gap`. Claims
    /// the slot, so of racing requests one reloads.
    pub fn claim_unknown_kid_reload(&self, gap: Duration) -> bool {
        let Some(ed) = &self.ed25519 else {
            return false;
        };
        let mut last = ed
            .unknown_kid_reload
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < gap) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// How many verified tokens are remembered (for tests and metrics).
    pub fn cached_tokens(&self) -> usize {
        self.verified.len()
    }

    /// Replaces the key set (HS256: ignored). The verified-token cache is emptied: its entries
    /// belong to the old set's generation and would all miss anyway.
    pub fn install(&self, set: KeySet) {
        if let Some(ed) = &self.ed25519 {
            *ed.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(set));
            self.verified.clear();
        }
    }

    /// A signed access token of a session signed in as `authentication` says (`amr`,
    /// `auth_time`).
    pub fn issue_access(
        &self,
        uid: &str,
        sid: &str,
        authentication: Authentication,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        self.issue_access_in(uid, sid, authentication, None, now)
    }

    /// [`Self::issue_access`] for a session acting in an organization (`org_id`, `org_role`).
    pub fn issue_access_in(
        &self,
        uid: &str,
        sid: &str,
        authentication: Authentication,
        org: Option<&ActiveOrg>,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let mut claims = self.claims(uid, sid, TokenType::Access, None, now, self.access_ttl);
        claims.amr = authentication.amr;
        claims.auth_time = Some(authentication.at.timestamp());
        if let Some(org) = org {
            claims.org_id = Some(org.id.clone());
            claims.org_role = Some(org.role.as_str().to_string());
        }
        match &self.ed25519 {
            None => Ok(self.encode_hs256(&claims)),
            Some(_) => {
                let keys = self.key_set().ok_or(TokenError::NoKeys)?;
                let signer = &keys.signer;
                let mut token = format!("{}.", signer.header);
                encode_claims(&claims, &mut token);
                let signature = signer.key.sign(token.as_bytes());
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
                Ok(token)
            }
        }
    }

    /// A signed refresh token bound to the session's current `jti`, expiring at `expires_at`.
    pub fn issue_refresh(
        &self,
        uid: &str,
        sid: &str,
        jti: &str,
        amr: Amr,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> String {
        let ttl = (expires_at - now).to_std().unwrap_or_default();
        let jti = Some(jti.to_string());
        let mut claims = self.claims(uid, sid, TokenType::Refresh, jti, now, ttl);
        // For a native client to read; a refresh itself reads it from the session.
        claims.amr = amr;
        self.encode_hs256(&claims)
    }

    /// [`Self::issue_refresh`] carrying the session's active organization through refreshes.
    pub fn issue_refresh_in(
        &self,
        uid: &str,
        sid: &str,
        jti: &str,
        amr: Amr,
        org_id: Option<&str>,
        (now, expires_at): (DateTime<Utc>, DateTime<Utc>),
    ) -> String {
        let ttl = (expires_at - now).to_std().unwrap_or_default();
        let mut claims = self.claims(
            uid,
            sid,
            TokenType::Refresh,
            Some(jti.to_string()),
            now,
            ttl,
        );
        claims.amr = amr;
        claims.org_id = org_id.map(str::to_string);
        self.encode_hs256(&claims)
    }

    fn claims(
        &self,
        uid: &str,
        sid: &str,
        token_type: TokenType,
        jti: Option<String>,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Claims {
        Claims {
            uid: uid.to_string(),
            sid: sid.to_string(),
            token_type,
            jti,
            iat: now.timestamp(),
            exp: expiry(now, ttl),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            amr: Amr::default(),
            auth_time: None,
            org_id: None,
            org_role: None,
        }
    }

    fn encode_hs256(&self, claims: &Claims) -> String {
        let mut token = format!("{HEADER}.");
        encode_claims(claims, &mut token);
        let signature = self.signature(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        token
    }

    /// HMAC-SHA256 of the signing input (`header.payload`).
    fn signature(&self, signing_input: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(signing_input);
        mac.finalize().into_bytes().into()
    }

    /// Verifies signature, algorithm, expiry, issuer/audience when configured, and the type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, TokenError> {
        self.verify_at(token, expected, Utc::now())
    }

    fn verify_at(
        &self,
        token: &str,
        expected: TokenType,
        now: DateTime<Utc>,
    ) -> Result<Claims, TokenError> {
        let claims = match expected {
            TokenType::Access => self.access_claims(token, now)?,
            TokenType::Refresh => self.verified_claims(token, now)?,
        };
        if claims.token_type != expected {
            return Err(TokenError::WrongType);
        }
        if expected == TokenType::Refresh && claims.jti.is_none() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }

    /// An HS256 token under SECRET_KEY.
    fn verified_claims(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        use TokenError::Invalid;
        if token.len() > MAX_TOKEN_LEN {
            return Err(Invalid);
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or(Invalid)?;
        // A fourth segment would stay in `payload`, where '.' cannot be decoded.
        let (header, payload) = signing_input.split_once('.').ok_or(Invalid)?;

        // Room for more than a SHA-256 tag, so a longer signature decodes and then fails.
        let mut tag = [0u8; 64];
        let len = URL_SAFE_NO_PAD
            .decode_slice(signature, &mut tag)
            .map_err(|_| Invalid)?;
        let mut mac = self.mac.clone();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&tag[..len]).map_err(|_| Invalid)?;

        // Every token this server issues carries the same header; anything else is read.
        if header != HEADER && !matches!(read_header(header)?, SignedWith::Hs256) {
            return Err(Invalid);
        }
        self.checked_claims(payload, now)
    }

    /// The claims of a token presented as an access token: from the verified-token cache when
    /// this very token passed the full check before (and is still within its `exp` and its
    /// key's validity), else from the full check, whose success is remembered.
    fn access_claims(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        let keys = (self.ed25519.as_ref())
            .map(|_| self.key_set().ok_or(TokenError::NoKeys))
            .transpose()?;
        let generation = keys.as_ref().map_or(HS256_GENERATION, |k| k.generation);
        if let Some(claims) = self.verified.get(token, generation, now) {
            return Ok(claims);
        }
        let (claims, key_until) = match &keys {
            None => (self.verified_claims(token, now)?, None),
            Some(keys) => self.verified_access(keys, token, now)?,
        };
        if claims.token_type == TokenType::Access {
            self.verified.insert(token, &claims, generation, key_until);
        }
        Ok(claims)
    }

    /// An access token under `JWT_ALG=EdDSA`: Ed25519 under a key of the set, or HS256 issued
    /// before the switch from HS256 (until those have expired). With the end of the verifying
    /// key's validity (none for HS256: such a token is bounded by its `exp`, checked here).
    fn verified_access(
        &self,
        keys: &KeySet,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(Claims, Option<DateTime<Utc>>), TokenError> {
        use TokenError::Invalid;
        let (signing_input, signature) = token.rsplit_once('.').ok_or(Invalid)?;
        let (header, payload) = signing_input.split_once('.').ok_or(Invalid)?;
        let kid = match read_header(header)? {
            SignedWith::Ed25519 { kid } => kid,
            SignedWith::Hs256 => {
                let claims = self.verified_claims(token, now)?;
                // Rounded up as `exp` is (see `expiry`): a token issued just before the first key
                // was made ends in the same whole second at the latest.
                let until = keys.hs256_until;
                if claims.exp > until.timestamp() + i64::from(until.timestamp_subsec_nanos() > 0) {
                    return Err(Invalid);
                }
                return Ok((claims, None));
            }
        };
        let verifier = keys.verifier(&kid).ok_or(TokenError::UnknownKey)?;
        if !verifier.verifies_at(now) {
            return Err(Invalid);
        }
        let mut signature_bytes = [0u8; 64];
        let len = URL_SAFE_NO_PAD
            .decode_slice(signature, &mut signature_bytes)
            .map_err(|_| Invalid)?;
        if len != signature_bytes.len() {
            return Err(Invalid);
        }
        verifier
            .key
            .verify_strict(
                signing_input.as_bytes(),
                &Signature::from_bytes(&signature_bytes),
            )
            .map_err(|_| Invalid)?;
        let claims = self.checked_claims(payload, now)?;
        Ok((claims, verifier.until))
    }

    /// The claims of a token whose signature was checked: well formed, unexpired, and of this
    /// issuer and audience when configured.
    fn checked_claims(&self, payload: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        use TokenError::Invalid;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| Invalid)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| Invalid)?;
        // Refused from the second `exp` names on (RFC 7519 4.1.4: "on or after"); `exp` is
        // whole seconds, so `now >= exp` is `floor(now) >= exp`.
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        let expected = |configured: &Option<String>, claimed: &Option<String>| {
            configured.is_none() || configured == claimed
        };
        if !expected(&self.issuer, &claims.iss) || !expected(&self.audience, &claims.aud) {
            return Err(Invalid);
        }
        Ok(claims)
    }
}

/// `exp` for a token issued at `now` to live `ttl`: the end rounded up to a whole second, so a
/// token lives at least `ttl` though it is refused from the second `exp` names on.
fn expiry(now: DateTime<Utc>, ttl: Duration) -> i64 {
    let end = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(3650));
    end.timestamp() + i64::from(end.timestamp_subsec_nanos() > 0)
}

fn encode_claims(claims: &Claims, token: &mut String) {
    let payload = serde_json::to_vec(claims).expect("claims serialise to JSON");
    URL_SAFE_NO_PAD.encode_string(payload, token);
}

/// What a token's header says signed it.
enum SignedWith {
    Hs256,
    Ed25519 { kid: String },
}

/// Reads a header: HS256, or EdDSA with a kid; anything else (another algorithm, `crit`, not
/// JSON) is refused.
fn read_header(header: &str) -> Result<SignedWith, TokenError> {
    use TokenError::Invalid;
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| Invalid)?;
    let header: Header<'_> = serde_json::from_slice(&bytes).map_err(|_| Invalid)?;
    match (header.alg, header.kid, header.crit) {
        (_, _, Some(_)) => Err(Invalid),
        ("HS256", _, None) => Ok(SignedWith::Hs256),
        ("EdDSA", Some(kid), None) => Ok(SignedWith::Ed25519 {
            kid: kid.to_string(),
        }),
        _ => Err(Invalid),
    }
}

#[cfg(test)]
mod tests;
