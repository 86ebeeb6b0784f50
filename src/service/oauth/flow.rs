//! The browser flow: authorize → the provider → callback → the app's code exchange.
//!
//! The attacks, and what stops each:
//! - **Forged or replayed callback** (login CSRF, a state used twice): the state is a random
//!   secret whose hash files the flow in the store, taken once; and the flow is bound to the
//!   browser that started it by an HttpOnly cookie whose hash the flow keeps, so a callback URL
//!   carried to another browser finds no match.
//! - **A stolen provider code**: useless without the PKCE verifier, which never leaves the store.
//! - **A mixed-up ID token** (another client's, an old one, a replay): `iss`, `aud`, `exp`,
//!   the signature, and the nonce this flow made (see `security::oidc`).
//! - **Open redirect**: `redirect_to` must equal an `OAUTH_REDIRECT_URLS` entry, checked before
//!   the browser leaves, and the browser is sent to the configured URL, never the request's text.
//! - **A stolen app code** (the redirect's `?code=`): single use, 60 seconds, and bound to the
//!   app's own PKCE challenge when it sent one (native apps, whose redirect another app may see).

use chrono::Duration;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{FlowError, accounts, identities};
use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::principal::ClientInfo;
use crate::domain::redirect;
use crate::domain::ticket::TicketKind;
use crate::domain::{Amr, User};
use crate::error::{AppError, AppResult};
use crate::security::oidc::{AuthorizationRequest, Provider};
use crate::security::one_time::{hash_link_token, new_link_token};
use crate::service::audit::{self, NewEvent};
use crate::service::sessions::{self, IssuedTokens, LoginResult};
use crate::service::tickets;

/// The cookie that binds a flow to the browser that started it.
pub const FLOW_COOKIE: &str = "oauth_flow";
/// How long a flow may take at the provider.
const FLOW_TTL_MINUTES: i64 = 10;
/// How long the app has to exchange the code of the redirect back.
const GRANT_TTL_SECONDS: i64 = 60;

/// A flow on its way to the provider, filed under its state's hash.
#[derive(Serialize, Deserialize)]
struct Flow {
    provider: String,
    nonce: String,
    pkce_verifier: String,
    redirect_to: String,
    /// The SHA-256 of the browser's flow cookie.
    browser: String,
    /// The app's own S256 challenge (native apps): the exchange needs its verifier.
    client_challenge: Option<String>,
    /// A link flow: the account the identity joins, instead of a sign-in.
    link_user: Option<String>,
}

/// A finished sign-in waiting for the app's exchange.
#[derive(Serialize, Deserialize)]
struct Grant {
    user_id: String,
    /// The session the callback opened (its refresh cookie went to the browser), or `None`
    /// when the account has a second factor still to pass.
    session: Option<GrantSession>,
    client_challenge: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct GrantSession {
    id: String,
    jti: String,
}

pub struct AuthorizeRequest<'a> {
    pub provider: &'a str,
    pub redirect_to: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub code_challenge_method: Option<&'a str>,
    /// The secret of a link flow started from the account (`POST /user/identities/{provider}`).
    pub link: Option<&'a str>,
    /// The flow cookie this browser has already, reused so two tabs' flows both work.
    pub browser: Option<&'a str>,
}

/// Where to send the browser, and the flow cookie to set.
pub struct Started {
    pub location: String,
    pub browser: String,
}

/// Starts a flow: checks `redirect_to` and the app's challenge, files the state and sends the
/// browser to the provider (or, if the provider cannot be reached, back to the app with
/// `error=provider_unavailable`).
pub async fn authorize(ctx: &AppContext, request: AuthorizeRequest<'_>) -> AppResult<Started> {
    let provider = provider(ctx, request.provider)?;
    let client_challenge = client_challenge(request.code_challenge, request.code_challenge_method)?;
    let (redirect_to, link_user) = match request.link {
        Some(secret) => {
            let link: identities::LinkStart = tickets::take(ctx, TicketKind::Link, secret)
                .await?
                .filter(|l: &identities::LinkStart| l.provider == provider.id())
                .ok_or_else(|| AppError::BadRequest("invalid or expired link request".into()))?;
            (link.redirect_to, Some(link.user_id))
        }
        None => (allowed_redirect(ctx, request.redirect_to)?, None),
    };
    let browser = request
        .browser
        .filter(|b| is_base64url_32_bytes(b))
        .map(str::to_string)
        .unwrap_or_else(|| new_link_token().0);
    let (nonce, pkce_verifier) = (new_link_token().0, new_link_token().0);
    let (state, state_hash) = new_link_token();
    let secrets = AuthorizationRequest {
        state: &state,
        nonce: &nonce,
        pkce_verifier: &pkce_verifier,
    };
    let location = match provider.authorize_url(&secrets).await {
        Ok(url) => url,
        Err(e) => {
            let error = FlowError::from(e);
            return Ok(Started {
                location: failure_url(&redirect_to, &error),
                browser,
            });
        }
    };
    let flow = Flow {
        provider: provider.id().to_string(),
        nonce,
        pkce_verifier,
        redirect_to,
        browser: hash_link_token(&browser),
        client_challenge,
        link_user,
    };
    let ttl = Duration::minutes(FLOW_TTL_MINUTES);
    tickets::file_as(ctx, TicketKind::Flow, state_hash, ttl, &flow).await?;
    Ok(Started { location, browser })
}

