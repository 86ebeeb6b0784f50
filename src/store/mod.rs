//! Persistence with two backends: MongoDB (production) and an embedded SQLite file
//! (zero-configuration runs). One small trait per collection ([`UserStore`], [`RoleStore`],
//! [`SessionStore`], [`CounterStore`], [`EventStore`], [`TokenStore`], [`OutboxStore`], [`MfaStore`],
//! [`KeyStore`], [`IdentityStore`], [`TicketStore`], [`PasskeyStore`], [`OrgStore`], [`InvitationStore`]), all of them together [`Store`], which is what services
//! hold; the backend is picked at start. Each backend has one module per collection
//! (`sqlite/users.rs`, `mongo/users.rs`, ...) beside its `mod.rs` (connection, errors, schema),
//! and the conformance suite (`conformance/`, one file per collection) checks both against the
//! same behaviours. Longer than this crate's other files on purpose: it is the whole contract a
//! backend implements, every trait on one page; a new collection adds its trait here.
//!
//! Rules every backend keeps:
//! - uniqueness of `username_lower`, `email_lower` and `sessions.refresh_jti` comes from unique
//!   indexes, so racing writes can never create duplicates ([`StoreError::Duplicate`]);
//! - rotation and revocation are single conditional updates (a filter on the current state);
//! - an unreachable or failing database is [`StoreError::Unavailable`], which becomes a 503.

