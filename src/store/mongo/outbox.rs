//! MongoDB `mail_outbox`: a claim is one `findAndModify`, so two instances can never take the
//! same mail; a TTL index removes old records.

use async_trait::async_trait;
use bson::doc;
use chrono::{DateTime, Utc};
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::mail::{MailOutcome, OutboxKind, OutboxMail};
use crate::store::OutboxStore;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct MailDoc {
    #[serde(rename = "_id")]
    id: String,
    kind: String,
    to: String,
    subject: String,
    text: String,
    html: String,
    status: String,
    attempts: u32,
    next_attempt_at: bson::DateTime,
    lease_until: bson::DateTime,
    #[serde(default)]
    last_error: Option<String>,
    created_at: bson::DateTime,
    #[serde(default)]
    sent_at: Option<bson::DateTime>,
    expires_at: bson::DateTime,
}

impl TryFrom<MailDoc> for OutboxMail {
    type Error = StoreError;
    fn try_from(d: MailDoc) -> StoreResult<Self> {
        Ok(Self {
            kind: OutboxKind::parse(&d.kind)
                .ok_or_else(|| StoreError::Other(format!("unknown outbox kind {:?}", d.kind)))?,
            id: d.id,
            to: d.to,
            subject: d.subject,
            text: d.text,
            html: d.html,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.to_chrono(),
            lease_until: d.lease_until.to_chrono(),
            created_at: d.created_at.to_chrono(),
            expires_at: d.expires_at.to_chrono(),
        })
    }
}

/// Claims look for the pending mail due longest ago.
pub(super) async fn create_indexes(outbox: &Collection<MailDoc>) -> mongodb::error::Result<()> {
    outbox
        .create_indexes([
            index(
                doc! { "status": 1, "next_attempt_at": 1 },
                IndexOptions::builder().build(),
            ),
            expiry_index(),
        ])
        .await
        .map(drop)
}

#[async_trait]
impl OutboxStore for MongoStore {
    async fn enqueue_mail(&self, mail: &OutboxMail) -> StoreResult<()> {
        let doc = MailDoc {
            id: mail.id.clone(),
            kind: mail.kind.as_str().to_string(),
            to: mail.to.clone(),
            subject: mail.subject.clone(),
            text: mail.text.clone(),
            html: mail.html.clone(),
            status: "pending".into(),
            attempts: mail.attempts,
            next_attempt_at: bson_date(mail.next_attempt_at),
            lease_until: bson_date(mail.lease_until),
            last_error: None,
            created_at: bson_date(mail.created_at),
            sent_at: None,
            expires_at: bson_date(mail.expires_at),
        };
        self.mail_outbox.insert_one(doc).await.map_err(map_err)?;
        Ok(())
    }

    async fn claim_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<OutboxMail>> {
        let now = bson_date(now);
        Ok(self
            .mail_outbox
            .find_one_and_update(
                doc! {
                    "status": "pending",
                    "next_attempt_at": { "$lte": now },
                    "lease_until": { "$lte": now },
                },
                doc! {
                    "$set": { "lease_until": bson_date(lease_until) },
                    "$inc": { "attempts": 1 },
                },
            )
            .sort(doc! { "next_attempt_at": 1 })
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err)?
            .map(OutboxMail::try_from)
            .transpose()?)
    }

    async fn finish_mail(&self, mail: &OutboxMail, outcome: &MailOutcome) -> StoreResult<()> {
        let claim = doc! { "_id": &mail.id, "lease_until": bson_date(mail.lease_until) };
        let set = match outcome {
            MailOutcome::Sent { at } => doc! {
                "status": "sent", "sent_at": bson_date(*at), "text": "", "html": "",
            },
            MailOutcome::Retry { at, error } => doc! {
                "next_attempt_at": bson_date(*at),
                "lease_until": bson_date(DateTime::<Utc>::UNIX_EPOCH),
                "last_error": error,
            },
            MailOutcome::Failed { at, error } => doc! {
                "status": "failed", "next_attempt_at": bson_date(*at), "text": "", "html": "",
                "last_error": error,
            },
        };
        self.mail_outbox
            .update_one(claim, doc! { "$set": set })
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
