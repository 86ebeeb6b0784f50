//! Typed settings from the environment (and an optional `.env`), validated once at start.
//! A bad value stops the process with a message naming the variable; see `example.env`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::security::client_ip::Cidr;

/// `development` (the default) or `production`; production refuses unsafe defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The refresh cookie's SameSite attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

/// At most `max` events per `window`; `None` in settings means the limit is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u64,
    pub window: Duration,
}

/// Minimum length of SECRET_KEY in bytes (HS256 wants at least its 256-bit output size).
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Clone)]
pub struct Settings {
    /// MongoDB connection string; unset selects the embedded SQLite store.
    pub mongo_url: Option<String>,
    pub mongodb_name: String,
    /// The JWT signing key as configured; see `security::secret` for the development fallback.
    pub secret_key: Option<String>,
    pub host: IpAddr,
    pub port: u16,
    pub workers: usize,
    pub environment: Environment,
    pub data_dir: PathBuf,
    pub log_level: String,
    pub log_format: LogFormat,
    pub log_dir: PathBuf,
    pub cors_origins: Vec<String>,
    /// Request headers a browser may send cross-origin besides the defaults (lower-cased).
    pub cors_allow_headers: Vec<String>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How long after a rotation the previous refresh token is answered instead of treated as theft.
    pub refresh_grace: Duration,
    /// Absolute lifetime of a session from its login: refreshing never extends it past this.
    pub session_max_lifetime: Duration,
    /// How long security events are kept (a TTL on each event).
    pub audit_retention: Duration,
    pub cookie_samesite: SameSite,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// Proxies whose X-Forwarded-For / X-Real-IP headers are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Longest a request may run before it is answered with 503.
    pub request_timeout: Duration,
    /// How long a client may take to send its request headers before the connection is closed.
    pub header_read_timeout: Duration,
    /// Requests served at once; beyond it new requests are shed with 503 instead of queueing.
    pub max_in_flight: usize,
    /// Bearer token that guards `/metrics`. Unset: open in development, off in production.
    pub metrics_token: Option<String>,
    /// Login attempts per client IP.
    pub login_limit: Option<Limit>,
    /// Registrations per client IP.
    pub register_limit: Option<Limit>,
    /// Refreshes per session.
    pub refresh_limit: Option<Limit>,
    /// Failed password checks per account (login, current_password, later MFA) before it is
    /// locked for the window; backoff between attempts starts at half of `max`.
    pub login_lockout: Option<Limit>,
    /// Per-IP limits count an IPv6 client by its network of this many bits (IPv4 by address).
    pub ipv6_limit_prefix: u8,
    /// Password hashes that may wait for a hashing thread; more are refused with 503 at once.
    pub password_hash_queue: usize,
    pub mail: MailSettings,
    /// The key that seals TOTP secrets at rest (32 bytes, base64 or hex); unset: generated under
    /// DATA_DIR in development, and the second factor is off in production.
    pub encryption_key: Option<String>,
    /// Earlier keys, still used to open what they sealed (comma-separated).
    pub encryption_keys_previous: Vec<String>,
    pub signing: SigningSettings,
    /// Serve the admin console at `/admin` (`ADMIN_CONSOLE=off` removes it).
    pub admin_console: bool,
}

/// Which algorithm signs access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlg {
    /// HMAC-SHA256 under SECRET_KEY: only this server can verify.
    Hs256,
    /// Ed25519 keys kept in the store: anyone with the JWKS can verify.
    EdDsa,
}

/// Access-token signing (`JWT_ALG`) and, with EdDSA, the key lifecycle.
#[derive(Debug, Clone)]
pub struct SigningSettings {
    pub alg: JwtAlg,
    /// `Cache-Control: max-age` of the JWKS, and so how long a new key is published before it
    /// signs (verifiers may hold the previous key set that long).
    pub jwks_max_age: Duration,
    /// Rotate when the active key is this old; unset: only by hand.
    pub rotation_interval: Option<Duration>,
}

