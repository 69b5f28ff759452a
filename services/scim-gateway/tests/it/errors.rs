use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::json;

use crate::backend_tests;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

backend_tests! {
    async fn bad_input_gets_scim_errors_never_500(app: TestApp) {
        let auth = ("Authorization", format!("Bearer {}", app.token));
        let malformed = app
            .send(TestRequest::post().uri("/scim/v2/Users").insert_header(auth.clone()).set_payload("{\"userName\": "))
            .await;
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        assert_eq!(malformed.body["scimType"], "invalidSyntax");
        assert_eq!(malformed.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");

        let too_large = app
            .send(TestRequest::post().uri("/scim/v2/Users").insert_header(auth.clone()).set_payload(vec![b' '; 70 * 1024]))
            .await;
        assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(too_large.body["status"], "413");

        let wrong_type = app
            .send(TestRequest::post().uri("/scim/v2/Users").insert_header(auth.clone()).insert_header(("Content-Type", "text/xml")).set_payload("<user/>"))
            .await;
        assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

        let missing_user_name = app.post("/scim/v2/Users", &json!({"schemas": [USER], "displayName": "x"})).await;
        assert_eq!(missing_user_name.status, StatusCode::BAD_REQUEST);
        assert_eq!(missing_user_name.body["scimType"], "invalidValue");

        let wrong_type_value = app.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "t@example.com", "active": "perhaps"})).await;
        assert_eq!(wrong_type_value.status, StatusCode::BAD_REQUEST);

        let id = app.create_user("err@example.com").await;
        let uri = format!("/scim/v2/Users/{id}");
        let bad_op = app.patch(&uri, &json!({"schemas": [PATCH], "Operations": [{"op": "explode", "path": "active", "value": true}]})).await;
        assert_eq!(bad_op.status, StatusCode::BAD_REQUEST);
        let bad_path = app.patch(&uri, &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "noSuchAttribute", "value": 1}]})).await;
        assert_eq!(bad_path.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad_path.body["scimType"], "invalidPath");
        let read_only = app.patch(&uri, &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "id", "value": "x"}]})).await;
        assert_eq!(read_only.status, StatusCode::BAD_REQUEST);
        assert_eq!(read_only.body["scimType"], "mutability");
        let remove_without_path = app.patch(&uri, &json!({"schemas": [PATCH], "Operations": [{"op": "remove"}]})).await;
        assert_eq!(remove_without_path.status, StatusCode::BAD_REQUEST);
        assert_eq!(remove_without_path.body["scimType"], "noTarget");
        // A failed PATCH leaves the user untouched (all or nothing).
        let atomic = app.patch(&uri, &json!({"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "title", "value": "Boss"},
            {"op": "replace", "path": "noSuchAttribute", "value": 1}
        ]})).await;
        assert_eq!(atomic.status, StatusCode::BAD_REQUEST);
        let unchanged = app.get(&uri).await;
        assert!(unchanged.body.get("title").is_none());
        assert_eq!(unchanged.body["meta"]["version"], "W/\"1\"");

        assert_eq!(app.get("/scim/v2/Users/not-a-uuid").await.status, StatusCode::NOT_FOUND);
        let no_route = app.get("/scim/v2/Nothing").await;
        assert_eq!(no_route.status, StatusCode::NOT_FOUND);
        assert_eq!(no_route.body["status"], "404");
        let bad_paging = app.get("/scim/v2/Users?startIndex=abc").await;
        assert_eq!(bad_paging.status, StatusCode::BAD_REQUEST);
    }

    async fn malformed_filters_are_invalid_filter(app: TestApp) {
        for filter in [
            "userName eq",
            "userName xx \"a\"",
            "(userName eq \"a\"",
            "userName eq \"a\" and",
            "not userName pr",
            "emails[type eq \"work\"",
            "noSuchAttribute eq \"x\"",
            "name.noSuchSub eq \"x\"",
            "active gt true",
            "\u{0}\u{1}[[[",
        ] {
            let encoded: String = filter.bytes().map(|b| format!("%{b:02X}")).collect();
            let response = app.get(&format!("/scim/v2/Users?filter={encoded}")).await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{filter}: {}", response.body);
            assert_eq!(response.body["scimType"], "invalidFilter", "{filter}");
        }
    }
}
