//! Bounded writes: string values (`scim.max_string_chars`), resource size
//! (`scim.max_resource_bytes`) and values per PATCH operation
//! (`scim.max_operation_values`). Over a bound: 413 with a detail naming the
//! attribute and the bound, never the value; nothing written.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::inputs::{journal, patch};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, suite_settings};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A gateway with small bounds: 64 characters, 2 KiB per resource, 3 values
/// per operation.
async fn bounded_app(backend: Backend) -> Option<TestApp> {
    let url = backend.fresh_database("gateway.db").await?;
    let mut settings = suite_settings(url);
    settings.scim.max_string_chars = 64;
    settings.scim.max_resource_bytes = 2048;
    settings.scim.max_operation_values = 3;
    Some(TestApp::spawn(&settings, "Bounded org").await)
}

fn assert_too_large(response: &test_support::http::Response, names: &[&str], secret: &str) {
    assert_eq!(
        response.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        response.body
    );
    assert_eq!(response.body["status"], "413");
    assert!(response.body.get("scimType").is_none());
    let detail = response.body["detail"].as_str().expect("detail");
    for name in names {
        assert!(detail.contains(name), "{detail} names {name}");
    }
    assert!(!detail.contains(secret), "{detail} echoes the value");
}

async fn long_strings_are_refused_naming_the_attribute(backend: Backend) {
    let Some(app) = bounded_app(backend).await else {
        return;
    };
    let long = "q".repeat(65);
    let at_bound = "q".repeat(64);
    let created = app
        .post(
            "/scim/v2/Users",
            &json!({"schemas": [USER], "userName": "long@example.com", "displayName": long}),
        )
        .await;
    assert_too_large(&created, &["displayName", "64"], &long);
    let nested = app
        .post(
            "/scim/v2/Users",
            &json!({"schemas": [USER, ENTERPRISE], "userName": "long@example.com",
            ENTERPRISE: {"manager": {"value": long}}}),
        )
        .await;
    assert_too_large(&nested, &["manager.value"], &long);
    let found = app
        .get("/scim/v2/Users?filter=userName%20eq%20%22long@example.com%22")
        .await;
    assert_eq!(found.body["totalResults"], 0);
    assert!(journal(&app).await.is_empty());

    // At the bound (in characters, not bytes) it is taken.
    let wide = "é".repeat(64);
    let created = app
        .post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "long@example.com", "displayName": at_bound, "title": wide}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let uri = format!("/scim/v2/Users/{}", created.body["id"].as_str().unwrap());
    let before = app.get(&uri).await.body;
    let events = journal(&app).await.len();
    for ops in [
        json!([{"op": "replace", "path": "displayName", "value": long}]),
        json!([{"op": "add", "value": {"name": {"givenName": long}}}]),
        json!([{"op": "add", "path": "emails[type eq \"work\"].value", "value": long}]),
    ] {
        let patched = app.patch(&uri, &patch(ops)).await;
        assert_too_large(&patched, &["64"], &long);
    }
    let replaced = app
        .put(
            &uri,
            &json!({"schemas": [USER], "userName": "long@example.com", "nickName": long}),
        )
        .await;
    assert_too_large(&replaced, &["nickName"], &long);
    assert_eq!(app.get(&uri).await.body, before, "nothing changed");
    assert_eq!(journal(&app).await.len(), events, "nothing journaled");
}

