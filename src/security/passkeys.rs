//! The WebAuthn relying party: built once from the settings, or, when the RP id cannot work (an
//! IP address), the reason, which the passkey ceremonies (registering, signing in) answer with
//! 503 while nothing else stops.

use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

use crate::config::PasskeySettings;

pub struct RelyingParty {
    webauthn: Result<Webauthn, String>,
}

impl RelyingParty {
    pub fn new(settings: &PasskeySettings) -> Self {
        Self {
            webauthn: build(settings),
        }
    }

    /// The relying party, or why passkeys are off (naming the variable to set).
    pub fn get(&self) -> Result<&Webauthn, &str> {
        self.webauthn.as_ref().map_err(String::as_str)
    }
}

fn build(settings: &PasskeySettings) -> Result<Webauthn, String> {
    if let Some(why) = &settings.unavailable {
        return Err(why.clone());
    }
    // The builder wants one web origin under the RP id first; the others (more web origins, an
    // Android app's `android:apk-key-hash:`) are added after.
    let web = |u: &&Url| matches!(u.scheme(), "http" | "https");
    let first = settings
        .origins
        .iter()
        .find(web)
        .ok_or_else(|| "WEBAUTHN_ORIGINS names no web origin (https://host)".to_string())?;
    let mut builder = WebauthnBuilder::new(&settings.rp_id, first).map_err(|_| {
        format!(
            "WEBAUTHN_RP_ID {:?} is not the host of {first} or a parent domain of it",
            settings.rp_id
        )
    })?;
    builder = builder.rp_name(&settings.rp_name);
    for origin in settings.origins.iter().filter(|o| *o != first) {
        builder = builder.append_allowed_origin(origin);
    }
    builder.build().map_err(|e| format!("WEBAUTHN_RP_ID: {e}"))
}
