//! The tests' real OpenID provider: panva's oidc-provider (tests/providers/oidc-provider.js),
//! started by scripts/test.sh as `TEST_OIDC_ISSUER`, its signing keys written to
//! `TEST_OIDC_KEYS`. The server under test is a client of it, so these helpers do what the rest
//! of the world does around such a client: register it (each test its own, the server runs on a
//! random port), sign a person in at the provider's login page as a browser would, count the
//! provider's JWKS fetches, and hand out the provider's keys so a test can sign ID tokens of its
//! own making that the server must judge on their claims alone.
//!
//! The login string is the person (see tests/providers/oidc-provider.js):
//! `verified:<email>` (sub `v-<email>`, email_verified true), `unverified:<email>` (sub
//! `u-<email>`), `noemail:<name>` (sub `n-<name>`, no email claims); any other string is
//! `verified:` when it holds an `@` and `noemail:` when not. preferred_username and name are the
//! email's local part, or the name. The provider never asks for consent, requires PKCE (S256),
//! and holds each confidential client to the token endpoint authentication it registered.

use reqwest::header::LOCATION;
use reqwest::{Client, StatusCode, Url};
use serde_json::{Value, json};

/// The running provider.
pub struct TestProvider {
    /// Exactly as the provider writes it into `iss` (no trailing slash).
    pub issuer: String,
    /// The JSON file of its signing keys; empty when TEST_OIDC_ISSUER names a provider started
    /// by hand without TEST_OIDC_KEYS (then [`TestProvider::key_pem`] fails the test).
    keys_file: String,
}

/// Where the provider sends the browser once the person has signed in (or the request failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderReturn {
    /// A redirect to the client: its `redirect_uri` with `code`, `state` and `iss`, or with
    /// `error`, `error_description`, `state` and `iss`; exactly as the Location header said.
    Redirect(String),
    /// `response_mode=form_post`: a page whose script posts this form to the client at once.
    /// `action` is the redirect_uri; `fields` the hidden inputs in page order (`code`, `state`,
    /// `iss`, or the error fields), HTML entities decoded. The caller posts them as the browser
    /// would.
    FormPost {
        action: String,
        fields: Vec<(String, String)>,
    },
}

