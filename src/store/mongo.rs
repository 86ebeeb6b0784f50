//! MongoDB backend (the production store).
//!
//! Collections `users`, `roles`, `sessions` and `rate_limits`. Every `_id` is the domain's string UUID, every
//! timestamp a BSON DateTime (the TTL index on `sessions.expires_at` only works on dates).
//! Uniqueness comes from unique indexes created at connect; a refused write (code 11000) becomes
//! [`StoreError::Duplicate`]. Rotation and revocation are single conditional updates.
//!
//! The document structs below are private: the rest of the crate only sees domain types.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bson::{Bson, Document, doc};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::error::{
    Error as MongoError, ErrorKind, RETRYABLE_WRITE_ERROR, TRANSIENT_TRANSACTION_ERROR,
    WriteFailure,
};
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::{Acknowledgment, ClientOptions, IndexOptions, ReturnDocument, WriteConcern};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, StoreResult};
use crate::domain::{
    Counter, LoginField, RevokeReason, Role, Session, SessionState, User, UserChanges, UserFilter,
};

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

pub struct MongoStore {
    db: Database,
    users: Collection<UserDoc>,
    roles: Collection<RoleDoc>,
    sessions: Collection<SessionDoc>,
    rate_limits: Collection<CounterDoc>,
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
            commands,
            hosts,
            db,
        })
    }

    /// createIndexes is a no-op for an index that already exists with the same options, so this
    /// runs on every start. The TTL index makes MongoDB sweep expired sessions by itself (lazily,
    /// about once a minute: validity is still checked against `expires_at` at read time).
    async fn create_indexes(&self) -> mongodb::error::Result<()> {
        self.users
            .create_indexes([
                unique_index("username_lower"),
                unique_index("email_lower"),
                index(doc! { "created_at": -1 }, IndexOptions::default()),
            ])
            .await?;
        self.roles.create_index(unique_index("name")).await?;
        let ttl = IndexOptions::builder().expire_after(Duration::ZERO).build();
        self.sessions
            .create_indexes([
                unique_index("refresh_jti"),
                index(doc! { "user_id": 1 }, IndexOptions::default()),
                index(doc! { "expires_at": 1 }, ttl.clone()),
            ])
            .await?;
        self.rate_limits
            .create_index(index(doc! { "expires_at": 1 }, ttl))
            .await?;
        Ok(())
    }
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

    // --- roles ---

    async fn insert_role_if_absent(&self, role: &Role) -> StoreResult<()> {
        let mut on_insert = to_document(&RoleDoc::from(role))?;
        // The upsert takes `name` from the filter.
        on_insert.remove("name");
        let result = self
            .roles
            .update_one(
                doc! { "name": &role.name },
                doc! { "$setOnInsert": on_insert },
            )
            .upsert(true)
            .await;
        match result {
            Ok(_) => Ok(()),
            // Two instances seeding at once: the other one inserted it, which is what we wanted.
            Err(e) if is_duplicate_key(&e) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        let docs: Vec<RoleDoc> = self
            .roles
            .find(doc! {})
            .sort(doc! { "name": 1 })
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        Ok(docs.into_iter().map(Role::from).collect())
    }

    // --- users ---

    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        self.users
            .insert_one(UserDoc::from(user))
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn find_user(&self, id: &str) -> StoreResult<Option<User>> {
        let found = self
            .users
            .find_one(doc! { "_id": id })
            .await
            .map_err(map_err)?;
        Ok(found.map(User::from))
    }

    async fn find_user_by_login(&self, login_lower: &str) -> StoreResult<Option<User>> {
        let field = match LoginField::of(login_lower) {
            LoginField::Email => "email_lower",
            LoginField::Username => "username_lower",
        };
        let found = self
            .users
            .find_one(doc! { field: login_lower })
            .await
            .map_err(map_err)?;
        Ok(found.map(User::from))
    }

    async fn update_user(
        &self,
        id: &str,
        changes: &UserChanges,
        if_role: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let mut filter = doc! { "_id": id };
        if let Some(role_id) = if_role {
            filter.insert("role_id", role_id);
        }
        let mut update = doc! { "$set": user_set(changes, now) };
        if changes.end_sessions {
            update.insert("$inc", doc! { "session_epoch": 1_i64 });
        }
        let updated = self
            .users
            .find_one_and_update(filter, update)
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err)?;
        Ok(updated.map(User::from))
    }

    async fn replace_password_hash(
        &self,
        id: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> StoreResult<()> {
        // If another login already rehashed, the filter misses and this is a harmless no-op.
        self.users
            .update_one(
                doc! { "_id": id, "password_hash": old_hash },
                doc! { "$set": { "password_hash": new_hash } },
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn soft_delete_user(
        &self,
        id: &str,
        if_role: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let now = bson_date(now);
        let mut filter = doc! { "_id": id, "is_active": true };
        if let Some(role_id) = if_role {
            filter.insert("role_id", role_id);
        }
        let result = self
            .users
            .update_one(
                filter,
                doc! {
                    "$set": { "is_active": false, "deleted_at": now, "updated_at": now },
                    "$inc": { "session_epoch": 1_i64 },
                },
            )
            .await
            .map_err(map_err)?;
        Ok(result.modified_count == 1)
    }

    async fn list_users(
        &self,
        filter: &UserFilter,
        skip: u64,
        limit: u64,
    ) -> StoreResult<(Vec<User>, u64)> {
        let filter = user_filter(filter);
        let total = self.users.count_documents(filter.clone());
        // MongoDB reads `limit(0)` as "no limit"; an empty page needs no query at all.
        if limit == 0 {
            return Ok((Vec::new(), total.await.map_err(map_err)?));
        }
        let page = async {
            self.users
                .find(filter)
                .sort(doc! { "created_at": -1, "_id": -1 })
                .skip(skip)
                .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                .await?
                .try_collect::<Vec<UserDoc>>()
                .await
        };
        // Two independent round trips: run them side by side.
        let (docs, total) = tokio::try_join!(page, total.into_future()).map_err(map_err)?;
        Ok((docs.into_iter().map(User::from).collect(), total))
    }

    // --- sessions ---

    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        // Independent writes to two collections: concurrent, so a login waits for one round trip.
        let insert = self.sessions.insert_one(SessionDoc::from(session));
        let record_login = self.users.update_one(
            doc! { "_id": &session.user_id },
            doc! { "$set": { "last_login_at": bson_date(session.created_at) } },
        );
        tokio::try_join!(insert.into_future(), record_login.into_future()).map_err(map_err)?;
        Ok(())
    }

    async fn find_session(&self, id: &str) -> StoreResult<Option<Session>> {
        let found = self
            .sessions
            .find_one(doc! { "_id": id })
            .await
            .map_err(map_err)?;
        Ok(found.map(Session::from))
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
        // One conditional update: of two concurrent refreshes with the same token, exactly one
        // matches the filter; the loser sees `None`.
        let now = bson_date(now);
        let filter = doc! {
            "_id": id,
            "user_id": user_id,
            "refresh_jti": current_jti,
            "is_active": true,
            "expires_at": { "$gt": now },
        };
        let update = doc! { "$set": {
            "refresh_jti": new_jti,
            "previous_jti": current_jti,
            "rotated_at": now,
            "last_activity": now,
            "expires_at": bson_date(new_expires_at),
        } };
        let rotated = self
            .sessions
            .find_one_and_update(filter, update)
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err)?;
        Ok(rotated.map(|doc| SessionState::from(&Session::from(doc))))
    }

    async fn carry_session_over(&self, id: &str, user_id: &str, epoch: i64) -> StoreResult<bool> {
        let result = self
            .sessions
            .update_one(
                doc! { "_id": id, "user_id": user_id, "is_active": true },
                doc! { "$set": { "epoch": epoch } },
            )
            .await
            .map_err(map_err)?;
        Ok(result.matched_count == 1)
    }

    async fn touch_session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        // A revoked session keeps the activity time it had when it was revoked.
        self.sessions
            .update_one(
                doc! { "_id": id, "is_active": true },
                doc! { "$set": { "last_activity": bson_date(now) } },
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn revoke_session(
        &self,
        id: &str,
        user_id: Option<&str>,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut filter = doc! { "_id": id, "is_active": true };
        if let Some(user_id) = user_id {
            filter.insert("user_id", user_id);
        }
        let result = self
            .sessions
            .update_one(filter, revoke_update(reason, now))
            .await
            .map_err(map_err)?;
        Ok(result.modified_count == 1)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut filter = doc! { "user_id": user_id, "is_active": true };
        if let Some(keep) = keep {
            filter.insert("_id", doc! { "$ne": keep });
        }
        let result = self
            .sessions
            .update_many(filter, revoke_update(reason, now))
            .await
            .map_err(map_err)?;
        Ok(result.modified_count)
    }

    async fn list_active_sessions(
        &self,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Session>> {
        let filter = doc! {
            "user_id": user_id,
            "is_active": true,
            "expires_at": { "$gt": bson_date(now) },
        };
        let docs: Vec<SessionDoc> = self
            .sessions
            .find(filter)
            .sort(doc! { "last_activity": -1 })
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        Ok(docs.into_iter().map(Session::from).collect())
    }

    async fn hit_counter(
        &self,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Counter> {
        // Steady state is one round trip: increment the live counter. A missing or expired one is
        // (re)started; of two racing inserts the loser sees a duplicate `_id` and increments.
        for _ in 0..3 {
            let live = self
                .rate_limits
                .find_one_and_update(
                    doc! { "_id": key, "expires_at": { "$gt": bson_date(now) } },
                    doc! { "$inc": { "count": 1_i64 }, "$set": { "last_hit_at": bson_date(now) } },
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?;
            if let Some(counter) = live {
                return Ok(counter.into());
            }
            let fresh = CounterDoc {
                id: key.to_string(),
                count: 1,
                last_hit_at: bson_date(now),
                expires_at: bson_date(expires_at),
            };
            let restarted = self
                .rate_limits
                .find_one_and_replace(
                    doc! { "_id": key, "expires_at": { "$lte": bson_date(now) } },
                    &fresh,
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?;
            if let Some(counter) = restarted {
                return Ok(counter.into());
            }
            match self.rate_limits.insert_one(&fresh).await {
                Ok(_) => return Ok(fresh.into()),
                Err(e) if is_duplicate_key(&e) => continue,
                Err(e) => return Err(map_err(e)),
            }
        }
        Err(StoreError::Other(format!(
            "rate-limit counter {key} kept changing under contention"
        )))
    }

    async fn get_counter(&self, key: &str, now: DateTime<Utc>) -> StoreResult<Option<Counter>> {
        Ok(self
            .rate_limits
            .find_one(doc! { "_id": key, "expires_at": { "$gt": bson_date(now) } })
            .await
            .map_err(map_err)?
            .map(Counter::from))
    }

    async fn delete_counter(&self, key: &str) -> StoreResult<()> {
        self.rate_limits
            .delete_one(doc! { "_id": key })
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_expired(&self, _now: DateTime<Utc>) -> StoreResult<u64> {
        // The TTL indexes on `expires_at` delete them server-side.
        Ok(0)
    }
}

// --- update and filter builders ---

/// `$set` body of a user update: only the fields that change, plus `updated_at`, and the
/// lower-cased copies the unique indexes hold when username or email change.
fn user_set(changes: &UserChanges, now: DateTime<Utc>) -> Document {
    let mut set = doc! { "updated_at": bson_date(now) };
    if let Some(username) = &changes.username {
        set.insert("username", username);
        set.insert("username_lower", username.to_lowercase());
    }
    if let Some(email) = &changes.email {
        set.insert("email", email);
        set.insert("email_lower", email.to_lowercase());
    }
    if let Some(full_name) = &changes.full_name {
        // `Some(None)` clears the name: stored as null.
        set.insert(
            "full_name",
            full_name.clone().map_or(Bson::Null, Bson::String),
        );
    }
    if let Some(hash) = &changes.password_hash {
        set.insert("password_hash", hash);
    }
    if let Some(role_id) = &changes.role_id {
        set.insert("role_id", role_id);
    }
    if let Some(is_active) = changes.is_active {
        set.insert("is_active", is_active);
        if is_active {
            // Reactivating undoes a soft delete.
            set.insert("deleted_at", Bson::Null);
        }
    }
    if let Some(at) = changes.last_login_at {
        set.insert("last_login_at", bson_date(at));
    }
    set
}

fn user_filter(filter: &UserFilter) -> Document {
    let mut query = Document::new();
    if let Some(prefix) = filter.prefix.as_deref().filter(|p| !p.is_empty()) {
        // Anchored and escaped: a literal prefix match, which MongoDB serves from the indexes.
        let pattern = format!("^{}", escape_regex(prefix));
        query.insert(
            "$or",
            vec![
                doc! { "username_lower": { "$regex": &pattern } },
                doc! { "email_lower": { "$regex": &pattern } },
            ],
        );
    }
    if let Some(role_id) = &filter.role_id {
        query.insert("role_id", role_id);
    }
    if let Some(is_active) = filter.is_active {
        query.insert("is_active", is_active);
    }
    query
}

/// Backslash-escapes every PCRE metacharacter so user input matches literally.
fn escape_regex(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '^' | '$' | '.' | '|' | '?' | '*' | '+' | '(' | ')' | '[' | ']' | '{' | '}'
        ) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn revoke_update(reason: RevokeReason, now: DateTime<Utc>) -> Document {
    doc! { "$set": {
        "is_active": false,
        "revoked_at": bson_date(now),
        "revoke_reason": reason.as_str(),
    } }
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
        _ => None,
    }
}

// --- documents ---

fn bson_date(at: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_chrono(at)
}

#[derive(Debug, Serialize, Deserialize)]
struct CounterDoc {
    #[serde(rename = "_id")]
    id: String,
    count: i64,
    last_hit_at: bson::DateTime,
    expires_at: bson::DateTime,
}

impl From<CounterDoc> for Counter {
    fn from(doc: CounterDoc) -> Self {
        Self {
            count: u64::try_from(doc.count).unwrap_or(0),
            last_hit_at: doc.last_hit_at.to_chrono(),
            expires_at: doc.expires_at.to_chrono(),
        }
    }
}

// BSON dates hold milliseconds: finer precision of the domain's timestamps is dropped.

#[derive(Debug, Serialize, Deserialize)]
struct RoleDoc {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    description: String,
    permissions: Vec<String>,
    is_active: bool,
    created_at: bson::DateTime,
}

impl From<&Role> for RoleDoc {
    fn from(role: &Role) -> Self {
        Self {
            id: role.id.clone(),
            name: role.name.clone(),
            description: role.description.clone(),
            permissions: role.permissions.clone(),
            is_active: role.is_active,
            created_at: bson_date(role.created_at),
        }
    }
}

impl From<RoleDoc> for Role {
    fn from(doc: RoleDoc) -> Self {
        Self {
            id: doc.id,
            name: doc.name,
            description: doc.description,
            permissions: doc.permissions,
            is_active: doc.is_active,
            created_at: doc.created_at.to_chrono(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct UserDoc {
    #[serde(rename = "_id")]
    id: String,
    username: String,
    username_lower: String,
    email: String,
    email_lower: String,
    #[serde(default)]
    full_name: Option<String>,
    password_hash: String,
    role_id: String,
    is_active: bool,
    /// Absent on documents written before epochs existed: epoch 0, like their sessions.
    #[serde(default)]
    session_epoch: i64,
    created_at: bson::DateTime,
    updated_at: bson::DateTime,
    #[serde(default)]
    last_login_at: Option<bson::DateTime>,
    #[serde(default)]
    deleted_at: Option<bson::DateTime>,
}

impl From<&User> for UserDoc {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.clone(),
            username: user.username.clone(),
            username_lower: user.username_lower(),
            email: user.email.clone(),
            email_lower: user.email_lower(),
            full_name: user.full_name.clone(),
            password_hash: user.password_hash.clone(),
            role_id: user.role_id.clone(),
            is_active: user.is_active,
            session_epoch: user.session_epoch,
            created_at: bson_date(user.created_at),
            updated_at: bson_date(user.updated_at),
            last_login_at: user.last_login_at.map(bson_date),
            deleted_at: user.deleted_at.map(bson_date),
        }
    }
}

impl From<UserDoc> for User {
    fn from(doc: UserDoc) -> Self {
        Self {
            id: doc.id,
            username: doc.username,
            email: doc.email,
            full_name: doc.full_name,
            password_hash: doc.password_hash,
            role_id: doc.role_id,
            is_active: doc.is_active,
            session_epoch: doc.session_epoch,
            created_at: doc.created_at.to_chrono(),
            updated_at: doc.updated_at.to_chrono(),
            last_login_at: doc.last_login_at.map(bson::DateTime::to_chrono),
            deleted_at: doc.deleted_at.map(bson::DateTime::to_chrono),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    refresh_jti: String,
    #[serde(default)]
    previous_jti: Option<String>,
    #[serde(default)]
    rotated_at: Option<bson::DateTime>,
    device: String,
    ip_address: String,
    user_agent: String,
    #[serde(default)]
    epoch: i64,
    created_at: bson::DateTime,
    last_activity: bson::DateTime,
    expires_at: bson::DateTime,
    is_active: bool,
    #[serde(default)]
    revoked_at: Option<bson::DateTime>,
    #[serde(default)]
    revoke_reason: Option<String>,
}

impl From<&Session> for SessionDoc {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.clone(),
            user_id: s.user_id.clone(),
            refresh_jti: s.refresh_jti.clone(),
            previous_jti: s.previous_jti.clone(),
            rotated_at: s.rotated_at.map(bson_date),
            device: s.device.clone(),
            ip_address: s.ip_address.clone(),
            user_agent: s.user_agent.clone(),
            epoch: s.epoch,
            created_at: bson_date(s.created_at),
            last_activity: bson_date(s.last_activity),
            expires_at: bson_date(s.expires_at),
            is_active: s.is_active,
            revoked_at: s.revoked_at.map(bson_date),
            revoke_reason: s.revoke_reason.clone(),
        }
    }
}

impl From<SessionDoc> for Session {
    fn from(doc: SessionDoc) -> Self {
        Self {
            id: doc.id,
            user_id: doc.user_id,
            refresh_jti: doc.refresh_jti,
            previous_jti: doc.previous_jti,
            rotated_at: doc.rotated_at.map(bson::DateTime::to_chrono),
            device: doc.device,
            ip_address: doc.ip_address,
            user_agent: doc.user_agent,
            epoch: doc.epoch,
            created_at: doc.created_at.to_chrono(),
            last_activity: doc.last_activity.to_chrono(),
            expires_at: doc.expires_at.to_chrono(),
            is_active: doc.is_active,
            revoked_at: doc.revoked_at.map(bson::DateTime::to_chrono),
            revoke_reason: doc.revoke_reason,
        }
    }
}

#[cfg(test)]
mod tests {
    //! These run against the MongoDB in `TEST_MONGO_URL`, each test in a fresh database that is
    //! dropped afterwards. Unset, they skip (plain `cargo test` has no server), except under
    //! `CI=true`, where that is a failure; set but unreachable is always a failure.

    use super::*;

    async fn test_store() -> Option<MongoStore> {
        let url = match std::env::var("TEST_MONGO_URL") {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!(
                    "CI=true but TEST_MONGO_URL is not set: run the tests through scripts/test.sh"
                )
            }
            _ => {
                eprintln!("TEST_MONGO_URL is unset: skipping the MongoDB store test");
                return None;
            }
        };
        let db_name = format!("authkit_unit_{}", uuid::Uuid::new_v4().simple());
        let store = MongoStore::connect(&url, &db_name)
            .await
            .expect("a valid TEST_MONGO_URL");
        match store.prepare().await {
            Ok(()) => Some(store),
            Err(e) => panic!("TEST_MONGO_URL is set but MongoDB is unusable: {e}"),
        }
    }

    async fn drop_db(store: MongoStore) {
        store.db.drop().await.expect("drop test database");
    }

    /// A test database for the conformance suite, dropped by [`close`].
    struct TestDb(MongoStore);

    impl std::ops::Deref for TestDb {
        type Target = MongoStore;
        fn deref(&self) -> &MongoStore {
            &self.0
        }
    }

    async fn conformance_store() -> Option<TestDb> {
        test_store().await.map(TestDb)
    }

    async fn close(db: TestDb) {
        drop_db(db.0).await;
    }

    crate::conformance_tests!(conformance_store(), close);

    /// Whole milliseconds, so values survive the BSON round trip unchanged.
    fn now_ms() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("valid time")
    }

    fn user(username: &str, email: &str, created_at: DateTime<Utc>) -> User {
        User {
            id: crate::domain::new_id(),
            username: username.into(),
            email: email.into(),
            full_name: Some("Full Name".into()),
            password_hash: "hash-1".into(),
            role_id: "role-user".into(),
            is_active: true,
            created_at,
            updated_at: created_at,
            last_login_at: None,
            deleted_at: None,
            session_epoch: 0,
        }
    }

    #[test]
    fn escapes_regex_metacharacters() {
        assert_eq!(escape_regex("a.b+c(d)"), r"a\.b\+c\(d\)");
        assert_eq!(escape_regex(r"^x$|[y]{2}?*\"), r"\^x\$\|\[y\]\{2\}\?\*\\");
        assert_eq!(escape_regex("plain-name_1@x"), "plain-name_1@x");
    }

    /// The field is found in the server's real replies: by index name for every write, and by
    /// `keyPattern` where the driver keeps the reply (findAndModify).
    #[tokio::test]
    async fn duplicate_key_errors_name_the_field() {
        let Some(store) = test_store().await else {
            return;
        };
        let now = now_ms();
        let dave = user("dave", "dave@example.com", now);
        store.insert_user(&dave).await.expect("insert");
        let other = user("other", "other@example.com", now);
        store.insert_user(&other).await.expect("insert");

        let insert = store
            .users
            .insert_one(UserDoc::from(&user("DAVE", "x@example.com", now)));
        let update = store.users.update_one(
            doc! { "_id": &other.id },
            doc! { "$set": { "email_lower": "dave@example.com" } },
        );
        let find_and_modify = store.users.find_one_and_update(
            doc! { "_id": &other.id },
            doc! { "$set": { "username_lower": "dave" } },
        );
        let errors = [
            (insert.await.map(drop), "username"),
            (update.await.map(drop), "email"),
            (find_and_modify.await.map(drop), "username"),
        ];
        for (result, field) in &errors {
            let e = result.as_ref().expect_err("duplicate");
            assert_eq!(index_name_field(e), Some(*field), "{e}");
            assert_eq!(duplicate_field(e), Some(*field), "{e}");
        }
        let (find_and_modify, _) = &errors[2];
        let e = find_and_modify.as_ref().expect_err("duplicate");
        assert_eq!(key_pattern_field(e), Some("username"), "{e}");
        drop_db(store).await;
    }

    #[tokio::test]
    async fn unreachable_server_fails_fast_with_a_clear_message() {
        // A port nobody listens on: bind to get a free one, then release it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let started = std::time::Instant::now();
        let store = MongoStore::connect(&format!("mongodb://127.0.0.1:{port}"), "x")
            .await
            .expect("the client is built without a round trip");
        let result = store.prepare().await;
        let Err(e) = result else {
            panic!("preparing against a closed port succeeded")
        };
        assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
        assert!(e.to_string().contains("unreachable"), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
