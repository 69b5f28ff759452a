//! The gateway's admin API: an organization, its connection and its tokens,
//! used by an IdP at once; a revoked token is refused at once; a token's value
//! is never shown again.

use actix_web::http::StatusCode;
use actix_web::test;
use serde_json::{Value, json};
use test_support::http::{admin_request, scim_request};

use crate::stack_tests;
use crate::support::{ADMIN_KEY, Reply, Stack, user};

async fn admin(
    stack: &Stack,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> Reply {
    let path = format!("/admin/v1/organizations{path}");
    stack
        .call(admin_request(method, &path, key, body.as_ref()))
        .await
}

async fn scim_as(
    stack: &Stack,
    token: &str,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> Reply {
    stack
        .call(scim_request(method, uri, token, body.as_ref()))
        .await
}

stack_tests! {
    async fn an_organization_token_provisions_at_once_and_revoking_it_is_immediate(stack: Stack) {
        let key = Some(ADMIN_KEY);
        let created = admin(stack, "POST", "", Some(json!({"name": "Acme", "workspace": "Privacy", "default_role": "viewer"})), key).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let org = created.body["org_id"].as_str().unwrap().to_owned();
        assert_eq!(created.body["workspace"], "Privacy");
        assert_eq!(created.body["default_role"], "viewer");
        assert!(created.body["workspace_id"].is_string());

        let issued = admin(stack, "POST", &format!("/{org}/tokens"), None, key).await;
        assert_eq!(issued.status, StatusCode::CREATED);
        let token = issued.body["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("scim_") && token.len() == 5 + 64, "256 random bits");
        assert_eq!(issued.body["prefix"], &token[..12]);

        // The token works at once, in its own organization.
        let user_created = scim_as(stack, &token, "POST", "/Users", Some(user("ida@acme.test", "Ida", "Acme", "ida@acme.test"))).await;
        assert_eq!(user_created.status, StatusCode::CREATED, "{:?}", user_created.body);
        assert_eq!(scim_as(stack, &token, "GET", "/Users", None).await.body["totalResults"], 1);
        assert_eq!(stack.scim("GET", "/Users", None).await.body["totalResults"], 0, "the other organization sees nothing");

        // Listing never shows a value; it shows when the token was last used.
        let listed = admin(stack, "GET", &format!("/{org}/tokens"), None, key).await;
        assert_eq!(listed.status, StatusCode::OK);
        assert!(!listed.body.to_string().contains(&token));
        assert!(listed.body["items"][0]["last_used_at"].is_string(), "{}", listed.body);
        let id = listed.body["items"][0]["id"].as_str().unwrap().to_owned();

        // Revoked: refused with the very next request.
        let revoked = admin(stack, "DELETE", &format!("/{org}/tokens/{id}"), None, key).await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT);
        assert_eq!(scim_as(stack, &token, "GET", "/Users", None).await.status, StatusCode::UNAUTHORIZED);
        let listed = admin(stack, "GET", &format!("/{org}/tokens"), None, key).await;
        assert!(listed.body["items"][0]["revoked_at"].is_string());

        // The connection's default role is what new accounts get.
        let second = admin(stack, "POST", &format!("/{org}/tokens"), None, key).await;
        let second = second.body["token"].as_str().unwrap().to_owned();
        let configured = admin(stack, "PUT", &format!("/{org}/connection"), Some(json!({"default_role": "admin"})), key).await;
        assert_eq!(configured.status, StatusCode::OK);
        assert_eq!(configured.body["default_role"], "admin");
        let ada = scim_as(stack, &second, "POST", "/Users", Some(user("ada@acme.test", "Ada", "Acme", "ada@acme.test"))).await;
        assert_eq!(ada.status, StatusCode::CREATED);
        stack.settle().await;
        let accounts = stack
            .call(test::TestRequest::get()
                .uri(&format!("/admin/v1/organizations/{org}/accounts"))
                .insert_header(("Authorization", format!("Bearer {ADMIN_KEY}"))))
            .await;
        let roles: Vec<&str> = accounts.body["items"].as_array().unwrap().iter().map(|a| a["role"].as_str().unwrap()).collect();
        assert_eq!(roles, vec!["viewer", "admin"]);
    }

    async fn a_rotated_token_works_only_within_its_overlap(stack: Stack) {
        let key = Some(ADMIN_KEY);
        let created = admin(stack, "POST", "", Some(json!({"name": "Rotating"})), key).await;
        let org = created.body["org_id"].as_str().unwrap().to_owned();
        let first = admin(stack, "POST", &format!("/{org}/tokens"), None, key).await;
        let (old, old_id) = (first.body["token"].as_str().unwrap().to_owned(), first.body["id"].as_str().unwrap().to_owned());
        let rotated = admin(stack, "POST", &format!("/{org}/tokens/{old_id}/rotate"), Some(json!({"overlap_seconds": 1})), key).await;
        assert_eq!(rotated.status, StatusCode::CREATED, "{:?}", rotated.body);
        let new = rotated.body["token"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        assert!(rotated.body["previous"]["expires_at"].is_string());
        // Within the overlap both work…
        assert_eq!(scim_as(stack, &old, "GET", "/Users", None).await.status, StatusCode::OK);
        assert_eq!(scim_as(stack, &new, "GET", "/Users", None).await.status, StatusCode::OK);
        // …after it only the new one.
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        assert_eq!(scim_as(stack, &old, "GET", "/Users", None).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(scim_as(stack, &new, "GET", "/Users", None).await.status, StatusCode::OK);
        // Bad overlaps and unknown tokens are refused.
        let new_id = rotated.body["id"].as_str().unwrap().to_owned();
        let too_long = admin(stack, "POST", &format!("/{org}/tokens/{new_id}/rotate"), Some(json!({"overlap_seconds": 100_000_000})), key).await;
        assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
        // Beyond what a duration can hold: refused the same way, no panic.
        for seconds in [i64::MAX, i64::MIN] {
            let absurd = admin(stack, "POST", &format!("/{org}/tokens/{new_id}/rotate"), Some(json!({"overlap_seconds": seconds})), key).await;
            assert_eq!(absurd.status, StatusCode::BAD_REQUEST, "{seconds}");
        }
        let unknown = uuid::Uuid::now_v7();
        assert_eq!(admin(stack, "POST", &format!("/{org}/tokens/{unknown}/rotate"), None, key).await.status, StatusCode::NOT_FOUND);
    }

    async fn the_connection_test_says_what_is_wrong(stack: Stack) {
        let key = Some(ADMIN_KEY);
        let created = admin(stack, "POST", "", Some(json!({"name": "Tested", "workspace": "Main"})), key).await;
        let org = created.body["org_id"].as_str().unwrap().to_owned();
        let test_connection = |token: Option<String>| {
            let org = org.clone();
            async move {
                let body = token.map(|t| json!({"token": t}));
                admin(stack, "POST", &format!("/{org}/connection/test"), body, Some(ADMIN_KEY)).await
            }
        };
        let failing = |reply: &Reply| -> Vec<String> {
            reply.body["checks"].as_array().unwrap().iter()
                .filter(|c| c["ok"] == false)
                .map(|c| c["check"].as_str().unwrap().to_owned())
                .collect()
        };

        // No token yet.
        let reply = test_connection(None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body["ok"], false);
        assert_eq!(failing(&reply), vec!["tokens"]);

        let issued = admin(stack, "POST", &format!("/{org}/tokens"), None, key).await;
        let token = issued.body["token"].as_str().unwrap().to_owned();
        let reply = test_connection(Some(token.clone())).await;
        assert_eq!(reply.body["ok"], true, "{}", reply.body);
        // A token of another organization, or a made-up one, is named as the problem.
        let reply = test_connection(Some(stack.token.clone())).await;
        assert_eq!(failing(&reply), vec!["token"]);
        assert!(reply.body.to_string().contains("another organization"));
        let reply = test_connection(Some("scim_made_up".into())).await;
        assert_eq!(failing(&reply), vec!["token"]);

        // Without SCIM in the subscription, the test says so.
        let set = stack
            .call(test::TestRequest::put()
                .uri(&format!("/admin/v1/organizations/{org}/subscription"))
                .insert_header(("Authorization", format!("Bearer {ADMIN_KEY}")))
                .insert_header(("Content-Type", "application/json"))
                .set_payload(json!({"seat_quota": 5, "scim_included": false}).to_string()))
            .await;
        assert_eq!(set.status, StatusCode::OK);
        stack.settle().await;
        let reply = test_connection(Some(token)).await;
        assert!(failing(&reply).contains(&"subscription".to_owned()), "{}", reply.body);
        assert!(reply.body.to_string().contains("not included"));
    }

    async fn the_admin_api_wants_its_key_and_valid_input(stack: Stack) {
        assert_eq!(admin(stack, "POST", "", Some(json!({"name": "X"})), None).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(admin(stack, "POST", "", Some(json!({"name": "X"})), Some("wrong")).await.status, StatusCode::UNAUTHORIZED);
        let key = Some(ADMIN_KEY);
        assert_eq!(admin(stack, "POST", "", Some(json!({"name": "  "})), key).await.status, StatusCode::BAD_REQUEST);
        assert_eq!(admin(stack, "POST", "", Some(json!({"title": "X"})), key).await.status, StatusCode::BAD_REQUEST);
        let unknown = uuid::Uuid::now_v7();
        assert_eq!(admin(stack, "GET", &format!("/{unknown}"), None, key).await.status, StatusCode::NOT_FOUND);
        assert_eq!(admin(stack, "POST", &format!("/{unknown}/tokens"), None, key).await.status, StatusCode::NOT_FOUND);
        assert_eq!(admin(stack, "DELETE", &format!("/{}/tokens/{unknown}", stack.org.0), None, key).await.status, StatusCode::NOT_FOUND);
        assert_eq!(admin(stack, "GET", "/not-an-id", None, key).await.status, StatusCode::NOT_FOUND);
    }
}