impl TestProvider {
    /// The provider scripts/test.sh started. Under `CI=true` a missing one fails the test;
    /// elsewhere the test is skipped with a note (as [`crate::mailbox::smtp`] does).
    pub fn from_env() -> Option<Self> {
        match std::env::var("TEST_OIDC_ISSUER") {
            Ok(issuer) if !issuer.is_empty() => Some(Self {
                issuer,
                keys_file: std::env::var("TEST_OIDC_KEYS").unwrap_or_default(),
            }),
            _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!(
                    "CI=true but TEST_OIDC_ISSUER is not set: run the tests through scripts/test.sh"
                )
            }
            _ => {
                eprintln!(
                    "SKIPPED: TEST_OIDC_ISSUER is not set (scripts/test.sh starts an OpenID provider)"
                );
                None
            }
        }
    }

    /// Registers a client with this metadata at the provider's open registration endpoint and
    /// returns the provider's whole answer (client_id, client_secret, and the metadata as the
    /// provider settled it). For what [`TestProvider::register_client`] does not cover:
    /// `client_secret_post`, `id_token_signed_response_alg: "ES256"`, native clients.
    pub async fn register(&self, metadata: Value) -> Value {
        let res = Client::new()
            .post(format!("{}/reg", self.issuer))
            .json(&metadata)
            .send()
            .await
            .expect("the provider's registration endpoint");
        let status = res.status();
        let text = res.text().await.expect("a registration answer");
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("non-JSON registration answer ({status}): {text}"));
        assert_eq!(status, StatusCode::CREATED, "registration refused: {body}");
        body
    }

    /// A new confidential web client for the server under test: code flow, one redirect URI,
    /// `client_secret_basic` at the token endpoint (what an OpenID client library sends unless
    /// told otherwise), RS256 ID tokens. Returns (client_id, client_secret). The test provider
    /// holds a client to its registered method: the secret in the form instead is refused
    /// (401 `invalid_client`, "client authenticated with client_secret_post, but registered
    /// client_secret_basic").
    ///
    /// The client may use only the one response mode: `form_post` when `form_post`, else
    /// `query`; the provider refuses an authorization request in the other mode
    /// (`invalid_request`, "requested response_mode is not allowed"), so a test learns when the
    /// server asked in a mode it was not configured for.
    pub async fn register_client(&self, redirect_uri: &str, form_post: bool) -> (String, String) {
        let body = self
            .register(json!({
                "redirect_uris": [redirect_uri],
                "response_types": ["code"],
                "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": "client_secret_basic",
                "response_modes": [if form_post { "form_post" } else { "query" }],
            }))
            .await;
        let field = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in the registration answer: {body}"))
                .to_string()
        };
        (field("client_id"), field("client_secret"))
    }

    /// How many times the provider's JWKS (`GET /jwks`) has been fetched since it started, by
    /// anyone: compare before and after, as every test shares the provider.
    pub async fn jwks_hits(&self) -> u64 {
        let res = Client::new()
            .get(format!("{}/test/jwks-hits", self.issuer))
            .send()
            .await
            .expect("the provider's JWKS counter");
        let body: Value = res.json().await.expect("a JSON count");
        body["hits"]
            .as_u64()
            .unwrap_or_else(|| panic!("no hits in {body}"))
    }

    /// One of the provider's signing keys, `"rsa"` (kid `rsa-1`, RS256) or `"ec"` (kid `ec-1`,
    /// P-256, ES256): (kid, PKCS#8 PEM private key, SPKI PEM public key). The keys are made
    /// anew each time the provider starts.
    pub fn key_pem(&self, which: &str) -> (String, String, String) {
        let key = self.key(which);
        (
            self.key_field(&key, which, "kid"),
            self.key_field(&key, which, "private_pem"),
            self.key_field(&key, which, "public_pem"),
        )
    }

    /// The same private key as (kid, DER): PKCS#1 for `"rsa"`, PKCS#8 for `"ec"`, which is what
    /// `jsonwebtoken::EncodingKey::from_rsa_der` and `from_ec_der` take. The tests' jsonwebtoken
    /// is built without PEM support, so a crafted ID token is signed from these bytes.
    pub fn key_der(&self, which: &str) -> (String, Vec<u8>) {
        use base64::Engine;
        let key = self.key(which);
        let der = base64::engine::general_purpose::STANDARD
            .decode(self.key_field(&key, which, "private_der"))
            .expect("base64 DER in the keys file");
        (self.key_field(&key, which, "kid"), der)
    }

    fn key(&self, which: &str) -> Value {
        assert!(
            !self.keys_file.is_empty(),
            "TEST_OIDC_KEYS is not set: start the provider with --keys-out FILE and name the file"
        );
        let text = std::fs::read_to_string(&self.keys_file)
            .unwrap_or_else(|e| panic!("reading the provider's keys {}: {e}", self.keys_file));
        let keys: Value = serde_json::from_str(&text).expect("the provider's keys file is JSON");
        keys[which].clone()
    }

    fn key_field(&self, key: &Value, which: &str, name: &str) -> String {
        key[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {which}.{name} in {}", self.keys_file))
            .to_string()
    }

    /// Signs `login` in at the provider, starting from `authorize_url` (the Location the server
    /// under test sent the browser to), and returns where the provider then sends the browser.
    ///
    /// `browser` must keep cookies and must not follow redirects
    /// (`Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none())`): the
    /// provider's own redirects are followed here, by hand, so the one that leaves the provider
    /// is caught before anything requests it, and the caller then sends it to the server under
    /// test with whatever cookies that server set. The provider's steps, as observed:
    /// 1. `GET /auth?...` → 303 to `/interaction/<uid>` (a relative Location), with cookies
    ///    scoped to that path and to `/auth/<uid>`;
    /// 2. `GET /interaction/<uid>` → 200, the login form: `prompt=login` (hidden), `login`,
    ///    `password` (not checked), posted to the form's action, the same URL;
    /// 3. `POST /interaction/<uid>` → 303 to `/auth/<uid>`;
    /// 4. `GET /auth/<uid>` → 303 to the redirect_uri, or 200 (400 for an error) with the
    ///    auto-submitting form of `response_mode=form_post`.
    ///
    /// A browser that is already signed in at the provider skips 1-3 (no login form is shown,
    /// and `login` is not used): use a fresh client for another person. An error the provider
    /// shows on its own page (an unknown client, a redirect_uri not registered) fails the test
    /// with that page.
    pub async fn sign_in(
        &self,
        browser: &Client,
        authorize_url: &str,
        login: &str,
    ) -> ProviderReturn {
        let mut url = Url::parse(authorize_url)
            .unwrap_or_else(|e| panic!("the authorize URL {authorize_url}: {e}"));
        let provider = url.origin();
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..10 {
            let request = match form.take() {
                Some(fields) => browser.post(url.clone()).form(&fields),
                None => browser.get(url.clone()),
            };
            let res = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("the provider at {url}: {e}"));
            let status = res.status();
            if status.is_redirection() {
                let location = res
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_else(|| panic!("{status} from {url} without a Location"))
                    .to_string();
                let next = url
                    .join(&location)
                    .unwrap_or_else(|e| panic!("Location {location} from {url}: {e}"));
                if next.origin() != provider {
                    // As sent when it is absolute: a custom-scheme redirect_uri stays exactly as
                    // the client registered it.
                    return ProviderReturn::Redirect(if Url::parse(&location).is_ok() {
                        location
                    } else {
                        next.to_string()
                    });
                }
                url = next;
                continue;
            }
            let body = res.text().await.expect("the provider's page");
            if let Some(action) = form_tag(&body).and_then(|tag| attribute(tag, "action")) {
                let target = url
                    .join(&action)
                    .unwrap_or_else(|e| panic!("form action {action} at {url}: {e}"));
                if target.origin() != provider {
                    return ProviderReturn::FormPost {
                        action,
                        fields: hidden_inputs(&body),
                    };
                }
                if body.contains(r#"name="prompt" value="login""#) {
                    form = Some(vec![
                        ("prompt".to_string(), "login".to_string()),
                        ("login".to_string(), login.to_string()),
                        ("password".to_string(), "any password".to_string()),
                    ]);
                    url = target;
                    continue;
                }
            }
            panic!("unexpected answer from the provider at {url} ({status}): {body}");
        }
        panic!("the provider did not send the browser back to the client in 10 steps");
    }
}

/// The first `<form ...>` tag of a page.
fn form_tag(html: &str) -> Option<&str> {
    let start = html.find("<form")?;
    let end = start + html[start..].find('>')?;
    Some(&html[start..end])
}

/// An attribute's value in a tag, decoded. oidc-provider always writes `name="value"` with
/// double quotes and escapes `&<>"'` inside values, so a value holds no `"` or `>`.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

/// (name, value) of each `<input type="hidden" ...>` of a page, in order.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<input") {
        rest = &rest[start..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        if attribute(tag, "type").as_deref() == Some("hidden")
            && let Some(name) = attribute(tag, "name")
        {
            fields.push((name, attribute(tag, "value").unwrap_or_default()));
        }
        rest = &rest[end..];
    }
    fields
}

/// Decodes HTML character references: the named ones oidc-provider writes (`&amp; &lt; &gt;
/// &quot;`, and `&#39;` for `'`), `&apos;`, and any numeric one (`&#47;`, `&#x2F;`).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest
            .find(';')
            .filter(|&end| end <= 10)
            .and_then(|end| reference(&rest[1..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn reference(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number
                .strip_prefix('x')
                .or_else(|| number.strip_prefix('X'))
            {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}
