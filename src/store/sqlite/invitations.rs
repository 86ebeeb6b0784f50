//! SQLite `invitations`: `INSERT OR REPLACE` on the (organization, address) key replaces the
//! older invitation in one write; taken by one `DELETE ... RETURNING`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::*;
use crate::domain::org::{Invitation, OrgRole};
use crate::store::InvitationStore;

const COLUMNS: &str = "id, org_id, email, role, invited_by, token_hash, created_at, expires_at";

fn invitation_from_row(row: &Row<'_>) -> rusqlite::Result<Invitation> {
    let mut c = Columns::of(row);
    let (id, org_id, email) = (c.take()?, c.take()?, c.take()?);
    let role: String = c.take()?;
    Ok(Invitation {
        id,
        org_id,
        email,
        role: OrgRole::parse(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                format!("unknown organization role {role:?}").into(),
            )
        })?,
        invited_by: c.take()?,
        token_hash: c.take()?,
        created_at: c.timestamp()?,
        expires_at: c.timestamp()?,
    })
}

impl SqliteStore {
    async fn invitations_where(
        &self,
        condition: &'static str,
        value: String,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Invitation>> {
        self.read_point(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM invitations WHERE {condition} AND expires_at > ?2
                 ORDER BY created_at DESC, id DESC"
            ))?
            .query_map(params![value, millis(now)], invitation_from_row)?
            .collect()
        })
        .await
    }
}

#[async_trait]
impl InvitationStore for SqliteStore {
    async fn put_invitation(&self, invitation: &Invitation) -> StoreResult<()> {
        let i = invitation.clone();
        self.write(move |conn| {
            conn.prepare_cached(&format!(
                "INSERT OR REPLACE INTO invitations ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))?
            .execute(params![
                i.id,
                i.org_id,
                i.email,
                i.role.as_str(),
                i.invited_by,
                i.token_hash,
                millis(i.created_at),
                millis(i.expires_at),
            ])
            .map(drop)
        })
        .await
    }

    async fn find_invitation(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Invitation>> {
        Ok(self
            .invitations_where("id = ?1", id.to_owned(), now)
            .await?
            .pop())
    }

    async fn find_invitation_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Invitation>> {
        Ok(self
            .invitations_where("token_hash = ?1", token_hash.to_owned(), now)
            .await?
            .pop())
    }

    async fn list_org_invitations(
        &self,
        org_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Invitation>> {
        self.invitations_where("org_id = ?1", org_id.to_owned(), now)
            .await
    }

    async fn list_invitations_to(
        &self,
        email: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Invitation>> {
        self.invitations_where("email = ?1", email.to_owned(), now)
            .await
    }

    async fn take_invitation(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Invitation>> {
        let id = id.to_owned();
        self.write(move |conn| {
            conn.prepare_cached(&format!(
                "DELETE FROM invitations WHERE id = ?1 AND expires_at > ?2 RETURNING {COLUMNS}"
            ))?
            .query_row(params![id, millis(now)], invitation_from_row)
            .optional()
        })
        .await
    }
}
