//! The admin console at `/admin`: a page and its ES modules, compiled into the binary and served
//! under a strict CSP (scripts and styles from this origin only, no inline code, nothing from
//! elsewhere). The console holds no privilege of its own: it signs in and calls the public API
//! like any client, and the API decides what the operator may do. `ADMIN_CONSOLE=off` leaves the
//! routes out.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;

use crate::api::docs::asset;

const INDEX_HTML: &str = include_str!("../../assets/admin/index.html");

/// Every file under `/admin/assets/`: (path, content, content type).
const FILES: [(&str, &str, &str); 9] = [
    (
        "console.css",
        include_str!("../../assets/admin/console.css"),
        CSS,
    ),
    (
        "js/main.js",
        include_str!("../../assets/admin/js/main.js"),
        JS,
    ),
    (
        "js/api.js",
        include_str!("../../assets/admin/js/api.js"),
        JS,
    ),
    (
        "js/dom.js",
        include_str!("../../assets/admin/js/dom.js"),
        JS,
    ),
    (
        "js/signin.js",
        include_str!("../../assets/admin/js/signin.js"),
        JS,
    ),
    (
        "js/users.js",
        include_str!("../../assets/admin/js/users.js"),
        JS,
    ),
    (
        "js/user.js",
        include_str!("../../assets/admin/js/user.js"),
        JS,
    ),
    (
        "js/events.js",
        include_str!("../../assets/admin/js/events.js"),
        JS,
    ),
    (
        "js/keys.js",
        include_str!("../../assets/admin/js/keys.js"),
        JS,
    ),
];
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                           connect-src 'self'; img-src 'self'; form-action 'none'; \
                           base-uri 'none'; frame-ancestors 'none'";

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new()
        .route("/admin", get(|| async { page() }))
        .route("/admin/", get(|| async { page() }));
    for (path, body, content_type) in FILES {
        router = router.route(
            &format!("/admin/assets/{path}"),
            get(move || async move { revalidated(asset(body, content_type)) }),
        );
    }
    router
}

fn page() -> Response {
    let mut response = asset(INDEX_HTML, "text/html; charset=utf-8");
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Assets change with the binary: a browser may keep them but asks again before using them.
fn revalidated(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
