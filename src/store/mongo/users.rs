//! MongoDB `users`: unique indexes on the lower-cased username and email, updates that `$set`
//! only what changes, and an anchored, escaped prefix search.

use async_trait::async_trait;
use bson::{Bson, Document, doc};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::{LoginField, User, UserChanges, UserFilter};
use crate::store::UserStore;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct UserDoc {
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
    /// Absent on documents written before mail existed: not verified.
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    pending_email: Option<String>,
    #[serde(default)]
    mfa_enabled: bool,
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
            email_verified: user.email_verified,
            pending_email: user.pending_email.clone(),
            mfa_enabled: user.mfa_enabled,
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
            email_verified: doc.email_verified,
            pending_email: doc.pending_email,
            mfa_enabled: doc.mfa_enabled,
        }
    }
}

/// `$set` body of a user update: only the fields that change, plus `updated_at`, and the
/// lower-cased copies the unique indexes hold when username or email change.
pub(super) fn user_set(changes: &UserChanges, now: DateTime<Utc>) -> Document {
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
    if let Some(enabled) = changes.mfa_enabled {
        set.insert("mfa_enabled", enabled);
    }
    if let Some(verified) = changes.email_verified {
        set.insert("email_verified", verified);
    }
    if let Some(pending) = &changes.pending_email {
        set.insert(
            "pending_email",
            pending.clone().map_or(Bson::Null, Bson::String),
        );
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

pub(super) fn user_filter(filter: &UserFilter) -> Document {
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
pub(super) fn escape_regex(text: &str) -> String {
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

/// Uniqueness of usernames and emails, whatever their case, and the listing's order.
pub(super) async fn create_indexes(users: &Collection<UserDoc>) -> mongodb::error::Result<()> {
    users
        .create_indexes([
            unique_index("username_lower"),
            unique_index("email_lower"),
            index(doc! { "created_at": -1 }, IndexOptions::default()),
        ])
        .await
        .map(drop)
}

#[async_trait]
impl UserStore for MongoStore {
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
        let matching = user_filter(filter);
        let total = self.users.count_documents(matching.clone());
        // MongoDB reads `limit(0)` as "no limit"; an empty page needs no query at all.
        if limit == 0 {
            return Ok((Vec::new(), total.await.map_err(map_err)?));
        }
        let mut on_page = matching;
        if let Some(cursor) = &filter.before {
            on_page.insert(
                "$and",
                past(
                    "created_at",
                    "_id",
                    (cursor.at, &cursor.id),
                    Order::NewestFirst,
                ),
            );
        }
        let page = async {
            self.users
                .find(on_page)
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
}

#[cfg(test)]
mod tests {
    use super::escape_regex;

    #[test]
    fn escapes_regex_metacharacters() {
        assert_eq!(escape_regex("a.b+c(d)"), r"a\.b\+c\(d\)");
        assert_eq!(escape_regex(r"^x$|[y]{2}?*\"), r"\^x\$\|\[y\]\{2\}\?\*\\");
        assert_eq!(escape_regex("plain-name_1@x"), "plain-name_1@x");
    }
}
