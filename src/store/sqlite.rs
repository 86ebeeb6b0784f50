//! The embedded SQLite backend: one database file under `DATA_DIR`, no server to run.
//!
//! `rusqlite::Connection` is `Send` but not `Sync`, and every call blocks, so each connection
//! lives behind its own `std::sync::Mutex` and every query runs on Tokio's blocking pool.
//! SQLite allows one writer at a time anyway, so all writes share a single connection (no
//! `SQLITE_BUSY` ping-pong between our own writers); reads go to a small pool of connections that,
//! thanks to WAL, never wait for the writer.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior, named_params,
    params,
};

use super::{Store, StoreError, StoreResult};
use crate::domain::{
    Counter, LoginField, RevokeReason, Role, Session, SessionState, User, UserChanges, UserFilter,
};

/// The schema version of [`SCHEMA`]: databases at or below it get [`SCHEMA`] (idempotent).
const BASE_VERSION: i64 = 2;

/// Numbered schema changes after [`BASE_VERSION`], applied in order at open, each in the same
/// transaction as the new `PRAGMA user_version`. Append only: a released step never changes.
const MIGRATIONS: &[(i64, &str)] = &[(
    3,
    // Sessions end with the account's epoch (see `User::session_epoch`); existing rows start in
    // epoch 0 together, so every live session stays live.
    "ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE sessions ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;",
)];

/// The version this build brings a database to.
const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Reader connections. Requests are short, so a handful covers far more concurrency than the
/// blocking pool is likely to give us on a small machine.
const READERS: usize = 4;

/// How long a statement waits for a lock held by another connection (or process) before it
/// gives up with `SQLITE_BUSY`, which becomes a 503.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

// Tables are STRICT so that a mis-typed bind (say, a timestamp as text) fails loudly instead of
// being stored. No foreign keys are declared: MongoDB has none, and both backends must accept
// the same writes.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS roles (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,
    is_active   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS users (
    id             TEXT PRIMARY KEY NOT NULL,
    username       TEXT NOT NULL,
    username_lower TEXT NOT NULL UNIQUE,
    email          TEXT NOT NULL,
    email_lower    TEXT NOT NULL UNIQUE,
    full_name      TEXT,
    password_hash  TEXT NOT NULL,
    role_id        TEXT NOT NULL,
    is_active      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    last_login_at  INTEGER,
    deleted_at     INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS users_created_at ON users (created_at);

CREATE TABLE IF NOT EXISTS sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL,
    refresh_jti   TEXT NOT NULL UNIQUE,
    previous_jti  TEXT,
    rotated_at    INTEGER,
    device        TEXT NOT NULL,
    ip_address    TEXT NOT NULL,
    user_agent    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_activity INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    is_active     INTEGER NOT NULL,
    revoked_at    INTEGER,
    revoke_reason TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS sessions_user_id ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);

