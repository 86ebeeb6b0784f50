//! Sign-in providers (OpenID Connect, and GitHub's OAuth 2.0): which are on, their client
//! credentials, and the exact places a provider flow may return to.
//!
//! `OAUTH_PROVIDERS=google,apple,microsoft,github,<any id>`; per id `OAUTH_<ID>_CLIENT_ID`,
//! `_CLIENT_SECRET`, `_ISSUER`, `_SCOPES`, `_AUDIENCES`, and (named here, not by the presets)
//! `_NAME` and `_RESPONSE_MODE`. `<ID>` is the id upper-cased with `-` as `_`.

use std::borrow::Cow;

use url::Url;

use super::vars::Vars;
use super::{ConfigError, Environment, Secret, bad};

#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub providers: Vec<ProviderSettings>,
    /// `OAUTH_REDIRECT_URLS`, parsed: the only URLs a flow returns to, compared whole.
    pub redirect_urls: Vec<Url>,
    /// `OAUTH_SIGNUP`: an identity no account holds may create one.
    pub sign_up: bool,
    /// Where providers send the browser back: `PUBLIC_URL` + `/api/v1/auth/oauth/{id}/callback`.
    pub public_url: String,
    /// Providers left out in development because their variables are wrong (in production the
    /// same problem stops the start); logged as warnings at start.
    pub skipped: Vec<ConfigError>,
}

impl OAuthSettings {
    pub fn provider(&self, id: &str) -> Option<&ProviderSettings> {
        self.providers.iter().find(|p| p.id == id)
    }

    pub fn callback_url(&self, provider: &str) -> String {
        format!("{}/api/v1/auth/oauth/{provider}/callback", self.public_url)
    }
}

/// What the server knows about a provider beyond OpenID Connect discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Google,
    Apple,
    Microsoft,
    /// OAuth 2.0 without ID tokens: the person from the user API, the address from the emails API.
    GitHub,
    /// Any OpenID provider, by discovery from `_ISSUER`.
    Generic,
}

impl Preset {
    fn of(id: &str) -> Self {
        match id {
            "google" => Self::Google,
            "apple" => Self::Apple,
            "microsoft" => Self::Microsoft,
            "github" => Self::GitHub,
            _ => Self::Generic,
        }
    }

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::Google => "Google",
            Self::Apple => "Apple",
            Self::Microsoft => "Microsoft",
            Self::GitHub => "GitHub",
            Self::Generic => return None,
        })
    }

    fn issuer(self) -> Option<&'static str> {
        Some(match self {
            Self::Google => "https://accounts.google.com",
            Self::Apple => "https://appleid.apple.com",
            // Personal Microsoft accounts: the one multi-account issuer whose discovery document
            // names itself exactly. Work and school accounts: your tenant's issuer in `_ISSUER`.
            Self::Microsoft => {
                "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
            }
            // GitHub's web origin (authorize and token endpoints); GitHub Enterprise: its own.
            Self::GitHub => "https://github.com",
            Self::Generic => return None,
        })
    }

    fn scopes(self) -> &'static [&'static str] {
        match self {
            Self::Apple => &["openid", "email", "name"],
            Self::GitHub => &["read:user", "user:email"],
            _ => &["openid", "email", "profile"],
        }
    }

    /// Native SDKs of Apple and Google put the SHA-256 hex of the app's nonce in the ID token.
    pub fn hashes_native_nonce(self) -> bool {
        matches!(self, Self::Apple | Self::Google)
    }
}

/// How the provider returns the code: in the callback's query, or as a form POST (Apple).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// The client's credential toward the provider's token endpoint.
#[derive(Debug, Clone)]
pub enum ProviderSecret {
    /// A public client: PKCE alone (or a provider used only for native ID tokens).
    None,
    Static(Secret),
    /// Apple: an ES256 JWT the server signs with the key Apple issued.
    Apple {
        team_id: String,
        key_id: String,
        /// PKCS#8 PEM, as Apple hands it out (`AuthKey_<KEY_ID>.p8`).
        private_key: Secret,
    },
}

#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// Lower-case: `[a-z0-9_-]`, in the callback path.
    pub id: String,
    /// For the login page.
    pub name: String,
    pub preset: Preset,
    pub client_id: String,
    pub secret: ProviderSecret,
    pub issuer: String,
    pub scopes: Vec<String>,
    /// Other client ids whose ID tokens `POST /oauth/{id}/id-token` accepts (iOS, Android).
    pub audiences: Vec<String>,
    pub response_mode: ResponseMode,
    /// GitHub's REST API (`OAUTH_GITHUB_API_URL`; GitHub Enterprise: `https://HOST/api/v3`).
    pub api_url: Option<String>,
}