fn signing_settings(get: &impl Fn(&str) -> Option<String>) -> Result<SigningSettings, ConfigError> {
    let alg = match get("JWT_ALG").as_deref() {
        None | Some("HS256") => JwtAlg::Hs256,
        Some("EdDSA") => JwtAlg::EdDsa,
        Some(other) => {
            return Err(bad(
                "JWT_ALG",
                format!("expected HS256 or EdDSA, got {other:?}"),
            ));
        }
    };
    let jwks_max_age = nonzero(
        parse_duration(get, "JWKS_MAX_AGE", Duration::from_secs(300))?,
        "JWKS_MAX_AGE",
    )?;
    if jwks_max_age > Duration::from_secs(24 * 3600) {
        return Err(bad("JWKS_MAX_AGE", "must be at most 24 hours"));
    }
    let rotation_interval = match get("KEY_ROTATION_INTERVAL") {
        None => None,
        Some(_) => Some(nonzero(
            parse_duration(get, "KEY_ROTATION_INTERVAL", Duration::ZERO)?,
            "KEY_ROTATION_INTERVAL",
        )?),
    };
    Ok(SigningSettings {
        alg,
        jwks_max_age,
        rotation_interval,
    })
}

/// Mail delivery and the links in mails.
#[derive(Clone)]
pub struct MailSettings {
    /// `smtp://` or `smtps://`, with optional `user:password@`; unset: mail goes to the log in
    /// development and is off in production.
    pub smtp_url: Option<String>,
    /// The From of every mail.
    pub from: String,
    /// Where the app's own pages live (`/reset-password`, `/verify-email`); unset: the pages this
    /// server serves, at `public_url`.
    pub app_url: Option<String>,
    /// The URL this server is reached at, for links to its own pages.
    pub public_url: String,
    /// The product's name in mails and pages.
    pub product_name: String,
    /// Refuse logins of accounts whose address is not verified (403, after a correct password).
    pub require_verified_email: bool,
    /// Mails per address (forgot, resend, admin-triggered reset); over it, silently none.
    pub address_limit: Option<Limit>,
    /// Mail-sending requests per client IP; over it, silently none.
    pub ip_limit: Option<Limit>,
    /// How long a password reset link and code work.
    pub reset_ttl: Duration,
    /// How long a verification or address-change link and code work.
    pub verify_ttl: Duration,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            // The URL may hold the SMTP password: only whether it is set.
            .field("smtp", &self.smtp_url.as_ref().map(|_| "<configured>"))
            .field("from", &self.from)
            .field("app_url", &self.app_url)
            .field("public_url", &self.public_url)
            .field("product_name", &self.product_name)
            .field("require_verified_email", &self.require_verified_email)
            .field("address_limit", &self.address_limit)
            .field("ip_limit", &self.ip_limit)
            .field("reset_ttl", &self.reset_ttl)
            .field("verify_ttl", &self.verify_ttl)
            .finish()
    }
}

// Hand-written so that the secret and the database credentials never reach a log line.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field(
                "store",
                &if self.mongo_url.is_some() {
                    "mongodb"
                } else {
                    "sqlite"
                },
            )
            .field("mongodb_name", &self.mongodb_name)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("host", &self.host)
            .field("port", &self.port)
            .field("workers", &self.workers)
            .field("environment", &self.environment)
            .field("data_dir", &self.data_dir)
            .field("log_level", &self.log_level)
            .field("log_format", &self.log_format)
            .field("log_dir", &self.log_dir)
            .field("cors_origins", &self.cors_origins)
            .field("cors_allow_headers", &self.cors_allow_headers)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("refresh_grace", &self.refresh_grace)
            .field("session_max_lifetime", &self.session_max_lifetime)
            .field("audit_retention", &self.audit_retention)
            .field("cookie_samesite", &self.cookie_samesite)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("login_limit", &self.login_limit)
            .field("register_limit", &self.register_limit)
            .field("refresh_limit", &self.refresh_limit)
            .field("login_lockout", &self.login_lockout)
            .field("ipv6_limit_prefix", &self.ipv6_limit_prefix)
            .field("password_hash_queue", &self.password_hash_queue)
            .field("mail", &self.mail)
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "<redacted>"),
            )
            .field("signing", &self.signing)
            .field("admin_console", &self.admin_console)
            .finish_non_exhaustive()
    }
}

