//! SQLite `sessions`: rotation and revocation as single conditional statements, and the hot
//! path's session-and-user read in one statement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, named_params, params};

use super::*;
use crate::domain::{Amr, RevokeReason, Session, SessionState, User};
use crate::store::SessionStore;

use super::users::read_user;

pub(super) fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    let mut c = Columns::of(row);
    Ok(Session {
        id: c.take()?,
        user_id: c.take()?,
        refresh_jti: c.take()?,
        previous_jti: c.take()?,
        rotated_at: c.optional_timestamp()?,
        device: c.take()?,
        ip_address: c.take()?,
        user_agent: c.take()?,
        epoch: c.take()?,
        amr: Amr::from_bits(c.take()?),
        authenticated_at: c.timestamp()?,
        created_at: c.timestamp()?,
        last_activity: c.timestamp()?,
        expires_at: c.timestamp()?,
        is_active: c.take()?,
        revoked_at: c.optional_timestamp()?,
        revoke_reason: c.take()?,
    })
}

pub(super) fn read_session_state(c: &mut Columns<'_, '_>) -> rusqlite::Result<SessionState> {
    Ok(SessionState {
        is_active: c.take()?,
        epoch: c.take()?,
        amr: Amr::from_bits(c.take()?),
        authenticated_at: c.timestamp()?,
        created_at: c.timestamp()?,
        expires_at: c.timestamp()?,
        last_activity: c.timestamp()?,
    })
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        let s = session.clone();
        self.write(move |conn| {
            // One transaction, so one sync to disk for both writes of a login.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT INTO sessions (id, user_id, refresh_jti, previous_jti, rotated_at, device,
                    ip_address, user_agent, created_at, last_activity, expires_at, is_active,
                    revoked_at, revoke_reason, epoch, mfa, amr, authenticated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18)",
            )?
            .execute(params![
                s.id,
                s.user_id,
                s.refresh_jti,
                s.previous_jti,
                s.rotated_at.map(millis),
                s.device,
                s.ip_address,
                s.user_agent,
                millis(s.created_at),
                millis(s.last_activity),
                millis(s.expires_at),
                s.is_active,
                s.revoked_at.map(millis),
                s.revoke_reason,
                s.epoch,
                // Kept for a build from before `amr` that shares the file during an upgrade.
                s.amr.contains(Amr::OTP),
                s.amr.bits(),
                millis(s.authenticated_at),
            ])?;
            tx.prepare_cached("UPDATE users SET last_login_at = ?2 WHERE id = ?1")?
                .execute(params![s.user_id, millis(s.created_at)])?;
            tx.commit()
        })
        .await
    }

    async fn find_session(&self, id: &str) -> StoreResult<Option<Session>> {
        let id = id.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached(concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions WHERE id = ?1"
            ))?
            .query_row([id], session_from_row)
            .optional()
        })
        .await
    }

    async fn find_session_and_user(
        &self,
        session_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<(SessionState, User)>> {
        let (session_id, user_id) = (session_id.to_owned(), user_id.to_owned());
        self.read_point(move |conn| {
            // One statement, so one read transaction: the pair comes from one snapshot, and the
            // WAL read lock is taken once. Each side is a primary-key lookup; joining the two
            // single-row results gives a row only when both exist, session columns first.
            conn.prepare_cached(concat!(
                "SELECT * FROM (SELECT ",
                session_state_columns!(),
                " FROM sessions WHERE id = ?1 AND user_id = ?2)
                          JOIN (SELECT ",
                user_columns!(),
                " FROM users WHERE id = ?2)"
            ))?
            .query_row([session_id, user_id], |row| {
                let mut c = Columns::of(row);
                let state = read_session_state(&mut c)?;
                Ok((state, read_user(&mut c)?))
            })
            .optional()
        })
        .await
    }

    async fn rotate_refresh(
        &self,
        id: &str,
        user_id: &str,
        current_jti: &str,
        new_jti: &str,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionState>> {
        let (id, user_id) = (id.to_owned(), user_id.to_owned());
        let (current_jti, new_jti) = (current_jti.to_owned(), new_jti.to_owned());
        self.write(move |conn| {
            // The WHERE clause is the whole check: of two refreshes racing with the same token,
            // exactly one finds `refresh_jti = current` still true.
            conn.prepare_cached(concat!(
                "UPDATE sessions SET refresh_jti = :new_jti, previous_jti = :current_jti,
                    rotated_at = :now, last_activity = :now, expires_at = :new_expires_at
                 WHERE id = :id AND user_id = :user_id AND refresh_jti = :current_jti
                   AND is_active = 1 AND expires_at > :now
                 RETURNING ",
                session_state_columns!()
            ))?
            .query_row(
                named_params! {
                    ":id": id,
                    ":user_id": user_id,
                    ":current_jti": current_jti,
                    ":new_jti": new_jti,
                    ":new_expires_at": millis(new_expires_at),
                    ":now": millis(now),
                },
                |row| read_session_state(&mut Columns::of(row)),
            )
            .optional()
        })
        .await
    }

    async fn carry_session_over(&self, id: &str, user_id: &str, epoch: i64) -> StoreResult<bool> {
        let (id, user_id) = (id.to_owned(), user_id.to_owned());
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE sessions SET epoch = ?3 WHERE id = ?1 AND user_id = ?2 AND is_active = 1",
                )?
                .execute(params![id, user_id, epoch])?;
            Ok(changed > 0)
        })
        .await
    }

    async fn touch_session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |conn| {
            // A revoked session has no activity worth recording.
            conn.prepare_cached(
                "UPDATE sessions SET last_activity = ?2 WHERE id = ?1 AND is_active = 1",
            )?
            .execute(params![id, millis(now)])
            .map(drop)
        })
        .await
    }

    async fn revoke_session(
        &self,
        id: &str,
        user_id: Option<&str>,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let id = id.to_owned();
        let user_id = user_id.map(str::to_owned);
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE sessions SET is_active = 0, revoked_at = ?3, revoke_reason = ?4
                     WHERE id = ?1 AND is_active = 1 AND (?2 IS NULL OR user_id = ?2)",
                )?
                .execute(params![id, user_id, millis(now), reason.as_str()])?;
            Ok(changed > 0)
        })
        .await
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let user_id = user_id.to_owned();
        let keep = keep.map(str::to_owned);
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE sessions SET is_active = 0, revoked_at = ?3, revoke_reason = ?4
                     WHERE user_id = ?1 AND is_active = 1 AND (?2 IS NULL OR id <> ?2)",
                )?
                .execute(params![user_id, keep, millis(now), reason.as_str()])?;
            Ok(count(changed))
        })
        .await
    }

    async fn list_active_sessions(
        &self,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Session>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions WHERE user_id = ?1 AND is_active = 1 AND expires_at > ?2
                  ORDER BY last_activity DESC, id DESC"
            ))?
            .query_map(params![user_id, millis(now)], session_from_row)?
            .collect()
        })
        .await
    }
}
