//! Inputs that cannot be read fail closed: an unreadable `If-Match` or
//! `If-None-Match` is a 400, never "no precondition" (and `If-None-Match` on
//! a write is evaluated, not ignored); a `Content-Type` that
//! is not a readable JSON type is a 415; a lone value for a multi-valued
//! attribute, or a non-object value of a multi-valued complex one, is a 400
//! `invalidValue`. Each refused request writes nothing: the resource reads
//! back unchanged and the journal holds no new event.

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::test::TestRequest;
use provisioning_events::Event;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::support::TestApp;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

pub(crate) async fn journal(app: &TestApp) -> Vec<Event> {
    app.store
        .journal(None, 0, 10_000)
        .await
        .expect("journal readable")
}

pub(crate) fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

/// `request` with the organization's token and `header` set to raw bytes.
fn with_raw_header(
    app: &TestApp,
    request: TestRequest,
    name: &'static str,
    bytes: &[u8],
) -> TestRequest {
    request
        .insert_header(("Authorization", format!("Bearer {}", app.token)))
        .insert_header((name, HeaderValue::from_bytes(bytes).expect("header bytes")))
}

fn json_request(request: TestRequest, body: &Value) -> TestRequest {
    request
        .insert_header(("Content-Type", "application/scim+json"))
        .set_payload(body.to_string())
}

/// The user as read back: its whole document (with `meta.version`).
async fn read_back(app: &TestApp, uri: &str) -> Value {
    let found = app.get(uri).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    found.body
}

async fn users_named(app: &TestApp, user_name: &str) -> u64 {
    let found = app
        .get(&format!(
            "/scim/v2/Users?filter=userName%20eq%20%22{user_name}%22"
        ))
        .await;
    found.body["totalResults"].as_u64().expect("totalResults")
}

