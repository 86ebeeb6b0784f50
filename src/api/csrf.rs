//! The CSRF defence of the two routes the refresh cookie authenticates, `/auth/refresh` and
//! `/auth/logout`.
//!
//! The cookie is `SameSite=Lax`, so a browser sends it with a POST from any page of the same
//! *site*: another port on `localhost`, or every sibling subdomain in production. Such a page
//! needs no CORS grant to make the request (`mode: 'no-cors'`, a form post); it only cannot read
//! the answer. Refreshing rotates the cookie and logging out revokes the session, so the request
//! itself does harm. The browser says where a request comes from, so a request authenticated by
//! the cookie is accepted only:
//! - with no `Origin` and no cross-site `Sec-Fetch-Site` (native clients, curl, a top-level
//!   navigation of the API itself), or
//! - from the API's own origin, or
//! - from an origin listed in `CORS_ORIGINS`.
//!
//! Anything else is refused with 403 before anything is read or written. Requests authenticated
//! by a Bearer token or a refresh token in the body need no such check: a page can only send
//! those with a CORS grant.

use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};

use crate::config::Settings;
use crate::error::{AppError, AppResult};

/// Refuses a cookie-authenticated request that a page of another origin made.
pub fn check_cookie_request(headers: &HeaderMap, settings: &Settings) -> AppResult<()> {
    let origin = headers
        .get(ORIGIN)
        .map(|v| v.to_str().unwrap_or("unreadable"));
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let listed = |origin: &str| settings.server.cors_origins.iter().any(|o| o == origin);
    let allowed = match (origin, fetch_site) {
        // The browser itself says the page is the API's own origin, or no page at all.
        (_, Some("same-origin" | "none")) => true,
        (Some(origin), _) => listed(origin) || is_same_origin(origin, headers),
        // Sent by a browser for a cross-origin request whose Origin it left out: refuse.
        (None, Some(_)) => false,
        (None, None) => true,
    };
    if allowed {
        Ok(())
    } else {
        tracing::info!(
            origin,
            fetch_site,
            "cookie request from a foreign origin refused"
        );
        Err(AppError::Forbidden(
            "This origin may not use the refresh cookie (see CORS_ORIGINS)".into(),
        ))
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was sent to. The scheme
/// is not compared: behind a TLS-terminating proxy the server sees plain HTTP.
fn is_same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let strip = |a: &str| {
        a.strip_suffix(default_port)
            .unwrap_or(a)
            .to_ascii_lowercase()
    };
    strip(authority) == strip(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_lookup(|k| (k == "CORS_ORIGINS").then(|| "http://localhost:5173".into()))
            .unwrap()
    }

    fn check(pairs: &[(&'static str, &'static str)]) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "localhost:8000".parse().unwrap());
        for (k, v) in pairs {
            headers.insert(*k, v.parse().unwrap());
        }
        check_cookie_request(&headers, &settings()).is_ok()
    }

    #[test]
    fn native_same_origin_and_listed_origins_pass() {
        assert!(check(&[]));
        assert!(check(&[("origin", "http://localhost:8000")]));
        assert!(check(&[("origin", "http://LOCALHOST:8000")]));
        assert!(check(&[
            ("origin", "http://localhost:5173"),
            ("sec-fetch-site", "same-site")
        ]));
        assert!(check(&[("sec-fetch-site", "same-origin")]));
        assert!(check(&[("sec-fetch-site", "none")]));
    }

    #[test]
    fn foreign_origins_are_refused() {
        assert!(!check(&[("origin", "http://localhost:5174")]));
        assert!(!check(&[
            ("origin", "http://localhost:5174"),
            ("sec-fetch-site", "same-site")
        ]));
        assert!(!check(&[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site")
        ]));
        assert!(!check(&[("origin", "null")]));
        assert!(!check(&[("sec-fetch-site", "cross-site")]));
    }

    #[test]
    fn default_ports_compare_equal() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "api.example.com".parse().unwrap());
        assert!(is_same_origin("https://api.example.com:443", &headers));
        assert!(is_same_origin("https://api.example.com", &headers));
        assert!(!is_same_origin("https://app.example.com", &headers));
    }
}
