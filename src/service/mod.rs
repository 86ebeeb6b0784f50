//! The rules of the product: accounts, sessions and tokens, permissions. Services take the
//! [`AppContext`](crate::context::AppContext) and plain values; they never see HTTP or driver types.

pub mod accounts;
pub mod admin;
pub mod limits;
pub mod roles;
pub mod sessions;
