//! Passkeys (WebAuthn): the relying party the browser binds credentials to, and the origins a
//! ceremony may come from.

use std::time::Duration;

use url::Url;

use super::vars::Vars;
use super::{ConfigError, bad};

#[derive(Debug, Clone)]
pub struct PasskeySettings {
    /// `WEBAUTHN_RP_ID`; default: the host of `PUBLIC_URL`. Credentials are bound to it for good.
    pub rp_id: String,
    /// Why passkeys are off (an IP address as RP id, which WebAuthn does not allow), naming the
    /// variable; `None` when they work. Nothing else stops.
    pub unavailable: Option<String>,
    /// `WEBAUTHN_ORIGINS`; default: `PUBLIC_URL`'s origin and `CORS_ORIGINS`. Entries may be
    /// `android:apk-key-hash:<hash>` for an Android app's own origin.
    pub origins: Vec<Url>,
    /// The name an authenticator shows (`PRODUCT_NAME`).
    pub rp_name: String,
    /// `WEBAUTHN_CHALLENGE_TTL` (named by this server; default 5m): how long a ceremony may take.
    pub challenge_ttl: Duration,
}

pub(super) fn read(
    vars: &Vars,
    public_url: &str,
    cors_origins: &[String],
    product_name: &str,
) -> Result<PasskeySettings, ConfigError> {
    let public = Url::parse(public_url).map_err(|e| bad("PUBLIC_URL", e.to_string()))?;
    let rp_id = match vars.get("WEBAUTHN_RP_ID") {
        Some(id) => id.to_ascii_lowercase(),
        None => public.host_str().unwrap_or_default().to_ascii_lowercase(),
    };
    let is_ip = rp_id.parse::<std::net::IpAddr>().is_ok() || rp_id.starts_with('[');
    let unavailable = (is_ip || rp_id.is_empty()).then(|| {
        format!(
            "passkeys need a domain name as WEBAUTHN_RP_ID (WebAuthn allows no IP address); set \
             WEBAUTHN_RP_ID, or PUBLIC_URL with a host name (got {rp_id:?})"
        )
    });
    let listed = vars.list("WEBAUTHN_ORIGINS");
    let origins = if listed.is_empty() {
        std::iter::once(public.origin().ascii_serialization())
            .chain(cors_origins.iter().cloned())
            .collect::<Vec<_>>()
    } else {
        listed
    };
    let origins = origins
        .iter()
        .map(|o| origin(o))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PasskeySettings {
        rp_id,
        unavailable,
        origins,
        rp_name: product_name.to_string(),
        challenge_ttl: vars.positive_duration("WEBAUTHN_CHALLENGE_TTL", Duration::from_secs(300)),
    })
}

/// An origin (`scheme://host[:port]`, nothing after) or an Android app's
/// `android:apk-key-hash:<base64url SHA-256 of its signing certificate>`.
fn origin(text: &str) -> Result<Url, ConfigError> {
    let problem = |why: &str| bad("WEBAUTHN_ORIGINS", format!("{text:?}: {why}"));
    if let Some(hash) = text.strip_prefix("android:apk-key-hash:") {
        if hash.is_empty()
            || !hash
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'+' | b'/'))
        {
            return Err(problem("not a base64 key hash"));
        }
        return Url::parse(text).map_err(|e| problem(&e.to_string()));
    }
    let url = Url::parse(text).map_err(|e| problem(&e.to_string()))?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty();
    if !bare {
        return Err(problem(
            "an origin is scheme://host[:port] and nothing else",
        ));
    }
    Ok(url)
}
