//! Response shapes, separate from the stored models: what a client sees, and nothing more
//! (no password hash, no refresh jti, no revocation internals).

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::api::v1::security_events::encode_cursor;
use crate::domain::event::SecurityEvent;
use crate::domain::{Role, Session, User};
use crate::service::admin::UserPage;

/// RFC 3339 in UTC with milliseconds and `Z`, as the contract shows
/// (`2025-12-27T19:04:57.690Z`), written straight into the response without a string between.
fn rfc3339<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&Rfc3339Millis(at))
}

/// Every user and session view carries three or four timestamps, and chrono's `format` parses
/// its pattern again on every call: writing the 24 fixed-width digits directly costs a fraction
/// of that on the hot path.
struct Rfc3339Millis<'a>(&'a DateTime<Utc>);

impl std::fmt::Display for Rfc3339Millis<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = self.0;
        let year = at.year();
        let nanos = at.timestamp_subsec_nanos();
        // Years past 9999 get a sign and leap seconds a 60th second: chrono knows both.
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            return f.write_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true));
        }
        let mut text = *b"0000-00-00T00:00:00.000Z";
        let mut put = |start: usize, width: usize, mut value: u32| {
            for digit in text[start..start + width].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year as u32);
        put(5, 2, at.month());
        put(8, 2, at.day());
        put(11, 2, at.hour());
        put(14, 2, at.minute());
        put(17, 2, at.second());
        put(20, 3, nanos / 1_000_000);
        f.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?)
    }
}

fn rfc3339_opt<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, s),
        None => s.serialize_none(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct RoleView {
    #[serde(rename = "_id")]
    #[schema(example = "7f9c2a4e-9c1d-4d7e-8a53-2f0b6f1e9a10")]
    pub id: String,
    #[schema(example = "USER")]
    pub name: String,
    pub description: String,
    #[schema(example = json!(["user:*"]))]
    pub permissions: Vec<String>,
    pub is_active: bool,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2025-12-27T19:04:57.690Z")]
    pub created_at: DateTime<Utc>,
}

impl From<&Role> for RoleView {
    fn from(r: &Role) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            permissions: r.permissions.clone(),
            is_active: r.is_active,
            created_at: r.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    #[schema(example = "3b241101-e2bb-4255-8caf-4136c566a962")]
    pub id: String,
    #[schema(example = "ada")]
    pub username: String,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "Ada Lovelace")]
    pub full_name: Option<String>,
    pub role: RoleView,
    pub is_active: bool,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_login_at: Option<DateTime<Utc>>,
    /// The user proved they receive mail at `email`.
    pub email_verified: bool,
    /// A new address waiting for its confirmation; `email` changes once it confirms.
    #[schema(example = json!(null))]
    pub pending_email: Option<String>,
    /// A second factor (TOTP) is on.
    pub mfa_enabled: bool,
    /// The account has a password. An account a provider or an emailed code made has none
    /// until its owner sets one (through forgot/reset); its password login answers as a wrong
    /// password does.
    pub has_password: bool,
}

impl UserView {
    /// Takes the user by value: its strings move into the view instead of being copied.
    pub fn new(user: User, role: &Role) -> Self {
        Self {
            has_password: user.has_password(),
            id: user.id,
            username: user.username,
            email: user.email,
            full_name: user.full_name,
            role: role.into(),
            is_active: user.is_active,
            created_at: user.created_at,
            updated_at: user.updated_at,
            last_login_at: user.last_login_at,
            email_verified: user.email_verified,
            pending_email: user.pending_email,
            mfa_enabled: user.mfa_enabled,
        }
    }
}

