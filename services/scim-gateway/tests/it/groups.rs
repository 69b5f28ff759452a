use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::support::member_ids;

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
    ids.sort();
    ids
}

backend_tests! {
    async fn group_lifecycle_with_entra_membership_patches(app: TestApp) {
        let a = app.create_user("a@example.com").await;
        let b = app.create_user("b@example.com").await;
        let c = app.create_user("c@example.com").await;
        let id = app.create_group("Engineering", &[&a, &b]).await;
        let uri = format!("/scim/v2/Groups/{id}");

        let fetched = app.get(&uri).await;
        assert_eq!(fetched.status, StatusCode::OK);
        assert_eq!(member_ids(&fetched.body), sorted(&[&a, &b]));
        assert_eq!(fetched.body["members"][0]["type"], "User");

        // Entra: add and remove in batches; PATCH answers 204.
        let add = app
            .patch(&uri, &json!({"schemas": [PATCH], "Operations": [
                {"op": "Add", "path": "members", "value": [{"value": c}]}
            ]}))
            .await;
        assert_eq!(add.status, StatusCode::NO_CONTENT, "{}", add.body);
        let remove = app
            .patch(&uri, &json!({"schemas": [PATCH], "Operations": [
                {"op": "Remove", "path": format!("members[value eq \"{a}\"]")}
            ]}))
            .await;
        assert_eq!(remove.status, StatusCode::NO_CONTENT, "{}", remove.body);
        let remove_by_value = app
            .patch(&uri, &json!({"schemas": [PATCH], "Operations": [
                {"op": "Remove", "path": "members", "value": [{"value": b}]}
            ]}))
            .await;
        assert_eq!(remove_by_value.status, StatusCode::NO_CONTENT);
        let after = app.get(&uri).await;
        assert_eq!(member_ids(&after.body), vec![c.clone()]);
        assert_eq!(after.body["meta"]["version"], "W/\"4\"");

        // Rename.
        let renamed = app
            .patch(&format!("{uri}?attributes=displayName"), &json!({"schemas": [PATCH], "Operations": [
                {"op": "Replace", "path": "displayName", "value": "Platform"}
            ]}))
            .await;
        assert_eq!(renamed.status, StatusCode::OK, "asked for attributes: {}", renamed.body);
        assert_eq!(renamed.body["displayName"], "Platform");
        assert!(renamed.body.get("members").is_none());

        // The user sees its group.
        let user = app.get(&format!("/scim/v2/Users/{c}")).await;
        assert_eq!(user.body["groups"][0]["value"], id.as_str());
        assert_eq!(user.body["groups"][0]["display"], "Platform");

        // Deleting the group leaves its users alone.
        assert_eq!(app.delete(&uri).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&uri).await.status, StatusCode::NOT_FOUND);
        let user = app.get(&format!("/scim/v2/Users/{c}")).await;
        assert_eq!(user.status, StatusCode::OK);
        assert!(user.body.get("groups").is_none());
    }

    async fn a_users_groups_are_shown_sorted_in_every_read_and_only_when_asked(app: TestApp) {
        let a = app.create_user("ga@example.com").await;
        let b = app.create_user("gb@example.com").await;
        let sales = app.create_group("sales", &[&a]).await;
        let admins = app.create_group("Admins", &[&a, &b]).await;
        let _empty = app.create_group("Nobody", &[]).await;
        let expected = json!([
            {"value": admins, "display": "Admins"},
            {"value": sales, "display": "sales"},
        ]);
        let groups_of = |user: &Value| {
            let mut shown = user["groups"].clone();
            let groups = shown.as_array_mut().into_iter().flatten();
            for group in groups.filter_map(Value::as_object_mut) {
                group.retain(|k, _| k == "value" || k == "display");
            }
            shown
        };

        let fetched = app.get(&format!("/scim/v2/Users/{a}")).await;
        assert_eq!(fetched.status, StatusCode::OK);
        assert_eq!(groups_of(&fetched.body), expected, "GET: {}", fetched.body);
        let filtered = app
            .get("/scim/v2/Users?filter=userName%20eq%20%22ga@example.com%22")
            .await;
        assert_eq!(groups_of(&filtered.body["Resources"][0]), expected, "{}", filtered.body);
        let listed = app.get("/scim/v2/Users?sortBy=userName").await;
        assert_eq!(groups_of(&listed.body["Resources"][0]), expected, "{}", listed.body);
        assert_eq!(
            groups_of(&listed.body["Resources"][1]),
            json!([{"value": admins, "display": "Admins"}])
        );
        let patched = app
            .patch(&format!("/scim/v2/Users/{a}"), &json!({"schemas": [PATCH], "Operations": [
                {"op": "replace", "path": "displayName", "value": "Grace"}
            ]}))
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        assert_eq!(groups_of(&patched.body), expected, "PATCH reply: {}", patched.body);

        // Not asked for: not read, not shown.
        let without = app
            .get(&format!("/scim/v2/Users/{a}?excludedAttributes=groups"))
            .await;
        assert_eq!(without.status, StatusCode::OK);
        assert!(without.body.get("groups").is_none(), "{}", without.body);
        let only_name = app
            .get("/scim/v2/Users?filter=userName%20eq%20%22ga@example.com%22&attributes=userName")
            .await;
        assert!(only_name.body["Resources"][0].get("groups").is_none(), "{}", only_name.body);
        // A user in no group has no `groups`.
        let c = app.create_user("gc@example.com").await;
        let lonely = app.get(&format!("/scim/v2/Users/{c}")).await;
        assert!(lonely.body.get("groups").is_none(), "{}", lonely.body);
    }

    async fn okta_put_replaces_membership(app: TestApp) {
        let a = app.create_user("oa@example.com").await;
        let b = app.create_user("ob@example.com").await;
        let c = app.create_user("oc@example.com").await;
        let id = app.create_group("Sales", &[&a, &b]).await;
        let uri = format!("/scim/v2/Groups/{id}");
        let replaced = app
            .put(&uri, &json!({"schemas": [GROUP], "id": id, "displayName": "Sales EMEA",
                "members": [{"value": b}, {"value": c}]}))
            .await;
        assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
        assert_eq!(replaced.body["displayName"], "Sales EMEA");
        assert_eq!(member_ids(&replaced.body), sorted(&[&b, &c]));
        // Replacing members with a path-less PATCH, RFC style.
        let patched = app
            .patch(&uri, &json!({"schemas": [PATCH], "Operations": [
                {"op": "replace", "path": "members", "value": [{"value": a}]}
            ]}))
            .await;
        assert_eq!(patched.status, StatusCode::NO_CONTENT, "{}", patched.body);
        assert_eq!(member_ids(&app.get(&uri).await.body), vec![a.clone()]);
        // Remove all members.
        let cleared = app
            .patch(&uri, &json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members"}]}))
            .await;
        assert_eq!(cleared.status, StatusCode::NO_CONTENT);
        assert!(app.get(&uri).await.body.get("members").is_none());
    }

    async fn members_must_exist_in_the_organization(app: TestApp) {
        let other = app.new_organization("Other").await;
        let foreign = app
            .with_body_as("POST", "/scim/v2/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x@other.example"}), &other)
            .await;
        let foreign_id = foreign.body["id"].as_str().expect("id").to_owned();
        let refused = app
            .post("/scim/v2/Groups", &json!({"schemas": [GROUP], "displayName": "Mixed", "members": [{"value": foreign_id}]}))
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.body["scimType"], "invalidValue");
        let groups = app.get("/scim/v2/Groups").await;
        assert_eq!(groups.body["totalResults"], 0, "nothing written");
    }

    async fn deleting_a_user_removes_its_memberships(app: TestApp) {
        let a = app.create_user("da@example.com").await;
        let b = app.create_user("db@example.com").await;
                let id = app.create_group("Support", &[&a, &b]).await;
        let before = app.get(&format!("/scim/v2/Groups/{id}")).await;
        assert_eq!(app.delete(&format!("/scim/v2/Users/{a}")).await.status, StatusCode::NO_CONTENT);
        let group = app.get(&format!("/scim/v2/Groups/{id}")).await;
        assert_eq!(member_ids(&group.body), vec![b.clone()]);
        assert_ne!(group.header("etag"), before.header("etag"), "the group changed, so did its ETag");
    }

    async fn group_filters_and_member_exclusion(app: TestApp) {
        let a = app.create_user("fa@example.com").await;
        let id = app.create_group("Finance", &[&a]).await;
        app.create_group("Facilities", &[]).await;
        let by_name = app.get("/scim/v2/Groups?filter=displayName%20eq%20%22finance%22").await;
        assert_eq!(by_name.body["totalResults"], 1, "{}", by_name.body);
        assert_eq!(by_name.body["Resources"][0]["id"], id.as_str());
        let by_member = app.get(&format!("/scim/v2/Groups?filter=members%5Bvalue%20eq%20%22{a}%22%5D")).await;
        assert_eq!(by_member.body["totalResults"], 1, "{}", by_member.body);
        let without_members = app.get("/scim/v2/Groups?excludedAttributes=members").await;
        assert_eq!(without_members.body["totalResults"], 2);
        assert!(without_members.body["Resources"].as_array().expect("list").iter().all(|g| g.get("members").is_none()));
        let single = app.get(&format!("/scim/v2/Groups/{id}?excludedAttributes=members")).await;
        assert!(single.body.get("members").is_none());
        assert_eq!(single.body["displayName"], "Finance");
    }
}
