//! Two organizations on one gateway: with one organization's token, the
//! other's users and groups are never listed, found by filter or .search,
//! read, replaced, patched or deleted — an id of the other organization
//! answers exactly like an unknown id (404), and its resources stay as they
//! were.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::backend_tests;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

backend_tests! {
    async fn one_organization_never_sees_or_changes_another(app: TestApp) {
        // Organization A (the app's token) owns a user and a group.
        let user = app.create_user("ann@a.example").await;
        let group = app.create_group("A team", &[&user]).await;
        let other = app.new_organization("Organization B").await;
        let unknown = uuid::Uuid::now_v7().to_string();

        // Lists, filters and searches of B see nothing of A.
        for uri in [
            "/scim/v2/Users".to_owned(),
            "/scim/v2/Groups".to_owned(),
            "/scim/v2/Users?filter=userName%20eq%20%22ann%40a.example%22".to_owned(),
            "/scim/v2/Groups?filter=displayName%20eq%20%22A%20team%22".to_owned(),
            format!("/scim/v2/Groups?filter=members%20eq%20%22{user}%22"),
        ] {
            let listed = app.get_as(&uri, &other).await;
            assert_eq!(listed.status, StatusCode::OK, "{uri}");
            assert_eq!(listed.body["totalResults"], 0, "{uri}: {}", listed.body);
        }
        for path in ["/scim/v2/.search", "/scim/v2/Users/.search", "/scim/v2/Groups/.search"] {
            let searched = app
                .with_body_as("POST", path, &json!({"schemas": [SEARCH], "filter": "id pr"}), &other)
                .await;
            assert_eq!(searched.body["totalResults"], 0, "{path}: {}", searched.body);
        }

        // Every request on A's ids answers like an unknown id.
        for (kind, id, body) in [
            ("Users", &user, json!({"schemas": [USER], "userName": "stolen@b.example"})),
            ("Groups", &group, json!({"schemas": [GROUP], "displayName": "Stolen"})),
        ] {
            for target in [id.as_str(), unknown.as_str()] {
                let uri = format!("/scim/v2/{kind}/{target}");
                assert_eq!(app.get_as(&uri, &other).await.status, StatusCode::NOT_FOUND, "GET {uri}");
                assert_eq!(app.with_body_as("PUT", &uri, &body, &other).await.status, StatusCode::NOT_FOUND, "PUT {uri}");
                let patch = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "Stolen"}]});
                assert_eq!(app.with_body_as("PATCH", &uri, &patch, &other).await.status, StatusCode::NOT_FOUND, "PATCH {uri}");
                let delete = app
                    .send(actix_web::test::TestRequest::delete().uri(&uri).insert_header(("Authorization", format!("Bearer {other}"))))
                    .await;
                assert_eq!(delete.status, StatusCode::NOT_FOUND, "DELETE {uri}");
            }
        }

        // B cannot make A's user a member of its own group either.
        let b_group = json!({"schemas": [GROUP], "displayName": "B team", "members": [{"value": user}]});
        let refused = app.with_body_as("POST", "/scim/v2/Groups", &b_group, &other).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);

        // A's resources are untouched, and A sees nothing of B's.
        let a_user = app.get(&format!("/scim/v2/Users/{user}")).await;
        assert_eq!(a_user.status, StatusCode::OK);
        assert_eq!(a_user.body["userName"], "ann@a.example");
        assert!(a_user.body.get("displayName").is_none());
        let a_group = app.get(&format!("/scim/v2/Groups/{group}")).await;
        assert_eq!(a_group.body["displayName"], "A team");
        assert_eq!(a_group.body["members"][0]["value"], user.as_str());
        let b_user = app
            .with_body_as("POST", "/scim/v2/Users", &json!({"schemas": [USER], "userName": "bob@b.example"}), &other)
            .await;
        assert_eq!(b_user.status, StatusCode::CREATED);
        assert_eq!(app.get("/scim/v2/Users").await.body["totalResults"], 1);
        assert_eq!(
            app.get(&format!("/scim/v2/Users/{}", b_user.body["id"].as_str().unwrap())).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

backend_tests! {
    async fn repeated_failed_authentication_is_refused_with_429(app: TestApp) {
        let guesser: std::net::SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let neighbour: std::net::SocketAddr = "203.0.113.8:40000".parse().unwrap();
        let request = |token: &str, peer: std::net::SocketAddr| {
            actix_web::test::TestRequest::get()
                .uri("/scim/v2/Users")
                .peer_addr(peer)
                .insert_header(("Authorization", format!("Bearer {token}")))
        };
        // The default budget: 20 failures a minute per address.
        for _ in 0..20 {
            let r = app.send(request("scim_guess", guesser)).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
        let refused = app.send(request("scim_guess", guesser)).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait));
        assert_eq!(refused.body["status"], "429");
        // A valid client at the same address is unaffected; other addresses too.
        assert_eq!(app.send(request(&app.token, guesser)).await.status, StatusCode::OK);
        assert_eq!(app.send(request("scim_guess", neighbour)).await.status, StatusCode::UNAUTHORIZED);
    }
}