CREATE TABLE IF NOT EXISTS rate_limits (
    key         TEXT PRIMARY KEY NOT NULL,
    count       INTEGER NOT NULL,
    last_hit_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS rate_limits_expires_at ON rate_limits (expires_at);
";

// Column lists as macros so they can be `concat!`ed into `&'static str` SQL, which keeps the
// statements cacheable and the row mappers in one place with the columns they read.
macro_rules! role_columns {
    () => {
        "id, name, description, permissions, is_active, created_at"
    };
}
macro_rules! user_columns {
    () => {
        "id, username, email, full_name, password_hash, role_id, is_active, session_epoch, \
         created_at, updated_at, last_login_at, deleted_at"
    };
}
macro_rules! session_columns {
    () => {
        "id, user_id, refresh_jti, previous_jti, rotated_at, device, ip_address, user_agent, \
         epoch, created_at, last_activity, expires_at, is_active, revoked_at, revoke_reason"
    };
}

macro_rules! session_state_columns {
    () => {
        "is_active, epoch, created_at, expires_at, last_activity"
    };
}

/// The SQLite store. Cheap to share: everything lives behind one `Arc`, which the blocking
/// tasks clone because they must own what they touch.
pub struct SqliteStore {
    inner: Arc<Connections>,
}

struct Connections {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its parent directory, and brings the
    /// schema up to date. Blocking, but it runs once at start.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        }
        let cannot_open = || format!("cannot open the SQLite database {}", path.display());

        // The writer goes first: it creates the file, switches it to WAL and the schema, so the
        // readers find a complete database.
        let mut writer = Connection::open(path).with_context(cannot_open)?;
        configure_writer(&writer).with_context(cannot_open)?;
        create_schema(&mut writer).with_context(cannot_open)?;

        let readers = (0..READERS)
            .map(|_| open_reader(path).map(Mutex::new))
            .collect::<rusqlite::Result<Vec<_>>>()
            .with_context(cannot_open)?;

        Ok(Self {
            inner: Arc::new(Connections {
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// A lookup by key: runs on the calling thread when a reader is free at once (a cached
    /// point query takes microseconds, less than handing it to another thread and back), and on
    /// the blocking pool otherwise. Scans and anything that may take longer use [`Self::read`].
    async fn read_point<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        if let Some(conn) = self.inner.free_reader() {
            return f(&conn).map_err(map_error);
        }
        self.read(f).await
    }

    /// Runs `f` on a reader connection on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || f(&inner.reader())).await
    }

    /// Runs `f` on the writer connection on the blocking pool.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || f(&mut lock_recovering(&inner.writer))).await
    }
}

impl Connections {
    /// A reader nobody holds right now, if any.
    fn free_reader(&self) -> Option<MutexGuard<'_, Connection>> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        (0..n).find_map(|i| {
            let slot = &self.readers[(start + i) % n];
            match slot.try_lock() {
                Ok(conn) => Some(conn),
                Err(TryLockError::Poisoned(poisoned)) => Some(recover(slot, poisoned)),
                Err(TryLockError::WouldBlock) => None,
            }
        })
    }

    /// A free reader if there is one; otherwise waits on the next one in turn, so waiting is
    /// spread over the pool instead of piling up on the first connection.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        for i in 0..n {
            let slot = &self.readers[(start + i) % n];
            match slot.try_lock() {
                Ok(conn) => return conn,
                Err(TryLockError::Poisoned(poisoned)) => {
                    return recover(slot, poisoned);
                }
                Err(TryLockError::WouldBlock) => {}
            }
        }
        lock_recovering(&self.readers[start % n])
    }
}

fn lock_recovering(slot: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    slot.lock()
        .unwrap_or_else(|poisoned| recover(slot, poisoned))
}

/// A panic while a connection was locked must not turn every later request into a panic too.
/// The connection itself is still sound; the only state a panic can leave behind is an open
/// transaction, which is rolled back before the connection is used again.
fn recover<'a>(
    slot: &'a Mutex<Connection>,
    poisoned: PoisonError<MutexGuard<'a, Connection>>,
) -> MutexGuard<'a, Connection> {
    let conn = poisoned.into_inner();
    slot.clear_poison();
    tracing::warn!("recovered a SQLite connection after a panic");
    if !conn.is_autocommit()
        && let Err(err) = conn.execute_batch("ROLLBACK")
    {
        tracing::warn!(error = %err, "rolling back after a panic failed");
    }
    conn
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> rusqlite::Result<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| StoreError::Other(format!("database task failed: {err}")))?
        .map_err(map_error)
}

fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    // First, so that switching to WAL waits for another process instead of failing at once.
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Still correct, only slower: readers and the writer then block each other.
        tracing::warn!(journal_mode = %mode, "SQLite refused WAL mode");
    }
    // FULL: a commit is on disk (the WAL is synced) before the API acknowledges the write, so
    // a 201 survives even a power cut. NORMAL would be faster but could lose the last commits.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    // Not SQLITE_OPEN_READ_ONLY: a read-only connection cannot create the WAL index if it has to,
    // so `query_only` guards against writes instead.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", "ON")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn create_schema(conn: &mut Connection) -> anyhow::Result<()> {
    // IMMEDIATE takes the write lock up front, so two processes opening the same new file cannot
    // interleave their schema checks and creation. Dropping `tx` on an error rolls back.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        bail!(
            "the database has schema version {version}, newer than this build's \
             {SCHEMA_VERSION}; use a newer authkit"
        );
    }
    if version <= BASE_VERSION {
        tx.execute_batch(SCHEMA)?;
    }
    for (step, sql) in MIGRATIONS.iter().filter(|(step, _)| *step > version) {
        tx.execute_batch(sql)
            .with_context(|| format!("schema migration {step}"))?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

fn map_error(err: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &err {
        match failure.code {
            ErrorCode::ConstraintViolation
                if matches!(
                    failure.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                // SQLite names the index column in the message:
                // "UNIQUE constraint failed: users.username_lower".
                let message = message.as_deref().unwrap_or_default();
                let field = if message.contains("users.username_lower") {
                    Some("username")
                } else if message.contains("users.email_lower") {
                    Some("email")
                } else if message.contains("sessions.refresh_jti") {
                    Some("refresh_jti")
                } else {
                    // An id collision or similar: a bug, not a user-facing conflict.
                    None
                };
                if let Some(field) = field {
                    return StoreError::Duplicate { field };
                }
            }
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen => return StoreError::Unavailable(err.to_string()),
            _ => {}
        }
    }
    StoreError::Other(err.to_string())
}

// --- value conversions ---

/// Timestamps are stored as Unix milliseconds, the precision MongoDB keeps too.
fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

struct Millis(DateTime<Utc>);

impl FromSql for Millis {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let ms = i64::column_result(value)?;
        DateTime::from_timestamp_millis(ms)
            .map(Millis)
            .ok_or(FromSqlError::OutOfRange(ms))
    }
}

/// Reads a row's columns one after the other, by position. The row mappers below take their
/// fields in the order of the `*_columns!` lists, which is what keeps positions right. By
/// position rather than by name because a name lookup compares the name against every column
/// of the statement, on every row: a tenth of the hot path's instructions when it did that.
struct Columns<'a, 'r> {
    row: &'a Row<'r>,
    next: usize,
}

impl<'a, 'r> Columns<'a, 'r> {
    fn of(row: &'a Row<'r>) -> Self {
        Self { row, next: 0 }
    }

    fn take<T: FromSql>(&mut self) -> rusqlite::Result<T> {
        let value = self.row.get(self.next);
        self.next += 1;
        value
    }

    fn timestamp(&mut self) -> rusqlite::Result<DateTime<Utc>> {
        Ok(self.take::<Millis>()?.0)
    }

    fn optional_timestamp(&mut self) -> rusqlite::Result<Option<DateTime<Utc>>> {
        Ok(self.take::<Option<Millis>>()?.map(|m| m.0))
    }
}

/// A permission list, stored as a JSON array of strings.
struct JsonList(Vec<String>);

impl FromSql for JsonList {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?)
            .map(JsonList)
            .map_err(|err| FromSqlError::Other(Box::new(err)))
    }
}

fn to_json(list: &[String]) -> rusqlite::Result<String> {
    serde_json::to_string(list)
        .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))
}

/// Row counts as the trait reports them (`usize` always fits in `u64` on supported targets).
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// `prefix` as a LIKE pattern matching only strings that start with it literally.
fn like_prefix(prefix: &str) -> String {
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

fn role_from_row(row: &Row<'_>) -> rusqlite::Result<Role> {
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

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    read_user(&mut Columns::of(row))
}

fn read_user(c: &mut Columns<'_, '_>) -> rusqlite::Result<User> {
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
    })
}

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
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
        created_at: c.timestamp()?,
        last_activity: c.timestamp()?,
        expires_at: c.timestamp()?,
        is_active: c.take()?,
        revoked_at: c.optional_timestamp()?,
        revoke_reason: c.take()?,
    })
}

fn read_session_state(c: &mut Columns<'_, '_>) -> rusqlite::Result<SessionState> {
    Ok(SessionState {
        is_active: c.take()?,
        epoch: c.take()?,
        created_at: c.timestamp()?,
        expires_at: c.timestamp()?,
        last_activity: c.timestamp()?,
    })
}

