use actix_web::http::StatusCode;

use crate::backend_tests;

backend_tests! {
    async fn discovery_documents_tell_the_truth(app: TestApp) {
        let config = app.get("/scim/v2/ServiceProviderConfig").await;
        assert_eq!(config.status, StatusCode::OK);
        assert_eq!(config.body["patch"]["supported"], true);
        assert_eq!(config.body["bulk"]["supported"], true);
        assert_eq!(config.body["filter"]["supported"], true);
        assert_eq!(config.body["filter"]["maxResults"], 50);
        assert_eq!(config.body["etag"]["supported"], true);
        assert_eq!(config.body["sort"]["supported"], true);
        assert_eq!(config.body["authenticationSchemes"][0]["type"], "oauthbearertoken");

        let types = app.get("/scim/v2/ResourceTypes").await;
        assert_eq!(types.body["totalResults"], 2);
        let user_type = app.get("/scim/v2/ResourceTypes/User").await;
        assert_eq!(user_type.body["endpoint"], "/Users");
        assert_eq!(
            user_type.body["schemaExtensions"][0]["schema"],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        );

        let schemas = app.get("/scim/v2/Schemas").await;
        assert_eq!(schemas.body["totalResults"], 3);
        let user = app.get("/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await;
        assert_eq!(user.status, StatusCode::OK);
        let user_name = user.body["attributes"].as_array().expect("attributes").iter().find(|a| a["name"] == "userName").cloned().expect("userName");
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["required"], true);
        assert_eq!(app.get("/scim/v2/Schemas/urn:nope").await.status, StatusCode::NOT_FOUND);
    }

    async fn health_endpoints_answer(app: TestApp) {
        let alive = app.send(actix_web::test::TestRequest::get().uri("/healthz")).await;
        assert_eq!(alive.status, StatusCode::OK);
                let ready = app.send(actix_web::test::TestRequest::get().uri("/readyz")).await;
        assert_eq!(ready.status, StatusCode::OK);
        assert_eq!(ready.body["journal"]["unpublished"], 0);
        app.create_user("lag@example.com").await;
        let lagging = app.send(actix_web::test::TestRequest::get().uri("/readyz")).await;
        assert_eq!(lagging.body["journal"]["unpublished"], 1, "no relay runs in tests: the event waits");
        assert!(lagging.body["journal"]["oldest_unpublished_at"].is_string());
    }
}
