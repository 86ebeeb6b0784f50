//! MongoDB `sessions`: rotation and revocation as single conditional updates; a TTL index on
//! `expires_at` removes expired ones.

use async_trait::async_trait;
use bson::{Document, doc};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::{Amr, RevokeReason, Session, SessionState, User};
use crate::store::{SessionStore, UserStore};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SessionDoc {
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
    /// Written for a build from before `amr` that shares the database during an upgrade; read
    /// only when `amr` is missing (a session such a build opened).
    #[serde(default)]
    mfa: bool,
    #[serde(default)]
    amr: Option<i64>,
    #[serde(default)]
    authenticated_at: Option<bson::DateTime>,
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
            mfa: s.amr.contains(Amr::OTP),
            amr: Some(s.amr.bits()),
            authenticated_at: Some(bson_date(s.authenticated_at)),
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
            amr: match (doc.amr, doc.mfa) {
                (Some(bits), _) => Amr::from_bits(bits),
                (None, true) => Amr::PWD.with(Amr::OTP),
                (None, false) => Amr::PWD,
            },
            authenticated_at: doc.authenticated_at.unwrap_or(doc.created_at).to_chrono(),
            created_at: doc.created_at.to_chrono(),
            last_activity: doc.last_activity.to_chrono(),
            expires_at: doc.expires_at.to_chrono(),
            is_active: doc.is_active,
            revoked_at: doc.revoked_at.map(bson::DateTime::to_chrono),
            revoke_reason: doc.revoke_reason,
        }
    }
}

pub(super) fn revoke_update(reason: RevokeReason, now: DateTime<Utc>) -> Document {
    doc! { "$set": {
        "is_active": false,
        "revoked_at": bson_date(now),
        "revoke_reason": reason.as_str(),
    } }
}

/// One session per refresh jti, a user's sessions found together, expired ones swept.
pub(super) async fn create_indexes(
    sessions: &Collection<SessionDoc>,
) -> mongodb::error::Result<()> {
    sessions
        .create_indexes([
            unique_index("refresh_jti"),
            index(doc! { "user_id": 1 }, IndexOptions::default()),
            expiry_index(),
        ])
        .await
        .map(drop)
}

#[async_trait]
impl SessionStore for MongoStore {
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

    async fn find_session_and_user(
        &self,
        session_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<(SessionState, User)>> {
        // Two finds by `_id`, side by side: one round trip of wall time, two commands. One
        // aggregate joining the session with its user (`$lookup` on `_id`) would be one command,
        // but measured slower on the test server: 302 against 471 requests/s in the benchmark
        // (docs/PERFORMANCE.md, "The MongoDB hot path: two finds or one $lookup").
        let (session, user) =
            tokio::try_join!(self.find_session(session_id), self.find_user(user_id))?;
        let state = session
            .filter(|s| s.user_id == user_id)
            .map(|s| SessionState::from(&s));
        Ok(state.zip(user))
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
}
