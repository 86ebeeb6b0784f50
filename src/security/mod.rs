//! Security primitives: password hashing, JWTs, the signing secret, mailed one-time secrets,
//! User-Agent parsing and client IP resolution. Nothing here knows about HTTP routing or the database.

pub mod claims;
pub mod client_ip;
pub mod common_passwords;
pub mod device;
pub mod encryption;
pub mod jwt;
pub mod keyset;
pub mod oidc;
pub mod one_time;
pub mod passkeys;
pub mod password;
pub mod pwned;
pub mod secret;
pub mod token_cache;
pub mod totp;
