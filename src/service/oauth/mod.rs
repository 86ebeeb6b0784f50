//! Signing in with a provider (docs/API.md, "Social login"): the browser flow, native ID
//! tokens, which account an identity signs into, and the identities a user links and unlinks.
//!
//! - `flow`: authorize → provider → callback → the app's code exchange. The state lives in the
//!   store (10 minutes, taken once) and a cookie binds it to the browser that started it; the
//!   code handed back to the app is single use for 60 seconds, and bound to the app's own PKCE
//!   challenge when it sent one.
//! - `native`: an ID token a native app got from the provider itself.
//! - `accounts`: the four rules of which account an identity signs into, including the takeover
//!   rule (an address someone registered and never proved).
//! - `identities`: a user's linked identities, linking from the account, unlinking, and the
//!   "last way to sign in" rule.

mod accounts;
mod flow;
mod identities;
mod native;

pub use flow::{
    AuthorizeRequest, CallbackOutcome, CallbackParams, FLOW_COOKIE, Started, authorize, callback,
    exchange,
};
pub use identities::{admin_list, admin_unlink, list, start_link, unlink};
pub use native::sign_in_with_id_token;

use crate::error::AppError;

/// Why a provider flow failed, as the stable `error` code the app receives on its redirect URL
/// (and the status the JSON routes answer with).
#[derive(Debug)]
pub enum FlowError {
    /// The callback reached another browser than the one that started the flow.
    BrowserMismatch,
    /// The person said no at the provider (`access_denied`).
    AccessDenied,
    /// The provider reported another error.
    ProviderError,
    /// The callback had no code.
    InvalidRequest,
    /// The provider could not be reached.
    ProviderUnavailable,
    /// The provider refused the code.
    InvalidCode,
    InvalidIdToken,
    /// `OAUTH_SIGNUP=false` and nobody holds this identity.
    SignupDisabled,
    AccountInactive,
    /// `REQUIRE_VERIFIED_EMAIL` and the account's address is not verified.
    EmailNotVerified,
    /// The address belongs to an account this identity may not join by itself.
    AccountExists,
    /// (Linking) the identity belongs to another account.
    IdentityInUse,
    /// The store or another part of the server failed.
    Server(AppError),
}

impl FlowError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::BrowserMismatch => "browser_mismatch",
            Self::AccessDenied => "access_denied",
            Self::ProviderError => "provider_error",
            Self::InvalidRequest => "invalid_request",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::InvalidCode => "invalid_code",
            Self::InvalidIdToken => "invalid_id_token",
            Self::SignupDisabled => "signup_disabled",
            Self::AccountInactive => "account_inactive",
            Self::EmailNotVerified => "email_not_verified",
            Self::AccountExists => "account_exists",
            Self::IdentityInUse => "identity_in_use",
            Self::Server(_) => "server_error",
        }
    }

    pub fn description(&self) -> &'static str {
        match self {
            Self::BrowserMismatch => "this sign-in was started in another browser",
            Self::AccessDenied => "sign-in was cancelled at the provider",
            Self::ProviderError => "the provider reported an error",
            Self::InvalidRequest => "the provider sent no code",
            Self::ProviderUnavailable => "the provider is unavailable; try again",
            Self::InvalidCode => "the provider refused the code",
            Self::InvalidIdToken => "the provider's ID token failed a check",
            Self::SignupDisabled => "sign-up with this provider is closed",
            Self::AccountInactive => "Account is inactive",
            Self::EmailNotVerified => "email not verified",
            Self::AccountExists => "sign in and link this provider from your account",
            Self::IdentityInUse => "this identity is linked to another account",
            Self::Server(_) => "the server could not finish the sign-in; try again",
        }
    }
}

impl From<AppError> for FlowError {
    fn from(e: AppError) -> Self {
        Self::Server(e)
    }
}

impl From<crate::store::StoreError> for FlowError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Server(e.into())
    }
}

impl From<FlowError> for AppError {
    fn from(e: FlowError) -> Self {
        let text = e.description().to_string();
        match e {
            FlowError::Server(e) => e,
            FlowError::InvalidIdToken | FlowError::AccountInactive => AppError::Unauthorized(text),
            FlowError::SignupDisabled | FlowError::EmailNotVerified => AppError::Forbidden(text),
            FlowError::AccountExists | FlowError::IdentityInUse => AppError::Conflict(text),
            FlowError::ProviderUnavailable => AppError::Unavailable(text),
            FlowError::BrowserMismatch
            | FlowError::AccessDenied
            | FlowError::ProviderError
            | FlowError::InvalidRequest
            | FlowError::InvalidCode => AppError::BadRequest(text),
        }
    }
}

impl From<crate::security::oidc::ProviderError> for FlowError {
    fn from(e: crate::security::oidc::ProviderError) -> Self {
        use crate::security::oidc::ProviderError as P;
        // The reason goes to the log only: the app gets the stable code.
        tracing::info!(error = %e, "provider step failed");
        match e {
            P::Unavailable(_) => Self::ProviderUnavailable,
            P::Refused(_) => Self::InvalidCode,
            P::InvalidIdToken(_) => Self::InvalidIdToken,
            P::Misconfigured(m) => Self::Server(AppError::Internal(m)),
        }
    }
}