/// A configuration problem, always naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

fn bad(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

impl Settings {
    /// Reads `.env` (if present; real environment variables win) and then the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(bad("(.env)", e.to_string())),
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds settings from any variable lookup; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let environment = match get("ENVIRONMENT")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("development") | Some("dev") => Environment::Development,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => {
                return Err(bad(
                    "ENVIRONMENT",
                    format!("expected development or production, got {other:?}"),
                ));
            }
        };
        let secret_key = get("SECRET_KEY");
        if environment == Environment::Production {
            match &secret_key {
                None => {
                    return Err(bad(
                        "SECRET_KEY",
                        "required when ENVIRONMENT=production (the container's default): set at \
                         least 32 random bytes, e.g. SECRET_KEY=\"$(openssl rand -base64 48)\"",
                    ));
                }
                Some(k) if k.len() < MIN_SECRET_LEN => {
                    return Err(bad(
                        "SECRET_KEY",
                        format!("must be at least {MIN_SECRET_LEN} bytes in production"),
                    ));
                }
                Some(_) => {}
            }
        }
        let mongo_url = get("MONGO_URL");
        if let Some(url) = &mongo_url
            && !(url.starts_with("mongodb://") || url.starts_with("mongodb+srv://"))
        {
            return Err(bad(
                "MONGO_URL",
                "must start with mongodb:// or mongodb+srv://",
            ));
        }
        let mongodb_name = get("MONGODB_NAME").unwrap_or_else(|| "authkit".into());
        if mongodb_name.contains(['/', '\\', '.', ' ', '"', '$']) || mongodb_name.len() > 63 {
            return Err(bad("MONGODB_NAME", "not a valid MongoDB database name"));
        }

        let host = match get("HOST") {
            None => IpAddr::from([127, 0, 0, 1]),
            Some(h) if h == "localhost" => IpAddr::from([127, 0, 0, 1]),
            Some(h) => h
                .parse()
                .map_err(|_| bad("HOST", format!("not an IP address: {h:?}")))?,
        };
        let port = parse_num::<u16>(&get, "PORT", 8000)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = parse_num::<usize>(&get, "WORKERS", cores)?;
        if !(1..=1024).contains(&workers) {
            return Err(bad("WORKERS", "must be between 1 and 1024"));
        }

        let log_level = get("LOG_LEVEL").unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(bad(
                "LOG_LEVEL",
                format!("not a level or filter: {log_level:?}"),
            ));
        }
        let log_format = match get("LOG_FORMAT")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(bad(
                    "LOG_FORMAT",
                    format!("expected pretty or json, got {other:?}"),
                ));
            }
        };

        let cors_origins = match get("CORS_ORIGINS") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(|o| validate_origin(o).map(|()| o.trim_end_matches('/').to_string()))
                .collect::<Result<_, _>>()?,
        };

        let cors_allow_headers = match get("CORS_ALLOW_HEADERS") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(|h| {
                    axum::http::HeaderName::from_bytes(h.as_bytes())
                        .map(|name| name.as_str().to_string())
                        .map_err(|_| bad("CORS_ALLOW_HEADERS", format!("not a header name: {h:?}")))
                })
                .collect::<Result<_, _>>()?,
        };

        let access_token_ttl =
            parse_duration(&get, "ACCESS_TOKEN_TTL", Duration::from_secs(15 * 60))?;
        let refresh_token_ttl = parse_duration(
            &get,
            "REFRESH_TOKEN_TTL",
            Duration::from_secs(30 * 24 * 3600),
        )?;
        let refresh_grace = parse_duration(&get, "REFRESH_GRACE_PERIOD", Duration::from_secs(10))?;
        if access_token_ttl.is_zero() {
            return Err(bad("ACCESS_TOKEN_TTL", "must be positive"));
        }
        if refresh_token_ttl <= access_token_ttl {
            return Err(bad(
                "REFRESH_TOKEN_TTL",
                "must be longer than ACCESS_TOKEN_TTL",
            ));
        }
        let session_max_lifetime = nonzero(
            parse_duration(
                &get,
                "SESSION_MAX_LIFETIME",
                Duration::from_secs(90 * 24 * 3600),
            )?,
            "SESSION_MAX_LIFETIME",
        )?;
        let audit_retention = nonzero(
            parse_duration(&get, "AUDIT_RETENTION", Duration::from_secs(90 * 24 * 3600))?,
            "AUDIT_RETENTION",
        )?;
        let ipv6_limit_prefix = parse_num::<u8>(&get, "RATE_LIMIT_IPV6_PREFIX", 64)?;
        if !(1..=128).contains(&ipv6_limit_prefix) {
            return Err(bad("RATE_LIMIT_IPV6_PREFIX", "must be between 1 and 128"));
        }
        if refresh_grace > Duration::from_secs(300) {
            return Err(bad("REFRESH_GRACE_PERIOD", "must be at most 5 minutes"));
        }
        let cookie_samesite = match get("COOKIE_SAMESITE")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("lax") => SameSite::Lax,
            Some("strict") => SameSite::Strict,
            Some("none") => SameSite::None,
            Some(other) => {
                return Err(bad(
                    "COOKIE_SAMESITE",
                    format!("expected lax, strict or none, got {other:?}"),
                ));
            }
        };
        if cookie_samesite == SameSite::None && environment != Environment::Production {
            // Browsers reject SameSite=None without Secure, and Secure is only set in production.
            return Err(bad(
                "COOKIE_SAMESITE",
                "none requires ENVIRONMENT=production (Secure cookies)",
            ));
        }

        Ok(Self {
            mongo_url,
            mongodb_name,
            secret_key,
            host,
            port,
            workers,
            environment,
            data_dir: get("DATA_DIR").map_or_else(|| PathBuf::from("./data"), PathBuf::from),
            log_level,
            log_format,
            log_dir: get("LOG_DIR").map_or_else(|| PathBuf::from("./logs"), PathBuf::from),
            cors_origins,
            cors_allow_headers,
            access_token_ttl,
            refresh_token_ttl,
            refresh_grace,
            session_max_lifetime,
            audit_retention,
            cookie_samesite,
            jwt_issuer: get("JWT_ISSUER"),
            jwt_audience: get("JWT_AUDIENCE"),
            trusted_proxies: match get("TRUSTED_PROXIES") {
                None => Vec::new(),
                Some(list) => list
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| {
                        Cidr::parse(c).ok_or_else(|| {
                            bad("TRUSTED_PROXIES", format!("not an address or CIDR: {c:?}"))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            },
            max_body_bytes: positive(
                parse_num(&get, "MAX_BODY_BYTES", 64 * 1024)?,
                "MAX_BODY_BYTES",
            )?,
            request_timeout: nonzero(
                parse_duration(&get, "REQUEST_TIMEOUT", Duration::from_secs(30))?,
                "REQUEST_TIMEOUT",
            )?,
            header_read_timeout: nonzero(
                parse_duration(&get, "HEADER_READ_TIMEOUT", Duration::from_secs(10))?,
                "HEADER_READ_TIMEOUT",
            )?,
            max_in_flight: positive(parse_num(&get, "MAX_IN_FLIGHT", 512)?, "MAX_IN_FLIGHT")?,
            metrics_token: get("METRICS_TOKEN"),
            login_limit: parse_limit(&get, "RATE_LIMIT_LOGIN", "30/5m")?,
            register_limit: parse_limit(&get, "RATE_LIMIT_REGISTER", "10/5m")?,
            refresh_limit: parse_limit(&get, "RATE_LIMIT_REFRESH", "30/5m")?,
            login_lockout: parse_limit(&get, "LOGIN_LOCKOUT", "10/15m")?,
            ipv6_limit_prefix,
            password_hash_queue: positive(
                parse_num(&get, "PASSWORD_HASH_QUEUE", 256)?,
                "PASSWORD_HASH_QUEUE",
            )?,
            mail: mail_settings(&get, port)?,
            encryption_key: get("ENCRYPTION_KEY").filter(|k| !k.trim().is_empty()),
            encryption_keys_previous: get("ENCRYPTION_KEYS_PREVIOUS")
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            signing: signing_settings(&get)?,
            admin_console: parse_bool(&get, "ADMIN_CONSOLE", true)?,
        })
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}

fn mail_settings(
    get: &impl Fn(&str) -> Option<String>,
    port: u16,
) -> Result<MailSettings, ConfigError> {
    let smtp_url = get("SMTP_URL").filter(|u| !u.trim().is_empty());
    if let Some(url) = &smtp_url
        && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
    {
        return Err(bad("SMTP_URL", "must start with smtp:// or smtps://"));
    }
    let url = |var: &'static str| -> Result<Option<String>, ConfigError> {
        match get(var).filter(|u| !u.trim().is_empty()) {
            None => Ok(None),
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                Ok(Some(u.trim().trim_end_matches('/').to_string()))
            }
            Some(u) => Err(bad(
                var,
                format!("must start with http:// or https://, got {u:?}"),
            )),
        }
    };
    let from = get("MAIL_FROM").unwrap_or_else(|| "authkit <no-reply@localhost>".into());
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(bad(
            "MAIL_FROM",
            format!("not an address such as \"Name <no-reply@example.com>\": {from:?}"),
        ));
    }
    Ok(MailSettings {
        smtp_url,
        from,
        app_url: url("APP_URL")?,
        public_url: url("PUBLIC_URL")?.unwrap_or_else(|| format!("http://localhost:{port}")),
        product_name: get("PRODUCT_NAME").unwrap_or_else(|| "authkit".into()),
        require_verified_email: parse_bool(get, "REQUIRE_VERIFIED_EMAIL", false)?,
        address_limit: parse_limit(get, "RATE_LIMIT_MAIL_ADDRESS", "3/15m")?,
        ip_limit: parse_limit(get, "RATE_LIMIT_MAIL_IP", "20/15m")?,
        reset_ttl: nonzero(
            parse_duration(get, "PASSWORD_RESET_TTL", Duration::from_secs(30 * 60))?,
            "PASSWORD_RESET_TTL",
        )?,
        verify_ttl: nonzero(
            parse_duration(get, "EMAIL_VERIFY_TTL", Duration::from_secs(24 * 3600))?,
            "EMAIL_VERIFY_TTL",
        )?,
    })
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(var).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(bad(var, format!("expected on or off, got {other:?}"))),
    }
}

