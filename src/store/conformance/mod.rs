//! The store conformance suite: every behaviour the services rely on, written once against
//! [`Store`] and run on both backends by [`conformance_tests!`] (see the bottom of `sqlite/mod.rs`
//! and `mongo/mod.rs`), so the two can never drift. A backend's own module keeps only what is
//! its own (SQLite's migrations, MongoDB's error mapping).
//!
//! One module per collection (`users.rs`, `roles.rs`, `sessions.rs`, `counters.rs`, `events.rs`,
//! `mail.rs` for one-time tokens and the outbox, `mfa.rs`, `signing_keys.rs`, `identities.rs`, `tickets.rs`, `passkeys.rs`, `orgs.rs`); this file keeps
//! the list of behaviours and the fixtures they share. A new collection adds a module beside
//! these and lists its behaviours in [`conformance_tests!`].

mod counters;
mod events;
mod identities;
mod mail;
mod mfa;
mod orgs;
mod passkeys;
mod roles;
mod sessions;
mod signing_keys;
mod tickets;
mod users;
pub use counters::*;
pub use events::*;
pub use identities::*;
pub(in crate::store) use mail::send_one_mail;
pub use mail::*;
pub use mfa::*;
pub use orgs::*;
pub use passkeys::*;
pub use roles::*;
pub use sessions::*;
pub use signing_keys::*;
pub use tickets::*;
pub use users::*;

use chrono::{DateTime, Duration, Utc};

use super::{Store, StoreError, StoreResult};
use crate::domain::{
    Amr, RevokeReason, Role, Session, SessionState, User, UserChanges, UserFilter, new_id,
};

/// Declares one `#[tokio::test]` per behaviour of the suite, each on a fresh store from `$open`
/// (an async expression giving `Option<impl Store>`; `None` skips, as an unconfigured MongoDB
/// outside CI does) and closed with `$close` afterwards (MongoDB drops its test database).
#[macro_export]
#[doc(hidden)]
macro_rules! conformance_tests {
    ($open:expr, $close:expr) => {
        $crate::conformance_tests!(@each $open, $close;
            users_are_unique_case_insensitively_and_name_the_field,
            user_updates_rehash_and_soft_delete,
            listing_pages_filters_and_matches_prefixes_literally,
            listing_continues_after_a_keyset_cursor,
            roles_are_seeded_once_by_name,
            seeding_brings_built_in_roles_to_the_code_and_leaves_others,
            a_session_and_its_user_are_read_together_or_not_at_all,
            refresh_rotates_once_per_token,
            sessions_revoke_one_or_all_and_list_by_activity,
            counters_count_expire_and_restart,
            expired_records_are_never_read_as_live,
            ending_sessions_is_part_of_the_account_write,
            writes_checked_against_a_role_miss_when_it_changed,
            a_session_carries_over_into_a_new_epoch,
            events_page_newest_first_without_gaps_or_repeats,
            events_filter_by_user_type_and_time,
            expired_events_are_never_listed,
            one_time_tokens_work_once_and_replace_older_ones,
            one_time_tokens_race_count_failures_and_expire,
            outbox_claims_are_exclusive_leased_and_retried,
            factors_activate_once_and_steps_never_repeat,
            recovery_codes_work_once_and_go_with_the_factor,
            tokens_are_found_without_consuming_and_requests_keep_their_kind,
            account_and_session_fields_of_mail_and_mfa_round_trip,
            signing_keys_round_trip_and_are_created_once_per_seq,
            signing_keys_activate_once_and_retire_without_their_secret,
            signing_keys_revoke_withdraws_every_published_key,
            sign_in_secrets_for_new_addresses_are_kept_by_address,
            identities_are_unique_per_provider_subject,
            identities_are_listed_touched_and_unlinked_by_their_owner,
            tickets_are_taken_once_and_only_as_their_kind,
            expired_tickets_are_never_taken,
            passkeys_are_unique_per_credential,
            passkeys_are_listed_renamed_used_and_removed_by_their_owner,
            organizations_have_unique_slugs_and_start_with_their_owner,
            a_user_is_a_member_once,
            the_last_owner_stays_also_against_racing_demotions,
            members_page_by_join_time_without_gaps,
            invitations_replace_per_address_and_are_taken_once,
            organizations_list_newest_first_by_slug_prefix,
        );
    };
    (@each $open:expr, $close:expr; $($name:ident),* $(,)?) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(store) = $open.await else { return };
                    $crate::store::conformance::$name(&*store).await;
                    $close(store).await;
                }
            )*
        }
    };
}

/// Now, in whole milliseconds: what both backends keep, so round-tripped values compare equal.
pub(super) fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("valid time")
}

/// A user as the store tests make them (the backends' own tests too).
pub(super) fn user(name: &str, email: &str, at: DateTime<Utc>) -> User {
    User {
        id: new_id(),
        username: name.into(),
        email: email.into(),
        full_name: Some("Full Name".into()),
        password_hash: "hash-1".into(),
        role_id: "role-user".into(),
        is_active: true,
        session_epoch: 0,
        created_at: at,
        updated_at: at,
        last_login_at: None,
        deleted_at: None,
        email_verified: false,
        pending_email: None,
        mfa_enabled: false,
    }
}

fn session(user_id: &str, at: DateTime<Utc>) -> Session {
    Session {
        id: new_id(),
        user_id: user_id.into(),
        refresh_jti: new_id(),
        previous_jti: None,
        rotated_at: None,
        device: "Firefox on Linux".into(),
        ip_address: "127.0.0.1".into(),
        user_agent: "test".into(),
        epoch: 0,
        amr: Amr::PWD,
        authenticated_at: at,
        created_at: at,
        last_activity: at,
        expires_at: at + Duration::days(7),
        is_active: true,
        revoked_at: None,
        revoke_reason: None,
    }
}

fn duplicate_of<T: std::fmt::Debug>(result: StoreResult<T>) -> &'static str {
    match result {
        Err(StoreError::Duplicate { field }) => field,
        other => panic!("expected a duplicate, got {other:?}"),
    }
}
