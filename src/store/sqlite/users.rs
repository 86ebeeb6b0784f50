//! SQLite `users`: unique lower-cased usernames and emails (the table's UNIQUE columns), one
//! cached statement per update shape, literal prefix search.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, named_params, params};

use super::*;
use crate::domain::{LoginField, User, UserChanges, UserFilter};
use crate::store::UserStore;

/// `prefix` as a LIKE pattern matching only strings that start with it literally.
pub(super) fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

pub(super) fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    read_user(&mut Columns::of(row))
}

pub(super) fn read_user(c: &mut Columns<'_, '_>) -> rusqlite::Result<User> {
    Ok(User {
        id: c.take()?,
        username: c.take()?,
        email: c.take()?,
        full_name: c.take()?,
        password_hash: c.take()?,
        role_id: c.take()?,
        is_active: c.take()?,
        session_epoch: c.take()?,
        created_at: c.timestamp()?,
        updated_at: c.timestamp()?,
        last_login_at: c.optional_timestamp()?,
        deleted_at: c.optional_timestamp()?,
        email_verified: c.take()?,
        pending_email: c.take()?,
        mfa_enabled: c.take()?,
    })
}

pub(super) fn find_user_by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = ?1"
    ))?
    .query_row([id], user_from_row)
    .optional()
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let user = user.clone();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO users (id, username, username_lower, email, email_lower, full_name,
                    password_hash, role_id, is_active, session_epoch, created_at, updated_at,
                    last_login_at, deleted_at, email_verified, pending_email, mfa_enabled)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?14, ?10, ?11, ?12, ?13, ?15, ?16,
                         ?17)",
            )?
            .execute(params![
                user.id,
                user.username,
                user.username_lower(),
                user.email,
                user.email_lower(),
                user.full_name,
                user.password_hash,
                user.role_id,
                user.is_active,
                millis(user.created_at),
                millis(user.updated_at),
                user.last_login_at.map(millis),
                user.deleted_at.map(millis),
                user.session_epoch,
                user.email_verified,
                user.pending_email,
                user.mfa_enabled,
            ])
            .map(drop)
        })
        .await
    }

    async fn find_user(&self, id: &str) -> StoreResult<Option<User>> {
        let id = id.to_owned();
        self.read_point(move |conn| find_user_by_id(conn, &id))
            .await
    }

    async fn find_user_by_login(&self, login_lower: &str) -> StoreResult<Option<User>> {
        let login = login_lower.to_owned();
        self.read_point(move |conn| {
            let sql = match LoginField::of(&login) {
                LoginField::Email => {
                    concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users WHERE email_lower = ?1"
                    )
                }
                LoginField::Username => {
                    concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users WHERE username_lower = ?1"
                    )
                }
            };
            conn.prepare_cached(sql)?
                .query_row([login], user_from_row)
                .optional()
        })
        .await
    }

    async fn update_user(
        &self,
        id: &str,
        changes: &UserChanges,
        if_role: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let id = id.to_owned();
        let if_role = if_role.map(str::to_owned);
        if changes.is_empty() && if_role.is_none() {
            // Nothing to change, so nothing to stamp with a new `updated_at`.
            return self.read(move |conn| find_user_by_id(conn, &id)).await;
        }
        let changes = changes.clone();
        self.write(move |conn| {
            // One statement for every combination of changes (so it stays cached): a NULL
            // parameter keeps the column. The lower-cased copies are computed here with Rust's
            // Unicode-aware `to_lowercase`, exactly as on insert; SQLite's `lower()` is ASCII-only.
            conn.prepare_cached(concat!(
                "UPDATE users SET
                    username = coalesce(:username, username),
                    username_lower = coalesce(:username_lower, username_lower),
                    email = coalesce(:email, email),
                    email_lower = coalesce(:email_lower, email_lower),
                    full_name = CASE WHEN :set_full_name THEN :full_name ELSE full_name END,
                    password_hash = coalesce(:password_hash, password_hash),
                    role_id = coalesce(:role_id, role_id),
                    is_active = coalesce(:is_active, is_active),
                    deleted_at = CASE WHEN :is_active THEN NULL ELSE deleted_at END,
                    session_epoch = session_epoch + :end_sessions,
                    last_login_at = coalesce(:last_login_at, last_login_at),
                    email_verified = coalesce(:email_verified, email_verified),
                    mfa_enabled = coalesce(:mfa_enabled, mfa_enabled),
                    pending_email = CASE WHEN :set_pending_email THEN :pending_email
                                         ELSE pending_email END,
                    updated_at = :now
                 WHERE id = :id AND (:if_role IS NULL OR role_id = :if_role)
                 RETURNING ",
                user_columns!()
            ))?
            .query_row(
                named_params! {
                    ":id": id,
                    ":username": changes.username,
                    ":username_lower": changes.username.as_deref().map(str::to_lowercase),
                    ":email": changes.email,
                    ":email_lower": changes.email.as_deref().map(str::to_lowercase),
                    ":set_full_name": changes.full_name.is_some(),
                    ":full_name": changes.full_name.flatten(),
                    ":password_hash": changes.password_hash,
                    ":role_id": changes.role_id,
                    ":is_active": changes.is_active,
                    ":end_sessions": i64::from(changes.end_sessions),
                    ":if_role": if_role,
                    ":last_login_at": changes.last_login_at.map(millis),
                    ":email_verified": changes.email_verified,
                    ":mfa_enabled": changes.mfa_enabled,
                    ":set_pending_email": changes.pending_email.is_some(),
                    ":pending_email": changes.pending_email.flatten(),
                    ":now": millis(now),
                },
                user_from_row,
            )
            .optional()
        })
        .await
    }

    async fn replace_password_hash(
        &self,
        id: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> StoreResult<()> {
        let (id, old_hash, new_hash) = (id.to_owned(), old_hash.to_owned(), new_hash.to_owned());
        self.write(move |conn| {
            // Compare-and-set: if the password changed meanwhile, the newer hash wins.
            conn.prepare_cached(
                "UPDATE users SET password_hash = ?3 WHERE id = ?1 AND password_hash = ?2",
            )?
            .execute(params![id, old_hash, new_hash])
            .map(drop)
        })
        .await
    }

    async fn soft_delete_user(
        &self,
        id: &str,
        if_role: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let id = id.to_owned();
        let if_role = if_role.map(str::to_owned);
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE users SET is_active = 0, deleted_at = ?2, updated_at = ?2,
                        session_epoch = session_epoch + 1
                     WHERE id = ?1 AND is_active = 1 AND (?3 IS NULL OR role_id = ?3)",
                )?
                .execute(params![id, millis(now), if_role])?;
            Ok(changed > 0)
        })
        .await
    }

    async fn list_users(
        &self,
        filter: &UserFilter,
        skip: u64,
        limit: u64,
    ) -> StoreResult<(Vec<User>, u64)> {
        let pattern = filter.prefix.as_deref().map(like_prefix);
        let role_id = filter.role_id.clone();
        let is_active = filter.is_active;
        let before = filter.before.as_ref().map(|c| (millis(c.at), c.id.clone()));
        let offset = i64::try_from(skip).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            // A NULL parameter disables its condition, so one cached statement serves every
            // filter combination.
            const WHERE: &str = " WHERE (:pattern IS NULL
                        OR username_lower LIKE :pattern ESCAPE '\\'
                        OR email_lower LIKE :pattern ESCAPE '\\')
                   AND (:role_id IS NULL OR role_id = :role_id)
                   AND (:is_active IS NULL OR is_active = :is_active)";
            // After a keyset position: a range of the `(created_at, id)` index.
            const AFTER: &str = " AND (created_at, id) < (:before_at, :before_id)";
            // One read transaction, so the page and the total come from the same snapshot.
            let tx = conn.unchecked_transaction()?;
            let select = format!(
                "SELECT {} FROM users{WHERE}{}
                 ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset",
                user_columns!(),
                if before.is_some() { AFTER } else { "" }
            );
            let mut statement = tx.prepare_cached(&select)?;
            let users = match &before {
                None => statement.query_map(
                    named_params! {
                        ":pattern": pattern,
                        ":role_id": role_id,
                        ":is_active": is_active,
                        ":limit": limit,
                        ":offset": offset,
                    },
                    user_from_row,
                )?,
                Some((at, id)) => statement.query_map(
                    named_params! {
                        ":pattern": pattern,
                        ":role_id": role_id,
                        ":is_active": is_active,
                        ":before_at": at,
                        ":before_id": id,
                        ":limit": limit,
                        ":offset": offset,
                    },
                    user_from_row,
                )?,
            }
            .collect::<rusqlite::Result<Vec<_>>>()?;
            drop(statement);
            let unfiltered = pattern.is_none() && role_id.is_none() && is_active.is_none();
            let total: i64 = if unfiltered {
                // Without a WHERE, SQLite counts the pages of its smallest index instead of
                // reading every row: at 100k accounts the difference is most of the request.
                tx.prepare_cached("SELECT count(*) FROM users")?
                    .query_row([], |row| row.get(0))?
            } else {
                tx.prepare_cached(&format!("SELECT count(*) FROM users{WHERE}"))?
                    .query_row(
                        named_params! {
                            ":pattern": pattern,
                            ":role_id": role_id,
                            ":is_active": is_active,
                        },
                        |row| row.get(0),
                    )?
            };
            tx.commit()?;
            Ok((users, u64::try_from(total).unwrap_or_default()))
        })
        .await
    }
}
