//! The token rules of `jwt.rs`, each against the token that would break it. Long because every
//! rule has its attack written out, and they read best side by side.

use super::*;
use crate::domain::{Amr, Authentication};

/// How a test's session signed in: by `amr`, just now.
fn signed_in(amr: Amr) -> Authentication {
    Authentication {
        amr,
        at: Utc::now(),
    }
}
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
    let token = k
        .issue_access("u1", "s1", signed_in(Amr::PWD), Utc::now())
        .unwrap();
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
    let token = strict
        .issue_access("u", "s", signed_in(Amr::PWD), now)
        .unwrap();
    let claims = strict.verify(&token, TokenType::Access).unwrap();
    assert_eq!(claims.iss.as_deref(), Some("authkit"));
    assert_eq!(claims.aud.as_deref(), Some("app"));
    assert_eq!(
        strict
            .verify(
                &plain
                    .issue_access("u", "s", signed_in(Amr::PWD), now)
                    .unwrap(),
                TokenType::Access
            )
            .unwrap_err(),
        TokenError::Invalid
    );
    let wrong_audience = scoped("other");
    assert_eq!(
        strict
            .verify(
                &wrong_audience
                    .issue_access("u", "s", signed_in(Amr::PWD), now)
                    .unwrap(),
                TokenType::Access
            )
            .unwrap_err(),
        TokenError::Invalid
    );
}

/// Accepted before `exp`, refused on and after it (RFC 7519: "on or after"), not a second
/// later.
#[test]
fn expiry_is_exact() {
    let k = keys(&[7; 32]);
    let exp = Utc::now().timestamp() + 5;
    let token = signed(&k, r#"{"alg":"HS256"}"#, &claims_json(exp));
    let at = |secs: i64, millis: i64| {
        chrono::DateTime::from_timestamp(secs, 0).unwrap() + chrono::Duration::milliseconds(millis)
    };
    assert!(k.verified_claims(&token, at(exp - 1, 999)).is_ok());
    for late in [at(exp, 0), at(exp, 500), at(exp + 1, 0)] {
        assert_eq!(
            k.verified_claims(&token, late).unwrap_err(),
            TokenError::Expired
        );
    }
}

#[test]
fn round_trip_and_type_pinning() {
    let k = keys(&[7; 32]);
    let now = Utc::now();
    let access = k
        .issue_access("u1", "s1", signed_in(Amr::PWD), now)
        .unwrap();
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
        Amr::PWD,
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
            &other
                .issue_access("u", "s", signed_in(Amr::PWD), now)
                .unwrap(),
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
        let access = k
            .issue_access("u", "s", signed_in(Amr::PWD.with(Amr::OTP)), now)
            .unwrap();
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(access.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["kid"], active.kid.as_str());
        let claims = k.verify(&access, TokenType::Access).unwrap();
        assert_eq!(claims.amr, Amr::PWD.with(Amr::OTP));
        assert!(claims.auth_time.is_some());
        let refresh = k.issue_refresh("u", "s", "j", Amr::PWD, now, now + Span::days(1));
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
            unloaded
                .issue_access("u", "s", signed_in(Amr::PWD), now)
                .unwrap_err(),
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

/// `exp` is the issue time plus the lifetime rounded up to a whole second: refused from `exp` on,
/// a token still lives at least its lifetime.
#[test]
fn a_token_lives_at_least_its_lifetime() {
    let at = |secs: i64, millis: i64| {
        chrono::DateTime::from_timestamp(secs, 0).unwrap() + chrono::Duration::milliseconds(millis)
    };
    let three = std::time::Duration::from_secs(3);
    assert_eq!(expiry(at(100, 0), three), 103);
    assert_eq!(expiry(at(100, 1), three), 104);
    assert_eq!(expiry(at(100, 999), three), 104);
    assert_eq!(
        expiry(at(100, 600), std::time::Duration::from_millis(1500)),
        103
    );
}