async fn resources_are_bounded_in_size_and_patches_cannot_grow_past_it(backend: Backend) {
    let Some(app) = bounded_app(backend).await else {
        return;
    };
    let emails = |n: usize| {
        (0..n)
            .map(|i| json!({"value": format!("address-{i:02}-{}@example.com", "x".repeat(30))}))
            .collect::<Vec<_>>()
    };
    let created = app
        .post(
            "/scim/v2/Users",
            &json!({"schemas": [USER], "userName": "big@example.com", "emails": emails(40)}),
        )
        .await;
    assert_too_large(&created, &["2048 bytes"], "address-00");
    assert!(journal(&app).await.is_empty());

    let created = app
        .post(
            "/scim/v2/Users",
            &json!({"schemas": [USER], "userName": "big@example.com", "emails": emails(3)}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let uri = format!("/scim/v2/Users/{}", created.body["id"].as_str().unwrap());
    // Three e-mails per request (the operation bound) until the resource is full.
    let mut refused = None;
    for round in 0..20 {
        let before = app.get(&uri).await.body;
        let events = journal(&app).await.len();
        let more: Vec<_> = (0..3)
            .map(
                |i| json!({"value": format!("more-{round:02}-{i}-{}@example.com", "y".repeat(30))}),
            )
            .collect();
        let patched = app
            .patch(
                &uri,
                &patch(json!([{"op": "add", "path": "emails", "value": more}])),
            )
            .await;
        if patched.status == StatusCode::OK {
            continue;
        }
        assert_too_large(&patched, &["2048 bytes"], "more-");
        assert_eq!(
            app.get(&uri).await.body,
            before,
            "the refused PATCH wrote nothing"
        );
        assert_eq!(journal(&app).await.len(), events);
        refused = Some(round);
        break;
    }
    assert!(refused.is_some_and(|round| round > 0), "{refused:?}");
}

async fn patch_operations_are_bounded_in_values(backend: Backend) {
    let Some(app) = bounded_app(backend).await else {
        return;
    };
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(app.create_user(&format!("m{i}@example.com")).await);
    }
    let group = app.create_group("Bounded", &[]).await;
    let uri = format!("/scim/v2/Groups/{group}");
    let members = |ids: &[String]| {
        ids.iter()
            .map(|id| json!({"value": id}))
            .collect::<Vec<_>>()
    };
    let events = journal(&app).await.len();
    for ops in [
        json!([{"op": "add", "path": "members", "value": members(&users)}]),
        json!([{"op": "add", "value": {"members": members(&users)}}]),
        json!([{"op": "remove", "path": "members", "value": members(&users)}]),
    ] {
        let patched = app.patch(&uri, &patch(ops)).await;
        assert_too_large(&patched, &["operation 0", "3 values"], &users[0]);
    }
    let read = app.get(&uri).await;
    assert!(read.body.get("members").is_none(), "{}", read.body);
    assert_eq!(journal(&app).await.len(), events);
    // Within the bound, split over two operations of one request: taken.
    let split = app
        .patch(
            &uri,
            &patch(json!([
                {"op": "add", "path": "members", "value": members(&users[..3])},
                {"op": "add", "path": "members", "value": members(&users[3..])}
            ])),
        )
        .await;
    assert_eq!(split.status, StatusCode::NO_CONTENT, "{}", split.body);
    let read = app.get(&uri).await;
    assert_eq!(read.body["members"].as_array().map(Vec::len), Some(4));
}

/// The defaults (4096 characters) are in force without any setting.
async fn the_default_bounds_apply_without_settings(backend: Backend) {
    let Some(app) = crate::support::spawn_app(backend).await else {
        return;
    };
    let long = "d".repeat(4097);
    let created = app
        .post(
            "/scim/v2/Users",
            &json!({"schemas": [USER], "userName": "default@example.com", "displayName": long}),
        )
        .await;
    assert_too_large(&created, &["displayName", "4096"], &long);
    let at_bound = app
        .post(
            "/scim/v2/Users",
            &json!({"schemas": [USER], "userName": "default@example.com", "displayName": "d".repeat(4096)}),
        )
        .await;
    assert_eq!(at_bound.status, StatusCode::CREATED, "{}", at_bound.body);
}

on_both_backends!(
    the_default_bounds_apply_without_settings,
    long_strings_are_refused_naming_the_attribute,
    resources_are_bounded_in_size_and_patches_cannot_grow_past_it,
    patch_operations_are_bounded_in_values,
);
