//! Sign in with Apple's client secret: not a fixed string but an ES256 JWT the server signs with
//! the private key Apple issued (`AuthKey_<KEY_ID>.p8`), naming the team, the key and the
//! client. Made fresh for each code exchange and valid for five minutes, so no long-lived
//! secret exists outside the key itself.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;

const AUDIENCE: &str = "https://appleid.apple.com";
const LIFETIME_SECS: i64 = 300;

pub(super) struct AppleSecret {
    team_id: String,
    key_id: String,
    client_id: String,
    key: SigningKey,
}

impl AppleSecret {
    pub(super) fn new(
        team_id: &str,
        key_id: &str,
        client_id: &str,
        pem: &str,
    ) -> Result<Self, String> {
        let key = SigningKey::from_pkcs8_pem(pem)
            .map_err(|_| "OAUTH_APPLE_PRIVATE_KEY is not a PKCS#8 PEM P-256 key".to_string())?;
        Ok(Self {
            team_id: team_id.into(),
            key_id: key_id.into(),
            client_id: client_id.into(),
            key,
        })
    }

    /// The client secret for one token request.
    pub(super) fn sign(&self) -> Result<String, String> {
        self.sign_at(chrono::Utc::now().timestamp())
    }

    fn sign_at(&self, now: i64) -> Result<String, String> {
        let header = serde_json::json!({ "alg": "ES256", "kid": self.key_id, "typ": "JWT" });
        let claims = serde_json::json!({
            "iss": self.team_id,
            "iat": now,
            "exp": now + LIFETIME_SECS,
            "aud": AUDIENCE,
            "sub": self.client_id,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Signature = self
            .key
            .try_sign(signing_input.as_bytes())
            .map_err(|e| e.to_string())?;
        // JWS wants r || s (64 bytes), which is the fixed-size encoding, not DER.
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};

    #[test]
    fn the_secret_is_an_es256_jwt_apple_can_check() {
        let mut scalar = [0u8; 32];
        getrandom::fill(&mut scalar).unwrap();
        let key = SigningKey::from_slice(&scalar).unwrap();
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let secret = AppleSecret::new("TEAM123456", "KEY7890", "com.example.web", &pem).unwrap();
        let jwt = secret.sign_at(1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |p: &str| -> serde_json::Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
        };
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "KEY7890");
        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], "TEAM123456");
        assert_eq!(claims["sub"], "com.example.web");
        assert_eq!(claims["aud"], "https://appleid.apple.com");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            300
        );
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        VerifyingKey::from(&key)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("signed by the key");
    }

    #[test]
    fn a_key_that_is_not_pkcs8_p256_is_refused() {
        assert!(
            AppleSecret::new(
                "T",
                "K",
                "c",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
            )
            .is_err()
        );
    }
}