fn provider<'a>(ctx: &'a AppContext, id: &str) -> AppResult<&'a Provider> {
    ctx.providers
        .get(id)
        .map(|p| p.as_ref())
        .ok_or_else(|| AppError::NotFound("Unknown provider".into()))
}

/// The configured URL `redirect_to` names exactly; unset: the first configured one.
pub(super) fn allowed_redirect(ctx: &AppContext, redirect_to: Option<&str>) -> AppResult<String> {
    let list = &ctx.settings.oauth.redirect_urls;
    let url = match redirect_to {
        None => list.first(),
        Some(candidate) => redirect::allowed(list, candidate),
    };
    url.map(|u| u.to_string()).ok_or_else(|| {
        AppError::BadRequest("redirect_to is not one of the allowed redirect URLs".into())
    })
}

/// The app's PKCE challenge: S256 only (`plain` would put the verifier itself in the URL), and
/// shaped like a SHA-256 in base64url.
fn client_challenge(challenge: Option<&str>, method: Option<&str>) -> AppResult<Option<String>> {
    match (challenge, method) {
        (None, None) => Ok(None),
        (Some(c), Some("S256")) if is_base64url_32_bytes(c) => Ok(Some(c.to_string())),
        (Some(_), Some("S256")) => Err(AppError::BadRequest(
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)".into(),
        )),
        _ => Err(AppError::BadRequest(
            "code_challenge needs code_challenge_method=S256 (plain is not accepted)".into(),
        )),
    }
}

/// What came back from the provider (the callback's query, or its form for `form_post`).
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
}

/// Where the callback sends the browser, and the session it opened (its refresh cookie).
pub struct CallbackOutcome {
    pub location: String,
    pub signed_in: Option<IssuedTokens>,
}

/// Finishes a flow at the provider's return. A state that files no flow (unknown, used,
/// expired, another provider's) is 400 here: there is no trusted place to send the browser.
/// Every later failure goes back to the app as `redirect_to?error=...`, never with a code.
pub async fn callback(
    ctx: &AppContext,
    provider_id: &str,
    params: CallbackParams,
    browser: Option<&str>,
    client: &ClientInfo,
) -> AppResult<CallbackOutcome> {
    let provider = provider(ctx, provider_id)?;
    let invalid_state = || AppError::BadRequest("invalid or expired sign-in state".into());
    let state = params.state.as_deref().ok_or_else(invalid_state)?;
    let flow: Flow = tickets::take(ctx, TicketKind::Flow, state)
        .await?
        .filter(|f: &Flow| f.provider == provider.id())
        .ok_or_else(invalid_state)?;
    let outcome = finish(ctx, provider, &flow, &params, browser, client).await;
    let location = match &outcome {
        Ok(Finished::Linked) => {
            redirect::with_params(&url(&flow.redirect_to)?, &[("linked", provider.id())])
        }
        Ok(Finished::SignedIn { code, .. }) => {
            redirect::with_params(&url(&flow.redirect_to)?, &[("code", code)])
        }
        Err(error) => {
            if let FlowError::Server(e) = error {
                tracing::warn!(error = %e, provider = provider.id(), "a provider sign-in failed in the server");
            }
            if flow.link_user.is_none() {
                let failed = NewEvent::new(EventType::LoginFailed)
                    .from(client)
                    .method("provider")
                    .reason(error.code())
                    .public_id("provider", provider.id());
                audit::record(ctx, failed).await;
            }
            failure_url(&flow.redirect_to, error)
        }
    };
    let signed_in = match outcome {
        Ok(Finished::SignedIn { tokens, .. }) => tokens,
        _ => None,
    };
    Ok(CallbackOutcome {
        location,
        signed_in,
    })
}

enum Finished {
    Linked,
    SignedIn {
        code: String,
        tokens: Option<IssuedTokens>,
    },
}

