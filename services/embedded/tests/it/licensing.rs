//! Seat quotas: exactly the quota is ever granted, even to concurrent
//! creates; a disabled user's seat goes back; licensing down means 503 for
//! creates only; seat usage over time records a burst and its releases.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::stack_tests;
use crate::support::{Stack, set_active, user};

async fn set_quota(stack: &Stack, quota: u32) {
    let set = stack
        .admin("PUT", "/subscription", Some(json!({"seat_quota": quota})))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(set.body["seat_quota"], quota);
}

stack_tests! {
    async fn seat_usage_over_time_records_a_burst_and_its_releases(stack: Stack) {
        set_quota(stack, 20).await;
        let creates = (0..10).map(|i| {
            let email = format!("burst{i}@example.com");
            async move { stack.scim("POST", "/Users", Some(user(&email, "Burst", &format!("N{i}"), &email))).await }
        });
        let created = futures_util::future::join_all(creates).await;
        assert!(created.iter().all(|r| r.status == StatusCode::CREATED));
        stack.settle().await;
        for reply in &created[..3] {
            let id = reply.body["id"].as_str().unwrap();
            let disabled = stack.scim("PATCH", &format!("/Users/{id}"), Some(set_active(false))).await;
            assert_eq!(disabled.status, StatusCode::OK);
        }
        stack.settle().await;

        // One point an hour (two if the hour turned meanwhile): the burst's
        // peak, the releases' last value, the quota.
        let history = stack.admin("GET", "/subscription/usage", None).await;
        assert_eq!(history.status, StatusCode::OK, "{:?}", history.body);
        let points = history.body["points"].as_array().unwrap();
        assert!((1..=2).contains(&points.len()), "{points:?}");
        let peak = points.iter().map(|p| p["peak"].as_u64().unwrap()).max();
        assert_eq!(peak, Some(10), "{points:?}");
        assert_eq!(points.last().unwrap()["last"], 7, "{points:?}");
        assert!(points.iter().all(|p| p["quota"] == 20), "{points:?}");
        let refused = stack.admin("GET", "/subscription/usage?until=tomorrow", None).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    }

    async fn exactly_the_quota_is_granted_to_concurrent_creates(stack: Stack) {
        set_quota(stack, 50).await;
        let creates = (0..80).map(|i| {
            let email = format!("seat{i}@example.com");
            async move { stack.scim("POST", "/Users", Some(user(&email, "Seat", &format!("N{i}"), &email))).await }
        });
        let replies = futures_util::future::join_all(creates).await;
        let created: Vec<_> = replies.iter().filter(|r| r.status == StatusCode::CREATED).collect();
        let refused: Vec<_> = replies.iter().filter(|r| r.status == StatusCode::FORBIDDEN).collect();
        assert_eq!(created.len(), 50, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
        assert_eq!(refused.len(), 30);
        let detail = refused[0].body["detail"].as_str().unwrap();
        assert!(detail.contains("seat quota is reached") && detail.contains("50 of 50"), "{detail}");
        assert_eq!(refused[0].body["status"], "403");
        stack.settle().await;

        // Nothing of the refused ones was written; identity has exactly 50.
        let listed = stack.scim("GET", "/Users?count=1", None).await;
        assert_eq!(listed.body["totalResults"], 50);
        let active = stack.admin("GET", "/accounts?status=active&limit=500", None).await;
        assert_eq!(active.body["items"].as_array().unwrap().len(), 50);
        let usage = stack.admin("GET", "/usage", None).await;
        assert_eq!(usage.body["seats"]["confirmed"], 50);
        assert_eq!(usage.body["seats"]["reserved"], 0);

        // A retried create of an existing user takes no second seat (409).
        let first = created[0].body["userName"].as_str().unwrap().to_owned();
        let retried = stack.scim("POST", "/Users", Some(user(&first, "Seat", "Again", &first))).await;
        assert_eq!(retried.status, StatusCode::CONFLICT);

        // Disabling one frees its seat for the next create.
        let freed = created[0].body["id"].as_str().unwrap().to_owned();
        let disabled = stack.scim("PATCH", &format!("/Users/{freed}"), Some(set_active(false))).await;
        assert_eq!(disabled.status, StatusCode::OK);
        stack.settle().await;
        let next = stack.scim("POST", "/Users", Some(user("next@example.com", "Next", "One", "next@example.com"))).await;
        assert_eq!(next.status, StatusCode::CREATED, "{:?}", next.body);
        stack.settle().await;

        // Full again: re-enabling the disabled user is refused and it stays disabled.
        let enable = stack.scim("PATCH", &format!("/Users/{freed}"), Some(set_active(true))).await;
        assert_eq!(enable.status, StatusCode::FORBIDDEN, "{:?}", enable.body);
        let still = stack.scim("GET", &format!("/Users/{freed}"), None).await;
        assert_eq!(still.body["active"], false);
        let usage = stack.admin("GET", "/usage", None).await;
        assert_eq!(usage.body["seats"]["used"], 50);

        // A bigger quota takes effect at once.
        set_quota(stack, 51).await;
        let enable = stack.scim("PATCH", &format!("/Users/{freed}"), Some(set_active(true))).await;
        assert_eq!(enable.status, StatusCode::OK, "{:?}", enable.body);
        stack.settle().await;
        assert_eq!(stack.admin("GET", "/usage", None).await.body["seats"]["confirmed"], 51);
    }

    async fn a_subscription_without_scim_refuses_every_scim_request(stack: Stack) {
        let created = stack.scim("POST", "/Users", Some(user("before@example.com", "Be", "Fore", "before@example.com"))).await;
        assert_eq!(created.status, StatusCode::CREATED);
        let set = stack
            .admin("PUT", "/subscription", Some(json!({"seat_quota": 10, "scim_included": false})))
            .await;
        assert_eq!(set.status, StatusCode::OK);
        // Creates are refused by licensing at once…
        let refused = stack.scim("POST", "/Users", Some(user("no@example.com", "No", "Scim", "no@example.com"))).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.body["detail"].as_str().unwrap().contains("not included"));
        // …and once the gateway has the subscription.changed event, every request.
        stack.settle().await;
        for (method, uri) in [("GET", "/Users".to_owned()), ("GET", "/Groups".to_owned()), ("DELETE", format!("/Users/{}", created.body["id"].as_str().unwrap()))] {
            let reply = stack.scim(method, &uri, None).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {uri}: {:?}", reply.body);
            assert!(reply.body["detail"].as_str().unwrap().contains("not included in this organization's subscription"));
        }
        // Included again: back to normal, nothing was deleted meanwhile.
        let set = stack
            .admin("PUT", "/subscription", Some(json!({"seat_quota": 10, "scim_included": true})))
            .await;
        assert_eq!(set.status, StatusCode::OK);
        stack.settle().await;
        let listed = stack.scim("GET", "/Users", None).await;
        assert_eq!(listed.status, StatusCode::OK);
        assert_eq!(listed.body["totalResults"], 1);
    }
}

