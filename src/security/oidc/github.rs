//! GitHub: OAuth 2.0 without ID tokens. The code is swapped for an access token (with PKCE),
//! which reads the person from the user API and the address from the emails API: only an entry
//! that is both primary and verified counts, since GitHub lets anyone add an address they do
//! not own to a profile.

use openidconnect::core::CoreClient;
use openidconnect::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, IssuerUrl, JsonWebKeySet,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, TokenUrl,
};
use serde::Deserialize;

use super::{AuthorizationRequest, ProviderError, ProviderPerson};
use crate::config::{ProviderSecret, ProviderSettings};

pub(super) struct GitHubProvider {
    settings: ProviderSettings,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct GitHubUser {
    id: u64,
    login: String,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

impl GitHubProvider {
    pub(super) fn new(settings: &ProviderSettings, http: reqwest::Client) -> Self {
        Self {
            settings: settings.clone(),
            http,
        }
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.settings.issuer)
    }

    pub(super) fn authorize_url(
        &self,
        redirect_uri: &str,
        request: &AuthorizationRequest<'_>,
    ) -> Result<String, ProviderError> {
        let mut url = url::Url::parse(&self.endpoint("/login/oauth/authorize"))
            .map_err(|e| ProviderError::Misconfigured(e.to_string()))?;
        let verifier = PkceCodeVerifier::new(request.pkce_verifier.to_string());
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &self.settings.scopes.join(" "))
            .append_pair("state", request.state)
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256")
            .append_pair("allow_signup", "true");
        Ok(url.to_string())
    }

    pub(super) async fn finish(
        &self,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: &str,
    ) -> Result<ProviderPerson, ProviderError> {
        let misconfigured = |e: String| ProviderError::Misconfigured(e);
        // The OpenID client type serves plain OAuth 2.0 too: GitHub's answer has no ID token.
        let mut client = CoreClient::new(
            ClientId::new(self.settings.client_id.clone()),
            IssuerUrl::new(self.settings.issuer.clone())
                .map_err(|e| misconfigured(e.to_string()))?,
            JsonWebKeySet::new(Vec::new()),
        )
        .set_auth_uri(
            AuthUrl::new(self.endpoint("/login/oauth/authorize"))
                .map_err(|e| misconfigured(e.to_string()))?,
        )
        .set_token_uri(
            TokenUrl::new(self.endpoint("/login/oauth/access_token"))
                .map_err(|e| misconfigured(e.to_string()))?,
        )
        .set_redirect_uri(
            RedirectUrl::new(redirect_uri.to_string()).map_err(|e| misconfigured(e.to_string()))?,
        );
        if let ProviderSecret::Static(secret) = &self.settings.secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().into()));
        }
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&self.http)
            .await
            .map_err(super::token_error)?;
        let access = token.access_token().secret();
        let user: GitHubUser = self.api(access, "/user").await?;
        let emails: Vec<GitHubEmail> = self.api(access, "/user/emails").await?;
        let email = emails.into_iter().find(|e| e.primary && e.verified);
        Ok(ProviderPerson {
            subject: user.id.to_string(),
            email_verified: email.is_some(),
            email: email.map(|e| e.email),
            preferred_name: Some(user.login),
        })
    }

    async fn api<T: serde::de::DeserializeOwned>(
        &self,
        access_token: &str,
        path: &str,
    ) -> Result<T, ProviderError> {
        let base = self
            .settings
            .api_url
            .as_deref()
            .unwrap_or("https://api.github.com");
        let response = self
            .http
            .get(format!("{base}{path}"))
            .bearer_auth(access_token)
            .header("Accept", "application/vnd.github+json")
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(format!("GitHub {path}: {e}")))?;
        if !response.status().is_success() {
            return Err(ProviderError::Unavailable(format!(
                "GitHub {path} answered {}",
                response.status()
            )));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| ProviderError::Unavailable(format!("GitHub {path}: {e}")))?;
        serde_json::from_slice(&body)
            .map_err(|e| ProviderError::Unavailable(format!("GitHub {path}: {e}")))
    }
}
