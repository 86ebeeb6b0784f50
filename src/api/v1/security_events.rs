//! Security events (docs/API.md, "Security events"): the caller's own at
//! `/api/v1/user/security-events`, everyone's for admins at `/api/v1/admin/security-events`.
//! Newest first, paged by an opaque keyset cursor, so a page deep in the log costs what the first
//! one does and events written while a client pages neither repeat nor go missing.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::envelope::{Envelope, Reply};
use crate::api::extract::{Admin, Auth, QueryParams, query_value};
use crate::api::responses::{AdminOnly, Authenticated};
use crate::api::views::{EventListView, EventView};
use crate::context::AppContext;
use crate::domain::event::{EventCursor, EventFilter, EventType};
use crate::domain::validate::FieldError;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::service::audit::{self, EventPage};

pub fn router() -> Router<AppContext> {
    Router::new()
        .route("/api/v1/user/security-events", get(own_events))
        .route("/api/v1/admin/security-events", get(all_events))
}

const DEFAULT_LIMIT: u64 = 20;
/// Longest `user_id` filter: far beyond any id, short enough to stay a cheap index probe.
const MAX_ID_CHARS: usize = 64;

/// Paging of either listing.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1-100 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100, example = 20)]
    pub(crate) limit: Option<String>,
    /// The `next` of the previous page; absent for the first page.
    pub(crate) before: Option<String>,
}

/// Filters of the admin listing; they combine.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Only events about this user.
    user_id: Option<String>,
    /// Only events of this type, e.g. `login.failed`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<String>,
}

fn query_problem(param: &str, msg: impl Into<String>) -> AppError {
    AppError::validation(FieldError {
        loc: vec!["query".into(), param.into()],
        msg: msg.into(),
        kind: "value_error",
    })
}

pub(crate) fn limit(page: &PageParams) -> AppResult<u64> {
    limit_param(page.limit.as_deref())
}

/// The `limit` query parameter of any keyset-paged listing: 1-100, default 20; else a 422
/// naming it.
pub(crate) fn limit_param(value: Option<&str>) -> AppResult<u64> {
    let limit = query_value("limit", value, DEFAULT_LIMIT, "an integer from 1 to 100")?;
    if !(1..=audit::MAX_PAGE_SIZE).contains(&limit) {
        return Err(query_problem("limit", "must be between 1 and 100"));
    }
    Ok(limit)
}

/// The cursor is the last event's time and id, base64url-encoded: opaque to clients, and a
/// position rather than an offset.
pub(crate) fn encode_cursor(cursor: &EventCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", cursor.at.timestamp_millis(), cursor.id))
}

fn decode_cursor(text: &str) -> Option<EventCursor> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (millis, id) = text.split_once(':')?;
    let valid_id = !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    Some(EventCursor {
        at: DateTime::from_timestamp_millis(millis.parse().ok()?)?,
        id: valid_id.then(|| id.to_string())?,
    })
}

pub(crate) fn before(page: &PageParams) -> AppResult<Option<EventCursor>> {
    cursor_param(page.before.as_deref())
}

/// The `before` query parameter of any keyset-paged listing; junk is a 422 naming it.
pub(crate) fn cursor_param(value: Option<&str>) -> AppResult<Option<EventCursor>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => decode_cursor(text)
            .map(Some)
            .ok_or_else(|| query_problem("before", "not a cursor from a previous page")),
    }
}

fn time(param: &str, value: Option<&str>) -> AppResult<Option<DateTime<Utc>>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| query_problem(param, "Input should be an RFC 3339 date-time")),
    }
}

pub(crate) fn reply(page: EventPage) -> Reply<EventListView> {
    Reply::ok(
        "Security events retrieved successfully",
        EventListView {
            next: page.next.as_ref().map(encode_cursor),
            events: page.events.into_iter().map(EventView::from).collect(),
        },
    )
}

/// The caller's own security events, newest first.
#[utoipa::path(get, path = "/api/v1/user/security-events", tag = "user", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "One page of the caller's events", body = Envelope<EventListView>),
        (status = 422, description = "Bad limit or cursor", body = ErrorBody),
        Authenticated,
    ))]