backend_tests! {
    async fn unreadable_preconditions_answer_400_and_change_nothing(app: TestApp) {
        let id = app.create_user("precondition@example.com").await;
        let uri = format!("/scim/v2/Users/{id}");
        let before = read_back(&app, &uri).await;
        let events = journal(&app).await.len();
        let unreadable: [&[u8]; 6] = [
            b"W/\"\xc3\xa9\"",
            b"\xff",
            b"W/1",
            b"\"1",
            b"",
            b"W/\"1\", garbage",
        ];
        let rename = patch(json!([{"op": "replace", "path": "displayName", "value": "Changed"}]));
        for bytes in unreadable {
            let header = "If-Match";
            let patched = app
                .send(with_raw_header(&app, json_request(TestRequest::patch().uri(&uri), &rename), header, bytes))
                .await;
            assert_eq!(patched.status, StatusCode::BAD_REQUEST, "PATCH {bytes:?}: {}", patched.body);
            assert_eq!(patched.body["scimType"], "invalidSyntax");
            assert!(patched.body["detail"].as_str().unwrap().contains("If-Match"));
            let replaced = app
                .send(with_raw_header(
                    &app,
                    json_request(TestRequest::put().uri(&uri), &json!({"schemas": [USER], "userName": "precondition@example.com", "displayName": "Changed"})),
                    header,
                    bytes,
                ))
                .await;
            assert_eq!(replaced.status, StatusCode::BAD_REQUEST, "PUT {bytes:?}");
            let deleted = app
                .send(with_raw_header(&app, TestRequest::delete().uri(&uri), header, bytes))
                .await;
            assert_eq!(deleted.status, StatusCode::BAD_REQUEST, "DELETE {bytes:?}");
            let deleted = app
                .send(with_raw_header(&app, TestRequest::delete().uri(&uri), "If-None-Match", bytes))
                .await;
            assert_eq!(deleted.status, StatusCode::BAD_REQUEST, "DELETE If-None-Match {bytes:?}");
            let read = app
                .send(with_raw_header(&app, TestRequest::get().uri(&uri), "If-None-Match", bytes))
                .await;
            assert_eq!(read.status, StatusCode::BAD_REQUEST, "GET {bytes:?}");
            assert!(read.body["detail"].as_str().unwrap().contains("If-None-Match"));
        }
        assert_eq!(read_back(&app, &uri).await, before, "nothing changed");
        assert_eq!(journal(&app).await.len(), events, "nothing journaled");

        // A well-formed tag that is not the current version: 412, still nothing.
        let stale = app
            .send(with_raw_header(&app, TestRequest::delete().uri(&uri), "If-Match", b"W/\"abc\""))
            .await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(read_back(&app, &uri).await, before);
        // The current version, as one of several tags on two header lines, works.
        let current = app
            .send(
                with_raw_header(&app, json_request(TestRequest::patch().uri(&uri), &rename), "If-Match", b"W/\"7\"")
                    .append_header(("If-Match", "W/\"1\"")),
            )
            .await;
        assert_eq!(current.status, StatusCode::OK, "{}", current.body);
        let not_modified = app
            .send(with_raw_header(&app, TestRequest::get().uri(&uri), "If-None-Match", b"\"5\", W/\"2\""))
            .await;
        assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
        assert_eq!(journal(&app).await.len(), events + 1);

        // If-None-Match on a write is evaluated, never ignored: `*` or the
        // current version fails it (412), another version passes.
        let current = read_back(&app, &uri).await;
        for bytes in [&b"*"[..], b"W/\"2\"", b"W/\"9\", \"2\""] {
            let refused = app
                .send(with_raw_header(&app, json_request(TestRequest::patch().uri(&uri), &rename), "If-None-Match", bytes))
                .await;
            assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED, "{bytes:?}");
            let refused = app
                .send(with_raw_header(&app, TestRequest::delete().uri(&uri), "If-None-Match", bytes))
                .await;
            assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED, "{bytes:?}");
        }
        let both = app
            .send(
                with_raw_header(&app, TestRequest::delete().uri(&uri), "If-Match", b"W/\"2\"")
                    .insert_header(("If-None-Match", "W/\"2\"")),
            )
            .await;
        assert_eq!(both.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(read_back(&app, &uri).await, current);
        assert_eq!(journal(&app).await.len(), events + 1);
        let other = app
            .send(with_raw_header(&app, TestRequest::delete().uri(&uri), "If-None-Match", b"W/\"1\""))
            .await;
        assert_eq!(other.status, StatusCode::NO_CONTENT);
    }

    async fn unreadable_content_types_answer_415_and_create_nothing(app: TestApp) {
        let body = json!({"schemas": [USER], "userName": "media@example.com"});
        for bytes in [&b"\xff\xfe/json"[..], b"application/j\xc3\xa9son", b"text/plain", b"foo/json", b"json", b"", b"application/xml"] {
            let request = with_raw_header(&app, TestRequest::post().uri("/scim/v2/Users"), "Content-Type", bytes)
                .set_payload(body.to_string());
            let created = app.send(request).await;
            assert_eq!(created.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{bytes:?}: {}", created.body);
            assert_eq!(created.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
            assert!(!created.body["detail"].as_str().unwrap().contains("json\u{fffd}"));
        }
        assert_eq!(users_named(&app, "media@example.com").await, 0);
        assert!(journal(&app).await.is_empty());
        for media_type in ["application/scim+json; charset=utf-8", "Application/JSON"] {
            let request = TestRequest::post()
                .uri("/scim/v2/Users")
                .insert_header(("Authorization", format!("Bearer {}", app.token)))
                .insert_header(("Content-Type", media_type))
                .set_payload(json!({"schemas": [USER], "userName": format!("ok-{}@example.com", media_type.len())}).to_string());
            assert_eq!(app.send(request).await.status, StatusCode::CREATED, "{media_type}");
        }
    }

    async fn lone_values_for_multi_valued_attributes_are_refused_everywhere(app: TestApp) {
        // POST: nothing created.
        for (attr, value) in [
            ("emails", json!("not-an-email")),
            ("phoneNumbers", json!("123")),
            ("roles", json!("x")),
            ("emails", json!({"value": "lone@example.com"})),
            ("emails", json!(["bare@example.com"])),
        ] {
            let created = app
                .post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "lone@example.com", attr: value}))
                .await;
            assert_eq!(created.status, StatusCode::BAD_REQUEST, "{attr}: {}", created.body);
            assert_eq!(created.body["scimType"], "invalidValue");
            let detail = created.body["detail"].as_str().unwrap();
            assert!(detail.contains(attr), "{detail}");
            assert!(!detail.contains("not-an-email") && !detail.contains("example.com"), "{detail}");
        }
        assert_eq!(users_named(&app, "lone@example.com").await, 0);
        assert!(journal(&app).await.is_empty());

        // PUT and PATCH (with a path, without one, through a value filter):
        // the user reads back unchanged.
        let id = app.create_user("shape@example.com").await;
        let uri = format!("/scim/v2/Users/{id}");
        let before = read_back(&app, &uri).await;
        let events = journal(&app).await.len();
        let replaced = app
            .put(&uri, &json!({"schemas": [USER], "userName": "shape@example.com", "emails": "x@example.com"}))
            .await;
        assert_eq!(replaced.status, StatusCode::BAD_REQUEST);
        assert_eq!(replaced.body["scimType"], "invalidValue");
        for ops in [
            json!([{"op": "add", "path": "emails", "value": {"value": "x@example.com"}}]),
            json!([{"op": "replace", "path": "phoneNumbers", "value": "123"}]),
            json!([{"op": "add", "value": {"roles": "x"}}]),
            json!([{"op": "replace", "value": {"emails": ["x@example.com"]}}]),
            json!([{"op": "add", "path": "emails[type eq \"work\"]", "value": "x@example.com"}]),
            json!([{"op": "replace", "path": "name", "value": "Ann"}]),
            json!([{"op": "add", "path": ENTERPRISE, "value": {"manager": ["m"]}}]),
            // All or nothing: a good operation before the bad one is not kept.
            json!([{"op": "replace", "path": "title", "value": "Boss"}, {"op": "add", "path": "roles", "value": "x"}]),
        ] {
            let patched = app.patch(&uri, &patch(ops.clone())).await;
            assert_eq!(patched.status, StatusCode::BAD_REQUEST, "{ops}: {}", patched.body);
            assert_eq!(patched.body["scimType"], "invalidValue", "{ops}");
        }
        assert_eq!(read_back(&app, &uri).await, before);
        assert_eq!(journal(&app).await.len(), events);

        // Entra's `manager` as a bare id is the one lone value taken, as the
        // manager's `value`.
        let manager = app
            .patch(&uri, &patch(json!([{"op": "add", "path": format!("{ENTERPRISE}:manager"), "value": "mgr-1"}])))
            .await;
        assert_eq!(manager.status, StatusCode::OK, "{}", manager.body);
        assert_eq!(manager.body[ENTERPRISE]["manager"]["value"], "mgr-1");
    }

    async fn lone_member_values_are_refused_on_groups(app: TestApp) {
        let member = app.create_user("member@example.com").await;
        let other = app.create_user("other@example.com").await;
        let created = app
            .post("/scim/v2/Groups", &json!({"schemas": [GROUP], "displayName": "Lone", "members": {"value": member}}))
            .await;
        assert_eq!(created.status, StatusCode::BAD_REQUEST, "{}", created.body);
        assert_eq!(created.body["scimType"], "invalidValue");
        let group = app.create_group("Shaped", &[&member]).await;
        let uri = format!("/scim/v2/Groups/{group}");
        let before = read_back(&app, &uri).await;
        let events = journal(&app).await.len();
        let replaced = app
            .put(&uri, &json!({"schemas": [GROUP], "displayName": "Shaped", "members": [other.clone()]}))
            .await;
        assert_eq!(replaced.status, StatusCode::BAD_REQUEST, "{}", replaced.body);
        for ops in [
            json!([{"op": "add", "path": "members", "value": {"value": other}}]),
            json!([{"op": "remove", "path": "members", "value": {"value": member}}]),
            json!([{"op": "replace", "path": "members", "value": other}]),
            json!([{"op": "add", "value": {"members": {"value": other}}}]),
        ] {
            let patched = app.patch(&uri, &patch(ops.clone())).await;
            assert_eq!(patched.status, StatusCode::BAD_REQUEST, "{ops}: {}", patched.body);
            assert_eq!(patched.body["scimType"], "invalidValue");
        }
        assert_eq!(read_back(&app, &uri).await, before, "members unchanged");
        assert_eq!(journal(&app).await.len(), events);
    }
}
