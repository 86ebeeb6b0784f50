//! MongoDB backend (the production store).
//!
//! Collections `users`, `roles`, `sessions`, `rate_limits`, `security_events`,
//! `one_time_tokens`, `mail_outbox`, `mfa_factors`, `mfa_recovery_codes`, `signing_keys`, `identities`, `oauth_tickets`, `passkeys`, `organizations`, `memberships` and `invitations`. Every `_id`
//! is the domain's string UUID, every timestamp a BSON DateTime (the TTL indexes on
//! `expires_at` only work on dates).
//! Uniqueness comes from unique indexes created at connect; a refused write (code 11000) becomes
//! [`StoreError::Duplicate`]. Rotation and revocation are single conditional updates.
//!
//! The document structs below are private: the rest of the crate only sees domain types.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bson::{Document, doc};
use chrono::{DateTime, Utc};
use mongodb::error::{
    Error as MongoError, ErrorKind, RETRYABLE_WRITE_ERROR, TRANSIENT_TRANSACTION_ERROR,
    WriteFailure,
};
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::{Acknowledgment, ClientOptions, IndexOptions, WriteConcern};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::Serialize;

use super::{Store, StoreError, StoreResult};

/// Used unless the URL sets its own `serverSelectionTimeoutMS` / `connectTimeoutMS`: a request
/// should get a quick 503 when the database is gone, not hang for the driver's default 30 s.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const APP_NAME: &str = "authkit";

const DUPLICATE_KEY: i32 = 11000;

/// Server error codes meaning "this node cannot serve the operation right now": not a writable
/// primary, recovering / shutting down (the driver's SDAM lists), plus timeouts and network
/// failures reported by the server itself.
const UNAVAILABLE_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    50,    // MaxTimeMSExpired
    64,    // WriteConcernFailed (wtimeout)
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10058, // LegacyNotPrimary
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

// One module per collection, each implementing its trait for `MongoStore`.
mod counters;
mod events;
mod identities;
mod invitations;
mod mfa;
mod orgs;
mod outbox;
mod passkeys;
mod roles;
mod sessions;
mod signing_keys;
mod tickets;
mod tokens;
mod users;

use counters::CounterDoc;
use events::EventDoc;
use identities::IdentityDoc;
use invitations::InvitationDoc;
use mfa::{FactorDoc, RecoveryCodeDoc};
use orgs::{MembershipDoc, OrgDoc};
use outbox::MailDoc;
use passkeys::PasskeyDoc;
use roles::RoleDoc;
use sessions::SessionDoc;
use signing_keys::KeyDoc;
use tickets::TicketDoc;
use tokens::TokenDoc;
use users::UserDoc;

pub struct MongoStore {
    db: Database,
    users: Collection<UserDoc>,
    roles: Collection<RoleDoc>,
    sessions: Collection<SessionDoc>,
    rate_limits: Collection<CounterDoc>,
    security_events: Collection<EventDoc>,
    one_time_tokens: Collection<TokenDoc>,
    mail_outbox: Collection<MailDoc>,
    mfa_factors: Collection<FactorDoc>,
    mfa_recovery_codes: Collection<RecoveryCodeDoc>,
    signing_keys: Collection<KeyDoc>,
    identities: Collection<IdentityDoc>,
    oauth_tickets: Collection<TicketDoc>,
    passkeys: Collection<PasskeyDoc>,
    organizations: Collection<OrgDoc>,
    memberships: Collection<MembershipDoc>,
    invitations: Collection<InvitationDoc>,
    commands: Arc<CommandCounts>,
    /// Host names only (no credentials), for error messages.
    hosts: String,
}

/// Commands the driver sends, by name: each is one round trip to the server. Counted through
/// the driver's command monitoring, so it includes retries and the count of a listing.
#[derive(Default)]
struct CommandCounts {
    by_name: RwLock<HashMap<String, AtomicU64>>,
}