/// An identity at a sign-in provider linked to the account.
#[derive(Serialize, ToSchema)]
pub struct IdentityView {
    pub id: String,
    /// The provider id (`google`, `github`, ...).
    pub provider: String,
    /// The address the provider asserted, if any.
    pub email: Option<String>,
    pub email_verified: bool,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl IdentityView {
    pub fn list(identities: Vec<crate::domain::identity::Identity>) -> Vec<Self> {
        identities
            .into_iter()
            .map(|i| Self {
                id: i.id,
                provider: i.provider,
                email: i.email,
                email_verified: i.email_verified,
                created_at: i.created_at,
                last_used_at: i.last_used_at,
            })
            .collect()
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    #[schema(example = "Chrome 120 | Windows 10 | pc")]
    pub device: String,
    #[schema(example = "203.0.113.7")]
    pub ip_address: String,
    pub user_agent: String,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_activity: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    /// True for the session the request was made with.
    pub current: bool,
}

impl SessionView {
    pub fn list(sessions: &[Session], current: Option<&str>) -> Vec<Self> {
        sessions
            .iter()
            .map(|s| Self {
                id: s.id.clone(),
                device: s.device.clone(),
                ip_address: s.ip_address.clone(),
                user_agent: s.user_agent.clone(),
                created_at: s.created_at,
                last_activity: s.last_activity,
                expires_at: s.expires_at,
                current: current == Some(s.id.as_str()),
            })
            .collect()
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub access_token: String,
    /// Access token lifetime in seconds.
    #[schema(example = 900)]
    pub expires_in: u64,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Only for native clients that asked for it (`X-Refresh-Token-Transport: body`);
    /// browsers get the refresh token as an HttpOnly cookie only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginView {
    pub token: TokenView,
    pub user: UserView,
}

/// The answer to a correct password when the account has a second factor: no tokens yet.
#[derive(Serialize, ToSchema)]
pub struct MfaChallengeView {
    #[schema(example = true)]
    pub mfa_required: bool,
    /// Send it with a code to `POST /api/v1/auth/mfa/verify`; single use, 5 tries.
    pub mfa_token: String,
    #[schema(example = 300)]
    pub expires_in: u64,
    #[schema(example = json!(["totp", "recovery_code"]))]
    pub methods: [&'static str; 2],
}

#[derive(Serialize, ToSchema)]
pub struct RefreshView {
    pub token: TokenView,
}

#[derive(Serialize, ToSchema)]
pub struct RevokedView {
    pub revoked_sessions: u64,
}

#[derive(Serialize, ToSchema)]
pub struct PaginationView {
    pub total_items: u64,
    pub total_pages: u64,
    /// 0 on a page reached by `before` (a cursor's page is not counted).
    pub current_page: u64,
    pub page_size: u64,
    pub has_next: bool,
    pub has_previous: bool,
}

#[derive(Serialize, ToSchema)]
pub struct UserListView {
    pub users: Vec<UserView>,
    pub pagination: PaginationView,
    /// The cursor of the next page (pass it as `before`), or null on the last page. Not in the
    /// template: a deep page by cursor costs what the first page does.
    pub next: Option<String>,
}

impl From<UserPage> for UserListView {
    fn from(page: UserPage) -> Self {
        let total_pages = page.total_pages();
        Self {
            users: page
                .users
                .into_iter()
                .map(|(u, r)| UserView::new(u, &r))
                .collect(),
            pagination: PaginationView {
                total_items: page.total_items,
                total_pages,
                current_page: page.page,
                page_size: page.size,
                has_next: page.next.is_some(),
                // A cursor's page (0) always follows one.
                has_previous: page.page != 1,
            },
            next: page.next.as_ref().map(encode_cursor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds_and_z() {
        for ms in [
            0,
            1_766_862_297_690,
            1_766_862_297_001,
            951_782_400_000,     // 2000-02-29
            253_402_300_799_999, // the last millisecond of 9999
            253_402_300_800_000, // 10000-01-01: chrono's form
            -62_167_219_200_001, // before year 0: chrono's form
        ] {
            let at = DateTime::from_timestamp_millis(ms).unwrap();
            let json = rfc3339(&at, serde_json::value::Serializer).unwrap();
            assert_eq!(json, at.to_rfc3339_opts(SecondsFormat::Millis, true));
        }
        let leap_second = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 1_500))
            .unwrap()
            .and_utc();
        let json = rfc3339(&leap_second, serde_json::value::Serializer).unwrap();
        assert_eq!(json, "2016-12-31T23:59:60.500Z");
    }
}

/// A security event as the API shows it: no session id and no raw user agent (the device says
/// enough), and `detail` holds only names and counts.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2025-12-27T19:04:57.690Z")]
    pub at: DateTime<Utc>,
    /// One of the event types listed in the API description.
    #[serde(rename = "type")]
    #[schema(example = "login.succeeded")]
    pub kind: String,
    pub user_id: Option<String>,
    pub actor_id: Option<String>,
    /// The organization the event is about, if any.
    pub org_id: Option<String>,
    #[schema(example = "203.0.113.7")]
    pub ip_address: Option<String>,
    #[schema(example = "Chrome 120 | Windows 10 | pc")]
    pub device: Option<String>,
    /// Non-secret facts: `reason`, `fields` (names of changed fields), `revoked` (a count).
    #[schema(value_type = Object, example = json!({"fields": ["role"]}))]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl From<SecurityEvent> for EventView {
    fn from(e: SecurityEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            kind: e.kind,
            user_id: e.user_id,
            actor_id: e.actor_id,
            org_id: e.org_id,
            ip_address: e.ip,
            device: e.device,
            detail: e.detail,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EventListView {
    pub events: Vec<EventView>,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    pub next: Option<String>,
}