pub async fn own_events(
    State(ctx): State<AppContext>,
    Auth(principal): Auth,
    QueryParams(page): QueryParams<PageParams>,
) -> AppResult<Reply<EventListView>> {
    let filter = EventFilter {
        user_id: Some(principal.user.id),
        before: before(&page)?,
        ..Default::default()
    };
    Ok(reply(audit::list(&ctx, &filter, limit(&page)?).await?))
}

/// Everyone's security events, newest first, with filters.
///
/// Event types: `user.registered`, `user.updated`, `login.succeeded`, `login.failed` (with
/// `user_id` when the account exists), `login.locked`, `refresh.reuse_detected`, `logout`,
/// `logout_all`, `session.revoked`, `password.changed`, `password.check_failed` (a wrong
/// `current_password`), `password.reset_requested`, `password.reset_completed`,
/// `email.verification_sent`, `email.verified`, `email.change_requested`, `email.changed`,
/// `mfa.enabled`, `mfa.disabled`, `mfa.failed`, `mfa.recovery_code_used`, `mfa.reset_by_admin`,
/// `mfa.recovery_codes_regenerated`,
/// `user.deleted`, `admin.user_updated`, `admin.user_deleted`, `admin.sessions_revoked`,
/// `keys.rotated`, `keys.revoked`, `email.sign_in_sent`, `account.password_removed`, `identity.linked`,
/// `identity.unlinked`, `passkey.added`, `passkey.removed`, `passkey.used`,
/// `passkey.clone_suspected`, `org.created`, `org.updated`, `org.deleted`, `org.member_added`,
/// `org.member_role_changed`, `org.member_removed`, `org.invitation_sent`,
/// `org.invitation_accepted`, `org.invitation_declined`, `org.invitation_revoked` (these carry
/// `org_id`). `login.succeeded` and `login.failed` carry `detail.method`
/// (`password`, `email`, `provider`, `passkey`); `identity.*` carry `detail.provider`,
/// `passkey.*` carry `detail.passkey_id`. Events are kept for
/// `AUDIT_RETENTION` (90 days by default).
#[utoipa::path(get, path = "/api/v1/admin/security-events", tag = "admin", security(("bearer" = [])),
    params(FilterParams, PageParams),
    responses(
        (status = 200, description = "One page of events", body = Envelope<EventListView>),
        (status = 422, description = "Bad filter, limit or cursor", body = ErrorBody),
        AdminOnly,
    ))]
pub async fn all_events(
    State(ctx): State<AppContext>,
    _admin: Admin,
    QueryParams(filters): QueryParams<FilterParams>,
    QueryParams(page): QueryParams<PageParams>,
) -> AppResult<Reply<EventListView>> {
    let user_id = match filters.user_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) if id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) => {
            return Err(query_problem("user_id", "not a user id"));
        }
        Some(id) => Some(id.to_string()),
    };
    let kind = match filters.kind.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => Some(EventType::parse(name).ok_or_else(|| {
            query_problem("type", "unknown event type (see the API description)")
        })?),
    };
    let since = time("since", filters.since.as_deref())?;
    let until = time("until", filters.until.as_deref())?;
    if let (Some(since), Some(until)) = (since, until)
        && since > until
    {
        return Err(query_problem("until", "must not be before since"));
    }
    let filter = EventFilter {
        user_id,
        kind,
        since,
        until,
        before: before(&page)?,
        ..Default::default()
    };
    Ok(reply(audit::list(&ctx, &filter, limit(&page)?).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_junk_does_not() {
        let cursor = EventCursor {
            at: DateTime::from_timestamp_millis(1_767_000_000_123).unwrap(),
            id: "0b7e7f8c-4b1e-4c53-9a55-3c1f2f7d9e01".into(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&cursor)), Some(cursor));
        for junk in [
            "",
            "!!",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("12:a b"),
        ] {
            assert_eq!(decode_cursor(junk), None, "{junk}");
        }
    }

    #[test]
    fn the_api_description_names_every_event_type() {
        use utoipa::OpenApi;
        let doc = crate::api::openapi::ApiDoc::openapi().to_json().unwrap();
        for kind in EventType::ALL {
            assert!(doc.contains(&format!("`{}`", kind.as_str())), "{kind:?}");
        }
    }
}
