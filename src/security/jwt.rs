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
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::security::keyset::KeySet;
use crate::security::token_cache::VerifiedTokens;

type HmacSha256 = Hmac<Sha256>;

/// `{"alg":"HS256","typ":"JWT"}`, base64url: the header of every HS256 token this server issues.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Longer tokens are refused unread; ours are a few hundred bytes.
const MAX_TOKEN_LEN: usize = 4096;

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
    /// How the session was authenticated (RFC 8176), on tokens of a session opened with a second
    /// factor only: `["pwd", "otp"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
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
            .finish()
    }
}

/// The header fields that matter; any others (`typ`) are ignored.
#[derive(Deserialize)]
struct Header<'a> {
    alg: &'a str,
    kid: Option<&'a str>,
    crit: Option<serde::de::IgnoredAny>,
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

    /// A signed access token; `mfa` marks a session opened with a second factor (`amr`).
    pub fn issue_access(
        &self,
        uid: &str,
        sid: &str,
        mfa: bool,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let claims = self.claims(uid, sid, TokenType::Access, None, mfa, now, self.access_ttl);
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
        mfa: bool,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> String {
        let ttl = (expires_at - now).to_std().unwrap_or_default();
        let jti = Some(jti.to_string());
        let claims = self.claims(uid, sid, TokenType::Refresh, jti, mfa, now, ttl);
        self.encode_hs256(&claims)
    }

    #[allow(clippy::too_many_arguments)]
    fn claims(
        &self,
        uid: &str,
        sid: &str,
        token_type: TokenType,
        jti: Option<String>,
        mfa: bool,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Claims {
        Claims {
            uid: uid.to_string(),
            sid: sid.to_string(),
            token_type,
            jti,
            iat: now.timestamp(),
            exp: now.timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            amr: mfa.then(|| vec!["pwd".to_string(), "otp".to_string()]),
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
                if claims.exp > keys.hs256_until.timestamp() {
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
        if claims.exp < now.timestamp() {
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
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys(secret: &[u8]) -> TokenKeys {
        TokenKeys::new(
            secret,
            Duration::from_secs(900),
            Duration::from_secs(86_400),
            None,
            None,
        )
    }

    /// A token with any header and claims, correctly signed with `k`'s key.
    fn signed(k: &TokenKeys, header: &str, claims: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = URL_SAFE_NO_PAD.encode(k.signature(input.as_bytes()));
        format!("{input}.{signature}")
    }

    fn assert_refused(k: &TokenKeys, token: &str, what: &str) {
        let refused = k.verify(token, TokenType::Access).unwrap_err();
        assert_eq!(refused, TokenError::Invalid, "{what}");
    }

    fn claims_json(exp: i64) -> String {
        format!(r#"{{"uid":"u","sid":"s","type":"access","iat":0,"exp":{exp}}}"#)
    }

    /// Under HS256 too, a cached token and the full check agree: for a valid, an expiring, a
    /// tampered, a refresh-shaped and a foreign-key token, around `exp`, and whatever order
    /// they first arrived in.
    #[test]
    fn the_hs256_cache_agrees_with_the_full_check() {
        let now = Utc::now();
        let k = keys(b"a secret long enough for these tests 0123456789");
        let other = keys(b"another secret, not this server's 0123456789");
        let exp = now.timestamp() + 10;
        let valid = signed(
            &k,
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &claims_json(exp + 100),
        );
        let expiring = signed(&k, r#"{"alg":"HS256","typ":"JWT"}"#, &claims_json(exp));
        let mut tampered = valid.clone();
        tampered.replace_range(tampered.len() - 3.., "AAA");
        let refresh_shaped = signed(
            &k,
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"uid":"u","sid":"s","type":"refresh","jti":"j","iat":0,"exp":99999999999}"#,
        );
        let foreign = signed(&other, r#"{"alg":"HS256","typ":"JWT"}"#, &claims_json(exp));
        let tokens = [valid, expiring, tampered, refresh_shaped, foreign];
        let times: Vec<_> = [-1, 0, 9, 10, 11, 12]
            .iter()
            .map(|s| now + chrono::Duration::seconds(*s))
            .collect();
        for token in &tokens {
            let _ = k.verify_at(token, TokenType::Access, now);
        }
        assert_eq!(
            k.cached_tokens(),
            2,
            "only the accepted access tokens are remembered"
        );
        for token in &tokens {
            for &t in &times {
                let cold = keys(b"a secret long enough for these tests 0123456789");
                let outcome = |k: &TokenKeys| {
                    k.verify_at(token, TokenType::Access, t)
                        .map(|c| format!("{c:?}"))
                };
                assert_eq!(outcome(&k), outcome(&cold), "token {token} at {t}");
            }
        }
    }

    #[test]
    fn the_header_constant_is_what_it_says() {
        assert_eq!(
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
            HEADER
        );
    }

    /// RFC 7515, appendix A.1: the HS256 example signature, to the byte.
    #[test]
    fn signs_like_the_rfc_example() {
        let key = URL_SAFE_NO_PAD
            .decode(
                "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
            )
            .unwrap();
        let input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\
                     eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let k = TokenKeys::new(&key, Duration::ZERO, Duration::ZERO, None, None);
        assert_eq!(
            URL_SAFE_NO_PAD.encode(k.signature(input.as_bytes())),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
    }

    #[test]
    fn headers_other_than_hs256_are_refused_even_when_signed() {
        let k = keys(&[7; 32]);
        let claims = claims_json(Utc::now().timestamp() + 600);
        let accepted = signed(&k, r#"{"typ":"JWT","alg":"HS256","kid":"x"}"#, &claims);
        assert!(k.verify(&accepted, TokenType::Access).is_ok());
        for header in [
            r#"{"alg":"HS512","typ":"JWT"}"#,
            r#"{"alg":"none"}"#,
            r#"{"alg":"hs256"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"not json"#,
        ] {
            assert_refused(&k, &signed(&k, header, &claims), header);
        }
    }

    #[test]
    fn tampered_or_malformed_tokens_are_refused() {
        let k = keys(&[7; 32]);
        let token = k.issue_access("u1", "s1", false, Utc::now()).unwrap();
        let (input, signature) = token.rsplit_once('.').unwrap();
        let (header, _) = input.split_once('.').unwrap();
        let other_claims = URL_SAFE_NO_PAD.encode(claims_json(i64::MAX / 2));
        let short = &signature[..signature.len() - 2];
        for bad in [
            format!("{header}.{other_claims}.{signature}"),
            format!("{input}.{short}"),
            format!("{input}.{signature}AAAA"),
            format!("{input}.{signature}.{signature}"),
            format!("{input}.x.{signature}"),
            format!("{input}="),
            format!("{input}."),
            input.to_string(),
            format!("{token}{}", "A".repeat(MAX_TOKEN_LEN)),
            String::new(),
        ] {
            assert_refused(&k, &bad, &bad);
        }
        // Missing or mistyped claims, correctly signed.
        for claims in [
            r#"{"uid":"u","sid":"s","type":"access","iat":0}"#,
            r#"{"uid":"u","type":"access","iat":0,"exp":99999999999}"#,
            r#"{"uid":"u","sid":"s","type":"other","iat":0,"exp":99999999999}"#,
            r#"{"uid":1,"sid":"s","type":"access","iat":0,"exp":99999999999}"#,
        ] {
            assert_refused(&k, &signed(&k, r#"{"alg":"HS256"}"#, claims), claims);
        }
    }

    #[test]
    fn issuer_and_audience_are_required_when_configured() {
        let scoped = |audience: &str| {
            let ttl = Duration::from_secs(900);
            TokenKeys::new(
                &[7; 32],
                ttl,
                ttl,
                Some("authkit".into()),
                Some(audience.into()),
            )
        };
        let plain = keys(&[7; 32]);
        let strict = scoped("app");
        let now = Utc::now();
        let token = strict.issue_access("u", "s", false, now).unwrap();
        let claims = strict.verify(&token, TokenType::Access).unwrap();
        assert_eq!(claims.iss.as_deref(), Some("authkit"));
        assert_eq!(claims.aud.as_deref(), Some("app"));
        assert_eq!(
            strict
                .verify(
                    &plain.issue_access("u", "s", false, now).unwrap(),
                    TokenType::Access
                )
                .unwrap_err(),
            TokenError::Invalid
        );
        let wrong_audience = scoped("other");
        assert_eq!(
            strict
                .verify(
                    &wrong_audience.issue_access("u", "s", false, now).unwrap(),
                    TokenType::Access
                )
                .unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn expiry_is_exact() {
        let k = keys(&[7; 32]);
        let now = Utc::now();
        let token = signed(&k, r#"{"alg":"HS256"}"#, &claims_json(now.timestamp()));
        assert!(k.verified_claims(&token, now).is_ok());
        let next_second = now + chrono::Duration::seconds(1);
        assert_eq!(
            k.verified_claims(&token, next_second).unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn round_trip_and_type_pinning() {
        let k = keys(&[7; 32]);
        let now = Utc::now();
        let access = k.issue_access("u1", "s1", false, now).unwrap();
        let claims = k.verify(&access, TokenType::Access).unwrap();
        assert_eq!((claims.uid.as_str(), claims.sid.as_str()), ("u1", "s1"));
        assert_eq!(
            k.verify(&access, TokenType::Refresh).unwrap_err(),
            TokenError::WrongType
        );
        let refresh = k.issue_refresh(
            "u1",
            "s1",
            "j1",
            false,
            now,
            now + chrono::Duration::days(1),
        );
        assert_eq!(
            k.verify(&refresh, TokenType::Refresh)
                .unwrap()
                .jti
                .as_deref(),
            Some("j1")
        );
        assert_eq!(
            k.verify(&refresh, TokenType::Access).unwrap_err(),
            TokenError::WrongType
        );
    }

    #[test]
    fn foreign_key_alg_none_and_expiry_are_refused() {
        let k = keys(&[7; 32]);
        let other = keys(&[8; 32]);
        let now = Utc::now();
        assert_eq!(
            k.verify(
                &other.issue_access("u", "s", false, now).unwrap(),
                TokenType::Access
            )
            .unwrap_err(),
            TokenError::Invalid
        );

        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"uid":"u","sid":"s","type":"access","iat":{0},"exp":{1}}}"#,
            now.timestamp(),
            now.timestamp() + 600
        ));
        assert_eq!(
            k.verify(&format!("{header}.{body}."), TokenType::Access)
                .unwrap_err(),
            TokenError::Invalid
        );

        let expired = k.encode_hs256(&k.claims(
            "u",
            "s",
            TokenType::Access,
            None,
            false,
            now - chrono::Duration::hours(1),
            Duration::from_secs(60),
        ));
        assert_eq!(
            k.verify(&expired, TokenType::Access).unwrap_err(),
            TokenError::Expired
        );
        assert_eq!(
            k.verify("garbage", TokenType::Access).unwrap_err(),
            TokenError::Invalid
        );
    }

    /// Under `JWT_ALG=EdDSA`: the keys, the verified-token cache, and where it must agree with
    /// the full check.
    mod ed25519 {
        use chrono::Duration as Span;

        use super::*;
        use crate::domain::signing_key::{KeyState, SigningKey};
        use crate::security::encryption::Keyring;
        use crate::security::keyset::{self, KeySet};

        fn keyring() -> Keyring {
            Keyring::of(&[3; 32], &[])
        }

        fn eddsa(records: &[SigningKey], now: DateTime<Utc>) -> TokenKeys {
            let k = keys(&[7; 32]).with_ed25519();
            k.install(KeySet::build(records, &keyring(), Span::minutes(15), now).unwrap());
            k
        }

        /// A token signed by `record`'s private key (which the test can open).
        fn signed_by(record: &SigningKey, claims: &str) -> String {
            let owner = format!("signing_key:{}", record.kid);
            let seed: [u8; 32] = keyring()
                .open(record.private_key.as_deref().unwrap(), &owner)
                .unwrap()
                .try_into()
                .unwrap();
            let header = format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{}"}}"#, record.kid);
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(claims)
            );
            let signature = ed25519_dalek::SigningKey::from_bytes(&seed).sign(input.as_bytes());
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
        }

        fn retired(mut record: SigningKey, until: DateTime<Utc>) -> SigningKey {
            record.state = KeyState::Retired;
            record.publish_until = Some(until);
            record
        }

        #[test]
        fn access_tokens_carry_the_kid_and_refresh_tokens_stay_hs256() {
            let now = Utc::now();
            let active = keyset::generate(1, KeyState::Active, &keyring(), now);
            let k = eddsa(std::slice::from_ref(&active), now);
            let access = k.issue_access("u", "s", true, now).unwrap();
            let header: serde_json::Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(access.split('.').next().unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(header["alg"], "EdDSA");
            assert_eq!(header["kid"], active.kid.as_str());
            let claims = k.verify(&access, TokenType::Access).unwrap();
            assert_eq!(claims.amr.unwrap(), ["pwd", "otp"]);
            let refresh = k.issue_refresh("u", "s", "j", false, now, now + Span::days(1));
            assert!(refresh.starts_with(HEADER));
            assert!(k.verify(&refresh, TokenType::Refresh).is_ok());
            assert_eq!(
                k.verify(&refresh, TokenType::Access).unwrap_err(),
                TokenError::Invalid,
                "a refresh token is no access token, whatever its signature"
            );
            assert_eq!(
                k.verify(&access, TokenType::Refresh).unwrap_err(),
                TokenError::Invalid
            );
            let unloaded = keys(&[7; 32]).with_ed25519();
            assert_eq!(
                unloaded.issue_access("u", "s", false, now).unwrap_err(),
                TokenError::NoKeys
            );
        }

        /// A retired key's tokens verify until its end; after it, a token it signed is refused
        /// even though the token itself has not expired, and even from the cache; once the key
        /// leaves the set its kid is unknown.
        #[test]
        fn a_retired_key_verifies_until_its_end_and_not_after() {
            let now = Utc::now();
            let ring = keyring();
            let old = keyset::generate(1, KeyState::Active, &ring, now - Span::hours(1));
            let active = keyset::generate(2, KeyState::Active, &ring, now);
            let end = now + Span::seconds(30);
            let token = signed_by(&old, &claims_json(now.timestamp() + 3600));
            let k = eddsa(&[retired(old.clone(), end), active.clone()], now);
            assert!(k.verify_at(&token, TokenType::Access, now).is_ok());
            assert_eq!(k.cached_tokens(), 1);
            assert!(
                k.verify_at(&token, TokenType::Access, end - Span::seconds(1))
                    .is_ok()
            );
            assert_eq!(
                k.verify_at(&token, TokenType::Access, end).unwrap_err(),
                TokenError::Invalid
            );
            let later = eddsa(&[retired(old, end), active], end);
            assert_eq!(
                later.verify_at(&token, TokenType::Access, end).unwrap_err(),
                TokenError::UnknownKey
            );
        }

        /// The cache never answers differently from the full check: for tokens valid, expiring,
        /// of a retired key, forged or tampered, at times before and after each edge, and across
        /// a key-set change, a warm cache and no cache agree.
        #[test]
        fn the_cache_agrees_with_the_full_check() {
            let now = Utc::now();
            let ring = keyring();
            let old = keyset::generate(1, KeyState::Active, &ring, now - Span::hours(1));
            let active = keyset::generate(2, KeyState::Active, &ring, now);
            let end = now + Span::seconds(20);
            let first = [retired(old.clone(), end), active.clone()];
            let exp = now.timestamp() + 10;
            let valid = signed_by(&active, &claims_json(exp + 100));
            let expiring = signed_by(&active, &claims_json(exp));
            let of_retired = signed_by(&old, &claims_json(exp + 100));
            let mut tampered = valid.clone();
            tampered.replace_range(tampered.len() - 3.., "AAA");
            let refresh_shaped = signed_by(
                &active,
                r#"{"uid":"u","sid":"s","type":"refresh","jti":"j","iat":0,"exp":99999999999}"#,
            );
            let tokens = [valid, expiring, of_retired, tampered, refresh_shaped];
            let times: Vec<_> = [-1, 0, 9, 10, 11, 19, 20, 21]
                .iter()
                .map(|s| now + Span::seconds(*s))
                .collect();

            let warm = eddsa(&first, now);
            for token in &tokens {
                let _ = warm.verify_at(token, TokenType::Access, now);
            }
            // The same key set, and then one where the old key is gone (rotated out early by an
            // operator): the cache follows the set it was filled from.
            let without_old = [active.clone()];
            for (records, change) in [(&first[..], false), (&without_old[..], true)] {
                if change {
                    warm.install(KeySet::build(records, &ring, Span::minutes(15), now).unwrap());
                }
                for token in &tokens {
                    for &t in &times {
                        let cold = eddsa(records, now);
                        let outcome = |k: &TokenKeys| {
                            k.verify_at(token, TokenType::Access, t)
                                .map(|c| format!("{c:?}"))
                        };
                        assert_eq!(outcome(&warm), outcome(&cold), "token {token} at {t}");
                    }
                }
            }
        }
    }
}
