//! `organizations` and `memberships`: unique slugs, one membership per user and organization,
//! the last owner kept also against racing demotions, and members paged without gaps.

use super::*;
use crate::domain::org::{Membership, OrgRole, Organization};
use crate::store::MemberChange;

fn org(slug: &str, at: DateTime<Utc>) -> Organization {
    Organization {
        id: new_id(),
        name: format!("The {slug}"),
        slug: slug.into(),
        owners: 1,
        created_at: at,
        updated_at: at,
    }
}

fn member(org_id: &str, user_id: &str, role: OrgRole, at: DateTime<Utc>) -> Membership {
    Membership {
        org_id: org_id.into(),
        user_id: user_id.into(),
        role,
        joined_at: at,
    }
}

/// An organization starts with its owner; its slug is its own (also on a change); deleting it
/// ends its memberships.
pub async fn organizations_have_unique_slugs_and_start_with_their_owner(store: &dyn Store) {
    let t = now();
    let acme = org("acme", t);
    store
        .create_org(&acme, &member(&acme.id, "founder", OrgRole::Owner, t))
        .await
        .expect("create");
    let clash = org("acme", t);
    assert_eq!(
        duplicate_of(
            store
                .create_org(&clash, &member(&clash.id, "other", OrgRole::Owner, t))
                .await
        ),
        "slug"
    );
    assert_eq!(
        store.find_org(&clash.id).await.unwrap(),
        None,
        "nothing left of it"
    );
    assert_eq!(store.find_org(&acme.id).await.unwrap(), Some(acme.clone()));
    let mine = store.orgs_of_user("founder").await.unwrap();
    assert_eq!(mine, vec![(acme.clone(), OrgRole::Owner)]);

    let globex = org("globex", t);
    store
        .create_org(
            &globex,
            &member(
                &globex.id,
                "founder",
                OrgRole::Owner,
                t + Duration::seconds(1),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        duplicate_of(store.update_org(&globex.id, None, Some("acme"), t).await),
        "slug"
    );
    let later = t + Duration::minutes(1);
    let renamed = store
        .update_org(&globex.id, Some("Globex Corp"), Some("globex-corp"), later)
        .await
        .unwrap()
        .expect("updated");
    assert_eq!(
        (renamed.name.as_str(), renamed.slug.as_str()),
        ("Globex Corp", "globex-corp")
    );
    assert_eq!(renamed.updated_at, later);
    assert_eq!(store.orgs_of_user("founder").await.unwrap().len(), 2);

    assert!(store.delete_org(&acme.id).await.unwrap());
    assert!(!store.delete_org(&acme.id).await.unwrap());
    assert_eq!(
        store.find_membership(&acme.id, "founder").await.unwrap(),
        None
    );
    let left: Vec<String> = store
        .orgs_of_user("founder")
        .await
        .unwrap()
        .into_iter()
        .map(|(o, _)| o.id)
        .collect();
    assert_eq!(left, [globex.id]);
}

/// A user is a member once, also when two adds race.
pub async fn a_user_is_a_member_once(store: &dyn Store) {
    let t = now();
    let team = org("team", t);
    store
        .create_org(&team, &member(&team.id, "owner", OrgRole::Owner, t))
        .await
        .unwrap();
    let ada = member(&team.id, "ada", OrgRole::Member, t);
    store.add_member(&ada).await.expect("add");
    assert_eq!(duplicate_of(store.add_member(&ada).await), "membership");
    let racers: Vec<Membership> = (0..6)
        .map(|_| member(&team.id, "bea", OrgRole::Admin, t))
        .collect();
    let results = futures_util::future::join_all(racers.iter().map(|m| store.add_member(m))).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        store.find_membership(&team.id, "ada").await.unwrap(),
        Some(ada)
    );
}

/// The last owner can be neither demoted nor removed, also when the two last owners are demoted
/// at once; a change made from a role the member no longer has does nothing.
pub async fn the_last_owner_stays_also_against_racing_demotions(store: &dyn Store) {
    let t = now();
    let team = org("owners", t);
    store
        .create_org(&team, &member(&team.id, "ann", OrgRole::Owner, t))
        .await
        .unwrap();
    store
        .add_member(&member(&team.id, "ben", OrgRole::Member, t))
        .await
        .unwrap();
    let demote =
        |user: &'static str| store.set_member_role(&team.id, user, OrgRole::Owner, OrgRole::Admin);
    assert_eq!(demote("ann").await.unwrap(), MemberChange::LastOwner);
    assert_eq!(
        store
            .remove_member(&team.id, "ann", OrgRole::Owner)
            .await
            .unwrap(),
        MemberChange::LastOwner
    );
    assert_eq!(
        store
            .set_member_role(&team.id, "ben", OrgRole::Member, OrgRole::Owner)
            .await
            .unwrap(),
        MemberChange::Done
    );
    assert_eq!(store.find_org(&team.id).await.unwrap().unwrap().owners, 2);
    assert_eq!(
        store
            .set_member_role(&team.id, "ben", OrgRole::Member, OrgRole::Admin)
            .await
            .unwrap(),
        MemberChange::Raced,
        "ben is no member any more but an owner"
    );

    let (a, b) = tokio::join!(demote("ann"), demote("ben"));
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| *o == MemberChange::Done);
    assert_eq!(outcomes, [MemberChange::LastOwner, MemberChange::Done]);
    assert_eq!(store.find_org(&team.id).await.unwrap().unwrap().owners, 1);
    let roles: Vec<OrgRole> =
        futures_util::future::join_all(["ann", "ben"].map(|u| store.find_membership(&team.id, u)))
            .await
            .into_iter()
            .map(|m| m.unwrap().unwrap().role)
            .collect();
    assert_eq!(roles.iter().filter(|r| **r == OrgRole::Owner).count(), 1);

    let admin = if roles[0] == OrgRole::Admin {
        "ann"
    } else {
        "ben"
    };
    assert_eq!(
        store
            .remove_member(&team.id, admin, OrgRole::Admin)
            .await
            .unwrap(),
        MemberChange::Done
    );
    assert_eq!(store.find_membership(&team.id, admin).await.unwrap(), None);
    assert_eq!(
        store
            .remove_member(&team.id, admin, OrgRole::Admin)
            .await
            .unwrap(),
        MemberChange::Raced
    );
}

