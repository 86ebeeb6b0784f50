//! authkit: an auth-and-accounts API server. The binary in `main.rs` only wires; everything here
//! is shared with the tests, which drive the same router over real HTTP.

pub mod config;
pub mod domain;
pub mod store;
