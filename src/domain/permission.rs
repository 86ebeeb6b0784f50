//! Wildcard permissions: `ns:action` is granted by itself, by `ns:*`, or by `*`.

/// The built-in roles seeded at start.
pub const ROLE_USER: &str = "USER";
pub const ROLE_ADMIN: &str = "ADMIN";
pub const ROLE_SUPER_ADMIN: &str = "SUPER_ADMIN";

/// The permission every admin route needs.
pub const ADMIN_ALL: &str = "admin:*";
/// The permission that may touch privileged accounts and grant privileged roles.
pub const EVERYTHING: &str = "*";

/// Default roles: (name, description, permissions).
pub const DEFAULT_ROLES: [(&str, &str, &[&str]); 3] = [
    (ROLE_USER, "Regular user", &["user:*"]),
    (ROLE_ADMIN, "Administrator", &["admin:*"]),
    (ROLE_SUPER_ADMIN, "Super administrator", &["*"]),
];

/// Whether one granted permission covers the required one.
pub fn grants(granted: &str, required: &str) -> bool {
    if granted == EVERYTHING || granted == required {
        return true;
    }
    match granted.strip_suffix(":*") {
        // `ns:*` covers `ns:anything` and `ns:*`, never another namespace.
        Some(ns) => required
            .split_once(':')
            .is_some_and(|(required_ns, _)| required_ns == ns),
        None => false,
    }
}

/// Whether any of the granted permissions covers the required one.
pub fn has_permission<S: AsRef<str>>(granted: &[S], required: &str) -> bool {
    granted.iter().any(|g| grants(g.as_ref(), required))
}

/// A role is privileged when it grants admin access; only `*` holders may grant it, or touch
/// accounts that hold it.
pub fn is_privileged<S: AsRef<str>>(permissions: &[S]) -> bool {
    has_permission(permissions, ADMIN_ALL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_namespace_and_global_wildcards() {
        assert!(grants("user:read", "user:read"));
        assert!(grants("user:*", "user:read"));
        assert!(grants("user:*", "user:*"));
        assert!(grants("*", "admin:*"));
        assert!(grants("admin:*", "admin:*"));
        assert!(!grants("user:*", "admin:*"));
        assert!(!grants("user:read", "user:write"));
        assert!(!grants("user", "user:read"));
        assert!(!grants("us:*", "user:read"));
        assert!(!grants("user:*", "username:read"));
    }

    #[test]
    fn privileged_roles() {
        assert!(is_privileged(&["admin:*"]));
        assert!(is_privileged(&["*"]));
        assert!(!is_privileged(&["user:*"]));
        assert!(!has_permission::<&str>(&[], "user:read"));
    }
}
