//! Black-box tests over real HTTP. One test binary (links once); every behaviour runs against
//! both stores through `on_both_stores!`.

mod helpers;

mod abuse;
mod admin;
mod auth;
mod authenticator;
mod binary;
mod browser_apps;
mod concurrency;
mod edge;
mod email;
mod email_sign_in;
mod faults;
mod github_standin;
mod hardening;
mod hardening_probe;
mod health;
mod instances;
mod keys;
mod mailbox;
mod mfa;
mod oauth;
mod operator;
mod orgs;
mod outbox;
mod passkeys;
mod passwords;
// `TestProvider::jwks_hits` counts every server's fetches at the shared provider, too coarse
// while tests run in parallel: oauth.rs counts through a relay of its own instead.
#[allow(dead_code)]
mod provider;
mod security_events;
mod template_texts;
mod tokens;
mod user;
