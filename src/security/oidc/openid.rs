//! An OpenID Connect provider by discovery: its metadata and JWKS cached, the authorization
//! code flow with PKCE and nonce, and every check of an ID token.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenClaims, CoreIdTokenVerifier,
    CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError,
    TokenResponse,
};
use sha2::{Digest, Sha256};

use super::{AuthorizationRequest, ProviderError, ProviderPerson, RETRY_AFTER, apple, describe};
use crate::config::{ProviderSecret, ProviderSettings, ResponseMode};

/// Signatures by a provider's public keys only. HMAC (`HS*`) would make the client secret, or
/// worse a public key read as one, a signing key; `none` is not a signature.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

pub(super) struct OpenIdProvider {
    settings: ProviderSettings,
    http: reqwest::Client,
    secret: Credential,
    /// Discovery's answer with the JWKS; `None` until the provider has answered once.
    metadata: RwLock<Option<Arc<CoreProviderMetadata>>>,
    /// The last request to the provider for metadata or keys: the rate of refetches.
    last_fetch: Mutex<Option<Instant>>,
}

enum Credential {
    None,
    Static(ClientSecret),
    Apple(apple::AppleSecret),
}

impl OpenIdProvider {
    /// Fails only on an Apple key that cannot be read.
    pub(super) fn new(settings: &ProviderSettings, http: reqwest::Client) -> Result<Self, String> {
        let secret = match &settings.secret {
            ProviderSecret::None => Credential::None,
            ProviderSecret::Static(s) => Credential::Static(ClientSecret::new(s.expose().into())),
            ProviderSecret::Apple {
                team_id,
                key_id,
                private_key,
            } => Credential::Apple(apple::AppleSecret::new(
                team_id,
                key_id,
                &settings.client_id,
                private_key.expose(),
            )?),
        };
        Ok(Self {
            settings: settings.clone(),
            http,
            secret,
            metadata: RwLock::new(None),
            last_fetch: Mutex::new(None),
        })
    }