impl CommandCounts {
    fn record(&self, name: &str) {
        if let Some(n) = self
            .by_name
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut map = self.by_name.write().unwrap_or_else(|e| e.into_inner());
        map.entry(name.to_string())
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Vec<(String, u64)> {
        let map = self.by_name.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = map
            .iter()
            .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
            .collect();
        all.sort();
        all
    }
}

impl MongoStore {
    /// Builds the client from the URL. No round trip yet: the driver connects on first use, so
    /// this succeeds while the database is still down; [`Store::prepare`] creates the indexes
    /// once it answers.
    pub async fn connect(url: &str, db_name: &str) -> anyhow::Result<Self> {
        // The error of `parse` may echo the URL, which can hold a password: keep it out.
        let mut options = ClientOptions::parse(url).await.map_err(|e| {
            anyhow::anyhow!(
                "MONGO_URL is invalid or its DNS lookup failed: {}",
                e.kind.as_ref()
            )
        })?;
        options
            .server_selection_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
        options.app_name.get_or_insert_with(|| APP_NAME.to_string());
        // An acknowledged write must survive the loss of the primary: majority and journaled,
        // unless the URL asks for something else (`w=...`, `journal=...`).
        options.write_concern.get_or_insert_with(|| {
            WriteConcern::builder()
                .w(Acknowledgment::Majority)
                .journal(true)
                .build()
        });
        // Host names only (no credentials) for the error messages below.
        let hosts = options
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");

        let commands = Arc::new(CommandCounts::default());
        let recorder = commands.clone();
        options.command_event_handler = Some(EventHandler::callback(move |event: CommandEvent| {
            if let CommandEvent::Started(started) = event {
                recorder.record(&started.command_name);
            }
        }));
        let client = Client::with_options(options)?;
        let db = client.database(db_name);
        Ok(Self {
            users: db.collection("users"),
            roles: db.collection("roles"),
            sessions: db.collection("sessions"),
            rate_limits: db.collection("rate_limits"),
            security_events: db.collection("security_events"),
            one_time_tokens: db.collection("one_time_tokens"),
            mail_outbox: db.collection("mail_outbox"),
            mfa_factors: db.collection("mfa_factors"),
            mfa_recovery_codes: db.collection("mfa_recovery_codes"),
            signing_keys: db.collection("signing_keys"),
            identities: db.collection("identities"),
            oauth_tickets: db.collection("oauth_tickets"),
            passkeys: db.collection("passkeys"),
            organizations: db.collection("organizations"),
            memberships: db.collection("memberships"),
            invitations: db.collection("invitations"),
            commands,
            hosts,
            db,
        })
    }

    /// Every collection's indexes, each declared in its own module. createIndexes is a no-op
    /// for an index that already exists with the same options, so this runs on every start.
    async fn create_indexes(&self) -> mongodb::error::Result<()> {
        users::create_indexes(&self.users).await?;
        roles::create_indexes(&self.roles).await?;
        sessions::create_indexes(&self.sessions).await?;
        counters::create_indexes(&self.rate_limits).await?;
        events::create_indexes(&self.security_events).await?;
        tokens::create_indexes(&self.one_time_tokens).await?;
        outbox::create_indexes(&self.mail_outbox).await?;
        mfa::create_indexes(&self.mfa_factors, &self.mfa_recovery_codes).await?;
        signing_keys::create_indexes(&self.signing_keys).await?;
        identities::create_indexes(&self.identities).await?;
        tickets::create_indexes(&self.oauth_tickets).await?;
        passkeys::create_indexes(&self.passkeys).await?;
        orgs::create_indexes(&self.organizations, &self.memberships).await?;
        invitations::create_indexes(&self.invitations).await?;
        Ok(())
    }
}

/// A TTL index on `expires_at`: MongoDB deletes a document once that time has passed (lazily,
/// about once a minute, so validity is still checked against `expires_at` at read time).
fn expiry_index() -> IndexModel {
    index(
        doc! { "expires_at": 1 },
        IndexOptions::builder().expire_after(Duration::ZERO).build(),
    )
}

fn index(keys: Document, options: IndexOptions) -> IndexModel {
    IndexModel::builder().keys(keys).options(options).build()
}

fn unique_index(field: &str) -> IndexModel {
    index(
        doc! { field: 1 },
        IndexOptions::builder().unique(true).build(),
    )
}

#[async_trait]
impl Store for MongoStore {
    fn backend(&self) -> &'static str {
        "mongodb"
    }

    fn command_counts(&self) -> Vec<(String, u64)> {
        self.commands.snapshot()
    }

    async fn shutdown(&self) {
        // Without this the client's drop spawns a task to end its server sessions, which fails
        // noisily once the runtime is going away.
        self.db.client().clone().shutdown().await;
    }