fn parse_num<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| bad(var, format!("not a valid number: {v:?}"))),
    }
}

fn positive(n: usize, var: &'static str) -> Result<usize, ConfigError> {
    if n == 0 {
        Err(bad(var, "must be positive"))
    } else {
        Ok(n)
    }
}

fn nonzero(d: Duration, var: &'static str) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        Err(bad(var, "must be positive"))
    } else {
        Ok(d)
    }
}

/// A limit is `MAX/WINDOW` (e.g. `30/5m`), or `off`.
fn parse_limit(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<Option<Limit>, ConfigError> {
    let text = get(var).unwrap_or_else(|| default.to_string());
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (max, window) = text.split_once('/').ok_or_else(|| {
        bad(
            var,
            format!("expected MAX/WINDOW such as 30/5m, or off; got {text:?}"),
        )
    })?;
    let max: u64 = max.trim().parse().ok().filter(|m| *m > 0).ok_or_else(|| {
        bad(
            var,
            format!("the maximum must be a positive number, got {max:?}"),
        )
    })?;
    let window = window.trim().to_string();
    let window = parse_duration(&|_: &str| Some(window.clone()), var, Duration::ZERO)?;
    if window.is_zero() {
        return Err(bad(var, "the window must be positive"));
    }
    Ok(Some(Limit { max, window }))
}

/// Durations are seconds (`900`) or a number with a unit: `s`, `m`, `h`, `d` (`15m`, `30d`).
fn parse_duration(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(v) = get(var) else {
        return Ok(default);
    };
    let (digits, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = digits.parse().map_err(|_| {
        bad(
            var,
            format!("expected seconds or a number with s/m/h/d, got {v:?}"),
        )
    })?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad(var, format!("unknown unit in {v:?}; use s, m, h or d"))),
    };
    n.checked_mul(scale)
        .filter(|secs| *secs <= 10 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| bad(var, "too large"))
}

