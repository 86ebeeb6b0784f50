//! Black-box tests over real HTTP. One test binary (links once); every behaviour runs against
//! both stores through `on_both_stores!`.

mod helpers;

mod abuse;
mod admin;
mod auth;
mod binary;
mod browser_apps;
mod concurrency;
mod edge;
mod email;
mod email_sign_in;
mod faults;
mod hardening;
mod hardening_probe;
mod health;
mod instances;
mod keys;
mod mailbox;
mod mfa;
mod outbox;
mod passwords;
mod security_events;
mod template_texts;
mod tokens;
mod user;