fn find_user_by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = ?1"
    ))?
    .query_row([id], user_from_row)
    .optional()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| {
            conn.prepare_cached("SELECT 1")?
                .query_row([], |row| row.get::<_, i64>(0))
                .map(drop)
        })
        .await
    }

    // --- roles ---

    async fn insert_role_if_absent(&self, role: &Role) -> StoreResult<()> {
        let role = role.clone();
        self.write(move |conn| {
            // Keyed on the name only: a clash on anything else (the id) is still an error.
            conn.prepare_cached(
                "INSERT INTO roles (id, name, description, permissions, is_active, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (name) DO NOTHING",
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

    // --- users ---

    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let user = user.clone();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO users (id, username, username_lower, email, email_lower, full_name,
                    password_hash, role_id, is_active, session_epoch, created_at, updated_at,
                    last_login_at, deleted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?14, ?10, ?11, ?12, ?13)",
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
            // One read transaction, so the page and the total come from the same snapshot.
            let tx = conn.unchecked_transaction()?;
            let users = tx
                .prepare_cached(&format!(
                    "SELECT {} FROM users{WHERE}
                     ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset",
                    user_columns!()
                ))?
                .query_map(
                    named_params! {
                        ":pattern": pattern,
                        ":role_id": role_id,
                        ":is_active": is_active,
                        ":limit": limit,
                        ":offset": offset,
                    },
                    user_from_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let total: i64 = tx
                .prepare_cached(&format!("SELECT count(*) FROM users{WHERE}"))?
                .query_row(
                    named_params! {
                        ":pattern": pattern,
                        ":role_id": role_id,
                        ":is_active": is_active,
                    },
                    |row| row.get(0),
                )?;
            tx.commit()?;
            Ok((users, u64::try_from(total).unwrap_or_default()))
        })
        .await
    }

    // --- sessions ---

    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        let s = session.clone();
        self.write(move |conn| {
            // One transaction, so one sync to disk for both writes of a login.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT INTO sessions (id, user_id, refresh_jti, previous_jti, rotated_at, device,
                    ip_address, user_agent, created_at, last_activity, expires_at, is_active,
                    revoked_at, revoke_reason, epoch)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
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

    async fn hit_counter(
        &self,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Counter> {
        let key = key.to_owned();
        self.write(move |conn| {
            // In DO UPDATE, bare column names are the existing row: an expired counter restarts.
            conn.prepare_cached(
                "INSERT INTO rate_limits (key, count, last_hit_at, expires_at) VALUES (?1, 1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET
                     count = CASE WHEN expires_at <= ?2 THEN 1 ELSE count + 1 END,
                     expires_at = CASE WHEN expires_at <= ?2 THEN ?3 ELSE expires_at END,
                     last_hit_at = ?2
                 RETURNING count, last_hit_at, expires_at",
            )?
            .query_row(params![key, millis(now), millis(expires_at)], counter_from_row)
        })
        .await
    }

    async fn get_counter(&self, key: &str, now: DateTime<Utc>) -> StoreResult<Option<Counter>> {
        let key = key.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached(
                "SELECT count, last_hit_at, expires_at FROM rate_limits
                 WHERE key = ?1 AND expires_at > ?2",
            )?
            .query_row(params![key, millis(now)], counter_from_row)
            .optional()
        })
        .await
    }

    async fn delete_counter(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM rate_limits WHERE key = ?1")?
                .execute([key])
                .map(drop)
        })
        .await
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |conn| {
            let sessions = conn
                .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
                .execute([millis(now)])?;
            let counters = conn
                .prepare_cached("DELETE FROM rate_limits WHERE expires_at <= ?1")?
                .execute([millis(now)])?;
            Ok(count(sessions + counters))
        })
        .await
    }
}

