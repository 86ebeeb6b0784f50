//! The small pages mails link to when `APP_URL` is not set: `/reset-password` (a form for the
//! new password), `/verify-email` and `/sign-in` (a button each), `/invitation` (accept or
//! decline, signing in by a mailed code first if need be); and `/passkeys`, a minimal page
//! that signs in with a passkey and adds one, for people to copy. They only POST to the API when
//! the user acts, never on load: a mail scanner or a browser's prefetch that opens the link
//! spends nothing and signs nobody in. Static files compiled into the binary, under a strict CSP: no inline script or
//! style, nothing from elsewhere.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;

use crate::api::docs::{asset, html_page};

const RESET_HTML: &str = include_str!("../../assets/pages/reset-password.html");
const VERIFY_HTML: &str = include_str!("../../assets/pages/verify-email.html");
const SIGN_IN_HTML: &str = include_str!("../../assets/pages/sign-in.html");
const PASSKEYS_HTML: &str = include_str!("../../assets/pages/passkeys.html");
const SCRIPT: &str = include_str!("../../assets/pages/pages.js");
const PASSKEYS_SCRIPT: &str = include_str!("../../assets/pages/passkeys.js");
const INVITATION_HTML: &str = include_str!("../../assets/pages/invitation.html");
const INVITATION_SCRIPT: &str = include_str!("../../assets/pages/invitation.js");
const STYLE: &str = include_str!("../../assets/pages/pages.css");

const PAGES_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                         connect-src 'self'; form-action 'none'; base-uri 'none'; \
                         frame-ancestors 'none'";

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/reset-password", get(|| async { page(RESET_HTML) }))
        .route("/verify-email", get(|| async { page(VERIFY_HTML) }))
        .route("/sign-in", get(|| async { page(SIGN_IN_HTML) }))
        .route("/passkeys", get(|| async { page(PASSKEYS_HTML) }))
        .route("/invitation", get(|| async { page(INVITATION_HTML) }))
        .route(
            "/pages/invitation.js",
            get(|| async { asset(INVITATION_SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/pages/passkeys.js",
            get(|| async { asset(PASSKEYS_SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/pages/pages.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/pages/pages.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
}

fn page(html: &'static str) -> Response {
    let mut response = html_page(html, PAGES_CSP);
    let headers = response.headers_mut();
    // The token is in the page's address: never in a Referer, never in a cache.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
