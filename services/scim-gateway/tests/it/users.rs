use actix_web::http::StatusCode;
use serde_json::json;

use crate::backend_tests;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

backend_tests! {
    async fn create_then_read_your_writes(app: TestApp) {
        let created = app
            .post(
                "/scim/v2/Users",
                &json!({
                    "schemas": [USER],
                    "userName": "Alice@Example.com",
                    "externalId": "ext-alice",
                    "name": {"givenName": "Alice", "familyName": "Liddell"},
                    "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
                    "active": true
                }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let id = created.body["id"].as_str().expect("id").to_owned();
        assert_eq!(created.header("location").as_deref(), Some(format!("http://scim.test/scim/v2/Users/{id}").as_str()));
        assert_eq!(created.header("etag").as_deref(), Some("W/\"1\""));
        assert_eq!(created.header("content-type").as_deref(), Some("application/scim+json"));
        assert_eq!(created.body["meta"]["resourceType"], "User");
        assert_eq!(created.body["meta"]["version"], "W/\"1\"");
        assert_eq!(created.body["userName"], "Alice@Example.com");

        let fetched = app.get(&format!("/scim/v2/Users/{id}")).await;
        assert_eq!(fetched.status, StatusCode::OK);
        assert_eq!(fetched.body, created.body);

        // userName is caseExact false: any case finds the user.
        let listed = app.get("/scim/v2/Users?filter=userName%20eq%20%22alice%40EXAMPLE.com%22").await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(listed.body["totalResults"], 1);
        assert_eq!(listed.body["Resources"][0]["id"], id.as_str());
        let by_external = app.get("/scim/v2/Users?filter=externalId%20eq%20%22ext-alice%22").await;
        assert_eq!(by_external.body["totalResults"], 1);
        // externalId is caseExact.
        let wrong_case = app.get("/scim/v2/Users?filter=externalId%20eq%20%22EXT-ALICE%22").await;
        assert_eq!(wrong_case.body["totalResults"], 0);
    }

    async fn user_name_is_unique_case_insensitively(app: TestApp) {
        app.create_user("bob@example.com").await;
        let duplicate = app
            .post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "BOB@example.COM"}))
            .await;
        assert_eq!(duplicate.status, StatusCode::CONFLICT);
        assert_eq!(duplicate.body["scimType"], "uniqueness");
        assert_eq!(duplicate.body["status"], "409");
        let all = app.get("/scim/v2/Users").await;
        assert_eq!(all.body["totalResults"], 1);
    }

    async fn concurrent_creates_of_one_user_name_make_one_user(app: TestApp) {
        let body = json!({"schemas": [USER], "userName": "race@example.com"});
        let attempts = (0..8).map(|_| app.post("/scim/v2/Users", &body));
        let results = futures_util::future::join_all(attempts).await;
        let created = results.iter().filter(|r| r.status == StatusCode::CREATED).count();
        let conflicts = results.iter().filter(|r| r.status == StatusCode::CONFLICT).count();
        assert_eq!((created, conflicts), (1, 7));
    }

    async fn replace_and_patch_follow_entra_and_okta_shapes(app: TestApp) {
        let id = app.create_user("carol@example.com").await;
        let uri = format!("/scim/v2/Users/{id}");

        // Entra: capitalized ops, booleans as strings, dotted path-less keys,
        // value-filter path creating a work e-mail.
        let patched = app
            .patch(
                &uri,
                &json!({"schemas": [PATCH], "Operations": [
                    {"op": "Replace", "path": "active", "value": "False"},
                    {"op": "Replace", "value": {"name.givenName": "Caroline", "displayName": "Caroline C"}},
                    {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "carol@home.example"},
                    {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Legal"}
                ]}),
            )
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        assert_eq!(patched.body["active"], false);
        assert_eq!(patched.body["name"]["givenName"], "Caroline");
        assert_eq!(patched.body["displayName"], "Caroline C");
        assert_eq!(patched.body["meta"]["version"], "W/\"2\"");
        let emails = patched.body["emails"].as_array().expect("emails");
        assert!(emails.iter().any(|e| e["type"] == "home" && e["value"] == "carol@home.example"));
        assert_eq!(
            patched.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            "Legal"
        );

        // The patched state is what filters see.
        let inactive = app.get("/scim/v2/Users?filter=active%20eq%20false").await;
        assert_eq!(inactive.body["totalResults"], 1);
        let by_email = "/scim/v2/Users?filter=emails.value%20eq%20%22carol@home.example%22";
        assert_eq!(app.get(by_email).await.body["totalResults"], 1);
        // A change that leaves the e-mails alone keeps them searchable.
        let retitled = app
            .patch(&uri, &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "Counsel"}]}))
            .await;
        assert_eq!(retitled.status, StatusCode::OK, "{}", retitled.body);
        assert_eq!(app.get(by_email).await.body["totalResults"], 1);

        // A PATCH that changes nothing makes no new version.
        let same = app
            .patch(&uri, &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]}))
            .await;
        assert_eq!(same.status, StatusCode::OK);
        assert_eq!(same.body["meta"]["version"], "W/\"3\"");

        // Okta: full replace with PUT.
        let replaced = app
            .put(&uri, &json!({"schemas": [USER], "userName": "carol@example.com", "active": true, "name": {"givenName": "Carol", "familyName": "King"}}))
            .await;
        assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
        assert_eq!(replaced.body["active"], true);
        assert!(replaced.body.get("emails").is_none());
        assert!(replaced.body.get("displayName").is_none());
        assert_eq!(replaced.body["meta"]["version"], "W/\"4\"");
        // The replacement dropped the e-mails: they no longer match.
        assert_eq!(app.get(by_email).await.body["totalResults"], 0);
    }

    async fn etags_guard_writes(app: TestApp) {
        let id = app.create_user("dave@example.com").await;
        let uri = format!("/scim/v2/Users/{id}");
        let body = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "CTO"}]});
        let stale = app
            .send(
                actix_web::test::TestRequest::patch()
                    .uri(&uri)
                    .insert_header(("Authorization", format!("Bearer {}", app.token)))
                    .insert_header(("If-Match", "W/\"7\""))
                    .set_payload(body.to_string()),
            )
            .await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(stale.body["status"], "412");
        let fresh = app
            .send(
                actix_web::test::TestRequest::patch()
                    .uri(&uri)
                    .insert_header(("Authorization", format!("Bearer {}", app.token)))
                    .insert_header(("If-Match", "W/\"1\""))
                    .set_payload(body.to_string()),
            )
            .await;
        assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
        let not_modified = app
            .send(
                actix_web::test::TestRequest::get()
                    .uri(&uri)
                    .insert_header(("Authorization", format!("Bearer {}", app.token)))
                    .insert_header(("If-None-Match", "W/\"2\"")),
            )
            .await;
        assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    }

    async fn concurrent_patches_serialize(app: TestApp) {
        let id = app.create_user("erin@example.com").await;
        let uri = format!("/scim/v2/Users/{id}");
        let app = &app;
        let patches = (0..6).map(|i| {
            let body = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": format!("T{i}")}]});
            let uri = uri.clone();
            async move { app.patch(&uri, &body).await }
        });
        let results = futures_util::future::join_all(patches).await;
        assert!(results.iter().all(|r| r.status == StatusCode::OK), "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
        let mut versions: Vec<String> = results.iter().map(|r| r.body["meta"]["version"].as_str().unwrap_or_default().to_owned()).collect();
        versions.sort();
        versions.dedup();
        assert_eq!(versions.len(), 6, "every write got its own version: {versions:?}");
        let last = app.get(&uri).await;
        assert_eq!(last.body["meta"]["version"], "W/\"7\"");
    }

    async fn delete_removes_the_user(app: TestApp) {
        let id = app.create_user("frank@example.com").await;
        let uri = format!("/scim/v2/Users/{id}");
        assert_eq!(app.delete(&uri).await.status, StatusCode::NO_CONTENT);
        let gone = app.get(&uri).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND);
        assert_eq!(gone.body["status"], "404");
        assert_eq!(app.delete(&uri).await.status, StatusCode::NOT_FOUND);
        // The userName is free again.
        app.create_user("frank@example.com").await;
    }

    async fn tokens_never_cross_organizations(app: TestApp) {
        let id = app.create_user("grace@example.com").await;
        let other = app.new_organization("Other org").await;
        let uri = format!("/scim/v2/Users/{id}");
        assert_eq!(app.get_as(&uri, &other).await.status, StatusCode::NOT_FOUND);
        let listed = app.get_as("/scim/v2/Users?filter=userName%20eq%20%22grace%40example.com%22", &other).await;
        assert_eq!(listed.body["totalResults"], 0);
        let patch = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]});
        assert_eq!(app.with_body_as("PATCH", &uri, &patch, &other).await.status, StatusCode::NOT_FOUND);
        // The same userName is free in the other organization.
        let body = json!({"schemas": [USER], "userName": "grace@example.com"});
        assert_eq!(app.with_body_as("POST", "/scim/v2/Users", &body, &other).await.status, StatusCode::CREATED);
        assert_eq!(app.get(&uri).await.body["active"], true);
    }

    async fn requests_without_a_valid_token_are_refused(app: TestApp) {
        let anonymous = app.send(actix_web::test::TestRequest::get().uri("/scim/v2/Users")).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
        assert_eq!(anonymous.header("www-authenticate").as_deref(), Some("Bearer realm=\"scim\""));
        assert_eq!(anonymous.body["status"], "401");
        let wrong = app.get_as("/scim/v2/Users", "scim_not-a-token").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }

    async fn paging_is_stable_and_complete(app: TestApp) {
        let mut ids = Vec::new();
        for i in 0..7 {
            ids.push(app.create_user(&format!("page{i}@example.com")).await);
        }
        let mut seen = Vec::new();
        for start in [1, 4, 7] {
            let page = app.get(&format!("/scim/v2/Users?startIndex={start}&count=3")).await;
            assert_eq!(page.body["totalResults"], 7);
            assert_eq!(page.body["startIndex"], start);
            for r in page.body["Resources"].as_array().expect("resources") {
                seen.push(r["id"].as_str().expect("id").to_owned());
            }
        }
        assert_eq!(seen, ids, "pages in creation order, no overlap, no gap");
        let past_end = app.get("/scim/v2/Users?startIndex=20&count=3").await;
        assert_eq!(past_end.body["itemsPerPage"], 0);
        let capped = app.get("/scim/v2/Users?count=100000").await;
        assert_eq!(capped.body["itemsPerPage"], 7);
        let sorted = app.get("/scim/v2/Users?sortBy=userName&sortOrder=descending&count=2").await;
        assert_eq!(sorted.body["Resources"][0]["userName"], "page6@example.com");
    }

    async fn projection_follows_attributes_parameters(app: TestApp) {
        let id = app.create_user("heidi@example.com").await;
        let only = app.get(&format!("/scim/v2/Users/{id}?attributes=userName,name.givenName")).await;
        assert_eq!(only.body["userName"], "heidi@example.com");
        assert_eq!(only.body["name"]["givenName"], "Given");
        assert!(only.body["name"].get("familyName").is_none());
        assert!(only.body.get("emails").is_none());
        assert_eq!(only.body["id"], id.as_str());
        let without = app.get(&format!("/scim/v2/Users/{id}?excludedAttributes=emails,name")).await;
        assert!(without.body.get("emails").is_none());
        assert!(without.body.get("name").is_none());
        assert_eq!(without.body["userName"], "heidi@example.com");
    }

    async fn search_endpoints_accept_post(app: TestApp) {
        let id = app.create_user("ivan@example.com").await;
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "userName sw \"ivan\"",
            "attributes": ["userName"],
            "startIndex": 1, "count": 10
        });
        let found = app.post("/scim/v2/Users/.search", &body).await;
        assert_eq!(found.status, StatusCode::OK, "{}", found.body);
        assert_eq!(found.body["totalResults"], 1);
        assert_eq!(found.body["Resources"][0]["id"], id.as_str());
        let group = app.create_group("Ivan's team", &[&id]).await;
        let root = app
            .post("/scim/v2/.search", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}))
            .await;
        assert_eq!(root.status, StatusCode::OK, "{}", root.body);
        assert_eq!(root.body["totalResults"], 2);
        let kinds: Vec<_> = root.body["Resources"].as_array().expect("resources").iter().map(|r| r["meta"]["resourceType"].clone()).collect();
        assert_eq!(kinds, vec![json!("User"), json!("Group")]);
        let groups_only = app
            .post("/scim/v2/.search", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "displayName eq \"Ivan's team\""}))
            .await;
        assert_eq!(groups_only.body["totalResults"], 1, "{}", groups_only.body);
        assert_eq!(groups_only.body["Resources"][0]["id"], group.as_str());
    }
}
