//! Bulk (RFC 7644 §3.7): bulkId references in any order, circular ones,
//! failOnErrors, the limits, the seat quota and the journal, each operation
//! answered as its single request would be.

use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use scim_gateway::domain::models::OrgId;
use serde_json::{Value, json};

use crate::support::{
    Backend, Response, TestApp, member_ids, spawn_app_with_seat_quota, suite_settings,
};
use crate::{backend_tests, on_both_backends};

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn bulk(operations: Value) -> Value {
    json!({"schemas": [BULK], "Operations": operations})
}

fn create_user(bulk_id: &str, user_name: &str) -> Value {
    json!({"method": "POST", "path": "/Users", "bulkId": bulk_id,
           "data": {"schemas": [USER], "userName": user_name}})
}

fn create_group(bulk_id: &str, name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"method": "POST", "path": "/Groups", "bulkId": bulk_id,
           "data": {"schemas": [GROUP], "displayName": name, "members": members}})
}

async fn send(app: &TestApp, body: &Value) -> Response {
    app.post("/scim/v2/Bulk", body).await
}

/// The response's operations, checked to be a BulkResponse of status 200.
fn operations(response: &Response) -> Vec<Value> {
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(
        response.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
    );
    response.body["Operations"]
        .as_array()
        .expect("Operations")
        .clone()
}

fn statuses(operations: &[Value]) -> Vec<&str> {
    operations
        .iter()
        .map(|o| o["status"].as_str().expect("status"))
        .collect()
}

/// The id at the end of an operation's `location`.
fn id_of(operation: &Value) -> String {
    let location = operation["location"].as_str().expect("location");
    location.rsplit('/').next().expect("id").to_owned()
}

fn by_bulk_id<'a>(operations: &'a [Value], bulk_id: &str) -> &'a Value {
    operations
        .iter()
        .find(|o| o["bulkId"] == bulk_id)
        .unwrap_or_else(|| panic!("no operation {bulk_id}"))
}

async fn user_count(app: &TestApp) -> u64 {
    let list = app.get("/scim/v2/Users?count=0").await;
    list.body["totalResults"].as_u64().expect("totalResults")
}

async fn user_exists(app: &TestApp, user_name: &str) -> bool {
    let filter = format!("userName eq \"{user_name}\"");
    let list = app
        .get(&format!("/scim/v2/Users?filter={}", urlencoding(&filter)))
        .await;
    list.body["totalResults"] == 1
}

fn urlencoding(s: &str) -> String {
    s.replace(' ', "%20").replace('"', "%22")
}

async fn journal_len(app: &TestApp) -> usize {
    app.store
        .journal(None, 0, 10_000)
        .await
        .expect("journal readable")
        .len()
}

