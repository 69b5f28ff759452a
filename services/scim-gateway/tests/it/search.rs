//! `POST /.search` across resource types: one result set, users then groups,
//! paged across the boundary; a type that cannot answer the request left out.

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::support::member_ids;

const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

fn ids(page: &Value) -> Vec<String> {
    page["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

fn resource_types(page: &Value) -> Vec<String> {
    page["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| {
            r["meta"]["resourceType"]
                .as_str()
                .expect("resourceType")
                .to_owned()
        })
        .collect()
}

backend_tests! {
    async fn root_search_pages_across_users_and_groups(app: TestApp) {
        let ann = app.create_user("ann@example.com").await;
        let bob = app.create_user("bob@example.com").await;
        let cid = app.create_user("cid@example.com").await;
        let eng = app.create_group("Eng", &[&ann, &bob]).await;
        let ops = app.create_group("Ops", &[&cid, &eng]).await;
        let _empty = app.create_group("Empty", &[]).await;

        let all = app.post("/scim/v2/.search", &json!({"schemas": [SEARCH], "count": 100})).await;
        assert_eq!(all.status, StatusCode::OK, "{}", all.body);
        assert_eq!(all.body["totalResults"], 6);
        assert_eq!(resource_types(&all.body), ["User", "User", "User", "Group", "Group", "Group"]);
        let everything = ids(&all.body);

        // Pages of two walk the same sequence, across the users/groups boundary.
        let mut walked = Vec::new();
        for start in [1, 3, 5] {
            let page = app
                .post("/scim/v2/.search", &json!({"schemas": [SEARCH], "startIndex": start, "count": 2}))
                .await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            assert_eq!(page.body["totalResults"], 6, "start {start}");
            assert_eq!(page.body["startIndex"], start);
            assert_eq!(page.body["itemsPerPage"], 2, "start {start}");
            walked.extend(ids(&page.body));
        }
        assert_eq!(walked, everything);

        // A page straddling the boundary: the last user, then the first group.
        let straddle = app
            .post("/scim/v2/.search", &json!({"schemas": [SEARCH], "startIndex": 3, "count": 2}))
            .await;
        assert_eq!(resource_types(&straddle.body), ["User", "Group"]);
        assert_eq!(ids(&straddle.body), everything[2..4]);

        // Every listed group carries its members, as a read of the group does.
        for group in all.body["Resources"].as_array().expect("Resources").iter().skip(3) {
            let id = group["id"].as_str().expect("id");
            let read = app.get(&format!("/scim/v2/Groups/{id}")).await;
            assert_eq!(member_ids(group), member_ids(&read.body), "group {id}");
        }
        let by_id = |id: &str| {
            all.body["Resources"].as_array().expect("Resources").iter().find(|r| r["id"] == id).cloned().expect("listed")
        };
        let mut eng_members = vec![ann.clone(), bob.clone()];
        eng_members.sort();
        assert_eq!(member_ids(&by_id(&eng)), eng_members);
        let mut ops_members = vec![cid.clone(), eng.clone()];
        ops_members.sort();
        assert_eq!(member_ids(&by_id(&ops)), ops_members);

        // Past the end: nothing listed, the total still told.
        let past = app
            .post("/scim/v2/.search", &json!({"schemas": [SEARCH], "startIndex": 7, "count": 2}))
            .await;
        assert_eq!(past.body["totalResults"], 6);
        assert_eq!(past.body["itemsPerPage"], 0);

        // count 0: only the total.
        let total_only = app.post("/scim/v2/.search", &json!({"schemas": [SEARCH], "count": 0})).await;
        assert_eq!(total_only.body["totalResults"], 6);
        assert_eq!(total_only.body["itemsPerPage"], 0);

        // Members not asked for are not returned.
        let names = app
            .post("/scim/v2/.search", &json!({"schemas": [SEARCH], "startIndex": 4, "count": 3, "attributes": ["displayName"]}))
            .await;
        assert_eq!(names.status, StatusCode::OK, "{}", names.body);
        assert_eq!(ids(&names.body), everything[3..6]);
        for group in names.body["Resources"].as_array().expect("Resources") {
            assert!(group.get("members").is_none(), "{group}");
        }
    }

    async fn root_search_leaves_out_a_type_that_cannot_answer(app: TestApp) {
        let ann = app.create_user("ann@example.com").await;
        let bob = app.create_user("bob@example.com").await;
        app.create_group("Eng", &[&ann]).await;

        // Groups have no userName: the filter searches users only.
        let users = app
            .post("/scim/v2/.search", &json!({"schemas": [SEARCH], "filter": "userName ew \"example.com\""}))
            .await;
        assert_eq!(users.status, StatusCode::OK, "{}", users.body);
        assert_eq!(users.body["totalResults"], 2);
        assert_eq!(resource_types(&users.body), ["User", "User"]);

        // The same for sortBy.
        let sorted = app
            .post("/scim/v2/.search", &json!({"schemas": [SEARCH], "sortBy": "userName", "sortOrder": "descending"}))
            .await;
        assert_eq!(sorted.status, StatusCode::OK, "{}", sorted.body);
        assert_eq!(ids(&sorted.body), [bob.clone(), ann.clone()]);

        // No type can answer: the error of the first one is the answer.
        let neither = app
            .post("/scim/v2/.search", &json!({"schemas": [SEARCH], "filter": "nosuch eq \"x\""}))
            .await;
        assert_eq!(neither.status, StatusCode::BAD_REQUEST, "{}", neither.body);
        assert_eq!(neither.body["scimType"], "invalidFilter", "{}", neither.body);
    }
}
