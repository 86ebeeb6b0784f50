//! `roles`: the built-in roles are seeded by name and kept at the code's definition; roles of
//! other names are an operator's and stay as they are.

use super::*;
use crate::domain::permission::DEFAULT_ROLES;
use crate::store::seed_default_roles;

fn role(name: &str, permissions: &[&str]) -> Role {
    Role {
        id: new_id(),
        name: name.into(),
        description: format!("{name} role"),
        permissions: permissions.iter().map(|p| p.to_string()).collect(),
        is_active: true,
        created_at: now(),
    }
}

/// Seeding a role is idempotent by name, also when several instances seed at once.
pub async fn roles_are_seeded_once_by_name(store: &dyn Store) {
    let first = role("user", &["users:read"]);
    store.seed_role(&first).await.expect("insert");
    store
        .seed_role(&role("user", &["users:read"]))
        .await
        .expect("again");
    let racers = (0..8)
        .map(|_| role("admin", &["admin:*"]))
        .collect::<Vec<_>>();
    let results = futures_util::future::join_all(racers.iter().map(|r| store.seed_role(r))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let roles = store.list_roles().await.expect("list");
    let names = roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>();
    assert_eq!(names, ["admin", "user"]);
    assert_eq!(roles[1], first);
}

/// A database seeded by an older version: its `USER` lacks a permission the code now grants, an
/// operator deactivated `ADMIN`, and an operator made a role of their own. Seeding at start
/// brings the built-in roles to the code's permissions and descriptions and keeps their ids (users
/// point at them), creation times and `is_active`; the operator's role is untouched.
pub async fn seeding_brings_built_in_roles_to_the_code_and_leaves_others(store: &dyn Store) {
    let old_user = role("USER", &["user:read"]);
    let old_admin = Role {
        is_active: false,
        ..role("ADMIN", &["admin:*"])
    };
    let custom = role("SUPPORT", &["user:read", "admin:read"]);
    for r in [&old_user, &old_admin, &custom] {
        store.seed_role(r).await.expect("old database");
    }

    seed_default_roles(store).await.expect("seed at start");
    seed_default_roles(store)
        .await
        .expect("seed at a second start");

    let roles = store.list_roles().await.expect("list");
    let by_name = |name: &str| roles.iter().find(|r| r.name == name).cloned().expect(name);
    for (name, description, permissions) in DEFAULT_ROLES {
        let seeded = by_name(name);
        assert_eq!(seeded.permissions, permissions, "{name}");
        assert_eq!(seeded.description, description, "{name}");
    }
    let user = by_name("USER");
    assert_eq!(
        (&user.id, user.created_at),
        (&old_user.id, old_user.created_at)
    );
    let admin = by_name("ADMIN");
    assert_eq!(admin.id, old_admin.id);
    assert!(!admin.is_active, "an operator's deactivation holds");
    assert_eq!(by_name("SUPPORT"), custom);
    assert_eq!(roles.len(), 4);
}
