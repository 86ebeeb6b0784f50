//! SQLite `organizations` and `memberships`. The owner count lives on the organization and
//! changes in the same transaction as the membership it counts (the one writer connection makes
//! each transaction whole), so the last owner can never be unmade.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::*;
use crate::domain::org::{Membership, OrgRole, Organization};
use crate::store::{MemberChange, OrgStore};

const ORG_COLUMNS: &str = "id, name, slug, owners, created_at, updated_at";

fn org_from_row(c: &mut Columns<'_, '_>) -> rusqlite::Result<Organization> {
    Ok(Organization {
        id: c.take()?,
        name: c.take()?,
        slug: c.take()?,
        owners: c.take()?,
        created_at: c.timestamp()?,
        updated_at: c.timestamp()?,
    })
}

fn role(text: String) -> rusqlite::Result<OrgRole> {
    OrgRole::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown organization role {text:?}").into(),
        )
    })
}

fn membership_from_row(row: &Row<'_>) -> rusqlite::Result<Membership> {
    let mut c = Columns::of(row);
    Ok(Membership {
        org_id: c.take()?,
        user_id: c.take()?,
        role: role(c.take()?)?,
        joined_at: c.timestamp()?,
    })
}

/// One owner more or less for a membership moving from `from` to `to` (`None`: removed).
fn owner_delta(from: OrgRole, to: Option<OrgRole>) -> i64 {
    i64::from(to == Some(OrgRole::Owner)) - i64::from(from == OrgRole::Owner)
}

