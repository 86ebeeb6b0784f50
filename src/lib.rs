//! authkit: an auth-and-accounts API server. The binary in `main.rs` only wires; everything here
//! is shared with the tests, which drive the same application over real HTTP.
//!
//! Data flows one way: request -> `http` layers -> `api` extractor -> handler -> `service` ->
//! `store` trait -> backend, and so do the imports. The layers, highest first: `app`/`main`/`operator`,
//! `http`, `api`, `service`, `context`, `mail`, `security`, `error`, `store`, `metrics`,
//! `config`, `domain`, `files`; a module uses only those below it. `scripts/check-layers.py`
//! (run by the test command) keeps it so.

pub mod api;
pub mod app;
pub mod config;
pub mod context;
pub mod domain;
pub mod error;
pub mod files;
pub mod http;
pub mod mail;
pub mod malloc_tuning;
pub mod metrics;
pub mod operator;
pub mod security;
pub mod service;
pub mod store;
pub mod telemetry;

pub use app::Application;
pub use config::Settings;
