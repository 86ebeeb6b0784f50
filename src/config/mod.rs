//! Typed settings from the environment (and an optional `.env`), validated once at start.
//! A bad value stops the process with a message naming the variable; see `example.env`.
//!
//! One module per concern, each with its settings struct and the one function that reads it, so a
//! new variable lands beside its neighbours and no reader has to page through all of them.

mod keys;
mod limits;
mod logging;
mod mail;
mod oauth;
mod passkeys;
mod passwords;
mod server;
mod store;
mod tokens;
mod vars;

use std::borrow::Cow;
use std::fmt;

pub use keys::{EncryptionSettings, JwtAlg, SigningSettings};
pub use limits::{Limit, LimitSettings};
pub use logging::{LogFormat, LogSettings};
pub use mail::MailSettings;
pub use oauth::{OAuthSettings, Preset, ProviderSecret, ProviderSettings, ResponseMode};
pub use passkeys::PasskeySettings;
pub use passwords::{BreachCheck, PasswordSettings};
pub use server::ServerSettings;
pub use store::StoreSettings;
pub use tokens::{MIN_SECRET_LEN, SameSite, TokenSettings};
use vars::Vars;

/// `development` (the default) or `production`; production refuses unsafe defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub server: ServerSettings,
    pub store: StoreSettings,
    pub logging: LogSettings,
    pub tokens: TokenSettings,
    pub limits: LimitSettings,
    pub mail: MailSettings,
    pub oauth: OAuthSettings,
    pub passkeys: PasskeySettings,
    pub passwords: PasswordSettings,
    pub encryption: EncryptionSettings,
    pub signing: SigningSettings,
}

/// A configured secret (a key, a token, a URL with a password). `Debug` never prints it, so
/// formatting the settings into a log line is safe.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(crate::domain::REDACTED)
    }
}

/// A configuration problem, always naming the variable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid configuration: {var}: {problem}")]
pub struct ConfigError {
    /// Owned for the variables whose names are made from a provider's id (`OAUTH_<ID>_...`).
    pub var: Cow<'static, str>,
    pub problem: String,
}

fn bad(var: impl Into<Cow<'static, str>>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var: var.into(),
        problem: problem.into(),
    }
}

/// The value of a concern that read cleanly; otherwise its problem joins the others.
fn keep<T>(problems: &mut Vec<ConfigError>, read: Result<T, ConfigError>) -> Option<T> {
    read.map_err(|problem| problems.push(problem)).ok()
}

