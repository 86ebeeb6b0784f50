//! The SQLite schema: the base tables, then numbered migrations applied in order at open.
//!
//! To change the schema, append a step to [`MIGRATIONS`] (never edit a released one). A database
//! of any earlier version, created by an older build, is brought up to date in place when it is
//! opened; `tests.rs` proves it with a database built as the previous release left it.

use anyhow::{Context, bail};
use rusqlite::{Connection, TransactionBehavior};

/// The schema version of [`SCHEMA`]: databases at or below it get [`SCHEMA`] (idempotent).
pub(super) const BASE_VERSION: i64 = 2;

/// Numbered schema changes after [`BASE_VERSION`], applied in order at open, each in the same
/// transaction as the new `PRAGMA user_version`. Append only: a released step never changes.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (
        3,
        // Sessions end with the account's epoch (see `User::session_epoch`); existing rows start
        // in epoch 0 together, so every live session stays live.
        "ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE sessions ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;",
    ),
    (
        4,
        // The security event log. Each listing index ends in (at, id), the listing's order, so
        // a page is one index range at any depth.
        "CREATE TABLE security_events (
             id         TEXT PRIMARY KEY NOT NULL,
             at         INTEGER NOT NULL,
             type       TEXT NOT NULL,
             user_id    TEXT,
             actor_id   TEXT,
             session_id TEXT,
             ip         TEXT,
             device     TEXT,
             user_agent TEXT,
             detail     TEXT NOT NULL,
             expires_at INTEGER NOT NULL
         ) STRICT;
         CREATE INDEX security_events_at ON security_events (at, id);
         CREATE INDEX security_events_user ON security_events (user_id, at, id);
         CREATE INDEX security_events_type ON security_events (type, at, id);
         CREATE INDEX security_events_expires_at ON security_events (expires_at);",
    ),
    (
        5,
        // Mail: verified addresses, address changes waiting for their confirmation, one-time
        // tokens (hashed; one per user and purpose, hence the key), and the outbox.
        "ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE users ADD COLUMN pending_email TEXT;
         CREATE TABLE one_time_tokens (
             key         TEXT PRIMARY KEY NOT NULL,
             user_id     TEXT NOT NULL,
             purpose     TEXT NOT NULL,
             email_lower TEXT NOT NULL,
             token_hash  TEXT NOT NULL UNIQUE,
             code_hash   TEXT NOT NULL,
             new_email   TEXT,
             attempts    INTEGER NOT NULL,
             created_at  INTEGER NOT NULL,
             expires_at  INTEGER NOT NULL,
             used_at     INTEGER
         ) STRICT;
         CREATE INDEX one_time_tokens_email ON one_time_tokens (email_lower);
         CREATE INDEX one_time_tokens_expires_at ON one_time_tokens (expires_at);
         CREATE TABLE mail_outbox (
             id              TEXT PRIMARY KEY NOT NULL,
             kind            TEXT NOT NULL,
             recipient       TEXT NOT NULL,
             subject         TEXT NOT NULL,
             text_body       TEXT NOT NULL,
             html_body       TEXT NOT NULL,
             status          TEXT NOT NULL,
             attempts        INTEGER NOT NULL,
             next_attempt_at INTEGER NOT NULL,
             lease_until     INTEGER NOT NULL,
             last_error      TEXT,
             created_at      INTEGER NOT NULL,
             sent_at         INTEGER,
             expires_at      INTEGER NOT NULL
         ) STRICT;
         CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);
         CREATE INDEX mail_outbox_expires_at ON mail_outbox (expires_at);",
    ),
    (
        6,
        // Second factors: one per user (its secret sealed), recovery codes by their keyed hash,
        // and which sessions were opened with a second factor.
        "ALTER TABLE users ADD COLUMN mfa_enabled INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE sessions ADD COLUMN mfa INTEGER NOT NULL DEFAULT 0;
         CREATE TABLE mfa_factors (
             user_id      TEXT PRIMARY KEY NOT NULL,
             secret       TEXT NOT NULL,
             active       INTEGER NOT NULL,
             last_step    INTEGER NOT NULL,
             created_at   INTEGER NOT NULL,
             confirmed_at INTEGER,
             expires_at   INTEGER
         ) STRICT;
         CREATE INDEX mfa_factors_expires_at ON mfa_factors (expires_at);
         CREATE TABLE mfa_recovery_codes (
             code_hash TEXT PRIMARY KEY NOT NULL,
             user_id   TEXT NOT NULL
         ) STRICT;
         CREATE INDEX mfa_recovery_codes_user ON mfa_recovery_codes (user_id);",
    ),
    (
        7,
        // Ed25519 signing keys (JWT_ALG=EdDSA): a handful, never deleted; `seq` orders them and
        // lets only one of two racing instances create a key.
        "CREATE TABLE signing_keys (
             kid           TEXT PRIMARY KEY NOT NULL,
             seq           INTEGER NOT NULL UNIQUE,
             alg           TEXT NOT NULL,
             public_key    TEXT NOT NULL,
             private_key   TEXT,
             state         TEXT NOT NULL,
             created_at    INTEGER NOT NULL,
             activated_at  INTEGER,
             retired_at    INTEGER,
             publish_until INTEGER
         ) STRICT;",
    ),
    (
        8,
        // How and when a session was signed in (`amr` as RFC 8176 method bits, `auth_time`).
        // Sessions from before: a password, with a second factor when `mfa` says so, at their
        // creation.
        "ALTER TABLE sessions ADD COLUMN amr INTEGER NOT NULL DEFAULT 1;
         UPDATE sessions SET amr = 3 WHERE mfa = 1;
         ALTER TABLE sessions ADD COLUMN authenticated_at INTEGER NOT NULL DEFAULT 0;
         UPDATE sessions SET authenticated_at = created_at;",
    ),
    (
        9,
        // Accounts at sign-in providers linked to ours: one account per provider subject.
        "CREATE TABLE identities (
             id             TEXT PRIMARY KEY NOT NULL,
             user_id        TEXT NOT NULL,
             provider       TEXT NOT NULL,
             subject        TEXT NOT NULL,
             email          TEXT,
             email_verified INTEGER NOT NULL,
             created_at     INTEGER NOT NULL,
             last_used_at   INTEGER,
             UNIQUE (provider, subject)
         ) STRICT;
         CREATE INDEX identities_user ON identities (user_id);",
    ),
    (
        10,
        // The steps of a sign-in provider flow, filed under a secret's hash, taken once.
        "CREATE TABLE oauth_tickets (
             id_hash    TEXT PRIMARY KEY NOT NULL,
             kind       TEXT NOT NULL,
             payload    TEXT NOT NULL,
             expires_at INTEGER NOT NULL
         ) STRICT;
         CREATE INDEX oauth_tickets_expiry ON oauth_tickets (expires_at);",
    ),
    (
        11,
        // WebAuthn credentials: one account per credential id.
        "CREATE TABLE passkeys (
             id            TEXT PRIMARY KEY NOT NULL,
             user_id       TEXT NOT NULL,
             credential_id TEXT NOT NULL UNIQUE,
             name          TEXT NOT NULL,
             credential    TEXT NOT NULL,
             backed_up     INTEGER NOT NULL,
             transports    TEXT NOT NULL,
             created_at    INTEGER NOT NULL,
             last_used_at  INTEGER
         ) STRICT;
         CREATE INDEX passkeys_user ON passkeys (user_id);",
    ),
    (
        12,
        // Organizations and their members; the owner count lives on the organization.
        "CREATE TABLE organizations (
             id         TEXT PRIMARY KEY NOT NULL,
             name       TEXT NOT NULL,
             slug       TEXT NOT NULL UNIQUE,
             owners     INTEGER NOT NULL,
             created_at INTEGER NOT NULL,
             updated_at INTEGER NOT NULL
         ) STRICT;
         CREATE TABLE memberships (
             org_id    TEXT NOT NULL,
             user_id   TEXT NOT NULL,
             role      TEXT NOT NULL,
             joined_at INTEGER NOT NULL,
             PRIMARY KEY (org_id, user_id)
         ) STRICT;
         CREATE INDEX memberships_user ON memberships (user_id, joined_at);
         CREATE INDEX memberships_page ON memberships (org_id, joined_at, user_id);",
    ),
    (
        13,
        // Events about an organization, listed by it.
        "ALTER TABLE security_events ADD COLUMN org_id TEXT;
         CREATE INDEX security_events_org ON security_events (org_id, at, id);",
    ),
    (
        14,
        // Invitations to organizations: one live one per address and organization.
        "CREATE TABLE invitations (
             id         TEXT PRIMARY KEY NOT NULL,
             org_id     TEXT NOT NULL,
             email      TEXT NOT NULL,
             role       TEXT NOT NULL,
             invited_by TEXT NOT NULL,
             token_hash TEXT NOT NULL UNIQUE,
             created_at INTEGER NOT NULL,
             expires_at INTEGER NOT NULL,
             UNIQUE (org_id, email)
         ) STRICT;
         CREATE INDEX invitations_email ON invitations (email);
         CREATE INDEX invitations_expiry ON invitations (expires_at);",
    ),
    (
        15,
        // The admin listing's order (newest first, ties by id) as one index, so that a page
        // after a keyset cursor is a range of it even when many accounts share a millisecond
        // (an import).
        "DROP INDEX users_created_at;
         CREATE INDEX users_created_id ON users (created_at, id);",
    ),
];

/// The version this build brings a database to.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

// Tables are STRICT so that a mis-typed bind (say, a timestamp as text) fails loudly instead of
// being stored. No foreign keys are declared: MongoDB has none, and both backends must accept
// the same writes.
pub(super) const SCHEMA: &str = "
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

pub(super) fn create_schema(conn: &mut Connection) -> anyhow::Result<()> {
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