    /// Fetches the discovery document and the JWKS it names. The issuer it states must be the
    /// configured one exactly.
    pub(super) async fn discover(&self) -> Result<Arc<CoreProviderMetadata>, ProviderError> {
        *self.last_fetch.lock().expect("lock") = Some(Instant::now());
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| ProviderError::Unavailable(describe(&e)))?;
        let metadata = Arc::new(metadata);
        *self.metadata.write().expect("lock") = Some(metadata.clone());
        Ok(metadata)
    }

    /// The cached metadata, or a new discovery if the last attempt failed long enough ago.
    async fn metadata(&self) -> Result<Arc<CoreProviderMetadata>, ProviderError> {
        if let Some(m) = self.metadata.read().expect("lock").clone() {
            return Ok(m);
        }
        if !self.may_fetch() {
            return Err(ProviderError::Unavailable(
                "discovery failed moments ago".into(),
            ));
        }
        self.discover().await
    }

    /// Whether a request to the provider is allowed now (none in the last [`RETRY_AFTER`]);
    /// claims the slot if so.
    fn may_fetch(&self) -> bool {
        let mut last = self.last_fetch.lock().expect("lock");
        let due = last.is_none_or(|at| at.elapsed() >= RETRY_AFTER);
        if due {
            *last = Some(Instant::now());
        }
        due
    }

    /// Refetches the JWKS (a key id the cached set lacks: the provider may have rotated its
    /// keys); `None` when a refetch ran less than [`RETRY_AFTER`] ago or failed.
    async fn refetch_keys(
        &self,
        metadata: &CoreProviderMetadata,
    ) -> Option<Arc<CoreProviderMetadata>> {
        if !self.may_fetch() {
            return None;
        }
        match CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http).await {
            Ok(keys) => {
                let refreshed = Arc::new(metadata.clone().set_jwks(keys));
                *self.metadata.write().expect("lock") = Some(refreshed.clone());
                Some(refreshed)
            }
            Err(e) => {
                tracing::warn!(provider = %self.settings.id, error = %describe(&e), "refetching the provider's keys failed");
                None
            }
        }
    }

    fn client_secret(&self) -> Result<Option<ClientSecret>, ProviderError> {
        Ok(match &self.secret {
            Credential::None => None,
            Credential::Static(s) => Some(s.clone()),
            Credential::Apple(a) => Some(ClientSecret::new(
                a.sign().map_err(ProviderError::Misconfigured)?,
            )),
        })
    }

    pub(super) async fn authorize_url(
        &self,
        redirect_uri: &str,
        request: &AuthorizationRequest<'_>,
    ) -> Result<String, ProviderError> {
        let metadata = self.metadata().await?;
        let client = CoreClient::from_provider_metadata(
            (*metadata).clone(),
            ClientId::new(self.settings.client_id.clone()),
            None,
        )
        .set_redirect_uri(redirect(redirect_uri)?);
        let (state, nonce) = (request.state.to_string(), request.nonce.to_string());
        let verifier = PkceCodeVerifier::new(request.pkce_verifier.to_string());
        let mut auth = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
        // `openid` is always sent.
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            auth = auth.add_scope(Scope::new(scope.clone()));
        }
        if self.settings.response_mode == ResponseMode::FormPost {
            auth = auth.add_extra_param("response_mode", "form_post");
        }
        Ok(auth.url().0.to_string())
    }

    pub(super) async fn finish(
        &self,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<ProviderPerson, ProviderError> {
        let metadata = self.metadata().await?;
        let client = CoreClient::from_provider_metadata(
            (*metadata).clone(),
            ClientId::new(self.settings.client_id.clone()),
            self.client_secret()?,
        )
        .set_redirect_uri(redirect(redirect_uri)?);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| ProviderError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&self.http)
            .await
            .map_err(super::token_error)?;
        let id_token = response
            .id_token()
            .ok_or_else(|| ProviderError::InvalidIdToken("the provider sent no ID token".into()))?;
        let expected = Nonce::new(nonce.to_string());
        self.checked(metadata, id_token, Audience::ClientOnly, |found| {
            nonce_matches(found, Some(expected.secret()))
        })
        .await
    }

    pub(super) async fn verify_native(
        &self,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<ProviderPerson, ProviderError> {
        let token: CoreIdToken = id_token
            .parse()
            .map_err(|_| ProviderError::InvalidIdToken("not a signed JWT".into()))?;
        let metadata = self.metadata().await?;
        let expected = nonce.map(|n| {
            if self.settings.preset.hashes_native_nonce() {
                crate::security::one_time::hex(&Sha256::digest(n.as_bytes()))
            } else {
                n.to_string()
            }
        });
        self.checked(metadata, &token, Audience::AnyConfigured, |found| {
            nonce_matches(found, expected.as_deref())
        })
        .await
    }

    /// Verifies `token`; a key id the cached keys lack refetches them once and tries again.
    async fn checked(
        &self,
        metadata: Arc<CoreProviderMetadata>,
        token: &CoreIdToken,
        audience: Audience,
        nonce: impl Fn(Option<&Nonce>) -> Result<(), String>,
    ) -> Result<ProviderPerson, ProviderError> {
        match self.verify(&metadata, token, audience, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => match self.refetch_keys(&metadata).await {
                Some(refreshed) => self.verify(&refreshed, token, audience, &nonce),
                None => Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                )),
            },
            other => other,
        }
        .map_err(|e| ProviderError::InvalidIdToken(e.to_string()))
    }

    fn verify(
        &self,
        metadata: &CoreProviderMetadata,
        token: &CoreIdToken,
        audience: Audience,
        nonce: &impl Fn(Option<&Nonce>) -> Result<(), String>,
    ) -> Result<ProviderPerson, ClaimsVerificationError> {
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.settings.client_id.clone()),
            metadata.issuer().clone(),
            metadata.jwks().clone(),
        )
        .set_allowed_algs(ALLOWED_ALGS)
        // Native tokens name the app's client id (iOS, Android): checked below instead.
        .require_audience_match(audience == Audience::ClientOnly);
        let claims = token.claims(&verifier, |found: Option<&Nonce>| nonce(found))?;
        if audience == Audience::AnyConfigured {
            self.check_native_audience(claims)?;
        }
        Ok(person(claims))
    }

    /// Every audience of a native token is the client id or one of `_AUDIENCES`: a token made
    /// for some other app of the same provider signs nobody in here.
    fn check_native_audience(
        &self,
        claims: &CoreIdTokenClaims,
    ) -> Result<(), ClaimsVerificationError> {
        let ours = |aud: &str| {
            aud == self.settings.client_id || self.settings.audiences.iter().any(|a| a == aud)
        };
        let audiences = claims.audiences();
        if audiences.is_empty() || !audiences.iter().all(|a| ours(a)) {
            return Err(ClaimsVerificationError::InvalidAudience(
                "not issued for this application".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// A token from our own code exchange: `aud` holds our client id.
    ClientOnly,
    /// A token from a native app: the client id or one of `_AUDIENCES`.
    AnyConfigured,
}

/// The nonce rule: a token that carries a nonce must carry the expected one, and a request that
/// expects one refuses a token without it. Compared by digest, in constant time as the library
/// does.
fn nonce_matches(found: Option<&Nonce>, expected: Option<&str>) -> Result<(), String> {
    match (found, expected) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err("the token carries no nonce".into()),
        (Some(_), None) => Err("the token carries a nonce; send it".into()),
        (Some(found), Some(expected)) => {
            if Sha256::digest(found.secret().as_bytes()) == Sha256::digest(expected.as_bytes()) {
                Ok(())
            } else {
                Err("nonce mismatch".into())
            }
        }
    }
}

fn person(claims: &CoreIdTokenClaims) -> ProviderPerson {
    ProviderPerson {
        subject: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
        email_verified: claims.email_verified().unwrap_or(false),
        preferred_name: claims
            .preferred_username()
            .map(|u| u.to_string())
            .or_else(|| {
                claims
                    .name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.to_string())
            }),
    }
}

fn redirect(uri: &str) -> Result<RedirectUrl, ProviderError> {
    RedirectUrl::new(uri.to_string()).map_err(|e| ProviderError::Misconfigured(e.to_string()))
}
