//! SQLite `mail_outbox`: a claim is one `UPDATE ... RETURNING` on the single writer connection,
//! so two claims can never take the same mail.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, named_params, params};

use super::*;
use crate::domain::mail::{MailOutcome, OutboxKind, OutboxMail};
use crate::store::OutboxStore;

macro_rules! mail_columns {
    () => {
        "id, kind, recipient, subject, text_body, html_body, attempts, next_attempt_at, \
         lease_until, created_at, expires_at"
    };
}

fn mail_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxMail> {
    let mut c = Columns::of(row);
    Ok(OutboxMail {
        id: c.take()?,
        kind: {
            let name: String = c.take()?;
            OutboxKind::parse(&name).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    1,
                    rusqlite::types::Type::Text,
                    format!("unknown outbox kind {name:?}").into(),
                )
            })?
        },
        to: c.take()?,
        subject: c.take()?,
        text: c.take()?,
        html: c.take()?,
        attempts: c.take()?,
        next_attempt_at: c.timestamp()?,
        lease_until: c.timestamp()?,
        created_at: c.timestamp()?,
        expires_at: c.timestamp()?,
    })
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn enqueue_mail(&self, mail: &OutboxMail) -> StoreResult<()> {
        let mail = mail.clone();
        self.write(move |conn| {
            conn.prepare_cached(concat!(
                "INSERT INTO mail_outbox (status, ",
                mail_columns!(),
                ") VALUES ('pending', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))?
            .execute(params![
                mail.id,
                mail.kind.as_str(),
                mail.to,
                mail.subject,
                mail.text,
                mail.html,
                mail.attempts,
                millis(mail.next_attempt_at),
                millis(mail.lease_until),
                millis(mail.created_at),
                millis(mail.expires_at),
            ])
            .map(drop)
        })
        .await
    }

    async fn claim_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<OutboxMail>> {
        self.write(move |conn| {
            conn.prepare_cached(concat!(
                "UPDATE mail_outbox SET lease_until = :lease, attempts = attempts + 1
                 WHERE id = (SELECT id FROM mail_outbox
                             WHERE status = 'pending' AND next_attempt_at <= :now
                               AND lease_until <= :now
                             ORDER BY next_attempt_at LIMIT 1)
                 RETURNING ",
                mail_columns!()
            ))?
            .query_row(
                named_params! { ":now": millis(now), ":lease": millis(lease_until) },
                mail_from_row,
            )
            .optional()
        })
        .await
    }

    async fn finish_mail(&self, mail: &OutboxMail, outcome: &MailOutcome) -> StoreResult<()> {
        let (id, lease) = (mail.id.clone(), millis(mail.lease_until));
        let outcome = outcome.clone();
        self.write(move |conn| {
            let claim = named_params! { ":id": id, ":lease": lease };
            let run = |sql: &str, extra: &[(&str, &dyn rusqlite::ToSql)]| {
                let mut all = claim.to_vec();
                all.extend_from_slice(extra);
                conn.prepare_cached(sql)?.execute(&*all).map(drop)
            };
            let owned = "WHERE id = :id AND lease_until = :lease";
            match &outcome {
                MailOutcome::Sent { at } => run(
                    &format!(
                        "UPDATE mail_outbox SET status = 'sent', sent_at = :at, text_body = '',
                         html_body = '' {owned}"
                    ),
                    &[(":at", &millis(*at))],
                ),
                MailOutcome::Retry { at, error } => run(
                    &format!(
                        "UPDATE mail_outbox SET next_attempt_at = :at, lease_until = 0,
                         last_error = :error {owned}"
                    ),
                    &[(":at", &millis(*at)), (":error", error)],
                ),
                MailOutcome::Failed { at, error } => run(
                    &format!(
                        "UPDATE mail_outbox SET status = 'failed', sent_at = NULL,
                         next_attempt_at = :at, text_body = '', html_body = '',
                         last_error = :error {owned}"
                    ),
                    &[(":at", &millis(*at)), (":error", error)],
                ),
            }
        })
        .await
    }
}
