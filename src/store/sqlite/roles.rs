//! SQLite `roles`: seeded by name (inserted, or brought to the code's definition), listed by name.

use async_trait::async_trait;
use rusqlite::{Row, params};

use super::*;
use crate::domain::Role;
use crate::store::RoleStore;

pub(super) fn role_from_row(row: &Row<'_>) -> rusqlite::Result<Role> {
    let mut c = Columns::of(row);
    Ok(Role {
        id: c.take()?,
        name: c.take()?,
        description: c.take()?,
        permissions: c.take::<JsonList>()?.0,
        is_active: c.take()?,
        created_at: c.timestamp()?,
    })
}

#[async_trait]
impl RoleStore for SqliteStore {
    async fn seed_role(&self, role: &Role) -> StoreResult<()> {
        let role = role.clone();
        self.write(move |conn| {
            // Keyed on the name only: a clash on anything else (the id) is still an error.
            conn.prepare_cached(
                "INSERT INTO roles (id, name, description, permissions, is_active, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (name) DO UPDATE
                 SET description = excluded.description, permissions = excluded.permissions",
            )?
            .execute(params![
                role.id,
                role.name,
                role.description,
                to_json(&role.permissions)?,
                role.is_active,
                millis(role.created_at),
            ])
            .map(drop)
        })
        .await
    }

    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        self.read(|conn| {
            // rowid breaks the tie between roles seeded in the same millisecond, keeping them in
            // seeding order.
            conn.prepare_cached(concat!(
                "SELECT ",
                role_columns!(),
                " FROM roles ORDER BY name"
            ))?
            .query_map([], role_from_row)?
            .collect()
        })
        .await
    }
}
