//! Group `displayName` is unique per organization, case-insensitively:
//! 409 `uniqueness` on POST, PUT and PATCH, nothing written; `/Schemas`
//! says so.

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn assert_taken(response: &test_support::http::Response) {
    assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.body);
    assert_eq!(response.body["scimType"], "uniqueness", "{}", response.body);
    let detail = response.body["detail"].as_str().unwrap_or_default();
    assert!(
        !detail.to_lowercase().contains("engineering"),
        "the name is not echoed: {detail}"
    );
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["displayName"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

backend_tests! {
    async fn a_second_group_with_the_same_name_is_refused(app: TestApp) {
        let first = app.create_group("Engineering", &[]).await;
        for name in ["Engineering", "ENGINEERING", "engineering"] {
            let again = app
                .post("/scim/v2/Groups", &json!({"schemas": [GROUP], "displayName": name}))
                .await;
            assert_taken(&again);
        }
        let ops = app.create_group("Operations", &[]).await;

        // PUT and PATCH renames onto a taken name.
        let put = app
            .put(
                &format!("/scim/v2/Groups/{ops}"),
                &json!({"schemas": [GROUP], "displayName": "engineering"}),
            )
            .await;
        assert_taken(&put);
        let patch = app
            .patch(
                &format!("/scim/v2/Groups/{ops}"),
                &json!({"schemas": [PATCH], "Operations": [
                    {"op": "replace", "path": "displayName", "value": "Engineering"}
                ]}),
            )
            .await;
        assert_taken(&patch);
        let path_less = app
            .patch(
                &format!("/scim/v2/Groups/{ops}"),
                &json!({"schemas": [PATCH], "Operations": [
                    {"op": "replace", "value": {"displayName": "Engineering"}}
                ]}),
            )
            .await;
        assert_taken(&path_less);

        // Nothing was written: two groups, their names, no new version.
        let list = app.get("/scim/v2/Groups").await;
        assert_eq!(names(&list.body), vec!["Engineering", "Operations"]);
        let ops_now = app.get(&format!("/scim/v2/Groups/{ops}")).await;
        assert_eq!(ops_now.body["meta"]["version"], "W/\"1\"");

        // A group may change its own name's case, and a freed name is free.
        let recased = app
            .patch(
                &format!("/scim/v2/Groups/{first}"),
                &json!({"schemas": [PATCH], "Operations": [
                    {"op": "replace", "path": "displayName", "value": "ENGINEERING"}
                ]}),
            )
            .await;
        assert!(recased.status.is_success(), "{}", recased.body);
        let renamed = app
            .put(
                &format!("/scim/v2/Groups/{first}"),
                &json!({"schemas": [GROUP], "displayName": "Platform"}),
            )
            .await;
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
        let freed = app
            .patch(
                &format!("/scim/v2/Groups/{ops}"),
                &json!({"schemas": [PATCH], "Operations": [
                    {"op": "replace", "path": "displayName", "value": "Engineering"}
                ]}),
            )
            .await;
        assert!(freed.status.is_success(), "{}", freed.body);

        // Another organization has its own names.
        let other = app.new_organization("other").await;
        let elsewhere = app
            .with_body_as(
                "POST",
                "/scim/v2/Groups",
                &json!({"schemas": [GROUP], "displayName": "Engineering"}),
                &other,
            )
            .await;
        assert_eq!(elsewhere.status, StatusCode::CREATED, "{}", elsewhere.body);
    }

    async fn schemas_say_group_names_are_unique(app: TestApp) {
        let schema = app
            .get(&format!("/scim/v2/Schemas/{GROUP}"))
            .await;
        assert_eq!(schema.status, StatusCode::OK);
        let display_name = schema.body["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["name"] == "displayName")
            .cloned()
            .unwrap_or_default();
        assert_eq!(display_name["uniqueness"], "server", "{display_name}");
    }
}
