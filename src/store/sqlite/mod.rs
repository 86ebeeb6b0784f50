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

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, Row};

use super::{Store, StoreError, StoreResult};

/// Reader connections. Requests are short, so a handful covers far more concurrency than the
/// blocking pool is likely to give us on a small machine.
const READERS: usize = 4;

/// How long a statement waits for a lock held by another connection (or process) before it
/// gives up with `SQLITE_BUSY`, which becomes a 503.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

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
         created_at, updated_at, last_login_at, deleted_at, email_verified, pending_email, \
         mfa_enabled"
    };
}
macro_rules! session_columns {
    () => {
        "id, user_id, refresh_jti, previous_jti, rotated_at, device, ip_address, user_agent, \
         epoch, amr, authenticated_at, created_at, last_activity, expires_at, is_active, \
         revoked_at, revoke_reason"
    };
}

macro_rules! session_state_columns {
    () => {
        "is_active, epoch, amr, authenticated_at, created_at, expires_at, last_activity"
    };
}

// One module per collection, each implementing its trait for `SqliteStore`. Declared after the
// column macros above, which they use.
mod counters;
mod events;
mod identities;
mod invitations;
mod mfa;
mod orgs;
mod outbox;
mod passkeys;
mod roles;
mod schema;
mod sessions;
mod signing_keys;
mod tickets;
mod tokens;
mod users;

use schema::create_schema;

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
            crate::files::private_dir(dir)
                .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        }
        let cannot_open = || format!("cannot open the SQLite database {}", path.display());

        // The writer goes first: it creates the file, switches it to WAL and the schema, so the
        // readers find a complete database.
        let mut writer = Connection::open(path).with_context(cannot_open)?;
        configure_writer(&writer).with_context(cannot_open)?;
        create_schema(&mut writer).with_context(cannot_open)?;
        // The database and its WAL files hold every account: the owner's only. (SQLite gives
        // the `-wal` and `-shm` files the database file's mode when it creates them.)
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            crate::files::private_file(Path::new(&file)).with_context(cannot_open)?;
        }

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

/// Writes a consistent copy of the database at `source` to the new file `dest` while servers
/// keep writing: `VACUUM INTO` reads one snapshot (a WAL read transaction, which blocks no
/// writer), so the copy holds every write committed before it began and none after. The copy is
/// one compact file without a WAL, checked with `quick_check`, owner-only like the original,
/// and serves as a `DATA_DIR/authkit.db` as it is. Returns its size in bytes.
pub fn backup(source: &Path, dest: &Path) -> anyhow::Result<u64> {
    anyhow::ensure!(
        source.is_file(),
        "there is no database at {} (DATA_DIR)",
        source.display()
    );
    anyhow::ensure!(
        !dest.exists(),
        "{} exists already; name a new file",
        dest.display()
    );
    // No CREATE flag: a wrong DATA_DIR must not leave an empty database behind.
    let conn = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {}", source.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let dest_text = dest
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("the backup's path must be UTF-8"))?;
    conn.execute("VACUUM INTO ?1", [dest_text])
        .with_context(|| format!("cannot write {}", dest.display()))?;
    crate::files::private_file(dest)?;
    let copy = Connection::open_with_flags(dest, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let verdict: String = copy.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    anyhow::ensure!(verdict == "ok", "the copy fails its check: {verdict}");
    Ok(std::fs::metadata(dest)?.len())
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
                } else if message.contains("signing_keys.seq") {
                    Some("seq")
                } else if message.contains("identities.provider") {
                    Some("identity")
                } else if message.contains("passkeys.credential_id") {
                    Some("credential")
                } else if message.contains("organizations.slug") {
                    Some("slug")
                } else if message.contains("memberships.org_id") {
                    Some("membership")
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

    async fn delete_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |conn| {
            let sessions = conn
                .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
                .execute([millis(now)])?;
            let counters = conn
                .prepare_cached("DELETE FROM rate_limits WHERE expires_at <= ?1")?
                .execute([millis(now)])?;
            let mut deleted = sessions + counters;
            for table in [
                "security_events",
                "one_time_tokens",
                "mail_outbox",
                "mfa_factors",
                "oauth_tickets",
                "invitations",
            ] {
                deleted += conn
                    .prepare_cached(&format!("DELETE FROM {table} WHERE expires_at <= ?1"))?
                    .execute([millis(now)])?;
            }
            Ok(count(deleted))
        })
        .await
    }
}

#[cfg(test)]
mod tests;
