//! SQLite `security_events`: appended, read newest first by a keyset on (`at`, `id`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Row, params, params_from_iter};
use serde_json::{Map, Value};

use super::*;
use crate::domain::event::{EventFilter, SecurityEvent};
use crate::store::EventStore;

macro_rules! event_columns {
    () => {
        "id, at, type, user_id, actor_id, session_id, ip, device, user_agent, detail, expires_at, \
         org_id"
    };
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<SecurityEvent> {
    let mut c = Columns::of(row);
    Ok(SecurityEvent {
        id: c.take()?,
        at: c.timestamp()?,
        kind: c.take()?,
        user_id: c.take()?,
        actor_id: c.take()?,
        session_id: c.take()?,
        ip: c.take()?,
        device: c.take()?,
        user_agent: c.take()?,
        detail: c.take::<JsonObject>()?.0,
        expires_at: c.timestamp()?,
        org_id: c.take()?,
    })
}

/// `detail`, stored as a JSON object.
struct JsonObject(Map<String, Value>);

impl FromSql for JsonObject {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?)
            .map(JsonObject)
            .map_err(|err| FromSqlError::Other(Box::new(err)))
    }
}

/// The `WHERE` clause of a listing and its values. Only the filters present become conditions,
/// so the planner sees plain equalities and ranges and can pick the matching index
/// (`security_events_user`, `_type`, or `_at`), whose order is the listing's order.
fn conditions(filter: &EventFilter, now: DateTime<Utc>) -> (String, Vec<SqlValue>) {
    let mut sql = String::from("expires_at > ?");
    let mut values = vec![SqlValue::Integer(millis(now))];
    if let Some(user_id) = &filter.user_id {
        sql.push_str(" AND user_id = ?");
        values.push(SqlValue::Text(user_id.clone()));
    }
    if let Some(org_id) = &filter.org_id {
        sql.push_str(" AND org_id = ?");
        values.push(SqlValue::Text(org_id.clone()));
    }
    if let Some(kind) = filter.kind {
        sql.push_str(" AND type = ?");
        values.push(SqlValue::Text(kind.as_str().to_string()));
    }
    if let Some(since) = filter.since {
        sql.push_str(" AND at >= ?");
        values.push(SqlValue::Integer(millis(since)));
    }
    if let Some(until) = filter.until {
        sql.push_str(" AND at < ?");
        values.push(SqlValue::Integer(millis(until)));
    }
    if let Some(before) = &filter.before {
        // A row value comparison: SQLite serves it as one range of the (.., at, id) index.
        sql.push_str(" AND (at, id) < (?, ?)");
        values.push(SqlValue::Integer(millis(before.at)));
        values.push(SqlValue::Text(before.id.clone()));
    }
    (sql, values)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn insert_event(&self, event: &SecurityEvent) -> StoreResult<()> {
        let event = event.clone();
        self.write(move |conn| {
            let detail = serde_json::to_string(&event.detail)
                .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?;
            conn.prepare_cached(concat!(
                "INSERT INTO security_events (",
                event_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))?
            .execute(params![
                event.id,
                millis(event.at),
                event.kind,
                event.user_id,
                event.actor_id,
                event.session_id,
                event.ip,
                event.device,
                event.user_agent,
                detail,
                millis(event.expires_at),
                event.org_id,
            ])
            .map(drop)
        })
        .await
    }

    async fn list_events(
        &self,
        filter: &EventFilter,
        limit: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SecurityEvent>> {
        let (conditions, mut values) = conditions(filter, now);
        values.push(SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        let sql = format!(
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM security_events WHERE {} ORDER BY at DESC, id DESC LIMIT ?"
            ),
            conditions
        );
        self.read(move |conn| {
            conn.prepare_cached(&sql)?
                .query_map(params_from_iter(values), event_from_row)?
                .collect()
        })
        .await
    }
}
