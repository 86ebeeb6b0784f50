//! The server as a client of sign-in providers: OpenID Connect by discovery (Google, Apple,
//! Microsoft, any provider), and GitHub's OAuth 2.0. This module speaks to providers and checks
//! what they say; which account a person signs into is the service's business.
//!
//! - One HTTP client for all providers: no redirects followed and short timeouts, so a provider
//!   URL can never be turned into a request to somewhere else, or hold a request up for long.
//! - Discovery runs at start. A provider that cannot be reached then is retried on use (at most
//!   every [`RETRY_AFTER`]), so one provider being down never stops the server or the others.
//! - ID tokens: the signature by the provider's JWKS with the algorithm pinned to the key's type
//!   (no `none`, no HMAC: a public key is never taken for a shared secret), `iss` exact, `aud`,
//!   `exp`, `nonce`. A key id the cached JWKS does not know refetches it once, at most every
//!   [`RETRY_AFTER`], so a provider's key rotation works and a flood of made-up ids costs the
//!   provider one request.

mod apple;
mod github;
mod openid;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{OAuthSettings, Preset, ProviderSettings};

/// How often an unreachable provider or an unknown key id may cause a request to the provider.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// A provider's answer about the person who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPerson {
    /// The provider's stable id for the person (`sub`; GitHub's numeric id).
    pub subject: String,
    pub email: Option<String>,
    /// Only `true` when the provider says so of this address.
    pub email_verified: bool,
    /// A name to make a username from (`preferred_username`, `name`, GitHub's login).
    pub preferred_name: Option<String>,
}

/// Why a provider step failed. The `Display` texts are safe to show and log: no token, code or
/// secret is ever part of them.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached or answered nonsense.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the code (used, expired, or not for this client).
    #[error("the provider refused the code: {0}")]
    Refused(String),
    /// The ID token failed a check.
    #[error("invalid ID token: {0}")]
    InvalidIdToken(String),
    /// The server's own configuration for the provider is unusable (Apple's key).
    #[error("the provider is misconfigured: {0}")]
    Misconfigured(String),
}

/// The authorization request's secrets, made by the caller and kept in the store.
pub struct AuthorizationRequest<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    pub pkce_verifier: &'a str,
}

/// One configured provider.
pub struct Provider {
    pub settings: ProviderSettings,
    redirect_uri: String,
    protocol: Protocol,
}

/// Boxed: the two differ much in size, and a provider is built once.
enum Protocol {
    OpenId(Box<openid::OpenIdProvider>),
    GitHub(Box<github::GitHubProvider>),
}

impl Provider {
    pub fn id(&self) -> &str {
        &self.settings.id
    }

    /// Where to send the browser: the provider's authorization endpoint with state, nonce and
    /// the PKCE S256 challenge.
    pub async fn authorize_url(
        &self,
        request: &AuthorizationRequest<'_>,
    ) -> Result<String, ProviderError> {
        match &self.protocol {
            Protocol::OpenId(p) => p.authorize_url(&self.redirect_uri, request).await,
            Protocol::GitHub(p) => p.authorize_url(&self.redirect_uri, request),
        }
    }

    /// Swaps the callback's code (with the PKCE verifier) and says who signed in, after every
    /// check of the ID token against `nonce`.
    pub async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<ProviderPerson, ProviderError> {
        match &self.protocol {
            Protocol::OpenId(p) => {
                p.finish(&self.redirect_uri, code, pkce_verifier, nonce)
                    .await
            }
            Protocol::GitHub(p) => p.finish(&self.redirect_uri, code, pkce_verifier).await,
        }
    }

    /// Checks an ID token a native app got from the provider itself (Sign in with Apple or
    /// Google on the device): `aud` is the client id or one of `_AUDIENCES`, and a token that
    /// carries a nonce needs the app's (SHA-256 hex of it for the Apple and Google presets,
    /// whose SDKs put that in the token).
    pub async fn verify_native(
        &self,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<ProviderPerson, ProviderError> {
        match &self.protocol {
            Protocol::OpenId(p) => p.verify_native(id_token, nonce).await,
            Protocol::GitHub(_) => Err(ProviderError::InvalidIdToken(
                "GitHub issues no ID tokens".into(),
            )),
        }
    }

    /// Whether the provider takes the code back as a form POST (Apple).
    pub fn uses_form_post(&self) -> bool {
        self.settings.response_mode == crate::config::ResponseMode::FormPost
    }
}

/// Every configured provider, by id, in the configured order.
pub struct Providers {
    ordered: Vec<Arc<Provider>>,
    by_id: HashMap<String, Arc<Provider>>,
}

impl Providers {
    /// Builds the clients; fails on an Apple key that cannot be read, naming its variable.
    pub fn new(settings: &OAuthSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            // A provider's URLs are the only places this client may go.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("authkit/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut ordered = Vec::new();
        for p in &settings.providers {
            let protocol = match p.preset {
                Preset::GitHub => {
                    Protocol::GitHub(Box::new(github::GitHubProvider::new(p, http.clone())))
                }
                _ => Protocol::OpenId(Box::new(
                    openid::OpenIdProvider::new(p, http.clone())
                        .map_err(|e| anyhow::anyhow!("{}: {e}", var(p, "PRIVATE_KEY")))?,
                )),
            };
            ordered.push(Arc::new(Provider {
                redirect_uri: settings.callback_url(&p.id),
                settings: p.clone(),
                protocol,
            }));
        }
        let by_id = ordered
            .iter()
            .map(|p| (p.settings.id.clone(), p.clone()))
            .collect();
        Ok(Self { ordered, by_id })
    }

    /// Runs discovery for every OpenID provider at once, before the server takes requests. A
    /// provider that fails is logged, naming its variable (an error in production, a warning in
    /// development), and retried on use; the others and every other sign-in method work.
    pub async fn discover_all(&self, production: bool) {
        let runs = self.ordered.iter().filter_map(|p| match &p.protocol {
            Protocol::OpenId(openid) => Some(async move { (p, openid.discover().await) }),
            Protocol::GitHub(_) => None,
        });
        for (p, outcome) in futures_util::future::join_all(runs).await {
            if let Err(e) = outcome {
                let var = var(&p.settings, "ISSUER");
                if production {
                    tracing::error!(provider = %p.settings.id, %var, error = %e, "sign-in provider unavailable at start; retried on use");
                } else {
                    tracing::warn!(provider = %p.settings.id, %var, error = %e, "sign-in provider unavailable at start; retried on use");
                }
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Provider>> {
        self.by_id.get(id)
    }

    pub fn all(&self) -> &[Arc<Provider>] {
        &self.ordered
    }
}

/// A provider's variable, for messages: `OAUTH_GOOGLE_ISSUER`.
fn var(p: &ProviderSettings, suffix: &str) -> String {
    format!(
        "OAUTH_{}_{suffix}",
        p.id.to_ascii_uppercase().replace('-', "_")
    )
}

/// A token endpoint's answer that is no token: a refusal of the code (used, expired, not for
/// this client), or a failure to reach the endpoint or read its answer.
fn token_error(
    e: openidconnect::RequestTokenError<
        openidconnect::HttpClientError<reqwest::Error>,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> ProviderError {
    match e {
        openidconnect::RequestTokenError::ServerResponse(r) => {
            ProviderError::Refused(r.error().to_string())
        }
        other => ProviderError::Unavailable(describe(&other)),
    }
}

/// An error and its causes in one line (the library's top-level texts are terse).
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