    async fn prepare(&self) -> StoreResult<()> {
        self.create_indexes().await.map_err(|e| {
            let cause = e.kind.as_ref();
            if is_unavailable(&e) {
                StoreError::Unavailable(format!(
                    "MongoDB is unreachable at {}: {cause}",
                    self.hosts
                ))
            } else {
                StoreError::Other(format!(
                    "creating MongoDB indexes in {:?} failed: {cause}",
                    self.db.name()
                ))
            }
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_expired(&self, _now: DateTime<Utc>) -> StoreResult<u64> {
        // The TTL indexes on `expires_at` delete them server-side.
        Ok(0)
    }
}

// --- errors ---

/// Maps a driver error onto the store's three cases.
fn map_err(e: MongoError) -> StoreError {
    if is_duplicate_key(&e) {
        return match duplicate_field(&e) {
            Some(field) => StoreError::Duplicate { field },
            // A duplicate `_id` (UUID collision) or an index we do not know: a bug, not a 409.
            None => StoreError::Other(e.kind.to_string()),
        };
    }
    if is_unavailable(&e) {
        StoreError::Unavailable(e.kind.to_string())
    } else {
        StoreError::Other(e.kind.to_string())
    }
}

fn to_document<T: Serialize>(value: &T) -> StoreResult<Document> {
    bson::to_document(value).map_err(|e| StoreError::Other(e.to_string()))
}

/// The error and the errors it wraps (the driver keeps the first failure as the source when a
/// retry fails differently).
fn error_chain(e: &MongoError) -> impl Iterator<Item = &MongoError> {
    std::iter::successors(Some(e), |e| {
        std::error::Error::source(*e).and_then(|s| s.downcast_ref::<MongoError>())
    })
}

/// The server's error code: a command error, a write error or a write-concern error.
fn server_code(e: &MongoError) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        _ => None,
    }
}

fn is_duplicate_key(e: &MongoError) -> bool {
    server_code(e) == Some(DUPLICATE_KEY)
}

/// The database cannot be reached or cannot take the operation right now (a 503, worth retrying
/// later), as opposed to a bug or bad data.
fn is_unavailable(e: &MongoError) -> bool {
    if e.contains_label(RETRYABLE_WRITE_ERROR) || e.contains_label(TRANSIENT_TRANSACTION_ERROR) {
        return true;
    }
    error_chain(e).any(|e| {
        matches!(
            e.kind.as_ref(),
            ErrorKind::ServerSelection { .. }
                | ErrorKind::Io(_)
                | ErrorKind::ConnectionPoolCleared { .. }
                | ErrorKind::DnsResolve { .. }
                | ErrorKind::Shutdown
        ) || server_code(e).is_some_and(|code| UNAVAILABLE_CODES.contains(&code))
    })
}

/// Which unique field a duplicate-key error is about: from the server's `keyPattern` when the
/// reply has one, else from the index named in the message.
fn duplicate_field(e: &MongoError) -> Option<&'static str> {
    key_pattern_field(e).or_else(|| index_name_field(e))
}

/// "E11000 duplicate key error collection: authkit.users index: email_lower_1 dup key: {...}":
/// the index name is the key plus its direction.
fn index_name_field(e: &MongoError) -> Option<&'static str> {
    let message = match e.kind.as_ref() {
        ErrorKind::Command(c) => &c.message,
        ErrorKind::Write(WriteFailure::WriteError(w)) => &w.message,
        _ => return None,
    };
    let index = message.split("index: ").nth(1)?.split_whitespace().next()?;
    let key = index
        .rsplit_once('_')
        .map_or(index, |(key, _direction)| key);
    field_for_key(key)
}

/// Command errors (findAndModify) keep the server's reply, whose `keyPattern` names the key.
/// The driver keeps no reply for insert/update write errors, hence the message fallback.
fn key_pattern_field(e: &MongoError) -> Option<&'static str> {
    let reply = e.server_response()?.to_document().ok()?;
    let pattern = reply.get_document("keyPattern").ok()?;
    pattern.keys().find_map(|key| field_for_key(key))
}

fn field_for_key(key: &str) -> Option<&'static str> {
    match key {
        "username_lower" => Some("username"),
        "email_lower" => Some("email"),
        "refresh_jti" => Some("refresh_jti"),
        "seq" => Some("seq"),
        // The compound key's first field, and the name its index is given.
        "provider" | "identity" => Some("identity"),
        "credential_id" => Some("credential"),
        "slug" => Some("slug"),
        // The compound key's first field, and the name its index is given.
        "org_id" | "membership" => Some("membership"),
        _ => None,
    }
}

// --- documents ---

fn bson_date(at: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_chrono(at)
}

/// Which way a keyset listing runs.
#[derive(Clone, Copy)]
enum Order {
    NewestFirst,
    OldestFirst,
}

/// The conditions "past the keyset position `(at, id)`" of a listing ordered by
/// `(time, id_field)`, for a `$and`: the time bound lets the index range be scanned, and the
/// `$or` only breaks ties within the position's millisecond, so it filters a handful of index
/// entries instead of choosing the plan.
fn past(
    time: &str,
    id_field: &str,
    (at, id): (DateTime<Utc>, &str),
    order: Order,
) -> Vec<Document> {
    let (bound, strict) = match order {
        Order::NewestFirst => ("$lte", "$lt"),
        Order::OldestFirst => ("$gte", "$gt"),
    };
    let at = bson_date(at);
    let on = |field: &str, op: &str, value: bson::Bson| {
        let mut condition = Document::new();
        condition.insert(field, doc! { op: value });
        condition
    };
    vec![
        on(time, bound, at.into()),
        doc! { "$or": [on(time, strict, at.into()), on(id_field, strict, id.into())] },
    ]
}

// BSON dates hold milliseconds: finer precision of the domain's timestamps is dropped.

#[cfg(test)]
mod tests;
