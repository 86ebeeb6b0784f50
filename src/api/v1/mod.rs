//! Version 1 of the API, mounted at `/api/v1`.

pub mod admin;
pub mod auth;
pub mod user;

use axum::Router;

use crate::context::AppContext;

pub fn router() -> Router<AppContext> {
    Router::new()
        .nest("/auth", auth::router())
        .nest("/user", user::router())
        .nest("/admin", admin::router())
}
