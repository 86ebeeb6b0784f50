//! Organizations (teams): the organization, its members with their roles, and invitations to
//! join it (docs/API.md, "Organizations").
//!
//! The roles and what each may do are one table, [`OrgRole::may`]: a fork adds an action there.

use chrono::{DateTime, Utc};

use crate::domain::REDACTED;

#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: String,
    pub name: String,
    /// Unique, case-insensitive: stored lower-case, `[a-z0-9-]`, 2 to 50.
    pub slug: String,
    /// How many members are owners: kept with the organization so that "the last owner stays" is
    /// one conditional write on it, on every store.
    pub owners: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A member's role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrgRole {
    Member,
    Admin,
    Owner,
}

/// What a member may do in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgAction {
    /// See the organization and its members.
    Read,
    /// Change its name and slug.
    Update,
    /// Delete it.
    Delete,
    /// Invite, change roles (never to or from owner), remove members; see its events.
    ManageMembers,
    /// Make or unmake an owner.
    ManageOwners,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Member, Self::Admin, Self::Owner]
            .into_iter()
            .find(|r| r.as_str() == name)
    }

    /// The permission table.
    pub fn may(self, action: OrgAction) -> bool {
        use OrgAction::*;
        match self {
            Self::Owner => true,
            Self::Admin => matches!(action, Read | Update | ManageMembers),
            Self::Member => matches!(action, Read),
        }
    }
}

/// The organization a session acts in (`POST /api/v1/user/active-org`), as its access tokens
/// say it: `org_id` and `org_role`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveOrg {
    pub id: String,
    pub role: OrgRole,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub org_id: String,
    pub user_id: String,
    pub role: OrgRole,
    pub joined_at: DateTime<Utc>,
}

/// An invitation to join, by address. One live invitation per address and organization: a new
/// one replaces the older (same store key). The link's token is stored hashed.
#[derive(Clone, PartialEq)]
pub struct Invitation {
    pub id: String,
    pub org_id: String,
    /// The invited address, lower-cased.
    pub email: String,
    pub role: OrgRole,
    /// The user id of the admin who invited.
    pub invited_by: String,
    /// The SHA-256 of the mailed token.
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitation")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("invited_by", &self.invited_by)
            .field("token_hash", &REDACTED)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A slug as stored: lower-case `[a-z0-9-]`, 2 to 50, not starting or ending with `-`.
pub fn valid_slug(slug: &str) -> bool {
    (2..=50).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

/// A slug made from a name: lower-case letters and digits, other runs as one `-`.
pub fn slug_from(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    slug.chars()
        .take(50)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gives_owners_everything_admins_no_owners_members_reading() {
        use OrgAction::*;
        for action in [Read, Update, Delete, ManageMembers, ManageOwners] {
            assert!(OrgRole::Owner.may(action));
        }
        assert!(OrgRole::Admin.may(ManageMembers) && OrgRole::Admin.may(Update));
        assert!(!OrgRole::Admin.may(ManageOwners) && !OrgRole::Admin.may(Delete));
        assert!(OrgRole::Member.may(Read) && !OrgRole::Member.may(ManageMembers));
    }

    #[test]
    fn slugs_are_made_and_checked() {
        assert_eq!(slug_from("Acme, Inc."), "acme-inc");
        assert_eq!(slug_from("  Über Team 42 "), "ber-team-42");
        assert!(valid_slug("acme-inc"));
        for bad in ["a", "-acme", "acme-", "Acme", "ac me", &"a".repeat(51)] {
            assert!(!valid_slug(bad), "{bad}");
        }
    }
}