#[async_trait]
impl OrgStore for SqliteStore {
    async fn create_org(&self, org: &Organization, owner: &Membership) -> StoreResult<()> {
        let (org, owner) = (org.clone(), owner.clone());
        self.write(move |conn| {
            let tx = conn.transaction()?;
            tx.prepare_cached(&format!(
                "INSERT INTO organizations ({ORG_COLUMNS}) VALUES (?1, ?2, ?3, 1, ?4, ?5)"
            ))?
            .execute(params![
                org.id,
                org.name,
                org.slug,
                millis(org.created_at),
                millis(org.updated_at)
            ])?;
            tx.prepare_cached(
                "INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                owner.org_id,
                owner.user_id,
                OrgRole::Owner.as_str(),
                millis(owner.joined_at)
            ])?;
            tx.commit()
        })
        .await
    }

    async fn find_org(&self, id: &str) -> StoreResult<Option<Organization>> {
        let id = id.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {ORG_COLUMNS} FROM organizations WHERE id = ?1"
            ))?
            .query_row([id], |row| org_from_row(&mut Columns::of(row)))
            .optional()
        })
        .await
    }

    async fn update_org(
        &self,
        id: &str,
        name: Option<&str>,
        slug: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Organization>> {
        let (id, name, slug) = (
            id.to_owned(),
            name.map(str::to_owned),
            slug.map(str::to_owned),
        );
        self.write(move |conn| {
            conn.prepare_cached(&format!(
                "UPDATE organizations SET name = COALESCE(?2, name), slug = COALESCE(?3, slug),
                    updated_at = ?4
                 WHERE id = ?1 RETURNING {ORG_COLUMNS}"
            ))?
            .query_row(params![id, name, slug, millis(now)], |row| {
                org_from_row(&mut Columns::of(row))
            })
            .optional()
        })
        .await
    }

    async fn delete_org(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |conn| {
            let tx = conn.transaction()?;
            tx.prepare_cached("DELETE FROM memberships WHERE org_id = ?1")?
                .execute([&id])?;
            tx.prepare_cached("DELETE FROM invitations WHERE org_id = ?1")?
                .execute([&id])?;
            let deleted = tx
                .prepare_cached("DELETE FROM organizations WHERE id = ?1")?
                .execute([&id])?;
            tx.commit()?;
            Ok(deleted == 1)
        })
        .await
    }

    async fn list_orgs(
        &self,
        slug_prefix: Option<&str>,
        limit: u32,
        before: Option<(DateTime<Utc>, String)>,
    ) -> StoreResult<Vec<Organization>> {
        let pattern = super::users::like_prefix(slug_prefix.unwrap_or_default());
        let (before_at, before_id) = before
            .map(|(at, id)| (millis(at), id))
            .unwrap_or((i64::MAX, String::new()));
        let open_end = before_id.is_empty();
        self.read_point(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {ORG_COLUMNS} FROM organizations
                 WHERE slug LIKE ?1 ESCAPE '\\' AND (?4 OR (created_at, id) < (?2, ?3))
                 ORDER BY created_at DESC, id DESC LIMIT ?5"
            ))?
            .query_map(
                params![pattern, before_at, before_id, open_end, limit],
                |row| org_from_row(&mut Columns::of(row)),
            )?
            .collect()
        })
        .await
    }

    async fn orgs_of_user(&self, user_id: &str) -> StoreResult<Vec<(Organization, OrgRole)>> {
        let user_id = user_id.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached(
                "SELECT o.id, o.name, o.slug, o.owners, o.created_at, o.updated_at, m.role
                 FROM memberships m JOIN organizations o ON o.id = m.org_id
                 WHERE m.user_id = ?1 ORDER BY m.joined_at, o.id",
            )?
            .query_map([user_id], |row| {
                let mut c = Columns::of(row);
                let org = org_from_row(&mut c)?;
                Ok((org, role(c.take()?)?))
            })?
            .collect()
        })
        .await
    }

    async fn find_membership(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Membership>> {
        let (org_id, user_id) = (org_id.to_owned(), user_id.to_owned());
        self.read_point(move |conn| {
            conn.prepare_cached(
                "SELECT org_id, user_id, role, joined_at FROM memberships
                 WHERE org_id = ?1 AND user_id = ?2",
            )?
            .query_row([org_id, user_id], membership_from_row)
            .optional()
        })
        .await
    }

    async fn add_member(&self, membership: &Membership) -> StoreResult<()> {
        let m = membership.clone();
        self.write(move |conn| {
            let tx = conn.transaction()?;
            tx.prepare_cached(
                "INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![m.org_id, m.user_id, m.role.as_str(), millis(m.joined_at)])?;
            if m.role == OrgRole::Owner {
                tx.prepare_cached("UPDATE organizations SET owners = owners + 1 WHERE id = ?1")?
                    .execute([&m.org_id])?;
            }
            tx.commit()
        })
        .await
    }

    async fn list_members(
        &self,
        org_id: &str,
        limit: u32,
        after: Option<(DateTime<Utc>, String)>,
    ) -> StoreResult<Vec<Membership>> {
        let org_id = org_id.to_owned();
        let (after_at, after_id) = after
            .map(|(at, id)| (millis(at), id))
            .unwrap_or((i64::MIN, String::new()));
        self.read_point(move |conn| {
            conn.prepare_cached(
                "SELECT org_id, user_id, role, joined_at FROM memberships
                 WHERE org_id = ?1 AND (joined_at, user_id) > (?2, ?3)
                 ORDER BY joined_at, user_id LIMIT ?4",
            )?
            .query_map(
                params![org_id, after_at, after_id, limit],
                membership_from_row,
            )?
            .collect()
        })
        .await
    }

    async fn set_member_role(
        &self,
        org_id: &str,
        user_id: &str,
        from: OrgRole,
        to: OrgRole,
    ) -> StoreResult<MemberChange> {
        change_member(self, org_id, user_id, from, Some(to)).await
    }

    async fn remove_member(
        &self,
        org_id: &str,
        user_id: &str,
        from: OrgRole,
    ) -> StoreResult<MemberChange> {
        change_member(self, org_id, user_id, from, None).await
    }
}

/// A role change (`to`) or a removal (`None`) in one transaction with the owner count: refused
/// when it would leave no owner, or when the member's role is no longer `from`.
async fn change_member(
    store: &SqliteStore,
    org_id: &str,
    user_id: &str,
    from: OrgRole,
    to: Option<OrgRole>,
) -> StoreResult<MemberChange> {
    let (org_id, user_id) = (org_id.to_owned(), user_id.to_owned());
    let delta = owner_delta(from, to);
    store
        .write(move |conn| {
            let tx = conn.transaction()?;
            let owners: Option<i64> = tx
                .prepare_cached("SELECT owners FROM organizations WHERE id = ?1")?
                .query_row([&org_id], |row| row.get(0))
                .optional()?;
            let Some(owners) = owners else {
                return Ok(MemberChange::Raced);
            };
            if owners + delta < 1 {
                return Ok(MemberChange::LastOwner);
            }
            let changed = match to {
                Some(to) => tx
                    .prepare_cached(
                        "UPDATE memberships SET role = ?4
                         WHERE org_id = ?1 AND user_id = ?2 AND role = ?3",
                    )?
                    .execute(params![org_id, user_id, from.as_str(), to.as_str()])?,
                None => tx
                    .prepare_cached(
                        "DELETE FROM memberships WHERE org_id = ?1 AND user_id = ?2 AND role = ?3",
                    )?
                    .execute(params![org_id, user_id, from.as_str()])?,
            };
            if changed == 0 {
                return Ok(MemberChange::Raced);
            }
            if delta != 0 {
                tx.prepare_cached("UPDATE organizations SET owners = owners + ?2 WHERE id = ?1")?
                    .execute(params![org_id, delta])?;
            }
            tx.commit()?;
            Ok(MemberChange::Done)
        })
        .await
}
