//! Organizations: creating one, its settings, its members and their roles, on both stores.
//! Until invitations exist, the tests add members through the store, as the operator path
//! `user_with_role` does for platform roles.

use authkit::Settings;
use authkit::domain::org::{Membership, OrgRole};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, expect_error, read};
use crate::on_both_stores;

on_both_stores!(
    an_owner_creates_renames_and_deletes_an_organization,
    outsiders_get_404_and_members_lacking_the_right_403,
    only_owners_make_unmake_or_remove_owners,
    the_last_owner_stays_also_when_two_demotions_race,
    a_removed_member_is_refused_at_once,
    members_page_by_cursor_and_bad_paging_is_422,
    a_user_owns_at_most_org_max_per_user,
    the_active_organization_rides_in_the_tokens_while_the_membership_lasts,
    platform_admins_see_and_delete_any_organization,
    the_last_owner_of_a_team_cannot_delete_the_account,
    an_admin_of_one_organization_reaches_nothing_of_another,
);

/// Creates an organization as `token`; returns its id.
async fn create(app: &TestApp, token: &str, name: &str, slug: Option<&str>) -> String {
    let mut body = json!({ "name": name });
    if let Some(slug) = slug {
        body["slug"] = json!(slug);
    }
    let (status, body) = read(app.post("/api/v1/orgs", Some(body), Some(token)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_string()
}

/// The types of a page of events, newest first.
fn event_kinds(body: &Value) -> Vec<&str> {
    body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect()
}

/// Makes `user_id` a member of `org_id` with `role`, straight in the store.
async fn join(app: &TestApp, org_id: &str, user_id: &str, role: OrgRole) {
    let settings = Settings::from_lookup(|k| app.vars.get(k).cloned()).unwrap();
    let ctx = authkit::app::context(settings).await.expect("context");
    ctx.store
        .add_member(&Membership {
            org_id: org_id.into(),
            user_id: user_id.into(),
            role,
            joined_at: chrono::Utc::now(),
        })
        .await
        .expect("member added");
}

async fn patch(app: &TestApp, path: &str, body: Value, token: &str) -> reqwest::Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request sent")
}

/// The whole life of an organization: created with a slug from its name (its creator the
/// owner), listed with the role, renamed, a taken or malformed slug refused, its events kept,
/// and deleted.
async fn an_owner_creates_renames_and_deletes_an_organization(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, ada) = app.user("ada").await;
    let acme = create(&app, &ada, "Acme, Inc.", None).await;
    create(&app, &ada, "Globex", Some("Globex")).await;
    let (status, body) = read(app.get("/api/v1/orgs", Some(&ada)).await).await;
    assert_eq!(status, StatusCode::OK);
    let list = body["data"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["slug"], "acme-inc");
    assert_eq!(list[0]["role"], "owner");
    assert_eq!(list[1]["slug"], "globex", "slugs are lower-cased");

    let path = format!("/api/v1/orgs/{acme}");
    let res = patch(&app, &path, json!({"slug": "globex"}), &ada).await;
    expect_error(res, StatusCode::CONFLICT).await;
    let res = patch(&app, &path, json!({"slug": "-bad-"}), &ada).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = patch(
        &app,
        &path,
        json!({"name": "Acme Corp", "slug": "acme"}),
        &ada,
    )
    .await;
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["name"], "Acme Corp");
    assert_eq!(body["data"]["slug"], "acme");

    let events = format!("/api/v1/orgs/{acme}/security-events");
    let (status, body) = read(app.get(&events, Some(&ada)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let kinds = event_kinds(&body);
    assert_eq!(kinds, ["org.updated", "org.created"]);
    assert!(body["data"]["events"][0]["org_id"] == acme.as_str());

    let (status, _) = read(app.delete(&path, Some(&ada)).await).await;
    assert_eq!(status, StatusCode::OK);
    expect_error(app.get(&path, Some(&ada)).await, StatusCode::NOT_FOUND).await;
}

/// Someone who is no member learns nothing, not even that the organization exists (404, the
/// same as an unknown id); a member reads but may not change (403).
async fn outsiders_get_404_and_members_lacking_the_right_403(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, ada) = app.user("ada").await;
    let (bea_id, bea) = app.user("bea").await;
    let (_, cid) = app.user("cid").await;
    let org = create(&app, &ada, "Acme", None).await;
    join(&app, &org, &bea_id, OrgRole::Member).await;
    let path = format!("/api/v1/orgs/{org}");
    let unknown = "/api/v1/orgs/00000000-0000-4000-8000-000000000000";
    for p in [path.as_str(), unknown] {
        let body = expect_error(app.get(p, Some(&cid)).await, StatusCode::NOT_FOUND).await;
        assert_eq!(body["message"], "Organization not found");
    }
    expect_error(
        patch(&app, &path, json!({"name": "Mine"}), &cid).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let (status, _) = read(app.get(&path, Some(&bea)).await).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = read(app.get(&format!("{path}/members"), Some(&bea)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["members"].as_array().unwrap().len(), 2);
    expect_error(
        patch(&app, &path, json!({"name": "Mine"}), &bea).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_error(app.delete(&path, Some(&bea)).await, StatusCode::FORBIDDEN).await;
    expect_error(
        app.get(&format!("{path}/security-events"), Some(&bea))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

/// An admin manages members but never an owner: making one, unmaking one or removing one is an
/// owner's act.
async fn only_owners_make_unmake_or_remove_owners(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (ada_id, ada) = app.user("ada").await;
    let (bea_id, bea) = app.user("bea").await;
    let (cid_id, _) = app.user("cid").await;
    let org = create(&app, &ada, "Acme", None).await;
    join(&app, &org, &bea_id, OrgRole::Admin).await;
    join(&app, &org, &cid_id, OrgRole::Member).await;
    let member = |id: &str| format!("/api/v1/orgs/{org}/members/{id}");

    let res = patch(&app, &member(&cid_id), json!({"role": "owner"}), &bea).await;
    expect_error(res, StatusCode::FORBIDDEN).await;
    let res = patch(&app, &member(&ada_id), json!({"role": "member"}), &bea).await;
    expect_error(res, StatusCode::FORBIDDEN).await;
    expect_error(
        app.delete(&member(&ada_id), Some(&bea)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let res = patch(&app, &member(&cid_id), json!({"role": "king"}), &bea).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    let res = patch(&app, &member(&cid_id), json!({"role": "admin"}), &bea).await;
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["role"], "admin");
    assert_eq!(body["data"]["user"]["username"], "cid");

    let res = patch(&app, &member(&cid_id), json!({"role": "owner"}), &ada).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, _) = read(app.delete(&member(&cid_id), Some(&ada)).await).await;
    assert_eq!(status, StatusCode::OK, "an owner removes an owner");
    let events = format!("/api/v1/orgs/{org}/security-events");
    let (_, body) = read(app.get(&events, Some(&ada)).await).await;
    let kinds = event_kinds(&body);
    assert_eq!(
        kinds,
        [
            "org.member_removed",
            "org.member_role_changed",
            "org.member_role_changed",
            "org.created"
        ]
    );
}

/// The last owner can neither step down nor leave; of two owners demoting each other at once,
/// exactly one succeeds and one owner is left (the store's own race, both writes at the same
/// moment, is in the conformance suite: `the_last_owner_stays_also_against_racing_demotions`).
async fn the_last_owner_stays_also_when_two_demotions_race(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (ada_id, ada) = app.user("ada").await;
    let (bea_id, bea) = app.user("bea").await;
    let org = create(&app, &ada, "Acme", None).await;
    let member = |id: &str| format!("/api/v1/orgs/{org}/members/{id}");
    let res = patch(&app, &member(&ada_id), json!({"role": "admin"}), &ada).await;
    let body = expect_error(res, StatusCode::CONFLICT).await;
    assert_eq!(
        body["message"],
        "The organization's last owner stays: make another owner first"
    );
    expect_error(
        app.delete(&member(&ada_id), Some(&ada)).await,
        StatusCode::CONFLICT,
    )
    .await;

    join(&app, &org, &bea_id, OrgRole::Owner).await;
    let (beas, adas) = (member(&bea_id), member(&ada_id));
    let (a, b) = tokio::join!(
        patch(&app, &beas, json!({"role": "member"}), &ada),
        patch(&app, &adas, json!({"role": "member"}), &bea),
    );
    // One wins; the other is refused: 409 if both writes met, 403 if the loser had already
    // been made a member by the winner before its own check.
    let statuses = [a.status(), b.status()];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| [StatusCode::OK, StatusCode::CONFLICT, StatusCode::FORBIDDEN].contains(s)),
        "{statuses:?}"
    );
    let (_, body) = read(
        app.get(&format!("/api/v1/orgs/{org}/members"), Some(&ada))
            .await,
    )
    .await;
    let owners = body["data"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "owner")
        .count();
    assert_eq!(owners, 1);
}

/// A member removed (or who left) is refused by the very next request.
async fn a_removed_member_is_refused_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, ada) = app.user("ada").await;
    let (bea_id, bea) = app.user("bea").await;
    let (cid_id, cid) = app.user("cid").await;
    let org = create(&app, &ada, "Acme", None).await;
    join(&app, &org, &bea_id, OrgRole::Member).await;
    join(&app, &org, &cid_id, OrgRole::Member).await;
    let path = format!("/api/v1/orgs/{org}");
    assert_eq!(app.get(&path, Some(&bea)).await.status(), StatusCode::OK);
    let (status, _) = read(
        app.delete(&format!("{path}/members/{bea_id}"), Some(&ada))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    expect_error(app.get(&path, Some(&bea)).await, StatusCode::NOT_FOUND).await;
    // Leaving: a member removes themself.
    let (status, _) = read(
        app.delete(&format!("{path}/members/{cid_id}"), Some(&cid))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    expect_error(app.get(&path, Some(&cid)).await, StatusCode::NOT_FOUND).await;
    let (status, body) = read(app.get("/api/v1/orgs", Some(&cid)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["data"].as_array().unwrap().is_empty());
}

/// Members come a page at a time by join time, none twice or missed; a bad cursor or limit is
/// 422.
async fn members_page_by_cursor_and_bad_paging_is_422(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, ada) = app.user("ada").await;
    let org = create(&app, &ada, "Acme", None).await;
    for name in ["bea", "cid", "dan", "eve"] {
        let (id, _) = app.user(name).await;
        join(&app, &org, &id, OrgRole::Member).await;
    }
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/orgs/{org}/members?limit=2");
    loop {
        let (status, body) = read(app.get(&path, Some(&ada)).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for m in body["data"]["members"].as_array().unwrap() {
            seen.push(m["user"]["username"].as_str().unwrap().to_string());
        }
        match body["data"]["next"].as_str() {
            Some(next) => path = format!("/api/v1/orgs/{org}/members?limit=2&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["ada", "bea", "cid", "dan", "eve"]);
    for query in ["limit=0", "limit=101", "limit=x", "before=not-a-cursor"] {
        let res = app
            .get(&format!("/api/v1/orgs/{org}/members?{query}"), Some(&ada))
            .await;
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
}

/// `ORG_MAX_PER_USER` bounds how many organizations one user owns.
async fn a_user_owns_at_most_org_max_per_user(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("ORG_MAX_PER_USER", "1")]).await;
    let (_, ada) = app.user("ada").await;
    create(&app, &ada, "First", None).await;
    let res = app
        .post("/api/v1/orgs", Some(json!({"name": "Second"})), Some(&ada))
        .await;
    let body = expect_error(res, StatusCode::FORBIDDEN).await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("ORG_MAX_PER_USER"),
        "{body}"
    );
}

/// `POST /user/active-org`: the access token says `org_id` and `org_role`; a refresh keeps them
/// (with the role as it is now) while the membership lasts and drops them once it ended;
/// `null` clears them; a non-member gets 404.
async fn the_active_organization_rides_in_the_tokens_while_the_membership_lasts(backend: Backend) {
    use crate::mfa::claims;
    let app = TestApp::spawn(backend).await;
    let (_, ada) = app.user("ada").await;
    let (bea_id, _) = app.user("bea").await;
    let org = create(&app, &ada, "Acme", None).await;
    join(&app, &org, &bea_id, OrgRole::Member).await;
    // bea in a browser: the cookie client.
    let bea = app.login("bea", crate::helpers::PASSWORD).await;
    let switch = |body: Value| {
        let bea = bea.clone();
        let app = &app;
        async move {
            read(
                app.post("/api/v1/user/active-org", Some(body), Some(&bea))
                    .await,
            )
            .await
        }
    };
    let (status, _) = switch(json!({"org_id": "00000000-0000-4000-8000-000000000000"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = switch(json!({"org_id": org})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["data"]["token"]["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["org_id"], org.as_str());
    assert_eq!(claims(access)["org_role"], "member");

    let refresh = || async {
        let (status, body) = read(app.post("/api/v1/auth/refresh", None, None).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        claims(body["data"]["token"]["access_token"].as_str().unwrap())
    };
    let after = refresh().await;
    assert_eq!(after["org_id"], org.as_str(), "kept through a refresh");
    let member = format!("/api/v1/orgs/{org}/members/{bea_id}");
    let res = patch(&app, &member, json!({"role": "admin"}), &ada).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        refresh().await["org_role"],
        "admin",
        "the role as it is now"
    );
    let (status, _) = read(app.delete(&member, Some(&ada)).await).await;
    assert_eq!(status, StatusCode::OK);
    let dropped = refresh().await;
    assert!(dropped.get("org_id").is_none(), "{dropped}");

    join(&app, &org, &bea_id, OrgRole::Member).await;
    let fresh = app.login("bea", crate::helpers::PASSWORD).await;
    let (status, body) = read(
        app.post(
            "/api/v1/user/active-org",
            Some(json!({"org_id": org})),
            Some(&fresh),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = read(
        app.post(
            "/api/v1/user/active-org",
            Some(json!({"org_id": null})),
            Some(&fresh),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cleared = claims(body["data"]["token"]["access_token"].as_str().unwrap());
    assert!(cleared.get("org_id").is_none(), "{cleared}");
    assert!(refresh().await.get("org_id").is_none());
}

/// The platform admin's view: every organization newest first, narrowed by slug prefix, a page
/// at a time; one by id; deleting one. Not for anyone else.
async fn platform_admins_see_and_delete_any_organization(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, ada) = app.user("ada").await;
    let (_, admin) = app.user_with_role("root", "ADMIN").await;
    let acme = create(&app, &ada, "Acme", None).await;
    create(&app, &ada, "Globex", None).await;
    expect_error(
        app.get("/api/v1/admin/orgs", Some(&ada)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let (status, body) = read(app.get("/api/v1/admin/orgs?limit=1", Some(&admin)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["orgs"][0]["slug"], "globex");
    let next = body["data"]["next"].as_str().unwrap().to_string();
    let path = format!("/api/v1/admin/orgs?limit=1&before={next}");
    let (_, body) = read(app.get(&path, Some(&admin)).await).await;
    assert_eq!(body["data"]["orgs"][0]["slug"], "acme");
    assert!(body["data"]["next"].is_null());
    let (_, body) = read(app.get("/api/v1/admin/orgs?q=ACM", Some(&admin)).await).await;
    assert_eq!(body["data"]["orgs"].as_array().unwrap().len(), 1);
    let one = format!("/api/v1/admin/orgs/{acme}");
    let (status, body) = read(app.get(&one, Some(&admin)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["name"], "Acme");
    let (status, _) = read(app.delete(&one, Some(&admin)).await).await;
    assert_eq!(status, StatusCode::OK);
    expect_error(app.get(&one, Some(&admin)).await, StatusCode::NOT_FOUND).await;
    expect_error(
        app.get(&format!("/api/v1/orgs/{acme}"), Some(&ada)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

/// The last owner of an organization that has other members cannot delete their account (409
/// naming it): the team would be left with no owner. Alone in it, they can.
async fn the_last_owner_of_a_team_cannot_delete_the_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, ada) = app.user("ada").await;
    let (bea_id, _) = app.user("bea").await;
    let team = create(&app, &ada, "Acme Team", None).await;
    create(&app, &ada, "Solo", None).await;
    join(&app, &team, &bea_id, OrgRole::Member).await;
    let body = expect_error(
        app.delete("/api/v1/user/", Some(&ada)).await,
        StatusCode::CONFLICT,
    )
    .await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("Acme Team") && !message.contains("Solo"),
        "{message}"
    );
    let member = format!("/api/v1/orgs/{team}/members/{bea_id}");
    let (status, _) = read(app.delete(&member, Some(&ada)).await).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = read(app.delete("/api/v1/user/", Some(&ada)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Cross-organization access: the admin of one organization, naming another's members,
/// invitations, events or id anywhere a route takes them, reaches nothing of it (404, as for an
/// organization that does not exist), and its data stays as it was.
async fn an_admin_of_one_organization_reaches_nothing_of_another(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, ada) = app.user("ada").await;
    let (bea_id, bea) = app.user("bea").await;
    let (cid_id, _) = app.user("cid").await;
    let mine = create(&app, &ada, "Mine", None).await;
    let theirs = create(&app, &bea, "Theirs", None).await;
    join(&app, &theirs, &cid_id, OrgRole::Member).await;
    let settings = Settings::from_lookup(|k| app.vars.get(k).cloned()).unwrap();
    let ctx = authkit::app::context(settings).await.expect("context");
    let invitation = authkit::domain::org::Invitation {
        id: authkit::domain::new_id(),
        org_id: theirs.clone(),
        email: "dan@example.com".into(),
        role: OrgRole::Member,
        invited_by: bea_id.clone(),
        token_hash: authkit::domain::new_id(),
        created_at: chrono::Utc::now(),
        expires_at: chrono::Utc::now() + chrono::Duration::days(1),
    };
    ctx.store.put_invitation(&invitation).await.unwrap();

    let inside_theirs = [
        format!("/api/v1/orgs/{theirs}"),
        format!("/api/v1/orgs/{theirs}/members"),
        format!("/api/v1/orgs/{theirs}/invitations"),
        format!("/api/v1/orgs/{theirs}/security-events"),
    ];
    for path in &inside_theirs {
        expect_error(app.get(path, Some(&ada)).await, StatusCode::NOT_FOUND).await;
    }
    let res = patch(
        &app,
        &format!("/api/v1/orgs/{theirs}/members/{cid_id}"),
        json!({"role": "admin"}),
        &ada,
    )
    .await;
    expect_error(res, StatusCode::NOT_FOUND).await;
    // Their member named under my organization's path: not a member here.
    let res = patch(
        &app,
        &format!("/api/v1/orgs/{mine}/members/{cid_id}"),
        json!({"role": "admin"}),
        &ada,
    )
    .await;
    expect_error(res, StatusCode::NOT_FOUND).await;
    expect_error(
        app.delete(&format!("/api/v1/orgs/{mine}/members/{cid_id}"), Some(&ada))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Their invitation revoked through my organization's path.
    expect_error(
        app.delete(
            &format!("/api/v1/orgs/{mine}/invitations/{}", invitation.id),
            Some(&ada),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let res = app
        .post(
            "/api/v1/user/active-org",
            Some(json!({"org_id": theirs})),
            Some(&ada),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND).await;

    let (_, members) = read(
        app.get(&format!("/api/v1/orgs/{theirs}/members"), Some(&bea))
            .await,
    )
    .await;
    let roles: Vec<&str> = members["data"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["owner", "member"], "their team is as it was");
    let (_, pending) = read(
        app.get(&format!("/api/v1/orgs/{theirs}/invitations"), Some(&bea))
            .await,
    )
    .await;
    assert_eq!(
        pending["data"].as_array().unwrap().len(),
        1,
        "their invitation stands"
    );
    let (_, events) = read(
        app.get(&format!("/api/v1/orgs/{mine}/security-events"), Some(&ada))
            .await,
    )
    .await;
    assert_eq!(
        event_kinds(&events),
        ["org.created"],
        "my events hold none of theirs"
    );
}

mod invitations {
    //! Invitations, with the mail read from the real SMTP server.

    use reqwest::StatusCode;
    use serde_json::{Value, json};

    use super::{create, event_kinds, patch};
    use crate::helpers::{Backend, TestApp, expect_error, read};
    use crate::mailbox::{Mailbox, ask_for_mail, mail_app, unique_address};
    use crate::on_both_stores;

    on_both_stores!(
        an_invited_person_without_an_account_joins_from_the_mail,
        only_the_invited_verified_address_accepts_and_only_once,
        invitations_are_replaced_revoked_declined_and_limited,
    );

    /// Signs `email` in by a mailed code (the account is made on first use, its address
    /// verified): the access token.
    async fn signed_in_by_mail(app: &TestApp, mailbox: &Mailbox, email: &str) -> String {
        ask_for_mail(app, "/api/v1/auth/email/sign-in/start", email).await;
        let code = mailbox.latest(email, "sign-in").await.code();
        let res = app
            .post(
                "/api/v1/auth/email/sign-in",
                Some(json!({"email": email, "code": code})),
                None,
            )
            .await;
        let (status, body) = read(res).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]["token"]["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn invite(
        app: &TestApp,
        org: &str,
        token: &str,
        email: &str,
        role: &str,
    ) -> reqwest::Response {
        let body = json!({"email": email, "role": role});
        app.post(
            &format!("/api/v1/orgs/{org}/invitations"),
            Some(body),
            Some(token),
        )
        .await
    }

    async fn answer(app: &TestApp, token: &str, what: &str, body: Value) -> (StatusCode, Value) {
        let path = format!("/api/v1/user/invitations/{what}");
        read(app.post(&path, Some(body), Some(token)).await).await
    }

    /// The whole path of a person who has no account: the invitation mail names the
    /// organization and links to this server's accept page; signing in by a mailed code makes
    /// the account (address verified); the token from the link accepts; the person is a member
    /// with the role, and the admins see the events.
    async fn an_invited_person_without_an_account_joins_from_the_mail(backend: Backend) {
        let Some((app, mailbox)) = mail_app(backend, &[]).await else {
            return;
        };
        let (_, ada) = app.user("ada").await;
        let org = create(&app, &ada, "Acme Robotics", None).await;
        let bea = unique_address("bea");
        let res = invite(&app, &org, &ada, &bea.to_uppercase(), "admin").await;
        let (status, body) = read(res).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["data"]["email"], bea.as_str(), "stored lower-case");
        assert_eq!(body["data"]["role"], "admin");
        let mail = mailbox.latest(&bea, "Acme Robotics").await;
        assert!(mail.link().contains("/invitation?token="), "{}", mail.text);
        let token = mail.link_token();

        let bea_token = signed_in_by_mail(&app, &mailbox, &bea).await;
        let (status, body) =
            read(app.get("/api/v1/user/invitations", Some(&bea_token)).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"][0]["org"]["name"], "Acme Robotics");
        let (status, body) = answer(&app, &bea_token, "accept", json!({"token": token})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["role"], "admin");
        let (status, body) = read(app.get("/api/v1/orgs", Some(&bea_token)).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"][0]["role"], "admin");

        let events = format!("/api/v1/orgs/{org}/security-events");
        let (_, body) = read(app.get(&events, Some(&ada)).await).await;
        let mut kinds = event_kinds(&body);
        // The accept writes two events, often in one millisecond, where the order is by id.
        kinds[..2].sort_unstable();
        assert_eq!(
            kinds,
            [
                "org.invitation_accepted",
                "org.member_added",
                "org.invitation_sent",
                "org.created"
            ]
        );
    }

    /// An invitation is answered only by an account whose verified address is the invited one;
    /// two accepts at once make one membership.
    async fn only_the_invited_verified_address_accepts_and_only_once(backend: Backend) {
        let Some((app, mailbox)) = mail_app(backend, &[]).await else {
            return;
        };
        let (_, ada) = app.user("ada").await;
        let org = create(&app, &ada, "Acme", None).await;
        let bea = unique_address("bea");
        assert_eq!(
            invite(&app, &org, &ada, &bea, "member").await.status(),
            StatusCode::CREATED
        );
        let token = mailbox.latest(&bea, "invited to join").await.link_token();

        // Someone else, verified: not theirs to accept.
        let mallory = signed_in_by_mail(&app, &mailbox, &unique_address("mallory")).await;
        let (status, _) = answer(&app, &mallory, "accept", json!({"token": token})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // The invited address registered with a password but never verified: not yet.
        let res = app
            .post(
                "/api/v1/auth/register",
                Some(json!({"username": "beapw", "email": bea, "password": crate::helpers::PASSWORD})),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let unverified = app.login("beapw", crate::helpers::PASSWORD).await;
        let (status, body) = answer(&app, &unverified, "accept", json!({"token": token})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

        // Proven by a mailed sign-in: two accepts race, one membership.
        let bea_token = signed_in_by_mail(&app, &mailbox, &bea).await;
        let body = json!({"token": token});
        let (a, b) = tokio::join!(
            answer(&app, &bea_token, "accept", body.clone()),
            answer(&app, &bea_token, "accept", body.clone()),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::NOT_FOUND]);
        let (_, members) = read(
            app.get(&format!("/api/v1/orgs/{org}/members"), Some(&ada))
                .await,
        )
        .await;
        assert_eq!(members["data"]["members"].as_array().unwrap().len(), 2);
        let (status, _) = answer(&app, &bea_token, "accept", json!({})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    /// A new invitation to the same address replaces the older (whose link stops working); an
    /// admin revokes one; the invited declines one; an admin may not invite an owner; a member
    /// may not invite; the per-organization limit holds.
    async fn invitations_are_replaced_revoked_declined_and_limited(backend: Backend) {
        let Some((app, mailbox)) = mail_app(backend, &[("RATE_LIMIT_INVITES", "4/1h")]).await
        else {
            return;
        };
        let (_, ada) = app.user("ada").await;
        let org = create(&app, &ada, "Acme", None).await;
        let bea = unique_address("bea");
        invite(&app, &org, &ada, &bea, "member").await;
        let older = mailbox.latest(&bea, "invited to join").await.link_token();
        invite(&app, &org, &ada, &bea, "member").await;
        let mails = mailbox
            .wait_for(&bea, 2, std::time::Duration::from_secs(10))
            .await;
        // Two mails a moment apart may carry one modification time: the newer is the other one.
        let newer = mails
            .iter()
            .map(|m| m.link_token())
            .find(|token| *token != older)
            .expect("the second invitation's mail");
        assert_ne!(older, newer);
        let pending = format!("/api/v1/orgs/{org}/invitations");
        let (_, body) = read(app.get(&pending, Some(&ada)).await).await;
        assert_eq!(body["data"].as_array().unwrap().len(), 1, "one per address");

        let bea_token = signed_in_by_mail(&app, &mailbox, &bea).await;
        let (status, _) = answer(&app, &bea_token, "accept", json!({"token": older})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "the older link is void");
        let (status, _) = answer(&app, &bea_token, "decline", json!({"token": newer})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = answer(&app, &bea_token, "accept", json!({"token": newer})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "declined is spent");

        let cid = unique_address("cid");
        let (_, body) = read(invite(&app, &org, &ada, &cid, "member").await).await;
        let id = body["data"]["id"].as_str().unwrap().to_string();
        let (status, _) = read(app.delete(&format!("{pending}/{id}"), Some(&ada)).await).await;
        assert_eq!(status, StatusCode::OK);
        let (_, body) = read(app.get(&pending, Some(&ada)).await).await;
        assert!(body["data"].as_array().unwrap().is_empty());

        // Roles: bea joins as admin through a fresh invitation, then may not invite an owner.
        let (_, body) = read(invite(&app, &org, &ada, &bea, "admin").await).await;
        assert!(body["data"]["id"].is_string(), "{body}");
        let invitation = body["data"]["id"].as_str().unwrap().to_string();
        let (status, _) = answer(
            &app,
            &bea_token,
            "accept",
            json!({"invitation_id": invitation}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let res = invite(&app, &org, &bea_token, &unique_address("dan"), "owner").await;
        expect_error(res, StatusCode::FORBIDDEN).await;
        let res = invite(&app, &org, &ada, &unique_address("eve"), "member").await;
        expect_error(res, StatusCode::TOO_MANY_REQUESTS).await;
        let res = patch(
            &app,
            &format!("/api/v1/orgs/{org}"),
            json!({"name": "x"}),
            &bea_token,
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "an admin renames");
    }
}
