//! Version 1 of the API, under `/api/v1`.
//!
//! Each module's routes carry their full path, and the routers are merged, not nested: a nested
//! router wraps each of its routes in path-stripping layers that run, and allocate, on every
//! request.

pub mod admin;
pub mod auth;
pub mod email;
pub mod email_sign_in;
pub mod identities;
pub mod invitations;
pub mod mfa;
pub mod oauth;
pub mod orgs;
pub mod passkeys;
pub mod security_events;
pub mod user;

use axum::Router;

use crate::context::AppContext;

pub fn router() -> Router<AppContext> {
    Router::new()
        .merge(auth::router())
        .merge(email::router())
        .merge(email_sign_in::router())
        .merge(mfa::router())
        .merge(oauth::router())
        .merge(identities::router())
        .merge(passkeys::router())
        .merge(orgs::router())
        .merge(invitations::router())
        .merge(user::router())
        .merge(admin::router())
        .merge(security_events::router())
}
