//! The Pwned Passwords range API, by k-anonymity: only the first five hex digits of the
//! password's SHA-1 leave the server; the service answers every suffix it knows under that
//! prefix (padded with decoys, `Add-Padding: true`, so the answer's size tells an observer
//! nothing), and the match is made here. Neither the password nor its hash is logged; errors are
//! reported without the URL, which holds the prefix.

use std::time::Duration;

use sha1::{Digest, Sha1};

/// What the service said of a password.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Seen in a breach.
    Breached,
    /// Not among the suffixes of its prefix.
    Clear,
    /// No usable answer (unreachable, slow, an error status); why, without the URL.
    Unavailable(String),
}

pub struct PwnedPasswords {
    client: reqwest::Client,
    base_url: String,
}

impl PwnedPasswords {
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // The configured URL is the only place this client may go.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("authkit/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    pub async fn check(&self, password: &str) -> Verdict {
        let digest = hex_upper(&Sha1::digest(password.as_bytes()));
        let (prefix, suffix) = digest.split_at(5);
        let response = self
            .client
            .get(format!("{}/range/{prefix}", self.base_url))
            .header("Add-Padding", "true")
            .send()
            .await;
        let body = match response {
            Ok(r) if r.status().is_success() => r.text().await,
            Ok(r) => return Verdict::Unavailable(format!("status {}", r.status().as_u16())),
            Err(e) => Err(e),
        };
        match body {
            Ok(body) if listed(&body, suffix) => Verdict::Breached,
            Ok(_) => Verdict::Clear,
            Err(e) => Verdict::Unavailable(e.without_url().to_string()),
        }
    }
}

/// Whether the range answer lists `suffix` with a count above zero (padding lines count 0).
fn listed(body: &str, suffix: &str) -> bool {
    body.lines().any(|line| {
        line.trim().split_once(':').is_some_and(|(s, count)| {
            s.eq_ignore_ascii_case(suffix) && count.trim().parse::<u64>().is_ok_and(|n| n > 0)
        })
    })
}

/// Upper-case hex, as the range API lists suffixes.
fn hex_upper(bytes: &[u8]) -> String {
    super::one_time::hex(bytes).to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_answer_is_matched_by_suffix_and_count() {
        // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8
        let digest = hex_upper(&Sha1::digest(b"password"));
        assert_eq!(digest, "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8");
        let suffix = &digest[5..];
        let body = format!("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{suffix}:9545824\r\n");
        assert!(listed(&body, suffix));
        assert!(!listed(&format!("{suffix}:0\r\n"), suffix), "padding");
        assert!(!listed("0018A45C4D1DEF81644B54AB7F969B88D65:3", suffix));
        assert!(!listed("", suffix));
    }
}
