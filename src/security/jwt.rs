//! Access and refresh tokens: JWT, HS256, with the algorithm pinned on decode so that `alg: none`
//! or a token signed for another algorithm is refused, and with the token `type` checked so a
//! refresh token can never be used as a Bearer access token (or the reverse).

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The claims of both token types; `jti` is present on refresh tokens only.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

/// Signs and verifies the server's tokens with one secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<String>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl TokenKeys {
    pub fn new(
        secret: &[u8],
        access_ttl: Duration,
        refresh_ttl: Duration,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // One clock issues and checks these tokens; no leeway keeps `exp` exact.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        match &issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                validation.required_spec_claims.insert("iss".into());
            }
            None => validation.iss = None,
        }
        match &audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer,
            audience,
            access_ttl,
            refresh_ttl,
        }
    }

    /// A signed access token for a session, and its lifetime in seconds.
    pub fn issue_access(&self, uid: &str, sid: &str, now: DateTime<Utc>) -> String {
        self.sign(uid, sid, TokenType::Access, None, now, self.access_ttl)
    }

    /// A signed refresh token bound to the session's current `jti`, expiring at `expires_at`.
    pub fn issue_refresh(
        &self,
        uid: &str,
        sid: &str,
        jti: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> String {
        let ttl = (expires_at - now).to_std().unwrap_or_default();
        self.sign(
            uid,
            sid,
            TokenType::Refresh,
            Some(jti.to_string()),
            now,
            ttl,
        )
    }

    fn sign(
        &self,
        uid: &str,
        sid: &str,
        token_type: TokenType,
        jti: Option<String>,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> String {
        let claims = Claims {
            uid: uid.to_string(),
            sid: sid.to_string(),
            token_type,
            jti,
            iat: now.timestamp(),
            exp: now.timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        // HS256 signing of a serialisable struct cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing")
    }

    /// Verifies signature, algorithm, expiry, issuer/audience when configured, and the type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let claims = data.claims;
        if claims.token_type != expected {
            return Err(TokenError::WrongType);
        }
        if expected == TokenType::Refresh && claims.jti.is_none() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
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

    #[test]
    fn round_trip_and_type_pinning() {
        let k = keys(&[7; 32]);
        let now = Utc::now();
        let access = k.issue_access("u1", "s1", now);
        let claims = k.verify(&access, TokenType::Access).unwrap();
        assert_eq!((claims.uid.as_str(), claims.sid.as_str()), ("u1", "s1"));
        assert_eq!(
            k.verify(&access, TokenType::Refresh).unwrap_err(),
            TokenError::WrongType
        );
        let refresh = k.issue_refresh("u1", "s1", "j1", now, now + chrono::Duration::days(1));
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
            k.verify(&other.issue_access("u", "s", now), TokenType::Access)
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

        let expired = k.sign(
            "u",
            "s",
            TokenType::Access,
            None,
            now - chrono::Duration::hours(1),
            Duration::from_secs(60),
        );
        assert_eq!(
            k.verify(&expired, TokenType::Access).unwrap_err(),
            TokenError::Expired
        );
        assert_eq!(
            k.verify("garbage", TokenType::Access).unwrap_err(),
            TokenError::Invalid
        );
    }
}
