//! The admin console at `/admin`: a page and its ES modules, compiled into the binary and served
//! under a strict CSP (scripts and styles from this origin only, no inline code, nothing from
//! elsewhere). The console holds no privilege of its own: it signs in and calls the public API
//! like any client, and the API decides what the operator may do. `ADMIN_CONSOLE=off` leaves the
//! routes out.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;

use crate::api::docs::{asset, html_page};

const INDEX_HTML: &str = include_str!("../../assets/admin/index.html");

/// One file under `assets/admin/`, compiled in: (path under `/admin/assets/`, content, type).
macro_rules! console_file {
    ($path:literal, $content_type:expr) => {
        (
            $path,
            include_str!(concat!("../../assets/admin/", $path)),
            $content_type,
        )
    };
}

/// Every file under `/admin/assets/`. `js/authkit.js` is the browser client SPAs use
/// (`clients/js/`), which the console uses too.
const FILES: [(&str, &str, &str); 11] = [
    console_file!("console.css", CSS),
    console_file!("js/main.js", JS),
    console_file!("js/api.js", JS),
    console_file!("js/dom.js", JS),
    console_file!("js/signin.js", JS),
    console_file!("js/users.js", JS),
    console_file!("js/user.js", JS),
    console_file!("js/events.js", JS),
    console_file!("js/keys.js", JS),
    console_file!("js/orgs.js", JS),
    (
        "js/authkit.js",
        include_str!("../../clients/js/authkit.js"),
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
    let mut response = html_page(INDEX_HTML, CONSOLE_CSP);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Assets change with the binary: a browser may keep them but asks again before using them.
fn revalidated(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