/// Reads `count, last_hit_at, expires_at`.
fn counter_from_row(row: &Row<'_>) -> rusqlite::Result<Counter> {
    let mut c = Columns::of(row);
    Ok(Counter {
        count: c.take::<i64>()?.try_into().unwrap_or(0),
        last_hit_at: c.timestamp()?,
        expires_at: c.timestamp()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Now, at the precision the store keeps, so round-tripped values compare equal.
    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("valid timestamp")
    }

    fn open_temp() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        // A missing subdirectory also exercises the directory creation.
        let store = SqliteStore::open(&dir.path().join("data").join("test.db")).expect("open");
        (dir, store)
    }

    /// A store in a temporary directory that lives as long as it does.
    struct TempStore {
        store: SqliteStore,
        _dir: tempfile::TempDir,
    }

    impl std::ops::Deref for TempStore {
        type Target = SqliteStore;
        fn deref(&self) -> &SqliteStore {
            &self.store
        }
    }

    async fn conformance_store() -> Option<TempStore> {
        let (_dir, store) = open_temp();
        Some(TempStore { store, _dir })
    }

    async fn close(_store: TempStore) {}

    crate::conformance_tests!(conformance_store(), close);

    fn user(username: &str, email: &str, created_at: DateTime<Utc>) -> User {
        User {
            id: crate::domain::new_id(),
            username: username.to_owned(),
            email: email.to_owned(),
            full_name: None,
            password_hash: "hash".to_owned(),
            role_id: "role-user".to_owned(),
            is_active: true,
            created_at,
            updated_at: created_at,
            last_login_at: None,
            deleted_at: None,
            session_epoch: 0,
        }
    }

    #[tokio::test]
    async fn a_database_of_the_previous_schema_is_migrated_in_place() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("old.db");
        // The schema and a row as the previous release (schema version 2) wrote them.
        {
            let conn = Connection::open(&path).expect("create");
            conn.execute_batch(SCHEMA).expect("old schema");
            conn.pragma_update(None, "user_version", BASE_VERSION)
                .expect("version");
            conn.execute(
                "INSERT INTO users (id, username, username_lower, email, email_lower,
                    password_hash, role_id, is_active, created_at, updated_at)
                 VALUES ('u1', 'Old', 'old', 'old@example.com', 'old@example.com', 'h', 'r', 1,
                    0, 0)",
                [],
            )
            .expect("old row");
        }
        let store = SqliteStore::open(&path).expect("open migrates");
        let user = store.find_user("u1").await.expect("read").expect("kept");
        assert_eq!((user.username.as_str(), user.session_epoch), ("Old", 0));
        let conn = Connection::open(&path).expect("reopen");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_schema() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("reopen.db");
        let t = now();
        let role = Role {
            id: "role-1".to_owned(),
            name: "USER".to_owned(),
            description: "Regular user".to_owned(),
            permissions: vec!["user:*".to_owned()],
            is_active: true,
            created_at: t,
        };
        let alice = user("alice", "alice@example.com", t);
        {
            let store = SqliteStore::open(&path).expect("first open");
            store.insert_role_if_absent(&role).await.expect("seed");
            store.insert_user(&alice).await.expect("insert");
        }

        let store = SqliteStore::open(&path).expect("second open");
        // Seeding again under a new id is a no-op keyed on the name.
        let again = Role {
            id: "role-2".to_owned(),
            ..role.clone()
        };
        store
            .insert_role_if_absent(&again)
            .await
            .expect("seed again");
        assert_eq!(store.list_roles().await.expect("roles"), vec![role]);
        assert_eq!(store.find_user(&alice.id).await.expect("find"), Some(alice));
        store.ping().await.expect("ping");
        assert_eq!(store.backend(), "sqlite");
    }

    #[tokio::test]
    async fn a_panic_mid_transaction_does_not_break_the_store() {
        let (_dir, store) = open_temp();
        let t = now();
        let alice = user("alice", "alice@example.com", t);
        let inserted = alice.clone();
        let result: StoreResult<()> = store
            .write(move |conn| {
                conn.execute_batch("BEGIN")?;
                conn.execute(
                    "INSERT INTO users (id, username, username_lower, email, email_lower,
                        password_hash, role_id, is_active, created_at, updated_at)
                     VALUES (?1, 'alice', 'alice', 'a@b.co', 'a@b.co', 'h', 'r', 1, 0, 0)",
                    [&inserted.id],
                )?;
                panic!("boom");
            })
            .await;
        assert!(matches!(result, Err(StoreError::Other(_))), "{result:?}");

        // The writer was poisoned with a transaction open: it is recovered and rolled back.
        store.insert_user(&alice).await.expect("insert after panic");
        assert_eq!(store.find_user(&alice.id).await.expect("find"), Some(alice));
    }

    #[test]
    fn opening_under_a_file_fails_clearly() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").expect("write");
        let err = SqliteStore::open(&file.join("db.sqlite"))
            .err()
            .expect("cannot create a directory under a file");
        assert!(
            err.to_string().contains("cannot create the data directory"),
            "{err:#}"
        );
    }
}