impl Settings {
    /// Reads `.env` (if present; real environment variables win) and then the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(bad("(.env)", e.to_string())),
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds settings from any variable lookup; empty values count as unset. The error is the
    /// first problem; [`Settings::check`] gives them all.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::check(lookup).map_err(|problems| problems.into_iter().next().expect("a problem"))
    }

    /// Like [`Settings::from_env`], with every problem.
    pub fn check_env() -> Result<Self, Vec<ConfigError>> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(vec![bad("(.env)", e.to_string())]),
        }
        Self::check(|name| std::env::var(name).ok())
    }

    /// Reads every variable and reports every problem, not only the first (never an empty list).
    /// A concern that depends on another (mail on the port, passkeys and providers on the public
    /// URL) is checked once that one reads cleanly.
    pub fn check(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        let vars = Vars::new(&lookup);
        let mut problems = Vec::new();
        let environment = vars.choice(
            "ENVIRONMENT",
            Environment::Development,
            &[
                ("development", Environment::Development),
                ("dev", Environment::Development),
                ("production", Environment::Production),
                ("prod", Environment::Production),
            ],
        );
        let server = keep(&mut problems, server::read(&vars));
        let mail = keep(
            &mut problems,
            mail::read(
                &vars,
                server.as_ref().map_or(server::DEFAULT_PORT, |s| s.port),
            ),
        );
        let passkeys = match (&server, &mail) {
            (Some(server), Some(mail)) => keep(
                &mut problems,
                passkeys::read(
                    &vars,
                    &mail.public_url,
                    &server.cors_origins,
                    &mail.product_name,
                ),
            ),
            _ => None,
        };
        let oauth = mail.as_ref().and_then(|mail| {
            keep(
                &mut problems,
                oauth::read(&vars, environment, &mail.public_url),
            )
        });
        let store = keep(&mut problems, store::read(&vars));
        let logging = keep(&mut problems, logging::read(&vars));
        let tokens = tokens::read(&vars, environment);
        let limits = keep(&mut problems, limits::read(&vars));
        let passwords = keep(&mut problems, passwords::read(&vars));
        let signing = keep(&mut problems, keys::signing(&vars));
        let encryption = keys::encryption(&vars);
        if let Some(signing) = &signing
            && signing.alg == JwtAlg::EdDsa
            && environment == Environment::Production
            && encryption.key.is_none()
        {
            problems.push(bad(
                "ENCRYPTION_KEY",
                "required with JWT_ALG=EdDSA: it seals the private signing keys in the store",
            ));
        }
        let mut all = vars.into_problems();
        all.append(&mut problems);
        match (
            server, mail, passkeys, oauth, store, logging, limits, passwords, signing,
        ) {
            (
                Some(server),
                Some(mail),
                Some(passkeys),
                Some(oauth),
                Some(store),
                Some(logging),
                Some(limits),
                Some(passwords),
                Some(signing),
            ) if all.is_empty() => Ok(Self {
                oauth,
                passkeys,
                store,
                logging,
                tokens,
                limits,
                mail,
                passwords,
                encryption,
                signing,
                server,
                environment,
            }),
            _ => Err(all),
        }
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::IpAddr;
    use std::time::Duration;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_safe_and_local() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.environment, Environment::Development);
        assert_eq!(s.server.host, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(s.server.port, 8000);
        assert!(s.store.mongo_url.is_none());
        assert_eq!(s.tokens.access_ttl, Duration::from_secs(900));
        assert_eq!(s.tokens.refresh_ttl, Duration::from_secs(30 * 86_400));
    }

    #[test]
    fn production_needs_a_long_secret() {
        let err = settings(&[("ENVIRONMENT", "production")]).unwrap_err();
        assert_eq!(err.var, "SECRET_KEY");
        let err = settings(&[("ENVIRONMENT", "production"), ("SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(err.var, "SECRET_KEY");
        for guessable in ["k".repeat(32), "abcdefgh".repeat(4), "ab".repeat(24)] {
            let err =
                settings(&[("ENVIRONMENT", "production"), ("SECRET_KEY", &guessable)]).unwrap_err();
            assert_eq!(err.var, "SECRET_KEY", "{guessable}");
        }
        let key = "Vq3xT9pL2mZ8rK4wN7bJ6hF1dS5gY0cA";
        assert!(settings(&[("ENVIRONMENT", "production"), ("SECRET_KEY", key)]).is_ok());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("PORT", "eighty"),
            ("PORT", "70000"),
            ("WORKERS", "0"),
            ("HOST", "not-an-ip"),
            ("LOG_FORMAT", "xml"),
            ("ENVIRONMENT", "staging"),
            ("ACCESS_TOKEN_TTL", "15x"),
            ("MONGO_URL", "postgres://x"),
            ("CORS_ORIGINS", "*"),
            ("CORS_ORIGINS", "https://a.example/path"),
            ("TRUSTED_PROXIES", "10.0.0.0/99"),
            ("RATE_LIMIT_LOGIN", "30"),
            ("RATE_LIMIT_LOGIN", "0/5m"),
            ("LOGIN_LOCKOUT", "10/0s"),
            ("MAX_IN_FLIGHT", "0"),
            ("REQUEST_TIMEOUT", "0"),
            ("MAX_BODY_BYTES", "big"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{var}={value}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let vars: std::collections::HashMap<&str, &str> = [
            ("ENVIRONMENT", "production"),
            ("PORT", "eighty"),
            ("LOG_FORMAT", "xml"),
            ("RATE_LIMIT_LOGIN", "30"),
            ("MONGO_URL", "postgres://x"),
            ("COOKIE_SAMESITE", "sometimes"),
        ]
        .into_iter()
        .collect();
        let problems = Settings::check(|k| vars.get(k).map(|v| v.to_string())).unwrap_err();
        let mut named: Vec<&str> = problems.iter().map(|p| p.var.as_ref()).collect();
        named.sort_unstable();
        assert_eq!(
            named,
            [
                "COOKIE_SAMESITE",
                "LOG_FORMAT",
                "MONGO_URL",
                "PORT",
                "RATE_LIMIT_LOGIN",
                "SECRET_KEY"
            ]
        );
    }

    #[test]
    fn providers_come_from_presets_or_discovery() {
        let s = settings(&[
            ("OAUTH_PROVIDERS", "google, GitHub, my-idp"),
            ("OAUTH_GOOGLE_CLIENT_ID", "g"),
            ("OAUTH_GITHUB_CLIENT_ID", "h"),
            ("OAUTH_MY_IDP_CLIENT_ID", "m"),
            ("OAUTH_MY_IDP_ISSUER", "https://idp.example/realms/x/"),
            ("OAUTH_MY_IDP_SCOPES", "email"),
        ])
        .unwrap();
        let ids: Vec<&str> = s.oauth.providers.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["google", "github", "my-idp"]);
        let google = s.oauth.provider("google").unwrap();
        assert_eq!(google.issuer, "https://accounts.google.com");
        assert_eq!(google.name, "Google");
        assert!(google.preset.hashes_native_nonce());
        let mine = s.oauth.provider("my-idp").unwrap();
        assert_eq!(mine.issuer, "https://idp.example/realms/x");
        assert_eq!(
            mine.scopes,
            ["openid", "email"],
            "openid is always asked for"
        );
        assert_eq!(mine.name, "My-idp");
        assert_eq!(
            s.oauth.provider("github").unwrap().api_url.as_deref(),
            Some("https://api.github.com")
        );
        assert_eq!(
            s.oauth.callback_url("google"),
            "http://localhost:8000/api/v1/auth/oauth/google/callback"
        );
        let redirects: Vec<&str> = s.oauth.redirect_urls.iter().map(|u| u.as_str()).collect();
        assert_eq!(
            redirects,
            [
                "http://localhost:8000/sign-in",
                "http://localhost:8000/admin"
            ]
        );
    }

    #[test]
    fn a_wrong_provider_stops_production_and_is_left_out_in_development() {
        let key = ("SECRET_KEY", "Vq3xT9pL2mZ8rK4wN7bJ6hF1dS5gY0cA");
        let prod = ("ENVIRONMENT", "production");
        let err = settings(&[prod, key, ("OAUTH_PROVIDERS", "google")]).unwrap_err();
        assert_eq!(err.var, "OAUTH_GOOGLE_CLIENT_ID");
        let err = settings(&[
            prod,
            key,
            ("OAUTH_PROVIDERS", "corp"),
            ("OAUTH_CORP_CLIENT_ID", "c"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "OAUTH_CORP_ISSUER");
        let plain_http = [
            prod,
            key,
            ("OAUTH_PROVIDERS", "corp"),
            ("OAUTH_CORP_CLIENT_ID", "c"),
            ("OAUTH_CORP_ISSUER", "http://idp.example"),
        ];
        assert_eq!(settings(&plain_http).unwrap_err().var, "OAUTH_CORP_ISSUER");
        let apple = [
            prod,
            key,
            ("OAUTH_PROVIDERS", "apple"),
            ("OAUTH_APPLE_CLIENT_ID", "com.example"),
            ("OAUTH_APPLE_TEAM_ID", "T"),
        ];
        assert_eq!(settings(&apple).unwrap_err().var, "OAUTH_APPLE_KEY_ID");

        let dev = settings(&[
            ("OAUTH_PROVIDERS", "google,corp"),
            ("OAUTH_CORP_CLIENT_ID", "c"),
            ("OAUTH_CORP_ISSUER", "http://localhost:9000"),
        ])
        .unwrap();
        let ids: Vec<&str> = dev.oauth.providers.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["corp"], "http issuers are fine in development");
        assert_eq!(dev.oauth.skipped.len(), 1);
        assert_eq!(dev.oauth.skipped[0].var, "OAUTH_GOOGLE_CLIENT_ID");
    }

    #[test]
    fn redirect_urls_are_checked_at_start() {
        for bad in [
            "not a url",
            "https://app.example/cb#x",
            "https://user@app.example/cb",
            "javascript:alert(1)",
            "mailto:a@example.com",
        ] {
            let err = settings(&[("OAUTH_REDIRECT_URLS", bad)]).unwrap_err();
            assert_eq!(err.var, "OAUTH_REDIRECT_URLS", "{bad}");
        }
        let s = settings(&[(
            "OAUTH_REDIRECT_URLS",
            "https://app.example/cb, com.example.app:/oauth",
        )])
        .unwrap();
        assert_eq!(s.oauth.redirect_urls.len(), 2);
        let twice = [
            ("OAUTH_PROVIDERS", "google,Google"),
            ("OAUTH_GOOGLE_CLIENT_ID", "g"),
        ];
        assert_eq!(settings(&twice).unwrap_err().var, "OAUTH_PROVIDERS");
        let odd = settings(&[("OAUTH_PROVIDERS", "x y")]).unwrap();
        assert_eq!(
            odd.oauth.skipped[0].var, "OAUTH_PROVIDERS",
            "not an id: left out in development"
        );
    }

    #[test]
    fn durations_take_units() {
        let s = settings(&[("ACCESS_TOKEN_TTL", "5m"), ("REFRESH_TOKEN_TTL", "2d")]).unwrap();
        assert_eq!(s.tokens.access_ttl, Duration::from_secs(300));
        assert_eq!(s.tokens.refresh_ttl, Duration::from_secs(172_800));
        let s = settings(&[(
            "CORS_ORIGINS",
            "https://app.example, http://localhost:3000/",
        )])
        .unwrap();
        assert_eq!(
            s.server.cors_origins,
            ["https://app.example", "http://localhost:3000"]
        );
    }
}
