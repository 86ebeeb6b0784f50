use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, expect_error, read};
use crate::on_both_stores;

on_both_stores!(
    admin_routes_need_admin,
    pagination_arithmetic_and_filters,
    the_listing_pages_by_cursor_too,
    bad_listing_queries_are_422,
    get_update_and_deactivate_a_user,
    admin_privilege_rules,
    delete_user_revokes_sessions,
    admin_sessions_of_a_user,
    admin_revokes_one_session_of_a_user,
    admin_lists_roles,
    admin_console_is_served_unless_off,
);

async fn admin_routes_need_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = app.user("pleb").await;
    expect_error(
        app.get("/api/v1/admin/users", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    for path in [
        "/api/v1/admin/users".to_string(),
        format!("/api/v1/admin/{id}"),
        format!("/api/v1/admin/{id}/sessions"),
    ] {
        expect_error(app.get(&path, Some(&token)).await, StatusCode::FORBIDDEN).await;
    }
    expect_error(
        app.put(
            &format!("/api/v1/admin/{id}"),
            json!({"role": "ADMIN"}),
            Some(&token),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_error(
        app.delete(&format!("/api/v1/admin/{id}"), Some(&token))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

async fn pagination_arithmetic_and_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.user_with_role("boss", "ADMIN").await;
    for i in 0..11 {
        app.register(&format!("member{i:02}")).await;
    }
    // 12 users in all (boss + 11), pages of 5.
    let (status, body) = read(
        app.get("/api/v1/admin/users?page=1&size=5", Some(&admin))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let p = &body["data"]["pagination"];
    assert_eq!(p["total_items"], 12);
    assert_eq!(p["total_pages"], 3);
    assert_eq!(p["current_page"], 1);
    assert_eq!(p["page_size"], 5);
    assert_eq!(p["has_next"], true);
    assert_eq!(p["has_previous"], false);
    assert_eq!(body["data"]["users"].as_array().unwrap().len(), 5);
    // Newest first.
    assert_eq!(body["data"]["users"][0]["username"], "member10");

    let (_, body) = read(
        app.get("/api/v1/admin/users?page=3&size=5", Some(&admin))
            .await,
    )
    .await;
    assert_eq!(body["data"]["users"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"]["pagination"]["has_next"], false);
    assert_eq!(body["data"]["pagination"]["has_previous"], true);
    let (_, body) = read(
        app.get("/api/v1/admin/users?page=4&size=5", Some(&admin))
            .await,
    )
    .await;
    assert_eq!(body["data"]["users"].as_array().unwrap().len(), 0);

    // Defaults: page 1, size 10.
    let (_, body) = read(app.get("/api/v1/admin/users", Some(&admin)).await).await;
    assert_eq!(body["data"]["pagination"]["page_size"], 10);
    assert_eq!(body["data"]["users"].as_array().unwrap().len(), 10);

    // Filters: prefix on username or email, role, status.
    let (_, body) = read(app.get("/api/v1/admin/users?q=MEMBER0", Some(&admin)).await).await;
    assert_eq!(body["data"]["pagination"]["total_items"], 10);
    let (_, body) = read(app.get("/api/v1/admin/users?q=boss%40", Some(&admin)).await).await;
    assert_eq!(body["data"]["pagination"]["total_items"], 1);
    let (_, body) = read(app.get("/api/v1/admin/users?q=%25", Some(&admin)).await).await;
    assert_eq!(body["data"]["pagination"]["total_items"], 0, "% is literal");
    let (_, body) = read(
        app.get("/api/v1/admin/users?role=ADMIN", Some(&admin))
            .await,
    )
    .await;
    assert_eq!(body["data"]["pagination"]["total_items"], 1);
    assert_eq!(body["data"]["users"][0]["username"], "boss");
    let (_, body) = read(
        app.get("/api/v1/admin/users?is_active=false", Some(&admin))
            .await,
    )
    .await;
    assert_eq!(body["data"]["pagination"]["total_items"], 0);
    let (_, body) = read(
        app.get(
            "/api/v1/admin/users?is_active=true&role=USER&size=100",
            Some(&admin),
        )
        .await,
    )
    .await;
    assert_eq!(body["data"]["pagination"]["total_items"], 11);
    assert!(!body.to_string().contains("argon2"));
}

/// `limit` + `before` lead through the list by keyset beside `page`/`size`, each answer's `next`
/// naming the page after it: every user once, newest first, the same users as the numbered
/// pages; filters apply; the last page says there is no next.
async fn the_listing_pages_by_cursor_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.user_with_role("walker", "ADMIN").await;
    for i in 0..7 {
        app.register(&format!("step{i}")).await;
    }
    let names = |body: &serde_json::Value| -> Vec<String> {
        body["data"]["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect()
    };
    let mut by_number = Vec::new();
    for page in 1..=3 {
        let (_, body) = read(
            app.get(
                &format!("/api/v1/admin/users?page={page}&size=3"),
                Some(&admin),
            )
            .await,
        )
        .await;
        by_number.extend(names(&body));
    }
    let (_, first) = read(app.get("/api/v1/admin/users?size=3", Some(&admin)).await).await;
    let mut by_cursor = names(&first);
    let mut next = first["data"]["next"].as_str().map(String::from);
    let mut pages = 1;
    while let Some(cursor) = next {
        let (status, body) = read(
            app.get(
                &format!("/api/v1/admin/users?limit=3&before={cursor}"),
                Some(&admin),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let p = &body["data"]["pagination"];
        assert_eq!(
            (p["total_items"].as_u64(), p["current_page"].as_u64()),
            (Some(8), Some(0))
        );
        assert_eq!(p["has_previous"], true);
        assert_eq!(p["has_next"], body["data"]["next"].is_string());
        by_cursor.extend(names(&body));
        next = body["data"]["next"].as_str().map(String::from);
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(by_cursor.len(), 8);
    assert_eq!(by_cursor, by_number, "the same users in the same order");

    // With a filter: the cursor continues within it.
    let (_, body) = read(
        app.get("/api/v1/admin/users?size=2&q=step", Some(&admin))
            .await,
    )
    .await;
    let cursor = body["data"]["next"].as_str().unwrap().to_string();
    let (_, body) = read(
        app.get(
            &format!("/api/v1/admin/users?size=10&q=step&before={cursor}"),
            Some(&admin),
        )
        .await,
    )
    .await;
    assert_eq!(names(&body).len(), 5);
    assert!(names(&body).iter().all(|n| n.starts_with("step")));
    assert_eq!(body["data"]["next"], serde_json::Value::Null);
}

async fn bad_listing_queries_are_422(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.user_with_role("strict", "ADMIN").await;
    for (query, param) in [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=99999999999999999999", "page"),
        ("page=1000001", "page"),
        ("size=0", "size"),
        ("size=101", "size"),
        ("size=ten", "size"),
        ("is_active=maybe", "is_active"),
        ("role=NOPE", "role"),
        ("before=junk", "before"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("before=MTIzOg", "before"),
    ] {
        let err = expect_error(
            app.get(&format!("/api/v1/admin/users?{query}"), Some(&admin))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(
            err["details"][0]["loc"],
            json!(["query", param]),
            "{query}: {err}"
        );
    }
}

async fn get_update_and_deactivate_a_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.user_with_role("manager", "ADMIN").await;
    let (id, user_token) = app.user("worker").await;
    let path = format!("/api/v1/admin/{id}");

    let (status, body) = read(app.get(&path, Some(&admin)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["username"], "worker");
    expect_error(
        app.get(
            &format!("/api/v1/admin/{}", uuid::Uuid::new_v4()),
            Some(&admin),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let (status, body) = read(
        app.put(
            &path,
            json!({"full_name": "Hard Worker", "email": "Worker@New.example"}),
            Some(&admin),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["full_name"], "Hard Worker");
    assert_eq!(body["data"]["email"], "Worker@New.example");

    // An admin-set password is hashed like any other and signs the user out.
    let (status, _) = read(
        app.put(&path, json!({"password": "admin chose this"}), Some(&admin))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    expect_error(
        app.get("/api/v1/user/", Some(&user_token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let user_token = app.login("worker", "admin chose this").await;

    // Deactivation locks the user out at once.
    let (status, body) = read(
        app.put(&path, json!({"is_active": false}), Some(&admin))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["is_active"], false);
    expect_error(
        app.get("/api/v1/user/", Some(&user_token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_error(
        app.post(
            "/api/v1/auth/login",
            Some(json!({"email": "worker", "password": "admin chose this"})),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // And reactivation lets them back in.
    read(
        app.put(&path, json!({"is_active": true}), Some(&admin))
            .await,
    )
    .await;
    app.login("worker", "admin chose this").await;

    expect_error(
        app.put(&path, json!({"role": "NOPE"}), Some(&admin)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_error(
        app.put(&path, json!({"email": "broken"}), Some(&admin))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_error(
        app.put(
            &format!("/api/v1/admin/{}", uuid::Uuid::new_v4()),
            json!({"full_name": "x"}),
            Some(&admin),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn admin_privilege_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin_id, admin) = app.user_with_role("admin1", "ADMIN").await;
    let (other_admin_id, _) = app.user_with_role("admin2", "ADMIN").await;
    let (root_id, root) = app.user_with_role("root", "SUPER_ADMIN").await;
    let (user_id, _) = app.user("plain").await;

    // Own id goes through /user/.
    expect_error(
        app.put(
            &format!("/api/v1/admin/{admin_id}"),
            json!({"full_name": "me"}),
            Some(&admin),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_error(
        app.delete(&format!("/api/v1/admin/{admin_id}"), Some(&admin))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    // An ADMIN cannot grant ADMIN or SUPER_ADMIN, nor touch another admin or the super admin.
    for role in ["ADMIN", "SUPER_ADMIN"] {
        expect_error(
            app.put(
                &format!("/api/v1/admin/{user_id}"),
                json!({"role": role}),
                Some(&admin),
            )
            .await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    for target in [&other_admin_id, &root_id] {
        expect_error(
            app.put(
                &format!("/api/v1/admin/{target}"),
                json!({"full_name": "x"}),
                Some(&admin),
            )
            .await,
            StatusCode::FORBIDDEN,
        )
        .await;
        expect_error(
            app.delete(&format!("/api/v1/admin/{target}"), Some(&admin))
                .await,
            StatusCode::FORBIDDEN,
        )
        .await;
        expect_error(
            app.delete(&format!("/api/v1/admin/{target}/sessions"), Some(&admin))
                .await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    // Reading them is fine.
    assert_eq!(
        app.get(&format!("/api/v1/admin/{root_id}"), Some(&admin))
            .await
            .status(),
        StatusCode::OK
    );
    // The super admin may do all of it.
    let (status, body) = read(
        app.put(
            &format!("/api/v1/admin/{user_id}"),
            json!({"role": "ADMIN"}),
            Some(&root),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["role"]["name"], "ADMIN");
    let (status, _) = read(
        app.put(
            &format!("/api/v1/admin/{other_admin_id}"),
            json!({"role": "USER"}),
            Some(&root),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // An ADMIN may still demote nobody privileged, but manage plain users: admin2 is now USER.
    let (status, _) = read(
        app.put(
            &format!("/api/v1/admin/{other_admin_id}"),
            json!({"full_name": "Demoted"}),
            Some(&admin),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

async fn delete_user_revokes_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.user_with_role("judge", "ADMIN").await;
    let (id, token) = app.user("accused").await;
    app.login("accused", PASSWORD).await;
    let (status, body) = read(
        app.delete(&format!("/api/v1/admin/{id}"), Some(&admin))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["message"],
        "User deleted successfully, 2 sessions revoked"
    );
    assert!(body["data"].is_null());
    expect_error(
        app.get("/api/v1/user/", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_error(
        app.delete(&format!("/api/v1/admin/{id}"), Some(&admin))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_error(
        app.delete(
            &format!("/api/v1/admin/{}", uuid::Uuid::new_v4()),
            Some(&admin),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Soft delete: the record is still there, inactive.
    let (_, body) = read(app.get(&format!("/api/v1/admin/{id}"), Some(&admin)).await).await;
    assert_eq!(body["data"]["is_active"], false);
}

async fn admin_sessions_of_a_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.user_with_role("watcher", "ADMIN").await;
    let (id, token) = app.user("watched").await;
    app.login("watched", PASSWORD).await;
    let (status, body) = read(
        app.get(&format!("/api/v1/admin/{id}/sessions"), Some(&admin))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let (status, body) = read(
        app.delete(&format!("/api/v1/admin/{id}/sessions"), Some(&admin))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["revoked_sessions"], 2);
    expect_error(
        app.get("/api/v1/user/", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let (_, body) = read(
        app.get(&format!("/api/v1/admin/{id}/sessions"), Some(&admin))
            .await,
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 0);
    expect_error(
        app.get(
            &format!("/api/v1/admin/{}/sessions", uuid::Uuid::new_v4()),
            Some(&admin),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn admin_revokes_one_session_of_a_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.user_with_role("keeper", "ADMIN").await;
    let (id, first) = app.user("travel").await;
    let second = app.login("travel", PASSWORD).await;
    let (_, body) = read(
        app.get(&format!("/api/v1/admin/{id}/sessions"), Some(&admin))
            .await,
    )
    .await;
    let sessions = body["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    // The session of the first token: the older one, listed last (newest activity first).
    let (_, mine) = read(app.get("/api/v1/user/sessions", Some(&first)).await).await;
    let first_sid = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let path = format!("/api/v1/admin/{id}/sessions/{first_sid}");
    let (status, body) = read(app.delete(&path, Some(&admin)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], serde_json::Value::Null);
    expect_error(
        app.get("/api/v1/user/", Some(&first)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let (status, _) = read(app.get("/api/v1/user/", Some(&second)).await).await;
    assert_eq!(status, StatusCode::OK, "the other session lives on");
    // Twice, or a session of another user: 404.
    expect_error(app.delete(&path, Some(&admin)).await, StatusCode::NOT_FOUND).await;
    let (other, _) = app.user("bystander").await;
    let (_, body) = read(app.get("/api/v1/user/sessions", Some(&second)).await).await;
    let second_sid = body["data"][0]["id"].as_str().unwrap().to_string();
    expect_error(
        app.delete(
            &format!("/api/v1/admin/{other}/sessions/{second_sid}"),
            Some(&admin),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // The act is in the user's events, with who did it.
    let (_, body) = read(
        app.get(
            &format!("/api/v1/admin/security-events?user_id={id}&type=session.revoked"),
            Some(&admin),
        )
        .await,
    )
    .await;
    let event = &body["data"]["events"][0];
    assert_eq!(event["detail"]["reason"], "revoked_by_admin");
    assert_ne!(event["actor_id"], event["user_id"]);

    // A plain admin may not touch a super admin's sessions; a user may not use the route.
    let (root, root_token) = app.user_with_role("root", "SUPER_ADMIN").await;
    let (_, body) = read(app.get("/api/v1/user/sessions", Some(&root_token)).await).await;
    let root_sid = body["data"][0]["id"].as_str().unwrap().to_string();
    expect_error(
        app.delete(
            &format!("/api/v1/admin/{root}/sessions/{root_sid}"),
            Some(&admin),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_error(
        app.delete(
            &format!("/api/v1/admin/{id}/sessions/{second_sid}"),
            Some(&second),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

async fn admin_lists_roles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.user_with_role("lister", "ADMIN").await;
    let (status, body) = read(app.get("/api/v1/admin/roles", Some(&admin)).await).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ADMIN", "SUPER_ADMIN", "USER"]);
    assert_eq!(body["data"][1]["permissions"], json!(["*"]));
    let (_, user) = app.user("curious").await;
    expect_error(
        app.get("/api/v1/admin/roles", Some(&user)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

async fn admin_console_is_served_unless_off(backend: Backend) {
    let app = TestApp::spawn(backend.clone()).await;
    for path in ["/admin", "/admin/", "/admin/assets/js/main.js"] {
        let res = app.get(path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    let res = app.get("/admin", None).await;
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    let off = TestApp::spawn_with(backend, &[("ADMIN_CONSOLE", "off")]).await;
    for path in ["/admin", "/admin/assets/js/main.js"] {
        expect_error(off.get(path, None).await, StatusCode::NOT_FOUND).await;
    }
}
