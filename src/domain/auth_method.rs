//! How a session was signed in: a set of the methods RFC 8176 names (`amr`). Kept as a few
//! bits, so a session state and the claims of a verified token carry it without allocating.

use std::fmt;

use chrono::{DateTime, Utc};

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Amr(u8);

impl Amr {
    /// A password.
    pub const PWD: Amr = Amr(1);
    /// A one-time code (TOTP, a recovery code).
    pub const OTP: Amr = Amr(2);
    /// A hardware-bound key (a passkey).
    pub const HWK: Amr = Amr(4);
    /// User presence and verification on the authenticator (a passkey's fingerprint or PIN).
    pub const USER: Amr = Amr(8);
    /// A secret mailed to the address (an email sign-in link or code).
    pub const MAIL: Amr = Amr(16);
    /// Federation: another identity provider vouched (social login).
    pub const FED: Amr = Amr(32);

    /// Every method with its RFC 8176 name, in the order tokens list them.
    const NAMES: [(Amr, &'static str); 6] = [
        (Amr::PWD, "pwd"),
        (Amr::OTP, "otp"),
        (Amr::HWK, "hwk"),
        (Amr::USER, "user"),
        (Amr::MAIL, "mail"),
        (Amr::FED, "fed"),
    ];

    pub const fn with(self, other: Amr) -> Amr {
        Amr(self.0 | other.0)
    }

    pub const fn contains(self, other: Amr) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// As stored: a small integer.
    pub const fn bits(self) -> i64 {
        self.0 as i64
    }

    /// From what was stored; bits this build does not know are dropped.
    pub const fn from_bits(bits: i64) -> Amr {
        Amr((bits & 0x3f) as u8)
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Amr::NAMES
            .into_iter()
            .filter(move |(m, _)| self.contains(*m))
            .map(|(_, name)| name)
    }

    fn by_name(name: &str) -> Option<Amr> {
        Amr::NAMES
            .into_iter()
            .find(|(_, n)| *n == name)
            .map(|(m, _)| m)
    }
}

impl fmt::Debug for Amr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// As in a token: `["pwd", "otp"]`.
impl Serialize for Amr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for name in self.names() {
            seq.serialize_element(name)?;
        }
        seq.end()
    }
}

/// Names this build does not know are skipped: a token lists what happened, and an unknown method
/// adds nothing this server relies on.
impl<'de> Deserialize<'de> for Amr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Names;
        impl<'de> Visitor<'de> for Names {
            type Value = Amr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of authentication method names")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Amr, A::Error> {
                let mut amr = Amr::default();
                while let Some(Method(method)) = seq.next_element::<Method>()? {
                    amr = amr.with(method);
                }
                Ok(amr)
            }
        }
        deserializer.deserialize_seq(Names)
    }
}

/// How and when a session's user last proved who they are: the `amr` and `auth_time` of its
/// tokens, and what the recent-authentication rule reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Authentication {
    pub amr: Amr,
    pub at: DateTime<Utc>,
}

/// One name of the list, read without allocating (a borrowed or a transient string alike).
struct Method(Amr);

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Method;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an authentication method name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Method, E> {
                Ok(Method(Amr::by_name(name).unwrap_or_default()))
            }
        }
        deserializer.deserialize_str(Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_of_methods_round_trip_as_names_and_as_bits() {
        let mfa = Amr::PWD.with(Amr::OTP);
        assert_eq!(serde_json::to_string(&mfa).unwrap(), r#"["pwd","otp"]"#);
        let passkey: Amr = serde_json::from_str(r#"["hwk","user","sms"]"#).unwrap();
        assert_eq!(passkey, Amr::HWK.with(Amr::USER));
        assert_eq!(Amr::from_bits(mfa.bits()), mfa);
        assert!(mfa.contains(Amr::OTP) && !mfa.contains(Amr::MAIL));
        assert_eq!(Amr::MAIL.names().collect::<Vec<_>>(), ["mail"]);
        assert!(Amr::default().is_empty());
    }
}