async fn finish(
    ctx: &AppContext,
    provider: &Provider,
    flow: &Flow,
    params: &CallbackParams,
    browser: Option<&str>,
    client: &ClientInfo,
) -> Result<Finished, FlowError> {
    // Started in another browser: a callback URL carried over (login CSRF) or leaked.
    let same_browser = browser.is_some_and(|b| hash_link_token(b) == flow.browser);
    if !same_browser {
        return Err(FlowError::BrowserMismatch);
    }
    match params.error.as_deref() {
        Some("access_denied") => return Err(FlowError::AccessDenied),
        Some(_) => return Err(FlowError::ProviderError),
        None => {}
    }
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 2048);
    let code = code.ok_or(FlowError::InvalidRequest)?;
    let person = provider
        .finish(code, &flow.pkce_verifier, &flow.nonce)
        .await?;
    if let Some(user_id) = &flow.link_user {
        identities::finish_link(ctx, user_id, provider.id(), &person, client).await?;
        return Ok(Finished::Linked);
    }
    let user = accounts::account_for(ctx, provider.id(), &person, client).await?;
    let (tokens, session) = match sign_in(ctx, user.clone(), client).await? {
        LoginResult::SignedIn(done) => {
            let (tokens, _, _) = *done;
            let session = GrantSession {
                id: tokens.session_id.clone(),
                jti: tokens.refresh_jti.clone(),
            };
            (Some(tokens), Some(session))
        }
        LoginResult::SecondFactor { .. } => (None, None),
    };
    let grant = Grant {
        user_id: user.id,
        session,
        client_challenge: flow.client_challenge.clone(),
    };
    let code = tickets::file(
        ctx,
        TicketKind::Grant,
        Duration::seconds(GRANT_TTL_SECONDS),
        &grant,
    )
    .await?;
    Ok(Finished::SignedIn { code, tokens })
}

/// Signs `user` in after a provider proved who they are: a session (`amr: ["fed"]`), or the
/// second factor's step for an account with one.
pub(super) async fn sign_in(
    ctx: &AppContext,
    user: User,
    client: &ClientInfo,
) -> AppResult<LoginResult> {
    if ctx
        .store
        .find_factor(&user.id)
        .await?
        .is_some_and(|f| f.active)
    {
        let mfa_token = crate::service::mfa::challenge(ctx, &user, Amr::FED).await?;
        return Ok(LoginResult::SecondFactor { mfa_token });
    }
    let signed_in = sessions::open_session(ctx, user, client, Amr::FED).await?;
    Ok(LoginResult::SignedIn(Box::new(signed_in)))
}

/// The app swaps the redirect's code for the session (as a login answers), once, within 60 s;
/// with the verifier of its own challenge when authorize carried one.
pub async fn exchange(
    ctx: &AppContext,
    code: &str,
    code_verifier: Option<&str>,
) -> AppResult<LoginResult> {
    let invalid = || AppError::BadRequest("invalid or expired code".into());
    let grant: Grant = tickets::take(ctx, TicketKind::Grant, code)
        .await?
        .ok_or_else(invalid)?;
    if let Some(challenge) = &grant.client_challenge {
        let verifier = code_verifier.ok_or_else(|| {
            AppError::BadRequest("code_verifier is required for this code".into())
        })?;
        if !verifier_matches(verifier, challenge) {
            return Err(invalid());
        }
    }
    match grant.session {
        Some(session) => {
            let signed_in =
                sessions::reissue(ctx, &session.id, &grant.user_id, &session.jti).await?;
            Ok(LoginResult::SignedIn(Box::new(signed_in)))
        }
        None => {
            let user = ctx
                .store
                .find_user(&grant.user_id)
                .await?
                .filter(|u| u.is_active)
                .ok_or_else(|| AppError::Unauthorized("Account is inactive".into()))?;
            let mfa_token = crate::service::mfa::challenge(ctx, &user, Amr::FED).await?;
            Ok(LoginResult::SecondFactor { mfa_token })
        }
    }
}

/// 32 bytes in unpadded base64url (43 characters): a SHA-256, or one of this server's secrets.
fn is_base64url_32_bytes(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 S256: `BASE64URL(SHA256(verifier)) == challenge`, for a verifier of 43 to 128
/// unreserved characters.
fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    use base64::Engine;
    let shaped = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    shaped
        && base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()))
            == challenge
}

fn url(configured: &str) -> Result<url::Url, AppError> {
    url::Url::parse(configured).map_err(|e| AppError::Internal(e.to_string()))
}

/// `redirect_to?error=<code>&error_description=...`: never a code.
fn failure_url(redirect_to: &str, error: &FlowError) -> String {
    match url::Url::parse(redirect_to) {
        Ok(u) => redirect::with_params(
            &u,
            &[
                ("error", error.code()),
                ("error_description", error.description()),
            ],
        ),
        Err(_) => redirect_to.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_verifier_matches_its_challenge() {
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verifier_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            challenge
        ));
        assert!(!verifier_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX",
            challenge
        ));
        assert!(!verifier_matches("short", challenge));
    }

    #[test]
    fn only_s256_challenges_are_taken() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(client_challenge(None, None).unwrap(), None);
        assert!(client_challenge(Some(c), Some("S256")).unwrap().is_some());
        assert!(client_challenge(Some(c), Some("plain")).is_err());
        assert!(client_challenge(Some(c), None).is_err());
        assert!(client_challenge(None, Some("S256")).is_err());
        assert!(client_challenge(Some("x"), Some("S256")).is_err());
    }
}