#[cfg(test)]
mod conformance;
pub mod metered;
pub mod mongo;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::domain::event::{EventFilter, SecurityEvent};
use crate::domain::identity::Identity;
use crate::domain::mail::{MailOutcome, OneTimeToken, OutboxMail, TokenPurpose};
use crate::domain::mfa::MfaFactor;
use crate::domain::org::{Invitation, Membership, OrgRole, Organization};
use crate::domain::passkey::Passkey;
use crate::domain::signing_key::SigningKey;
use crate::domain::ticket::{Ticket, TicketKind};
use crate::domain::{
    Counter, RevokeReason, Role, Session, SessionState, User, UserChanges, UserFilter,
};
use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique index refused the write; `field` is `username`, `email` or `refresh_jti`.
    #[error("duplicate value for {field}")]
    Duplicate { field: &'static str },
    /// The database cannot be reached or cannot take writes right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or corrupt data.
    #[error("database error: {0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Declares a collection's store trait and, from the same list, its metered forwarding on
/// [`metered::MeteredStore`]: a method added here is counted in /metrics (by its name) and gated
/// until the store is prepared without a line written anywhere else. Every method is `async`,
/// takes `&self` and returns a [`StoreResult`].
macro_rules! store_trait {
    (
        $(#[$meta:meta])*
        pub trait $trait:ident {
            $(
                $(#[$method_meta:meta])*
                async fn $method:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
            )*
        }
    ) => {
        $(#[$meta])*
        #[async_trait]
        pub trait $trait: Send + Sync {
            $(
                $(#[$method_meta])*
                async fn $method(&self $(, $arg: $ty)*) -> $ret;
            )*
        }

        #[async_trait]
        impl $trait for metered::MeteredStore {
            $(
                async fn $method(&self $(, $arg: $ty)*) -> $ret {
                    self.observe(stringify!($method), self.inner.$method($($arg),*))
                        .await
                }
            )*
        }
    };
}

store_trait! {
    /// `roles`: few, seeded at start, cached by the services.
    pub trait RoleStore {
        /// Seeds a built-in role: inserts it, or brings the role of that name to this
        /// description and these permissions. Its id, creation time and `is_active` stay, so
        /// users keep their role and an operator's deactivation holds. Idempotent, also when
        /// several instances seed at once.
        async fn seed_role(&self, role: &Role) -> StoreResult<()>;
        /// Every role, ordered by name.
        async fn list_roles(&self) -> StoreResult<Vec<Role>>;
    }
}

store_trait! {
    /// `users`: accounts, unique by lower-cased username and email.
    pub trait UserStore {
        /// Fails with `Duplicate` when the username or email is taken (case-insensitively).
        async fn insert_user(&self, user: &User) -> StoreResult<()>;
        async fn find_user(&self, id: &str) -> StoreResult<Option<User>>;
        /// Finds by lower-cased email or username, as [`crate::domain::LoginField::of`] tells.
        async fn find_user_by_login(&self, login_lower: &str) -> StoreResult<Option<User>>;
        /// Applies the changes and returns the updated user; `None` if the id is unknown or, when
        /// `if_role` is given, the user no longer has that role (the caller's permission check
        /// was made against it, so the check and the write cannot be split by a concurrent
        /// promotion). `end_sessions` bumps `session_epoch` in the same write. Fails with
        /// `Duplicate` when a new username or email is taken.
        async fn update_user(
            &self,
            id: &str,
            changes: &UserChanges,
            if_role: Option<&str>,
            now: DateTime<Utc>,
        ) -> StoreResult<Option<User>>;
        /// Atomically replaces the password hash if it is still `old_hash` (rehash on login).
        async fn replace_password_hash(
            &self,
            id: &str,
            old_hash: &str,
            new_hash: &str,
        ) -> StoreResult<()>;
        /// Soft delete: sets `is_active = false` and `deleted_at` and ends every session (bumps
        /// `session_epoch`), only if the user is active and, when `if_role` is given, still has
        /// that role. Returns whether this call deactivated the user.
        async fn soft_delete_user(
            &self,
            id: &str,
            if_role: Option<&str>,
            now: DateTime<Utc>,
        ) -> StoreResult<bool>;
        /// One page of users, newest first, and the total count matching the filter.
        async fn list_users(
            &self,
            filter: &UserFilter,
            skip: u64,
            limit: u64,
        ) -> StoreResult<(Vec<User>, u64)>;
    }
}

store_trait! {
    /// `sessions`: one per login, found by id, rotated and revoked by conditional writes.
    pub trait SessionStore {
        /// Inserts the session of a new login and records that login on its user
        /// (`last_login_at = session.created_at`; `updated_at` is left alone): one transaction on
        /// SQLite, two concurrent writes on MongoDB.
        async fn insert_session(&self, session: &Session) -> StoreResult<()>;
        async fn find_session(&self, id: &str) -> StoreResult<Option<Session>>;
        /// What authenticating an access token reads: the state of session `session_id` if it
        /// belongs to `user_id`, and that user; `None` unless both exist. Every authenticated
        /// request makes this call, so each backend answers it in as few round trips as it can.
        async fn find_session_and_user(
            &self,
            session_id: &str,
            user_id: &str,
        ) -> StoreResult<Option<(SessionState, User)>>;
        /// Rotates the refresh token: only if the session is active, unexpired, belongs to
        /// `user_id` and still has `current_jti`. Returns the rotated session's state, `None` if
        /// it did not rotate.
        async fn rotate_refresh(
            &self,
            id: &str,
            user_id: &str,
            current_jti: &str,
            new_jti: &str,
            new_expires_at: DateTime<Utc>,
            now: DateTime<Utc>,
        ) -> StoreResult<Option<SessionState>>;
        /// Moves an active session of `user_id` into `epoch`, so it outlives the change that
        /// ended the user's other sessions (the session that changed its own password). Returns
        /// whether the session was found.
        async fn carry_session_over(&self, id: &str, user_id: &str, epoch: i64) -> StoreResult<bool>;
        /// Records activity (the caller throttles how often).
        async fn touch_session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()>;
        /// Revokes one active session, optionally only if it belongs to `user_id`.
        /// Returns whether a session was revoked.
        async fn revoke_session(
            &self,
            id: &str,
            user_id: Option<&str>,
            reason: RevokeReason,
            now: DateTime<Utc>,
        ) -> StoreResult<bool>;
        /// Revokes every active session of a user except `keep`. Returns how many.
        async fn revoke_user_sessions(
            &self,
            user_id: &str,
            keep: Option<&str>,
            reason: RevokeReason,
            now: DateTime<Utc>,
        ) -> StoreResult<u64>;
        /// Active, unexpired sessions of a user, most recent activity first.
        async fn list_active_sessions(
            &self,
            user_id: &str,
            now: DateTime<Utc>,
        ) -> StoreResult<Vec<Session>>;
    }
}

store_trait! {
    /// `security_events`: append-only, newest first by (`at`, `id`), deleted after `expires_at`.
    pub trait EventStore {
        async fn insert_event(&self, event: &SecurityEvent) -> StoreResult<()>;
        /// Up to `limit` events matching `filter`, newest first, leaving out expired ones (the
        /// TTL sweep is lazy). A page costs the same at any depth: `filter.before` is a keyset
        /// position served from an index, not an offset.
        async fn list_events(
            &self,
            filter: &EventFilter,
            limit: u64,
            now: DateTime<Utc>,
        ) -> StoreResult<Vec<SecurityEvent>>;
    }
}

store_trait! {
    /// `one_time_tokens`: mailed secrets, stored hashed, one live token per user and purpose,
    /// each consumed at most once by a single conditional update.
    pub trait TokenStore {
        /// Stores the token, replacing the user's previous token of the same purpose (which stops
        /// working at once).
        async fn put_token(&self, token: &OneTimeToken) -> StoreResult<()>;
        /// Consumes the live token with this hash and one of `purposes`: unused, unexpired, with
        /// fewer than [`crate::domain::mail::MAX_TOKEN_ATTEMPTS`] wrong codes. Of racing calls, one gets it.
        async fn consume_token_by_hash(
            &self,
            token_hash: &str,
            purposes: &[TokenPurpose],
            now: DateTime<Utc>,
        ) -> StoreResult<Option<OneTimeToken>>;
        /// The live token with this hash and one of `purposes`, without consuming it (a
        /// second step that checks something else before it consumes the token).
        async fn find_token_by_hash(
            &self,
            token_hash: &str,
            purposes: &[TokenPurpose],
            now: DateTime<Utc>,
        ) -> StoreResult<Option<OneTimeToken>>;
        /// Live tokens of `purposes` mailed to `email_lower` (a `{email, code}` request).
        async fn find_tokens_by_email(
            &self,
            email_lower: &str,
            purposes: &[TokenPurpose],
            now: DateTime<Utc>,
        ) -> StoreResult<Vec<OneTimeToken>>;
        /// Consumes the token `key` if it is live and its code hash is `code_hash`.
        async fn consume_token_by_code(
            &self,
            key: &str,
            code_hash: &str,
            now: DateTime<Utc>,
        ) -> StoreResult<Option<OneTimeToken>>;
        /// Counts a wrong code against the live token `key`.
        async fn count_token_failure(&self, key: &str, now: DateTime<Utc>) -> StoreResult<()>;
    }
}

store_trait! {
    /// `mail_outbox`: mail waiting to be sent, claimed by one sender at a time.
    pub trait OutboxStore {
        async fn enqueue_mail(&self, mail: &OutboxMail) -> StoreResult<()>;
        /// Claims the mail due longest ago (pending, due, not leased): leases it until
        /// `lease_until` and counts the attempt. Of racing claims, one gets each mail.
        async fn claim_mail(
            &self,
            now: DateTime<Utc>,
            lease_until: DateTime<Utc>,
        ) -> StoreResult<Option<OutboxMail>>;
        /// Records how the delivery of a claimed mail ended; ignored unless the claim (`mail.id`
        /// and `mail.lease_until`) is still the current one. A sent or failed mail loses its
        /// bodies.
        async fn finish_mail(&self, mail: &OutboxMail, outcome: &MailOutcome) -> StoreResult<()>;
    }
}

store_trait! {
    /// `mfa_factors` and `mfa_recovery_codes`: one TOTP factor per user, and the keyed hashes of
    /// its recovery codes. Replay and reuse are refused by conditional writes.
    pub trait MfaStore {
        /// Stores a pending factor for the user, replacing a pending one; `false` (nothing
        /// written) if the user has an active factor.
        async fn put_pending_factor(&self, factor: &MfaFactor) -> StoreResult<bool>;
        async fn find_factor(&self, user_id: &str) -> StoreResult<Option<MfaFactor>>;
        /// Activates the user's pending, unexpired factor with the step of its first code.
        async fn activate_factor(
            &self,
            user_id: &str,
            step: i64,
            now: DateTime<Utc>,
        ) -> StoreResult<bool>;
        /// Records `step` as used on the active factor if it is later than the last one used.
        /// Of two racing uses of one code, one gets `true`.
        async fn use_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool>;
        /// Deletes the factor and its recovery codes; whether a factor was there.
        async fn delete_factor(&self, user_id: &str) -> StoreResult<bool>;
        /// Replaces the user's recovery codes (their hashes).
        async fn replace_recovery_codes(&self, user_id: &str, hashes: &[String]) -> StoreResult<()>;
        /// Uses up one recovery code; whether it was there.
        async fn use_recovery_code(&self, user_id: &str, hash: &str) -> StoreResult<bool>;
    }
}

store_trait! {
    /// `signing_keys`: the Ed25519 keys of `JWT_ALG=EdDSA`, a handful, never deleted. Every state
    /// change is one conditional write, so racing rotations on several instances rotate once.
    pub trait KeyStore {
        /// Every key, by `seq` (oldest first).
        async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>>;
        /// Fails with `Duplicate { field: "seq" }` when a key with the same `seq` exists (another
        /// instance created it first).
        async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()>;
        /// Makes the `next` key `kid` active from `now`; `false` unless it was still `next`.
        async fn activate_signing_key(&self, kid: &str, now: DateTime<Utc>) -> StoreResult<bool>;
        /// Retires every active key but `keep`: it signs no more, its private key is erased, and
        /// it verifies until `publish_until`. Returns how many keys it retired.
        async fn retire_signing_keys(
            &self,
            keep: &str,
            now: DateTime<Utc>,
            publish_until: DateTime<Utc>,
        ) -> StoreResult<u64>;
        /// Withdraws every key still published (active, next, or retired and not yet expired) at
        /// once: each becomes retired with its private key erased and `publish_until = now`, so
        /// it neither signs nor verifies. Returns how many keys it withdrew.
        async fn revoke_signing_keys(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    }
}

store_trait! {
    /// `identities`: accounts at sign-in providers linked to ours, unique by provider and
    /// subject. Every read or change of one identity is scoped to its owner, except the
    /// sign-in's lookup by provider and subject.
    pub trait IdentityStore {
        /// Fails with `Duplicate { field: "identity" }` when the provider's subject is linked
        /// already (to this account or another).
        async fn insert_identity(&self, identity: &Identity) -> StoreResult<()>;
        /// The identity of `subject` at `provider`, whichever account holds it.
        async fn find_identity(&self, provider: &str, subject: &str) -> StoreResult<Option<Identity>>;
        /// A user's identities, oldest first.
        async fn list_identities(&self, user_id: &str) -> StoreResult<Vec<Identity>>;
        /// Records a sign-in with it, and the address the provider asserted this time.
        async fn touch_identity(
            &self,
            id: &str,
            email: Option<&str>,
            email_verified: bool,
            at: DateTime<Utc>,
        ) -> StoreResult<()>;
        /// Unlinks identity `id` of `user_id`; `false` when that user has no such identity.
        async fn delete_identity(&self, id: &str, user_id: &str) -> StoreResult<bool>;
    }
}

store_trait! {
    /// `oauth_tickets`: the steps of a sign-in provider flow (see [`Ticket`]), filed under a
    /// secret's hash and taken at most once.
    pub trait TicketStore {
        /// Files the ticket; its `id_hash` is new (a random secret's).
        async fn put_ticket(&self, ticket: &Ticket) -> StoreResult<()>;
        /// Deletes and returns the live ticket of `kind` filed under `id_hash`. Of racing calls,
        /// exactly one gets it; an expired one is never returned.
        async fn take_ticket(
            &self,
            kind: TicketKind,
            id_hash: &str,
            now: DateTime<Utc>,
        ) -> StoreResult<Option<Ticket>>;
    }
}

store_trait! {
    /// `passkeys`: WebAuthn credentials, one account per credential id (a unique index),
    /// owner-scoped writes.
    pub trait PasskeyStore {
        /// A credential id registered already is `Duplicate { field: "credential" }`.
        async fn insert_passkey(&self, passkey: &Passkey) -> StoreResult<()>;
        async fn find_passkey_by_credential(&self, credential_id: &str) -> StoreResult<Option<Passkey>>;
        /// A user's passkeys, oldest first.
        async fn list_passkeys(&self, user_id: &str) -> StoreResult<Vec<Passkey>>;
        /// Renames the passkey if it is `user_id`'s.
        async fn rename_passkey(
            &self,
            id: &str,
            user_id: &str,
            name: &str,
        ) -> StoreResult<Option<Passkey>>;
        /// After a sign-in: the credential's new state (counter, backup state) and the time.
        async fn record_passkey_use(
            &self,
            id: &str,
            credential: &str,
            backed_up: bool,
            at: DateTime<Utc>,
        ) -> StoreResult<()>;
        /// Deletes the passkey if it is `user_id`'s, returning it.
        async fn delete_passkey(&self, id: &str, user_id: &str) -> StoreResult<Option<Passkey>>;
    }
}

store_trait! {
    /// `organizations` and `memberships`: a unique slug, one membership per user and
    /// organization, and an owner count on the organization, so that "the last owner stays" is
    /// one conditional write whichever store, also when two demotions race.
    pub trait OrgStore {
        /// The organization with its first owner. A taken slug is `Duplicate { field: "slug" }`.
        async fn create_org(&self, org: &Organization, owner: &Membership) -> StoreResult<()>;
        async fn find_org(&self, id: &str) -> StoreResult<Option<Organization>>;
        /// Renames it or changes its slug (a taken one is `Duplicate { field: "slug" }`).
        async fn update_org(
            &self,
            id: &str,
            name: Option<&str>,
            slug: Option<&str>,
            now: DateTime<Utc>,
        ) -> StoreResult<Option<Organization>>;
        /// Deletes the organization with its memberships and invitations.
        async fn delete_org(&self, id: &str) -> StoreResult<bool>;
        /// Every organization (the platform admin's view), newest first, after the cursor
        /// `(created_at, id)`; `slug_prefix` (lower-case) narrows it.
        async fn list_orgs(
            &self,
            slug_prefix: Option<&str>,
            limit: u32,
            before: Option<(DateTime<Utc>, String)>,
        ) -> StoreResult<Vec<Organization>>;
        /// The user's organizations with the role in each, oldest membership first.
        async fn orgs_of_user(&self, user_id: &str) -> StoreResult<Vec<(Organization, OrgRole)>>;
        async fn find_membership(
            &self,
            org_id: &str,
            user_id: &str,
        ) -> StoreResult<Option<Membership>>;
        /// A member already is `Duplicate { field: "membership" }`.
        async fn add_member(&self, membership: &Membership) -> StoreResult<()>;
        /// Members by join time, then user id, after the cursor `(joined_at, user_id)`.
        async fn list_members(
            &self,
            org_id: &str,
            limit: u32,
            after: Option<(DateTime<Utc>, String)>,
        ) -> StoreResult<Vec<Membership>>;
        /// Moves the member from role `from` to `to` (`from` as the caller read it: a member
        /// whose role changed meanwhile is [`MemberChange::Raced`]). An owner is unmade only
        /// while another owner remains.
        async fn set_member_role(
            &self,
            org_id: &str,
            user_id: &str,
            from: OrgRole,
            to: OrgRole,
        ) -> StoreResult<MemberChange>;
        /// Removes the member (whose role is `from`); an owner only while another remains.
        async fn remove_member(
            &self,
            org_id: &str,
            user_id: &str,
            from: OrgRole,
        ) -> StoreResult<MemberChange>;
    }
}

store_trait! {
    /// `invitations`: one live invitation per address and organization (a new one replaces the
    /// older), found by id or by its token's hash, and taken once (accept, decline, revoke).
    pub trait InvitationStore {
        /// Files it, replacing the organization's earlier invitation to the same address.
        async fn put_invitation(&self, invitation: &Invitation) -> StoreResult<()>;
        async fn find_invitation(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<Invitation>>;
        async fn find_invitation_by_token(
            &self,
            token_hash: &str,
            now: DateTime<Utc>,
        ) -> StoreResult<Option<Invitation>>;
        /// An organization's live invitations, newest first.
        async fn list_org_invitations(
            &self,
            org_id: &str,
            now: DateTime<Utc>,
        ) -> StoreResult<Vec<Invitation>>;
        /// The live invitations to an address (lower-case), newest first.
        async fn list_invitations_to(
            &self,
            email: &str,
            now: DateTime<Utc>,
        ) -> StoreResult<Vec<Invitation>>;
        /// Deletes and returns the live invitation `id`: of racing calls, one gets it.
        async fn take_invitation(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<Invitation>>;
    }
}

/// How a change to a membership ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    Done,
    /// It would have left the organization without an owner.
    LastOwner,
    /// The member is gone, or their role is no longer the one the change was made from.
    Raced,
}

store_trait! {
    /// `rate_limits`: counters shared by every server instance using the store.
    pub trait CounterStore {
        /// Atomically adds one to the counter `key` and returns it after the increment. An
        /// absent or expired counter starts again at 1 and lives until `expires_at`.
        async fn hit_counter(
            &self,
            key: &str,
            expires_at: DateTime<Utc>,
            now: DateTime<Utc>,
        ) -> StoreResult<Counter>;
        /// The counter `key`, unless absent or expired.
        async fn get_counter(&self, key: &str, now: DateTime<Utc>) -> StoreResult<Option<Counter>>;
        async fn delete_counter(&self, key: &str) -> StoreResult<()>;
    }
}

/// Everything the services need from a database: every collection, and the database itself.
#[async_trait]
pub trait Store:
    RoleStore
    + UserStore
    + SessionStore
    + CounterStore
    + EventStore
    + TokenStore
    + OutboxStore
    + MfaStore
    + KeyStore
    + IdentityStore
    + TicketStore
    + PasskeyStore
    + OrgStore
    + InvitationStore
    + 'static
{
    /// "mongodb" or "sqlite", for logs.
    fn backend(&self) -> &'static str;

    /// Commands sent to the database so far, by command name, where the backend can count its
    /// round trips (MongoDB's command monitoring); empty otherwise.
    fn command_counts(&self) -> Vec<(String, u64)> {
        Vec::new()
    }

    /// Closes connections cleanly before the process exits (MongoDB ends its server sessions).
    async fn shutdown(&self) {}

    /// Makes the database ready for use: indexes (idempotent) and, through the serving wrapper,
    /// the default roles. Needs the database to answer; called again until it succeeds.
    async fn prepare(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Whether [`Store::prepare`] has succeeded (a backend on its own is always ready).
    fn is_prepared(&self) -> bool {
        true
    }

    /// A cheap round trip proving the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Deletes expired records of every collection (MongoDB's TTL indexes do this themselves).
    async fn delete_expired(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// The embedded store's database file: `DATA_DIR/authkit.db`.
pub fn sqlite_path(settings: &Settings) -> std::path::PathBuf {
    settings.store.data_dir.join("authkit.db")
}

/// Opens the configured backend: MongoDB when `MONGO_URL` is set, else SQLite under `DATA_DIR`.
/// Nothing here needs MongoDB to answer (its client connects lazily): the store comes back
/// closed, and [`Store::prepare`] opens it once the database answers. A bad URL or an unusable
/// SQLite file is still an error at once.
pub async fn open(settings: &Settings, metrics: Arc<Metrics>) -> anyhow::Result<Arc<dyn Store>> {
    let backend: Arc<dyn Store> = match &settings.store.mongo_url {
        Some(url) => {
            Arc::new(mongo::MongoStore::connect(url.expose(), &settings.store.mongodb_name).await?)
        }
        None => Arc::new(sqlite::SqliteStore::open(&sqlite_path(settings))?),
    };
    Ok(Arc::new(metered::MeteredStore::new(backend, metrics)))
}

/// Seeds the built-in roles as the code defines them, idempotently: a permission added to `USER`
/// here reaches a database seeded by an older version at its next start. Roles of other names
/// (an operator's own) are left alone.
pub(crate) async fn seed_default_roles(store: &dyn Store) -> StoreResult<()> {
    let now = Utc::now();
    for (name, description, permissions) in crate::domain::permission::DEFAULT_ROLES {
        let role = Role {
            id: crate::domain::new_id(),
            name: name.to_string(),
            description: description.to_string(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            is_active: true,
            created_at: now,
        };
        store.seed_role(&role).await?;
    }
    Ok(())
}
