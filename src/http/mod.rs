//! Cross-cutting tower layers around the routes: request id and logging, panics as 500
//! envelopes, CORS, security headers, body limit and request timeout, and the trailing-slash rule.

pub mod limits;
pub mod request_log;
pub mod serve;

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Settings;
use crate::context::AppContext;
use crate::error::AppError;

/// The whole application as one service: the routes behind every layer, with the trailing-slash
/// rule in front.
///
/// The layers wrap the router as a whole (a `ServiceBuilder` stack), not each route through
/// `Router::layer`: a router clones a route's boxed service, layers and all, for every request it
/// routes, which with this many layers was half of all allocations per request. Outermost first:
/// the trailing-slash rule, request id and log line, panics as 500, CORS, HSTS (production),
/// load shedding, `no-store`, security headers, the timeout, the body limit.
pub fn app(routes: Router, ctx: &AppContext) -> AppService {
    let settings = &ctx.settings;
    let hsts = settings.is_production().then(|| {
        SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        )
    });
    let stack = ServiceBuilder::new()
        .map_request(trim_api_trailing_slash)
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            request_log::log_request,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            AppError::Internal("handler panicked".into()).into_response()
        }))
        .option_layer(cors(settings))
        .option_layer(hsts)
        .layer(axum::middleware::from_fn_with_state(
            limits::InFlight::new(
                settings.server.max_in_flight,
                settings.server.max_in_flight_per_client,
                settings.limits.ipv6_prefix,
            ),
            limits::shed_load,
        ))
        .layer(axum::middleware::from_fn(request_log::no_store_on_api))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits::RequestBounds {
                timeout: settings.server.request_timeout,
                max_body_bytes: settings.server.max_body_bytes,
                body_read_timeout: settings.server.body_read_timeout,
            },
            limits::bound_request,
        ))
        .layer(DefaultBodyLimit::max(settings.server.max_body_bytes))
        .service(routes.route_layer(axum::middleware::from_fn(request_log::remember_route)));
    BoxCloneSyncService::new(stack)
}

/// CORS for the configured origins only, with credentials (the refresh cookie). No origins
/// configured means no CORS headers at all: same-origin clients only.
fn cors(settings: &Settings) -> Option<CorsLayer> {
    if settings.server.cors_origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = settings
        .server
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let mut allow_headers = vec![
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        HeaderName::from_static(request_log::REQUEST_ID_HEADER),
        HeaderName::from_static(crate::api::v1::auth::TOKEN_TRANSPORT_HEADER),
    ];
    allow_headers.extend(
        settings
            .server
            .cors_allow_headers
            .iter()
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
    );
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers(allow_headers)
            // Every header of an answer that a client is meant to read: without this a page's
            // script sees `null` for them (say, how long a 429 asks it to wait).
            .expose_headers([
                HeaderName::from_static(request_log::REQUEST_ID_HEADER),
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// `/api/...` paths answer with and without a trailing slash: the slash is dropped before
/// routing. Other paths keep theirs (Swagger UI lives under `/docs/`).
pub fn trim_api_trailing_slash(mut req: Request<Body>) -> Request<Body> {
    let path = req.uri().path();
    if path.starts_with("/api/") && path.len() > 5 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let new = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = new.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The application as the accept loop serves it.
pub type AppService = BoxCloneSyncService<Request<Body>, Response, Infallible>;
