//! List pages bounded in size: a page ends early once its resources' stored
//! documents reach `scim.max_page_bytes`, `itemsPerPage` says how many it
//! holds, `totalResults` stays the whole result set, and paging on from
//! `startIndex + itemsPerPage` sees every resource once.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, suite_settings};

const USERS: usize = 12;

async fn app_with_page_bytes(backend: Backend, max_page_bytes: u64) -> Option<TestApp> {
    let url = backend.fresh_database("gateway.db").await?;
    let mut settings = suite_settings(url);
    settings.scim.max_page_bytes = max_page_bytes;
    Some(TestApp::spawn(&settings, "Test org").await)
}

/// A user whose stored document is about 1,600 characters.
async fn create_large_user(app: &TestApp, i: usize) -> String {
    let filler = "x".repeat(500);
    let response = app
        .post(
            "/scim/v2/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("large-{i}@example.com"),
                "displayName": filler,
                "nickName": filler,
                "title": filler,
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    response.body["id"].as_str().expect("id").to_owned()
}

fn page_ids(page: &Value) -> Vec<String> {
    page["Resources"]
        .as_array()
        .map(|resources| {
            resources
                .iter()
                .map(|r| r["id"].as_str().expect("id").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn pages_end_early_by_size_and_paging_on_sees_every_user_once(backend: Backend) {
    let Some(app) = app_with_page_bytes(backend, 6_000).await else {
        return;
    };
    let mut created = BTreeSet::new();
    for i in 0..USERS {
        created.insert(create_large_user(&app, i).await);
    }
    let mut seen = Vec::new();
    let mut start = 1;
    let mut pages = 0;
    loop {
        let page = app
            .get(&format!("/scim/v2/Users?startIndex={start}&count=50"))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(page.body["totalResults"], USERS, "the whole result set");
        let ids = page_ids(&page.body);
        assert_eq!(
            page.body["itemsPerPage"],
            ids.len(),
            "itemsPerPage tells the truth"
        );
        if ids.is_empty() {
            break;
        }
        assert!(
            ids.len() < USERS,
            "6,000 characters hold fewer than 12 users"
        );
        start += ids.len();
        seen.extend(ids);
        pages += 1;
    }
    assert!(pages > 1, "the result set took several pages");
    let distinct: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), distinct.len(), "no user twice");
    assert_eq!(distinct, created, "every user once");
}

async fn a_resource_larger_than_the_budget_still_makes_a_page(backend: Backend) {
    let Some(app) = app_with_page_bytes(backend, 100).await else {
        return;
    };
    for i in 0..3 {
        create_large_user(&app, i).await;
    }
    let page = app.get("/scim/v2/Users?count=50").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["itemsPerPage"], 1);
    assert_eq!(page.body["totalResults"], 3);
}

async fn a_search_cut_in_its_users_counts_the_groups_after_them(backend: Backend) {
    let Some(app) = app_with_page_bytes(backend, 6_000).await else {
        return;
    };
    for i in 0..USERS {
        create_large_user(&app, i).await;
    }
    app.create_group("Engineering", &[]).await;
    let page = app
        .post(
            "/scim/v2/.search",
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "count": 50
            }),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["totalResults"], USERS + 1, "users and the group");
    let listed = page_ids(&page.body).len();
    assert!(listed > 0 && listed < USERS, "cut in the users");
    let types: BTreeSet<&str> = page.body["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .filter_map(|r| r["meta"]["resourceType"].as_str())
        .collect();
    assert_eq!(types, BTreeSet::from(["User"]), "no group after a cut");
}

on_both_backends!(
    pages_end_early_by_size_and_paging_on_sees_every_user_once,
    a_resource_larger_than_the_budget_still_makes_a_page,
    a_search_cut_in_its_users_counts_the_groups_after_them,
);