/// An origin is `scheme://host[:port]` with nothing after it; `*` is refused because the API
/// sends credentials (the refresh cookie).
fn validate_origin(origin: &str) -> Result<(), ConfigError> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| {
            bad(
                "CORS_ORIGINS",
                format!("{origin:?} must start with http:// or https:// (and `*` is not allowed)"),
            )
        })?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains(['/', '*', ' ', '?', '#']) {
        return Err(bad(
            "CORS_ORIGINS",
            format!("{origin:?} is not an origin (scheme://host[:port])"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_safe_and_local() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.environment, Environment::Development);
        assert_eq!(s.host, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(s.port, 8000);
        assert!(s.mongo_url.is_none());
        assert_eq!(s.access_token_ttl, Duration::from_secs(900));
        assert_eq!(s.refresh_token_ttl, Duration::from_secs(30 * 86_400));
    }

    #[test]
    fn production_needs_a_long_secret() {
        let err = settings(&[("ENVIRONMENT", "production")]).unwrap_err();
        assert_eq!(err.var, "SECRET_KEY");
        let err = settings(&[("ENVIRONMENT", "production"), ("SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(err.var, "SECRET_KEY");
        let key = "k".repeat(32);
        assert!(settings(&[("ENVIRONMENT", "production"), ("SECRET_KEY", &key)]).is_ok());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("PORT", "eighty"),
            ("PORT", "70000"),
            ("WORKERS", "0"),
            ("HOST", "not-an-ip"),
            ("LOG_FORMAT", "xml"),
            ("ENVIRONMENT", "staging"),
            ("ACCESS_TOKEN_TTL", "15x"),
            ("MONGO_URL", "postgres://x"),
            ("CORS_ORIGINS", "*"),
            ("CORS_ORIGINS", "https://a.example/path"),
            ("TRUSTED_PROXIES", "10.0.0.0/99"),
            ("RATE_LIMIT_LOGIN", "30"),
            ("RATE_LIMIT_LOGIN", "0/5m"),
            ("LOGIN_LOCKOUT", "10/0s"),
            ("MAX_IN_FLIGHT", "0"),
            ("REQUEST_TIMEOUT", "0"),
            ("MAX_BODY_BYTES", "big"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{var}={value}");
        }
    }

    #[test]
    fn durations_take_units() {
        let s = settings(&[("ACCESS_TOKEN_TTL", "5m"), ("REFRESH_TOKEN_TTL", "2d")]).unwrap();
        assert_eq!(s.access_token_ttl, Duration::from_secs(300));
        assert_eq!(s.refresh_token_ttl, Duration::from_secs(172_800));
        let s = settings(&[(
            "CORS_ORIGINS",
            "https://app.example, http://localhost:3000/",
        )])
        .unwrap();
        assert_eq!(
            s.cors_origins,
            ["https://app.example", "http://localhost:3000"]
        );
    }
}
