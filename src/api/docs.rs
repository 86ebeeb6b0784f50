//! `/docs` (Swagger UI) and `/openapi.json`. The UI files are vendored under `assets/swagger-ui`
//! and compiled into the binary, so the docs work offline and in an empty container.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use utoipa::OpenApi;

use crate::api::openapi::ApiDoc;

const INDEX_HTML: &str = include_str!("../../assets/swagger-ui/index.html");
const INIT_JS: &str = include_str!("../../assets/swagger-ui/init.js");
const BUNDLE_JS: &str = include_str!("../../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &str = include_str!("../../assets/swagger-ui/swagger-ui.css");
const FAVICON: &[u8] = include_bytes!("../../assets/swagger-ui/favicon-32x32.png");

/// Swagger UI styles itself inline and loads nothing from elsewhere.
const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                        frame-ancestors 'none'";

/// `persist_authorization`: whether Swagger UI keeps a pasted token in the browser's
/// `localStorage` across reloads (development only: there any script of the origin could read it).
pub fn router<S: Clone + Send + Sync + 'static>(persist_authorization: bool) -> Router<S> {
    // Rendered once: the document never changes while the process runs.
    let document = ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serialises");
    let init_js = axum::body::Bytes::from(INIT_JS.replace(
        "PERSIST_AUTHORIZATION",
        if persist_authorization {
            "true"
        } else {
            "false"
        },
    ));
    Router::new()
        .route(
            "/openapi.json",
            get(move || async move { asset(document.clone(), "application/json") }),
        )
        .route("/docs", get(|| async { page(INDEX_HTML) }))
        // ReDoc is not served: one viewer of the same document is enough to keep vendored and
        // patched (README, "Coming from the FastAPI template"). A bookmark of it lands on /docs.
        .route("/redoc", get(|| async { Redirect::temporary("/docs") }))
        .route("/docs/", get(|| async { page(INDEX_HTML) }))
        .route(
            "/docs/init.js",
            get(move || {
                let init_js = init_js.clone();
                async move { asset(init_js, "text/javascript; charset=utf-8") }
            }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async { asset(BUNDLE_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async { asset(CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/docs/favicon-32x32.png",
            get(|| async { asset(FAVICON, "image/png") }),
        )
}

fn page(html: &'static str) -> Response {
    html_page(html, DOCS_CSP)
}

/// A static HTML page under its Content-Security-Policy (/docs, the mail pages, the console).
pub(crate) fn html_page(html: &'static str, csp: &'static str) -> Response {
    let mut response = asset(html, "text/html; charset=utf-8");
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    response
}

/// A body with its content type (the static files of /docs and of the mail pages).
pub(crate) fn asset(body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