backend_tests! {
    async fn two_users_and_a_group_naming_them_by_bulk_id_in_any_order(app: TestApp) {
        let manager_ref = json!({"method": "POST", "path": "/Users", "bulkId": "u2",
            "data": {"schemas": [USER, ENTERPRISE], "userName": "bulk.two@example.com",
                     ENTERPRISE: {"manager": {"value": "bulkId:u1"}}}});
        let response = send(&app, &bulk(json!([
            create_group("g1", "Bulk group", &["bulkId:u1", "bulkId:u2"]),
            create_user("u1", "bulk.one@example.com"),
            manager_ref,
        ]))).await;
        let ops = operations(&response);
        assert_eq!(statuses(&ops), ["201", "201", "201"], "{}", response.body);
        assert_eq!(ops[0]["bulkId"], "g1", "in request order");
        let u1 = id_of(by_bulk_id(&ops, "u1"));
        let u2 = id_of(by_bulk_id(&ops, "u2"));
        let g1 = by_bulk_id(&ops, "g1");
        assert_eq!(g1["method"], "POST");
        assert!(g1["location"].as_str().unwrap().starts_with("http://scim.test/scim/v2/Groups/"));
        assert!(g1["version"].as_str().unwrap().starts_with("W/\""));
        let group = app.get(&format!("/scim/v2/Groups/{}", id_of(g1))).await;
        assert_eq!(group.status, StatusCode::OK);
        let mut expected = vec![u1.clone(), u2.clone()];
        expected.sort();
        assert_eq!(member_ids(&group.body), expected);
        // A reference in any value: the enterprise manager.
        let two = app.get(&format!("/scim/v2/Users/{u2}")).await;
        assert_eq!(two.body[ENTERPRISE]["manager"]["value"], u1.as_str());
    }

    async fn a_patch_addresses_a_new_resource_by_its_bulk_id(app: TestApp) {
        let response = send(&app, &bulk(json!([
            {"method": "PATCH", "path": "/Groups/bulkId:g1", "data": {"schemas": [PATCH],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:u1"}]}]}},
            {"method": "PATCH", "path": "/Users/bulkId:u1", "data": {"schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "displayName", "value": "Patched"}]}},
            create_group("g1", "Patched group", &[]),
            create_user("u1", "patched@example.com"),
        ]))).await;
        let ops = operations(&response);
        // As alone: a group PATCH answers 204, a user PATCH 200.
        assert_eq!(statuses(&ops), ["204", "200", "201", "201"], "{}", response.body);
        let g1 = id_of(by_bulk_id(&ops, "g1"));
        let u1 = id_of(by_bulk_id(&ops, "u1"));
        assert_eq!(id_of(&ops[0]), g1, "the PATCH's location is the group's");
        assert_eq!(ops[0]["version"], "W/\"2\"");
        let group = app.get(&format!("/scim/v2/Groups/{g1}")).await;
        assert_eq!(member_ids(&group.body), vec![u1.clone()]);
        let user = app.get(&format!("/scim/v2/Users/{u1}")).await;
        assert_eq!(user.body["displayName"], "Patched");
        assert_eq!(user.body["meta"]["version"], "W/\"2\"");
    }

    async fn fail_on_errors_stops_at_the_error_and_applies_nothing_after_it(app: TestApp) {
        app.create_user("taken@example.com").await;
        let before = journal_len(&app).await;
        let mut body = bulk(json!([
            create_user("a", "first@example.com"),
            create_user("b", "taken@example.com"),
            create_user("c", "third@example.com"),
            create_group("g", "Never", &["bulkId:a"]),
        ]));
        body["failOnErrors"] = json!(1);
        let response = send(&app, &body).await;
        let ops = operations(&response);
        assert_eq!(statuses(&ops), ["201", "409"], "{}", response.body);
        assert_eq!(ops[1]["response"]["scimType"], "uniqueness");
        assert_eq!(ops[1]["response"]["status"], "409");
        assert!(user_exists(&app, "first@example.com").await);
        assert!(!user_exists(&app, "third@example.com").await);
        let groups = app.get("/scim/v2/Groups").await;
        assert_eq!(groups.body["totalResults"], 0);
        assert_eq!(journal_len(&app).await, before + 1, "only the first create");

        // Without failOnErrors every operation runs; two errors allowed, two stop.
        let mut body = bulk(json!([
            create_user("x", "taken@example.com"),
            create_user("y", "taken@example.com"),
            create_user("z", "z@example.com"),
        ]));
        let ops = operations(&send(&app, &body).await);
        assert_eq!(statuses(&ops), ["409", "409", "201"]);
        body["failOnErrors"] = json!(2);
        body["Operations"][2] = create_user("z", "z2@example.com");
        let ops = operations(&send(&app, &body).await);
        assert_eq!(statuses(&ops), ["409", "409"]);
        assert!(!user_exists(&app, "z2@example.com").await);
    }

    async fn groups_members_of_each_other_are_created_then_joined(app: TestApp) {
        let response = send(&app, &bulk(json!([
            create_group("g1", "Circle one", &["bulkId:g2"]),
            create_group("g2", "Circle two", &["bulkId:g1"]),
        ]))).await;
        let ops = operations(&response);
        assert_eq!(statuses(&ops), ["201", "201"], "{}", response.body);
        let g1 = id_of(&ops[0]);
        let g2 = id_of(&ops[1]);
        let one = app.get(&format!("/scim/v2/Groups/{g1}")).await;
        let two = app.get(&format!("/scim/v2/Groups/{g2}")).await;
        assert_eq!(member_ids(&one.body), vec![g2.clone()]);
        assert_eq!(member_ids(&two.body), vec![g1.clone()]);
        // The version answered is the group's as it stands.
        assert_eq!(ops[0]["version"], one.body["meta"]["version"]);
        assert_eq!(ops[1]["version"], two.body["meta"]["version"]);
    }

    async fn a_cycle_that_cannot_be_broken_is_409_and_writes_nothing(app: TestApp) {
        let manager = |bulk_id: &str, name: &str, manager: &str| json!({
            "method": "POST", "path": "/Users", "bulkId": bulk_id,
            "data": {"schemas": [USER, ENTERPRISE], "userName": name,
                     ENTERPRISE: {"manager": {"value": format!("bulkId:{manager}")}}}});
        let before = journal_len(&app).await;
        let response = send(&app, &bulk(json!([
            manager("m1", "m1@example.com", "m2"),
            manager("m2", "m2@example.com", "m1"),
            create_user("ok", "ok@example.com"),
        ]))).await;
        let ops = operations(&response);
        assert_eq!(statuses(&ops), ["409", "409", "201"], "{}", response.body);
        assert_eq!(ops[0]["response"]["scimType"], "invalidValue");
        assert_eq!(user_count(&app).await, 1);
        assert_eq!(journal_len(&app).await, before + 1);
    }

    async fn an_unknown_or_failed_bulk_id_fails_its_operation_with_409(app: TestApp) {
        let before = journal_len(&app).await;
        let response = send(&app, &bulk(json!([
            create_group("g1", "Unknown member", &["bulkId:nobody"]),
            {"method": "POST", "path": "/Users", "bulkId": "bad", "data": {"schemas": [USER]}},
            create_group("g2", "Failed member", &["bulkId:bad"]),
            {"method": "DELETE", "path": "/Users/bulkId:nobody"},
        ]))).await;
        let ops = operations(&response);
        assert_eq!(statuses(&ops), ["409", "400", "409", "409"], "{}", response.body);
        for failed in [&ops[0], &ops[2], &ops[3]] {
            assert_eq!(failed["response"]["scimType"], "invalidValue");
            assert!(!failed["response"]["detail"].as_str().unwrap().contains("nobody"));
        }
        let groups = app.get("/scim/v2/Groups").await;
        assert_eq!(groups.body["totalResults"], 0);
        assert_eq!(journal_len(&app).await, before);
    }

    async fn a_malformed_bulk_request_is_refused_whole(app: TestApp) {
        let ok = create_user("a", "never@example.com");
        let cases = [
            (json!({"Operations": [ok.clone()]}), "invalidSyntax"),
            (json!({"schemas": [BULK]}), "invalidSyntax"),
            (bulk(json!([ok.clone(), {"path": "/Users", "bulkId": "b", "data": {}}])), "invalidSyntax"),
            (bulk(json!([ok.clone(), {"method": "POST", "path": "/Users", "data": {}}])), "invalidSyntax"),
            (bulk(json!([ok.clone(), create_user("a", "other@example.com")])), "invalidValue"),
            (bulk(json!([ok.clone(), {"method": "DELETE", "path": "/Users/x", "version": "3"}])), "invalidSyntax"),
        ];
        for (body, scim_type) in cases {
            let response = send(&app, &body).await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body}: {}", response.body);
            assert_eq!(response.body["scimType"], scim_type, "{body}");
        }
        let not_json = app.send(
            actix_web::test::TestRequest::post()
                .uri("/scim/v2/Bulk")
                .insert_header(("Authorization", format!("Bearer {}", app.token)))
                .insert_header(("Content-Type", "application/scim+json"))
                .set_payload("{\"schemas\": [")
        ).await;
        assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
        assert_eq!(not_json.body["scimType"], "invalidSyntax");
        assert_eq!(user_count(&app).await, 0, "no partial write");
        assert_eq!(app.get("/scim/v2/Bulk").await.status, StatusCode::METHOD_NOT_ALLOWED);
    }

    async fn each_operation_keeps_its_single_requests_rules(app: TestApp) {
        let id = app.create_user("versioned@example.com").await;
        let group = app.create_group("Versioned", &[]).await;
        let response = send(&app, &bulk(json!([
            {"method": "PUT", "path": format!("/Users/{id}"), "version": "W/\"7\"",
             "data": {"schemas": [USER], "userName": "versioned@example.com", "displayName": "No"}},
            {"method": "PUT", "path": format!("/Users/{id}"), "version": "W/\"1\"",
             "data": {"schemas": [USER], "userName": "versioned@example.com", "displayName": "Yes"}},
            {"method": "DELETE", "path": format!("/Groups/{group}")},
            {"method": "DELETE", "path": format!("/Groups/{group}")},
            {"method": "POST", "path": "/Devices", "bulkId": "d", "data": {}},
            {"method": "POST", "path": format!("/Users/{id}"), "bulkId": "p", "data": {}},
        ]))).await;
        let ops = operations(&response);
        assert_eq!(statuses(&ops), ["412", "200", "204", "404", "404", "405"], "{}", response.body);
        assert_eq!(ops[1]["version"], "W/\"2\"");
        assert_eq!(id_of(&ops[1]), id);
        assert_eq!(id_of(&ops[2]), group);
        let user = app.get(&format!("/scim/v2/Users/{id}")).await;
        assert_eq!(user.body["displayName"], "Yes");
    }

    async fn the_journal_has_one_entry_per_successful_operation(app: TestApp) {
        let before = journal_len(&app).await;
        let response = send(&app, &bulk(json!([
            create_user("a", "ja@example.com"),
            create_user("b", "jb@example.com"),
            create_user("c", "ja@example.com"),
            create_group("g", "Journaled", &["bulkId:a"]),
            {"method": "PATCH", "path": "/Users/bulkId:b", "data": {"schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "active", "value": false}]}},
            {"method": "DELETE", "path": "/Users/bulkId:b"},
        ]))).await;
        let ops = operations(&response);
        assert_eq!(statuses(&ops), ["201", "201", "409", "201", "200", "204"], "{}", response.body);
        let events = app.store.journal(None, 0, 10_000).await.expect("journal");
        let types: Vec<String> = events[before..].iter().map(|e| e.routing_key().to_owned()).collect();
        assert_eq!(types.len(), 5, "{types:?}");
        assert_eq!(types.iter().filter(|t| *t == "user.provisioned").count(), 2, "{types:?}");
        assert!(types.contains(&"group.provisioned".to_owned()), "{types:?}");
        assert!(types.contains(&"user.deactivated".to_owned()), "{types:?}");
        assert_eq!(types.last().map(String::as_str), Some("user.deleted"), "{types:?}");
    }
}

/// A gateway whose Bulk limits are small: 3 operations, 2000 bytes.
async fn small_bulk_gateway(backend: Backend) -> Option<TestApp> {
    let url = backend.fresh_database("gateway.db").await?;
    let mut settings = suite_settings(url);
    settings.scim.bulk_max_operations = 3;
    settings.scim.bulk_max_payload_bytes = 2000;
    Some(TestApp::spawn(&settings, "Test org").await)
}

async fn bulk_limits_are_advertised_and_enforced_before_anything_runs(backend: Backend) {
    let Some(app) = small_bulk_gateway(backend).await else {
        return;
    };
    let config = app.get("/scim/v2/ServiceProviderConfig").await;
    assert_eq!(
        config.body["bulk"],
        json!({"supported": true, "maxOperations": 3, "maxPayloadSize": 2000})
    );
    let four = bulk(json!([
        create_user("a", "a@example.com"),
        create_user("b", "b@example.com"),
        create_user("c", "c@example.com"),
        create_user("d", "d@example.com"),
    ]));
    let response = send(&app, &four).await;
    assert_eq!(
        response.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        response.body
    );
    assert_eq!(response.body["scimType"], "tooLarge");
    assert!(response.body["detail"].as_str().unwrap().contains("3"));
    let padding = "x".repeat(2000);
    let large = bulk(json!([{"method": "POST", "path": "/Users", "bulkId": "a",
        "data": {"schemas": [USER], "userName": "large@example.com", "displayName": padding}}]));
    let response = send(&app, &large).await;
    assert_eq!(
        response.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        response.body
    );
    assert_eq!(response.body["scimType"], "tooLarge");
    assert!(response.body["detail"].as_str().unwrap().contains("2000"));
    assert_eq!(user_count(&app).await, 0);
    // Within both: runs. Each operation's data still obeys the
    // per-resource limit of the single request.
    let three = bulk(json!([
        create_user("a", "a@example.com"),
        create_user("b", "b@example.com"),
        create_user("c", "c@example.com"),
    ]));
    assert_eq!(
        statuses(&operations(&send(&app, &three).await)),
        ["201", "201", "201"]
    );
}

async fn a_bulk_over_the_seat_quota_creates_exactly_the_free_seats(backend: Backend) {
    let Some(app) = spawn_app_with_seat_quota(backend, 3).await else {
        return;
    };
    let creates: Vec<Value> = (0..8)
        .map(|i| create_user(&format!("u{i}"), &format!("seat{i}@example.com")))
        .collect();
    let response = send(&app, &bulk(Value::Array(creates))).await;
    let ops = operations(&response);
    let created = statuses(&ops).iter().filter(|s| **s == "201").count();
    let refused: Vec<&Value> = ops.iter().filter(|o| o["status"] == "403").collect();
    assert_eq!(created, 3, "{}", response.body);
    assert_eq!(refused.len(), 5, "{}", response.body);
    for op in refused {
        let detail = op["response"]["detail"].as_str().unwrap();
        assert!(detail.contains("seat quota is reached"), "{detail}");
        assert!(op.get("location").is_none());
    }
    assert_eq!(user_count(&app).await, 3);
    assert_eq!(journal_len(&app).await, 3);
}

async fn a_bulks_operations_count_against_the_organizations_rate(backend: Backend) {
    let Some(url) = backend.fresh_database("gateway.db").await else {
        return;
    };
    let mut settings = suite_settings(url);
    settings.limits.rate_per_second = 1.0;
    settings.limits.burst = 2;
    let app = TestApp::spawn(&settings, "Test org").await;
    let three = bulk(json!([
        create_user("a", "ra@example.com"),
        create_user("b", "rb@example.com"),
        create_user("c", "rc@example.com"),
    ]));
    assert_eq!(
        statuses(&operations(&send(&app, &three).await)),
        ["201", "201", "201"]
    );
    let next = app.get("/scim/v2/Users").await;
    assert_eq!(next.status, StatusCode::TOO_MANY_REQUESTS, "{}", next.body);
    let retry: u64 = next
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry >= 2, "three operations at one a second: {retry}");
}

on_both_backends!(
    a_bulks_operations_count_against_the_organizations_rate,
    bulk_limits_are_advertised_and_enforced_before_anything_runs,
    a_bulk_over_the_seat_quota_creates_exactly_the_free_seats,
);

/// A bulk counts one request per operation against its organization's rate
/// (`Limiter::charge`): the requests after it wait until the rate paid for it.
#[test]
fn a_bulk_is_charged_per_operation_and_later_requests_wait_for_it() {
    use scim_gateway::domain::limits::{Limiter, Refusal};
    use scim_gateway::domain::models::RequestLimits;
    use std::time::{Duration, Instant};
    let rules = RequestLimits {
        max_in_flight: 0,
        rate_per_second: 10.0,
        burst: 5,
    };
    let limiter = Limiter::new(rules).with_bulk_allowance(100);
    let org = OrgId(uuid::Uuid::now_v7());
    let start = Instant::now();
    drop(limiter.admit(org, &rules, start).unwrap());
    // A bulk of 50 operations: its admission took one, 49 more now.
    limiter.charge(org, &rules, 49, start);
    let refused = limiter.admit(org, &rules, start).err().unwrap();
    assert_eq!(refused.refusal, Refusal::Rate);
    // 51 tokens at 10 a second, a burst of 5 ahead: 4.6 s, 5 rounded up.
    assert_eq!(refused.retry_after_secs, 5);
    let later = |secs| start + Duration::from_secs(secs);
    assert!(limiter.admit(org, &rules, later(4)).is_err());
    assert!(limiter.admit(org, &rules, later(5)).is_ok());
    // What a bucket may owe is bounded by the allowance.
    let other = OrgId(uuid::Uuid::now_v7());
    limiter.charge(other, &rules, 1_000_000, start);
    let refused = limiter.admit(other, &rules, start).err().unwrap();
    assert_eq!(
        refused.retry_after_secs, 11,
        "10.1 s: the allowance, not a million"
    );
}

/// Every field of every `bulk operation` span, as `name=value`, in order.
#[derive(Clone, Default)]
struct OperationSpans(Arc<Mutex<Vec<Vec<String>>>>);

struct Fields<'a>(&'a mut Vec<String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for OperationSpans {
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attributes.metadata().name() == "bulk operation" {
            let mut fields = Vec::new();
            attributes.record(&mut Fields(&mut fields));
            self.0.lock().unwrap().push(fields);
        }
    }
}

async fn each_operation_has_a_span_without_personal_data(backend: Backend) {
    use tracing_subscriber::layer::SubscriberExt;
    let Some(url) = backend.fresh_database("gateway.db").await else {
        return;
    };
    let app = TestApp::spawn(&suite_settings(url), "Test org").await;
    let spans = OperationSpans::default();
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let response = send(
        &app,
        &bulk(json!([
            create_user("person-bulk-id", "private.person@example.com"),
            create_group("team-bulk-id", "Private team", &["bulkId:person-bulk-id"]),
        ])),
    )
    .await;
    assert_eq!(statuses(&operations(&response)), ["201", "201"]);
    let recorded = spans.0.lock().unwrap().clone();
    assert_eq!(
        recorded,
        [
            [
                "bulk.index=0",
                "bulk.method=\"POST\"",
                "scim.resource=\"User\""
            ],
            [
                "bulk.index=1",
                "bulk.method=\"POST\"",
                "scim.resource=\"Group\""
            ],
        ]
    );
    let all = format!("{recorded:?}");
    for private in ["private.person", "person-bulk-id", "Private team"] {
        assert!(!all.contains(private), "{all}");
    }
}

on_both_backends!(each_operation_has_a_span_without_personal_data);
