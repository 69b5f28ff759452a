//! Concurrent writes to one resource (issue 22): without `If-Match` none
//! fails because another request changed the resource, member adds and
//! removes commute, an `If-Match` stays exact, and the journal holds one
//! event per effective change with gap-free aggregate versions — in one
//! gateway and across two gateways on one database (issue 24's replicas).

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use provisioning_events::{Event, EventBody};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::support::member_ids;
use crate::support::{Backend, Response, TestApp, suite_settings};

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

fn add_member(id: &str) -> Value {
    patch(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]))
}

fn set_display_name(name: &str) -> Value {
    patch(json!([{"op": "replace", "path": "displayName", "value": name}]))
}

/// A PATCH with an `If-Match` header.
async fn patch_if_match(app: &TestApp, uri: &str, body: &Value, etag: &str) -> Response {
    app.send(
        TestRequest::patch()
            .uri(uri)
            .insert_header(("Authorization", format!("Bearer {}", app.token)))
            .insert_header(("Content-Type", "application/scim+json"))
            .insert_header(("If-Match", etag))
            .set_payload(body.to_string()),
    )
    .await
}

/// The journal's events of one aggregate, in `seq` order.
async fn events_of(app: &TestApp, aggregate: &str) -> Vec<Event> {
    app.store
        .journal(None, 0, 100_000)
        .await
        .expect("journal readable")
        .into_iter()
        .filter(|e| e.aggregate.id == aggregate)
        .collect()
}

/// Asserts the aggregate's versions are 1, 2, … in `seq` order.
fn assert_gap_free(events: &[Event]) {
    let versions: Vec<i64> = events.iter().map(|e| e.aggregate.version).collect();
    let expected: Vec<i64> = (1..=events.len() as i64).collect();
    assert_eq!(versions, expected, "aggregate versions in seq order");
}

fn statuses(replies: &[Response]) -> Vec<u16> {
    replies.iter().map(|r| r.status.as_u16()).collect()
}

/// The members named by the group's `members_added` events, and how many
/// events named them.
fn added_by_events(events: &[Event]) -> (Vec<String>, usize) {
    let mut added = Vec::new();
    let mut count = 0;
    for event in events {
        if let EventBody::GroupMembersAdded { members } = &event.body {
            count += 1;
            added.extend(members.iter().map(|m| m.id.clone()));
        }
    }
    added.sort();
    (added, count)
}

async fn create_users(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(app.create_user(&format!("{prefix}-{i}@example.com")).await);
    }
    ids
}

