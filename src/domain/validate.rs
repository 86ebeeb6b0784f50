//! Input rules of the contract. Each check returns a [`FieldError`] naming the field, so a client
//! gets every problem of a request at once as a 422 with `details`.

/// One validation problem, shaped like the template's (`loc`, `msg`, `type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub loc: Vec<String>,
    pub msg: String,
    pub kind: &'static str,
}

impl FieldError {
    pub fn body(field: &str, msg: impl Into<String>, kind: &'static str) -> Self {
        Self {
            loc: vec!["body".into(), field.into()],
            msg: msg.into(),
            kind,
        }
    }
}

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 50;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const FULL_NAME_MAX: usize = 100;
/// RFC 5321 limits an address to 254 octets.
pub const EMAIL_MAX: usize = 254;

/// Username: 3-50 characters of `[A-Za-z0-9_.-]`.
pub fn username(value: &str) -> Result<(), FieldError> {
    let len = value.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
        return Err(FieldError::body(
            "username",
            format!("must be {USERNAME_MIN}-{USERNAME_MAX} characters long"),
            "string_length",
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(FieldError::body(
            "username",
            "may contain only letters, digits, '_', '.' and '-'",
            "string_pattern_mismatch",
        ));
    }
    Ok(())
}

/// Email: a pragmatic check of `local@domain.tld` (ASCII, no spaces, one `@`, a dotted domain of
/// valid labels). Deliverability is not checked; that needs an email round trip.
pub fn email(value: &str) -> Result<(), FieldError> {
    let invalid = || FieldError::body("email", "value is not a valid email address", "value_error");
    if value.len() > EMAIL_MAX || !value.is_ascii() {
        return Err(invalid());
    }
    let Some((local, domain)) = value.split_once('@') else {
        return Err(invalid());
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && !tld.bytes().all(|b| b.is_ascii_digit()));
    if local_ok && domain_ok {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// Password: 8-128 characters. Length is the rule NIST SP 800-63B recommends; composition rules are not.
pub fn password(field: &str, value: &str) -> Result<(), FieldError> {
    let len = value.chars().count();
    if (PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
        Ok(())
    } else {
        Err(FieldError::body(
            field,
            format!("must be {PASSWORD_MIN}-{PASSWORD_MAX} characters long"),
            "string_length",
        ))
    }
}

/// Full name: at most 100 characters, no control characters.
pub fn full_name(value: &str) -> Result<(), FieldError> {
    if value.chars().count() > FULL_NAME_MAX {
        return Err(FieldError::body(
            "full_name",
            format!("must be at most {FULL_NAME_MAX} characters long"),
            "string_too_long",
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::body(
            "full_name",
            "must not contain control characters",
            "value_error",
        ));
    }
    Ok(())
}

/// Collects the errors of several checks; empty means valid.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<FieldError>);

impl Problems {
    pub fn check(&mut self, result: Result<(), FieldError>) -> &mut Self {
        if let Err(e) = result {
            self.0.push(e);
        }
        self
    }
    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(username("bob").is_ok());
        assert!(username("a.b-c_9").is_ok());
        assert!(username("ab").is_err());
        assert!(username(&"a".repeat(51)).is_err());
        assert!(username("bob smith").is_err());
        assert!(username("bøb").is_err());
    }

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@example.com", "x@sub.example.org"] {
            assert!(email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@.com",
            "a@b..com",
            "a b@c.com",
            "a@-b.com",
            ".a@b.com",
            "a..b@c.com",
            "a@b.c",
            "a@1.23",
            "é@b.com",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_and_names() {
        assert!(password("password", "12345678").is_ok());
        assert!(password("password", "1234567").is_err());
        assert!(password("password", &"x".repeat(129)).is_err());
        assert!(full_name("Ada Lovelace").is_ok());
        assert!(full_name(&"x".repeat(101)).is_err());
        assert!(full_name("a\u{0}b").is_err());
    }
}