pub(super) fn read(
    vars: &Vars,
    environment: Environment,
    public_url: &str,
) -> Result<OAuthSettings, ConfigError> {
    let mut providers = Vec::new();
    let mut skipped = Vec::new();
    for id in vars.list("OAUTH_PROVIDERS") {
        match provider(vars, environment, &id.to_ascii_lowercase()) {
            Ok(p) if providers.iter().any(|q: &ProviderSettings| q.id == p.id) => {
                return Err(bad("OAUTH_PROVIDERS", format!("{id:?} is listed twice")));
            }
            Ok(p) => providers.push(p),
            Err(e) if environment == Environment::Development => skipped.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok(OAuthSettings {
        providers,
        redirect_urls: redirect_urls(vars, public_url)?,
        sign_up: vars.bool("OAUTH_SIGNUP", true),
        public_url: public_url.to_string(),
        skipped,
    })
}

fn provider(
    vars: &Vars,
    environment: Environment,
    id: &str,
) -> Result<ProviderSettings, ConfigError> {
    if id.is_empty()
        || id.len() > 32
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(bad(
            "OAUTH_PROVIDERS",
            format!("{id:?} is not a provider id (a-z, 0-9, _ and -, at most 32)"),
        ));
    }
    let prefix = format!("OAUTH_{}_", id.to_ascii_uppercase().replace('-', "_"));
    let var = |suffix: &str| -> Cow<'static, str> { format!("{prefix}{suffix}").into() };
    let get = |suffix: &str| vars.get(&format!("{prefix}{suffix}"));
    let preset = Preset::of(id);

    let client_id = get("CLIENT_ID").ok_or_else(|| bad(var("CLIENT_ID"), "is required"))?;
    let issuer = match (get("ISSUER"), preset.issuer()) {
        (Some(issuer), _) => issuer.trim_end_matches('/').to_string(),
        (None, Some(issuer)) => issuer.to_string(),
        (None, None) => {
            return Err(bad(
                var("ISSUER"),
                "is required for a provider without a preset (google, apple, microsoft, github)",
            ));
        }
    };
    let issuer_ok = match Url::parse(&issuer) {
        Ok(u) if u.scheme() == "https" => true,
        Ok(u) => u.scheme() == "http" && environment == Environment::Development,
        Err(_) => false,
    };
    if !issuer_ok {
        return Err(bad(
            var("ISSUER"),
            format!("must be an https:// URL (http:// in development only), got {issuer:?}"),
        ));
    }
    let list = |suffix: &str| vars.list(&format!("{prefix}{suffix}"));
    let mut scopes = list("SCOPES");
    if scopes.is_empty() {
        scopes = preset.scopes().iter().map(|s| s.to_string()).collect();
    } else if preset != Preset::GitHub && !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".into());
    }
    let response_mode = match get("RESPONSE_MODE").as_deref() {
        None if preset == Preset::Apple => ResponseMode::FormPost,
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(other) => {
            return Err(bad(
                var("RESPONSE_MODE"),
                format!("expected query or form_post, got {other:?}"),
            ));
        }
    };
    let api_url = (preset == Preset::GitHub).then(|| {
        get("API_URL")
            .unwrap_or_else(|| "https://api.github.com".into())
            .trim_end_matches('/')
            .to_string()
    });
    Ok(ProviderSettings {
        name: get("NAME")
            .or_else(|| preset.name().map(str::to_string))
            .unwrap_or_else(|| capitalised(id)),
        secret: secret(vars, &prefix, preset)?,
        id: id.to_string(),
        preset,
        client_id,
        issuer,
        scopes,
        audiences: list("AUDIENCES"),
        response_mode,
        api_url,
    })
}

/// `_CLIENT_SECRET`, or for Apple the three variables its signed secret is made from.
fn secret(vars: &Vars, prefix: &str, preset: Preset) -> Result<ProviderSecret, ConfigError> {
    let get = |suffix: &str| vars.get(&format!("{prefix}{suffix}"));
    if let Some(secret) = get("CLIENT_SECRET") {
        return Ok(ProviderSecret::Static(Secret::new(secret)));
    }
    if preset != Preset::Apple {
        return Ok(ProviderSecret::None);
    }
    match (get("TEAM_ID"), get("KEY_ID"), get("PRIVATE_KEY")) {
        (Some(team_id), Some(key_id), Some(key)) => Ok(ProviderSecret::Apple {
            team_id,
            key_id,
            // A PEM in one line of an env file: `\n` stands for its line breaks.
            private_key: Secret::new(key.replace("\\n", "\n")),
        }),
        (None, None, None) => Ok(ProviderSecret::None),
        (team, key_id, _) => {
            let missing = if team.is_none() {
                "TEAM_ID"
            } else if key_id.is_none() {
                "KEY_ID"
            } else {
                "PRIVATE_KEY"
            };
            Err(bad(
                format!("{prefix}{missing}"),
                "Apple's client secret needs TEAM_ID, KEY_ID and PRIVATE_KEY together",
            ))
        }
    }
}

/// `OAUTH_REDIRECT_URLS`; unset: this server's own sign-in page and console.
fn redirect_urls(vars: &Vars, public_url: &str) -> Result<Vec<Url>, ConfigError> {
    let mut listed = vars.list("OAUTH_REDIRECT_URLS");
    if listed.is_empty() {
        listed = vec![
            format!("{public_url}/sign-in"),
            format!("{public_url}/admin"),
        ];
    }
    listed
        .iter()
        .map(|entry| {
            let url = Url::parse(entry).map_err(|e| {
                bad(
                    "OAUTH_REDIRECT_URLS",
                    format!("{entry:?} is not a URL: {e}"),
                )
            })?;
            if url.cannot_be_a_base() {
                return Err(bad(
                    "OAUTH_REDIRECT_URLS",
                    format!("{entry:?} has no path to return to"),
                ));
            }
            if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
                return Err(bad(
                    "OAUTH_REDIRECT_URLS",
                    format!("{entry:?} carries userinfo or a fragment"),
                ));
            }
            if matches!(
                url.scheme(),
                "javascript" | "data" | "file" | "blob" | "vbscript"
            ) {
                return Err(bad(
                    "OAUTH_REDIRECT_URLS",
                    format!("{entry:?} has a scheme a page must never be sent to"),
                ));
            }
            Ok(url)
        })
        .collect()
}

fn capitalised(id: &str) -> String {
    let mut chars = id.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