/// `n` PATCHes of one user at once, each an effective change; spread over
/// `gateways` round robin. Checks every answer and the journal.
async fn concurrent_user_patches(gateways: &[&TestApp], n: usize) {
    let app = gateways[0];
    let id = app.create_user("busy@example.com").await;
    let uri = format!("/scim/v2/Users/{id}");
    let replies = futures_util::future::join_all((0..n).map(|i| {
        let (gateway, uri) = (gateways[i % gateways.len()], uri.clone());
        async move {
            gateway
                .patch(&uri, &set_display_name(&format!("Name {i}")))
                .await
        }
    }))
    .await;
    assert!(
        replies.iter().all(|r| r.status == StatusCode::OK),
        "{:?}",
        statuses(&replies)
    );
    let mut versions: Vec<String> = replies
        .iter()
        .map(|r| {
            r.body["meta"]["version"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    versions.sort();
    versions.dedup();
    assert_eq!(versions.len(), n, "every write got its own version");
    let user = app.get(&uri).await;
    assert_eq!(user.body["meta"]["version"], format!("W/\"{}\"", n + 1));
    let events = events_of(app, &id).await;
    assert_eq!(
        events.len(),
        n + 1,
        "provisioned, then one update per PATCH"
    );
    assert_eq!(events[0].routing_key(), "user.provisioned");
    assert!(
        events[1..]
            .iter()
            .all(|e| e.routing_key() == "user.updated")
    );
    assert_gap_free(&events);
}

/// `n` users added to one group at once, one PATCH each; spread over
/// `gateways` round robin. Checks every answer, the members and the journal.
async fn concurrent_member_adds(gateways: &[&TestApp], n: usize) {
    let app = gateways[0];
    let users = create_users(app, "member", n).await;
    let group = app.create_group("Everyone", &[]).await;
    let uri = format!("/scim/v2/Groups/{group}");
    let replies = futures_util::future::join_all(users.iter().enumerate().map(|(i, user)| {
        let (gateway, uri) = (gateways[i % gateways.len()], uri.clone());
        async move { gateway.patch(&uri, &add_member(user)).await }
    }))
    .await;
    assert!(
        replies.iter().all(|r| r.status == StatusCode::NO_CONTENT),
        "{:?}",
        statuses(&replies)
    );
    let mut expected = users.clone();
    expected.sort();
    let read = app.get(&uri).await;
    assert_eq!(member_ids(&read.body), expected, "every member is in");
    assert_eq!(read.body["meta"]["version"], format!("W/\"{}\"", n + 1));
    let events = events_of(app, &group).await;
    assert_eq!(events.len(), n + 1, "provisioned, then one event per add");
    assert_eq!(events[0].routing_key(), "group.provisioned");
    assert_gap_free(&events);
    let (added, count) = added_by_events(&events);
    assert_eq!((added, count), (expected, n), "each add journaled once");
}

backend_tests! {
    async fn fifty_concurrent_patches_of_one_user_all_succeed(app: TestApp) {
        concurrent_user_patches(&[&app], 50).await;
        assert_eq!(app.api.view.resource_locks().in_use(), 0, "no lock outlives its write");
    }

    async fn a_hundred_concurrent_member_adds_all_succeed(app: TestApp) {
        concurrent_member_adds(&[&app], 100).await;
        assert_eq!(app.api.view.resource_locks().in_use(), 0, "no lock outlives its write");
    }

    async fn concurrent_adds_and_removes_of_members_commute(app: TestApp) {
        // Half the members go while the other half come, all at once.
        let users = create_users(&app, "swap", 40).await;
        let (leaving, coming) = users.split_at(20);
        let leaving_refs: Vec<&str> = leaving.iter().map(String::as_str).collect();
        let group = app.create_group("Swap", &leaving_refs).await;
        let uri = format!("/scim/v2/Groups/{group}");
        let app = &app;
        let removes = leaving.iter().map(|id| {
            let body = patch(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]));
            (uri.clone(), body)
        });
        let adds = coming.iter().map(|id| (uri.clone(), add_member(id)));
        let replies = futures_util::future::join_all(
            removes.chain(adds).map(|(uri, body)| async move { app.patch(&uri, &body).await }),
        )
        .await;
        assert!(replies.iter().all(|r| r.status == StatusCode::NO_CONTENT), "{:?}", statuses(&replies));
        let mut expected = coming.to_vec();
        expected.sort();
        assert_eq!(member_ids(&app.get(&uri).await.body), expected);
        let events = events_of(app, &group).await;
        assert_eq!(events.len(), 41);
        assert_gap_free(&events);
    }

    async fn a_change_that_changes_no_membership_is_no_new_version(app: TestApp) {
        let a = app.create_user("present@example.com").await;
        let b = app.create_user("absent@example.com").await;
        let group = app.create_group("Stable", &[&a]).await;
        let uri = format!("/scim/v2/Groups/{group}");
        let unchanged = [
            add_member(&a),
            patch(json!([{"op": "remove", "path": "members", "value": [{"value": b}]}])),
            patch(json!([{"op": "remove", "path": format!("members[value eq \"{b}\"]")}])),
            // Added and removed in one request: never a member.
            patch(json!([
                {"op": "add", "path": "members", "value": [{"value": b}]},
                {"op": "remove", "path": "members", "value": [{"value": b}]}
            ])),
            // Removed and added back: a member all along.
            patch(json!([
                {"op": "remove", "path": "members"},
                {"op": "add", "path": "members", "value": [{"value": a}]}
            ])),
            patch(json!([{"op": "replace", "path": "members", "value": [{"value": a}]}])),
        ];
        for body in &unchanged {
            let reply = app.patch(&uri, body).await;
            assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
            assert_eq!(reply.header("etag").as_deref(), Some("W/\"1\""), "{body}");
        }
        let put = app
            .put(&uri, &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Stable", "members": [{"value": a}]}))
            .await;
        assert_eq!((put.status, &put.body["meta"]["version"]), (StatusCode::OK, &json!("W/\"1\"")));
        assert_eq!(events_of(&app, &group).await.len(), 1, "only group.provisioned");
        assert_eq!(member_ids(&app.get(&uri).await.body), vec![a.clone()]);

        // A real change after all that: the next version, one event.
        let reply = app.patch(&uri, &add_member(&b)).await;
        assert_eq!(reply.header("etag").as_deref(), Some("W/\"2\""));
        let events = events_of(&app, &group).await;
        assert_gap_free(&events);
        assert_eq!(added_by_events(&events), (vec![b], 1));
    }

    async fn concurrent_patches_with_one_stale_if_match_get_one_success(app: TestApp) {
        let users = create_users(&app, "racer", 20).await;
        let group = app.create_group("Race", &[]).await;
        let uri = format!("/scim/v2/Groups/{group}");
        let app = &app;
        let replies = futures_util::future::join_all(users.iter().map(|user| {
            let uri = uri.clone();
            async move { patch_if_match(app, &uri, &add_member(user), "W/\"1\"").await }
        }))
        .await;
        let mut answers = statuses(&replies);
        answers.sort();
        let mut expected = vec![412; 19];
        expected.insert(0, 204);
        assert_eq!(answers, expected);
        let read = app.get(&uri).await;
        assert_eq!(read.body["members"].as_array().map(Vec::len), Some(1));
        assert_eq!(read.body["meta"]["version"], "W/\"2\"");
        assert_eq!(events_of(app, &group).await.len(), 2);

        let user = app.create_user("if-match@example.com").await;
        let uri = format!("/scim/v2/Users/{user}");
        let replies = futures_util::future::join_all((0..20).map(|i| {
            let uri = uri.clone();
            async move { patch_if_match(app, &uri, &set_display_name(&format!("N{i}")), "W/\"1\"").await }
        }))
        .await;
        let mut answers = statuses(&replies);
        answers.sort();
        let mut expected = vec![412; 19];
        expected.insert(0, 200);
        assert_eq!(answers, expected);
        assert_eq!(app.get(&uri).await.body["meta"]["version"], "W/\"2\"");
        assert_eq!(events_of(app, &user).await.len(), 2);
        // A stale If-Match on a change that would change nothing is a 412 too.
        let stale = patch_if_match(app, &format!("/scim/v2/Groups/{group}"), &add_member(&users[0]), "W/\"1\"").await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
        let missing = patch_if_match(app, "/scim/v2/Groups/0190a0a0-0000-7000-8000-000000000000", &add_member(&users[0]), "W/\"1\"").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    }
}

/// Two gateways on one database, as two replicas run: their in-process
/// locks do not see each other, so the store's row lock and the retries
/// must keep every change.
async fn two_gateways_on_one_database_lose_no_change(backend: Backend) {
    let Some(url) = backend.fresh_database("gateway.db").await else {
        return;
    };
    let settings = suite_settings(url);
    let first = TestApp::spawn(&settings, "Test org").await;
    let (api, store) = scim_gateway::startup::build_api(&settings)
        .await
        .expect("second gateway");
    let second = TestApp {
        api,
        store,
        token: first.token.clone(),
        org: first.org,
    };
    concurrent_member_adds(&[&first, &second], 100).await;
    concurrent_user_patches(&[&first, &second], 50).await;
}

// PostgreSQL only: replicas share a PostgreSQL server (a SQLite file has one
// process, the embedded one).
mod two_gateways_on_one_database {
    #[actix_web::test]
    async fn postgres() {
        super::two_gateways_on_one_database_lose_no_change(crate::support::Backend::Postgres).await;
    }
}

/// Sessions of the test's database waiting for a lock.
async fn lock_waits(db: &sea_orm::DatabaseConnection) -> i64 {
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ))
        .await
        .expect("pg_stat_activity")
        .expect("a row");
    row.try_get("", "n").expect("count")
}

