//! The PATCH cases the RFC leaves open, as the gateway decides them
//! (docs/scim.md, "PATCH"), end to end on each backend.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::backend_tests;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

backend_tests! {
    async fn patch_decisions_hold_through_the_api(app: TestApp) {
        let created = app
            .post("/scim/v2/Users", &json!({
                "schemas": [USER, ENTERPRISE],
                "userName": "pat@example.com",
                "emails": [
                    {"value": "pat@work.example", "type": "work", "primary": true},
                    {"value": "pat@home.example", "type": "home"}
                ],
                ENTERPRISE: {"department": "Sales"}
            }))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let uri = format!("/scim/v2/Users/{}", created.body["id"].as_str().unwrap_or_default());
        let patch = |ops: serde_json::Value| {
            let body = json!({"schemas": [PATCH], "Operations": ops});
            let uri = uri.clone();
            let app = &app;
            async move { app.patch(&uri, &body).await }
        };

        // Entra clears the work e-mail by removing its value: the e-mail goes.
        let cleared = patch(json!([
            {"op": "Remove", "path": "emails[type eq \"work\"].value"}
        ]))
        .await;
        assert!(cleared.status.is_success(), "{}", cleared.body);
        let user = app.get(&uri).await.body;
        assert_eq!(
            user["emails"],
            json!([{"value": "pat@home.example", "type": "home"}]),
            "{user}"
        );

        // With no e-mail at all, adding `emails.value` makes one.
        let none = patch(json!([{"op": "Remove", "path": "emails"}])).await;
        assert!(none.status.is_success(), "{}", none.body);
        let added = patch(json!([
            {"op": "Add", "path": "emails.value", "value": "pat@new.example"}
        ]))
        .await;
        assert!(added.status.is_success(), "{}", added.body);
        let user = app.get(&uri).await.body;
        assert_eq!(user["emails"], json!([{"value": "pat@new.example"}]), "{user}");

        // A describing sub-attribute with nothing to describe: 400 noTarget.
        let _ = patch(json!([{"op": "Remove", "path": "emails"}])).await;
        let refused = patch(json!([
            {"op": "Add", "path": "emails.type", "value": "work"}
        ]))
        .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.body["scimType"], "noTarget");

        // A path-less null extension: add ignores it, replace unassigns it.
        let ignored = patch(json!([{"op": "Add", "value": {ENTERPRISE: null}}])).await;
        assert!(ignored.status.is_success(), "{}", ignored.body);
        let user = app.get(&uri).await.body;
        assert_eq!(user[ENTERPRISE]["department"], "Sales", "{user}");
        let unassigned = patch(json!([{"op": "Replace", "value": {ENTERPRISE: null}}])).await;
        assert!(unassigned.status.is_success(), "{}", unassigned.body);
        let user = app.get(&uri).await.body;
        assert!(user.get(ENTERPRISE).is_none(), "{user}");
    }
}

backend_tests! {
    async fn a_synced_password_is_answered_and_not_kept(app: TestApp) {
        let created = app
            .post("/scim/v2/Users", &json!({
                "schemas": [USER], "userName": "pw@example.com", "password": "t1meMa$heen"
            }))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert!(created.body.get("password").is_none());
        let uri = format!("/scim/v2/Users/{}", created.body["id"].as_str().unwrap_or_default());
        // Okta's password sync: answered, and nothing changes (no new
        // version: the view holds no password to change).
        let synced = app
            .patch(&uri, &json!({"schemas": [PATCH], "Operations": [
                {"op": "replace", "path": "password", "value": "n3wPassw0rd"}
            ]}))
            .await;
        assert_eq!(synced.status, StatusCode::OK, "{}", synced.body);
        assert_eq!(synced.body["meta"]["version"], created.body["meta"]["version"]);
        let replaced = app
            .put(&uri, &json!({
                "schemas": [USER], "userName": "pw@example.com", "password": "another"
            }))
            .await;
        assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
        assert_eq!(replaced.body["meta"]["version"], created.body["meta"]["version"]);
    }
}
