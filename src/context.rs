//! The state every handler and service shares. One struct (behind an `Arc`, so cloning per request
//! is a pointer copy) keeps handler signatures short and makes the dependencies of the request path
//! visible in one place.

mod role_cache;

use std::ops::Deref;
use std::sync::Arc;

use crate::config::{JwtAlg, Settings};
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::security::encryption::Keyring;
use crate::security::jwt::TokenKeys;
use crate::security::oidc::Providers;
use crate::security::one_time::CodeHasher;
use crate::security::passkeys::RelyingParty;
use crate::security::password::PasswordHasher;
use crate::security::pwned::PwnedPasswords;
use crate::store::Store;
pub use role_cache::RoleCache;

#[derive(Clone)]
pub struct AppContext(Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub passwords: PasswordHasher,
    pub tokens: TokenKeys,
    pub roles: RoleCache,
    pub metrics: Arc<Metrics>,
    pub mailer: Mailer,
    pub codes: CodeHasher,
    /// Seals TOTP secrets; `None` in production without ENCRYPTION_KEY (second factor off).
    pub keyring: Option<Keyring>,
    /// The breach service new passwords are looked up in; `None` unless PASSWORD_BREACH_CHECK.
    pub breach_check: Option<PwnedPasswords>,
    /// The sign-in providers of `OAUTH_PROVIDERS` (discovery runs when the server starts).
    pub providers: Providers,
    /// The WebAuthn relying party, or why passkeys are off.
    pub passkeys: RelyingParty,
}

impl AppContext {
    /// Builds the context from settings, an opened store and the resolved signing secret.
    pub async fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        secret: &[u8],
    ) -> anyhow::Result<Self> {
        let mut tokens = TokenKeys::new(
            secret,
            settings.tokens.access_ttl,
            settings.tokens.refresh_ttl,
            settings.tokens.jwt_issuer.clone(),
            settings.tokens.jwt_audience.clone(),
        );
        // Filled on first use: the database may not answer yet (see `Store::prepare`).
        let roles = RoleCache::default();
        let mailer = Mailer::new(&settings)?;
        let keyring = Keyring::from_settings(&settings)?;
        if settings.signing.alg == JwtAlg::EdDsa {
            anyhow::ensure!(
                keyring.is_some(),
                "JWT_ALG=EdDSA needs ENCRYPTION_KEY: it seals the private signing keys in the store"
            );
            // The keys come from the store once it answers (`service::signing_keys`).
            tokens = tokens.with_ed25519();
        }
        let breach_check = match &settings.passwords.breach_check {
            Some(check) => Some(PwnedPasswords::new(&check.url, check.timeout)?),
            None => None,
        };
        let providers = Providers::new(&settings.oauth)?;
        Ok(Self(Arc::new(Inner {
            breach_check,
            providers,
            passkeys: RelyingParty::new(&settings.passkeys),
            mailer,
            codes: CodeHasher::new(secret),
            keyring,
            passwords: PasswordHasher::new(
                settings.server.workers,
                settings.limits.password_hash_queue,
            ),
            settings,
            store,
            tokens,
            roles,
            metrics,
        })))
    }
}

impl Deref for AppContext {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