/// Licensing down: creates answer 503 and change nothing, updates of
/// existing users go on; licensing back: creates work again, nothing
/// restarted. (Distributed only: the embedded process has licensing inside.)
#[actix_web::test]
async fn licensing_down_means_503_for_creates_only() {
    use crate::support::Mode;
    let Some(stack) = Stack::start(Mode::Distributed).await else {
        return;
    };
    set_quota(&stack, 10).await;
    let created = stack
        .scim(
            "POST",
            "/Users",
            Some(user("up@example.com", "Up", "Before", "up@example.com")),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_owned();

    stack.stop_licensing().await;
    let refused = stack
        .scim(
            "POST",
            "/Users",
            Some(user(
                "down@example.com",
                "Down",
                "During",
                "down@example.com",
            )),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        refused.body
    );
    let renamed = stack
        .scim(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "displayName", "value": "Still Editable"}]
            })),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    let disabled = stack
        .scim("PATCH", &format!("/Users/{id}"), Some(set_active(false)))
        .await;
    assert_eq!(disabled.status, StatusCode::OK);
    assert_eq!(
        stack.scim("GET", "/Users", None).await.body["totalResults"],
        1,
        "the refused create wrote nothing"
    );

    stack.start_licensing().await;
    let created = stack
        .scim(
            "POST",
            "/Users",
            Some(user(
                "down@example.com",
                "Down",
                "After",
                "down@example.com",
            )),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    stack.stop().await;
}
