//! Time-based one-time passwords (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of drift
//! either way) and recovery codes. A code is bound to its step: the caller stores the last step
//! used and refuses a code at or before it, so an observed code cannot be replayed.

use totp_rs::{Algorithm, TOTP};

pub const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
/// 160 bits, the size RFC 4226 recommends (and authenticator apps expect).
const SECRET_LEN: usize = 20;
pub const RECOVERY_CODES: usize = 10;

/// A fresh random secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_LEN];
    getrandom::fill(&mut secret).expect("OS random source");
    secret
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> TOTP {
    // An issuer or account with ':' would break the otpauth label; neither can hold one here
    // (usernames are [A-Za-z0-9_.-]), but the product name is the operator's choice.
    TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS,
        secret.to_vec(),
        Some(issuer.replace(':', " ")),
        account.replace(':', " "),
    )
}

/// The secret in base32 (what a user types into an app without a camera).
pub fn base32(secret: &[u8]) -> String {
    totp(secret, "", "").get_secret_base32()
}

/// `otpauth://totp/...`, which clients draw as a QR code.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    totp(secret, issuer, account).get_url()
}

/// The step (Unix time / 30) of the code `code` within one step of `now`, if it is one.
pub fn matching_step(secret: &[u8], code: &str, now_unix: u64) -> Option<u64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let generator = totp(secret, "", "");
    let now_step = now_unix / STEP_SECS;
    [now_step.saturating_sub(1), now_step, now_step + 1]
        .into_iter()
        .find(|step| {
            let expected = generator.generate(step * STEP_SECS);
            constant_time_eq(expected.as_bytes(), code.as_bytes())
        })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Ten fresh recovery codes, `xxxxx-xxxxx` from a 32-letter alphabet (50 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789"; // no 0/o, 1/l/i
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            getrandom::fill(&mut bytes).expect("OS random source");
            let letters: String = bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect();
            format!("{}-{}", &letters[..5], &letters[5..])
        })
        .collect()
}

/// A recovery code as typed, in the form it is hashed in: lower case, without `-` or spaces.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B (SHA-1), truncated to 6 digits.
    #[test]
    fn rfc_6238_vectors_and_one_step_of_drift() {
        let secret = b"12345678901234567890";
        let generator = totp(secret, "", "");
        for (time, code) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1234567890, "005924"),
        ] {
            assert_eq!(generator.generate(time), code, "at {time}");
        }
        let now = 1111111109;
        let step = now / STEP_SECS;
        assert_eq!(matching_step(secret, "081804", now), Some(step));
        assert_eq!(matching_step(secret, "081804", now + STEP_SECS), Some(step));
        assert_eq!(matching_step(secret, "081804", now + 2 * STEP_SECS), None);
        assert_eq!(matching_step(secret, "08180", now), None);
    }

    #[test]
    fn uri_and_recovery_codes_have_their_shape() {
        let secret = new_secret();
        let uri = otpauth_uri(&secret, "Acme", "ada");
        assert!(uri.starts_with("otpauth://totp/Acme:ada?"), "{uri}");
        assert!(
            uri.contains(&format!("secret={}", base32(&secret))),
            "{uri}"
        );
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
        );
        assert_eq!(normalize_recovery_code(" ABCDE-fghjk"), "abcdefghjk");
    }
}