/// Members come by join time, then id, a page at a time from a cursor, none twice or missed.
pub async fn members_page_by_join_time_without_gaps(store: &dyn Store) {
    let t = now();
    let team = org("paged", t);
    store
        .create_org(&team, &member(&team.id, "u0", OrgRole::Owner, t))
        .await
        .unwrap();
    for n in 1..5 {
        // Two members share a join time: the id breaks the tie.
        let at = t + Duration::seconds(n / 2);
        store
            .add_member(&member(&team.id, &format!("u{n}"), OrgRole::Member, at))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_members(&team.id, 2, after.clone())
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        after = Some((last.joined_at, last.user_id.clone()));
        seen.extend(page.into_iter().map(|m| m.user_id));
    }
    assert_eq!(seen, ["u0", "u1", "u2", "u3", "u4"]);
}

fn invitation(org_id: &str, email: &str, at: DateTime<Utc>) -> crate::domain::org::Invitation {
    crate::domain::org::Invitation {
        id: new_id(),
        org_id: org_id.into(),
        email: email.into(),
        role: OrgRole::Member,
        invited_by: "owner".into(),
        token_hash: new_id(),
        created_at: at,
        expires_at: at + Duration::days(7),
    }
}

/// One live invitation per address and organization (a new one replaces the older), found by
/// id, token or address, taken once also when accepts race, never after it expired, and gone
/// with its organization.
pub async fn invitations_replace_per_address_and_are_taken_once(store: &dyn Store) {
    let t = now();
    let team = org("inviting", t);
    store
        .create_org(&team, &member(&team.id, "owner", OrgRole::Owner, t))
        .await
        .unwrap();
    let first = invitation(&team.id, "x@example.com", t);
    let second = invitation(&team.id, "x@example.com", t + Duration::seconds(1));
    let other = invitation(&team.id, "y@example.com", t + Duration::seconds(2));
    for i in [&first, &second, &other] {
        store.put_invitation(i).await.expect("put");
    }
    assert_eq!(
        store.find_invitation(&first.id, t).await.unwrap(),
        None,
        "replaced"
    );
    assert_eq!(
        store
            .find_invitation_by_token(&second.token_hash, t)
            .await
            .unwrap(),
        Some(second.clone())
    );
    let listed: Vec<String> = store
        .list_org_invitations(&team.id, t)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed, [other.id.clone(), second.id.clone()]);
    assert_eq!(
        store.list_invitations_to("x@example.com", t).await.unwrap(),
        vec![second.clone()]
    );

    let takes =
        futures_util::future::join_all((0..6).map(|_| store.take_invitation(&second.id, t))).await;
    let won: Vec<_> = takes.into_iter().filter_map(|r| r.unwrap()).collect();
    assert_eq!(won, vec![second.clone()], "exactly one accept takes it");

    let stale = crate::domain::org::Invitation {
        expires_at: t - Duration::seconds(1),
        ..invitation(&team.id, "z@example.com", t - Duration::days(8))
    };
    store.put_invitation(&stale).await.unwrap();
    assert_eq!(store.find_invitation(&stale.id, t).await.unwrap(), None);
    assert_eq!(store.take_invitation(&stale.id, t).await.unwrap(), None);

    assert!(store.delete_org(&team.id).await.unwrap());
    assert_eq!(store.find_invitation(&other.id, t).await.unwrap(), None);
}

/// The platform's list: newest first, a page at a time from a cursor, narrowed by a slug prefix
/// (taken literally: `_` and `%` are no wildcards).
pub async fn organizations_list_newest_first_by_slug_prefix(store: &dyn Store) {
    let t = now();
    for (n, slug) in ["acme", "acme-labs", "globex", "ac_me"].iter().enumerate() {
        let at = t + Duration::seconds(n as i64);
        let o = org(slug, at);
        store
            .create_org(&o, &member(&o.id, "founder", OrgRole::Owner, at))
            .await
            .unwrap();
    }
    let slugs = |list: Vec<Organization>| list.into_iter().map(|o| o.slug).collect::<Vec<_>>();
    let first = store.list_orgs(None, 3, None).await.unwrap();
    let last = first.last().unwrap();
    let cursor = Some((last.created_at, last.id.clone()));
    assert_eq!(slugs(first), ["ac_me", "globex", "acme-labs"]);
    assert_eq!(
        slugs(store.list_orgs(None, 3, cursor).await.unwrap()),
        ["acme"]
    );
    assert_eq!(
        slugs(store.list_orgs(Some("acme"), 10, None).await.unwrap()),
        ["acme-labs", "acme"]
    );
    assert_eq!(
        slugs(store.list_orgs(Some("ac_"), 10, None).await.unwrap()),
        ["ac_me"]
    );
}
