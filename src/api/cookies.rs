//! The refresh-token cookie: HttpOnly, SameSite (Lax by default), Secure in production, scoped to
//! the auth routes so it never rides along on other API calls.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite as CookieSameSite};
use chrono::{DateTime, Utc};

use crate::config::{SameSite, Settings};

pub const REFRESH_COOKIE: &str = "refresh_token";
pub const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";

fn base(settings: &Settings, value: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(REFRESH_COOKIE, value);
    cookie.set_http_only(true);
    cookie.set_secure(settings.is_production());
    cookie.set_path(REFRESH_COOKIE_PATH);
    cookie.set_same_site(match settings.tokens.cookie_samesite {
        SameSite::Lax => CookieSameSite::Lax,
        SameSite::Strict => CookieSameSite::Strict,
        SameSite::None => CookieSameSite::None,
    });
    cookie
}

/// Sets the refresh cookie to live as long as the token does.
pub fn set_refresh(
    jar: CookieJar,
    settings: &Settings,
    token: String,
    expires_at: DateTime<Utc>,
) -> CookieJar {
    let mut cookie = base(settings, token);
    // Rounded up: a token issued now for 30 days gets exactly Max-Age=2592000.
    let max_age = ((expires_at - Utc::now()).num_milliseconds() + 999)
        .div_euclid(1000)
        .max(0);
    cookie.set_max_age(Some(time_duration(max_age)));
    jar.add(cookie)
}

/// Clears the refresh cookie (same name, path and attributes, zero lifetime).
pub fn clear_refresh(jar: CookieJar, settings: &Settings) -> CookieJar {
    let mut cookie = base(settings, String::new());
    cookie.set_max_age(Some(time_duration(0)));
    jar.add(cookie)
}

fn time_duration(seconds: i64) -> time::Duration {
    time::Duration::seconds(seconds)
}

pub fn refresh_from(jar: &CookieJar) -> Option<String> {
    jar.get(REFRESH_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}
