//! Who is calling and from where. Every service takes these, so they live below the services:
//! a service that checks a permission never has to import the one that authenticates.

use std::net::IpAddr;
use std::sync::Arc;

use super::permission::has_permission;
use super::{Role, User};

/// Where a request came from, recorded on new sessions and on security events.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: String,
}

/// The authenticated caller of a request, and where the request came from.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub role: Arc<Role>,
    pub session_id: String,
    /// How and when the session's user last signed in.
    pub authentication: super::Authentication,
    pub client: ClientInfo,
}

impl Principal {
    /// Whether the caller's role grants `permission` (`ns:action`, `ns:*` or `*`). An inactive
    /// role grants nothing.
    pub fn can(&self, permission: &str) -> bool {
        self.role.is_active && has_permission(&self.role.permissions, permission)
    }
}