/// A user's deletion removes its memberships in its own transaction, which
/// cannot see a membership another transaction adds meanwhile: the add
/// must wait for the deletion and leave the deleted user out, or a
/// membership of a user that no longer exists stays behind. PostgreSQL
/// only (SQLite writes one transaction at a time).
mod a_member_added_while_its_user_is_deleted {
    use super::*;
    use sea_orm::{ConnectionTrait, TransactionTrait};

    #[actix_web::test]
    async fn postgres() {
        let Some(url) = Backend::Postgres.fresh_database("gateway.db").await else {
            return;
        };
        let app = TestApp::spawn(&suite_settings(url), "Test org").await;
        let user = app.create_user("leaving@example.com").await;
        let group = app.create_group("Stayers", &[]).await;
        let db = app.store.connection();
        // What the user's deletion does, held open: its row, its memberships.
        let deletion = db.begin().await.expect("begin");
        for table in ["scim_group_members WHERE member_id", "scim_users WHERE id"] {
            deletion
                .execute_unprepared(&format!("DELETE FROM {table} = '{user}'"))
                .await
                .expect("delete");
        }
        let uri = format!("/scim/v2/Groups/{group}");
        let body = add_member(&user);
        let mut patch = std::pin::pin!(app.patch(&uri, &body));
        // The PATCH either answers (it did not wait for the deletion) or
        // waits for a lock the deletion holds.
        let answered = loop {
            tokio::select! {
                reply = &mut patch => break Some(reply),
                () = tokio::time::sleep(std::time::Duration::from_millis(10)) => {
                    if lock_waits(db).await > 0 {
                        break None;
                    }
                }
            }
        };
        deletion.commit().await.expect("commit");
        let reply = match answered {
            Some(reply) => reply,
            None => patch.await,
        };
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
        let left = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM scim_group_members WHERE member_id = '{user}'"),
            ))
            .await
            .expect("count")
            .expect("a row");
        assert_eq!(
            left.try_get::<i64>("", "n").expect("n"),
            0,
            "no membership of a deleted user"
        );
        let read = app.get(&uri).await;
        assert_eq!(member_ids(&read.body), Vec::<String>::new());
        assert_eq!(read.body["meta"]["version"], "W/\"1\"", "nothing changed");
        assert_eq!(
            events_of(&app, &group).await.len(),
            1,
            "only group.provisioned"
        );
    }
}
