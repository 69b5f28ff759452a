//! A Bulk wave of user creates runs set-based (one userName read, the seats
//! asked for together, the users written together): each operation's
//! outcome must be the one the same creates sent one at a time, in order,
//! get — taken names, a name twice in the request, invalid documents,
//! inactive users (no seat), creates past the seat quota.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, spawn_app_with_seat_quota};

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn user(user_name: &str, active: bool) -> Value {
    json!({"schemas": [USER], "userName": user_name, "active": active})
}

/// The creates, in request order: every kind of outcome a create can have.
fn creates() -> Vec<Value> {
    vec![
        user("w0@example.com", true),
        user("taken@example.com", true),
        json!({"schemas": [USER], "displayName": "no userName"}),
        user("w1@example.com", false),
        user("w2@example.com", true),
        user("W0@Example.com", true),
        user("taken@example.com", false),
        user("w3@example.com", true),
        user("w4@example.com", true),
        user("w5@example.com", false),
        user("w6@example.com", true),
        user("w6-inactive@example.com", false),
    ]
}

/// What each create answered, and the users and journal entries left.
async fn after(app: &TestApp, statuses: Vec<String>) -> (Vec<String>, Vec<String>, usize) {
    let list = app.get("/scim/v2/Users?count=1000&sortBy=userName").await;
    let names = list.body["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|u| u["userName"].as_str().expect("userName").to_owned())
        .collect();
    let journal = app.store.journal(None, 0, 10_000).await.expect("journal");
    (statuses, names, journal.len())
}

/// The creates sent one at a time to `singly` and as one Bulk request to
/// `bulked`: each one's status both ways, and the Bulk's operations.
async fn singly_and_in_bulk(
    singly: &TestApp,
    bulked: &TestApp,
    creates: Vec<Value>,
) -> (Vec<String>, Vec<String>, Vec<Value>) {
    let mut one_by_one = Vec::new();
    for body in &creates {
        let response = singly.post("/scim/v2/Users", body).await;
        one_by_one.push(response.status.as_str().to_owned());
    }
    let operations: Vec<Value> = creates
        .into_iter()
        .enumerate()
        .map(|(i, data)| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": data}))
        .collect();
    let response = bulked
        .post(
            "/scim/v2/Bulk",
            &json!({"schemas": [BULK], "Operations": operations}),
        )
        .await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.body);
    let answered = response.body["Operations"]
        .as_array()
        .expect("Operations")
        .clone();
    let in_bulk = answered
        .iter()
        .map(|o| o["status"].as_str().expect("status").to_owned())
        .collect();
    (one_by_one, in_bulk, answered)
}

async fn a_wave_answers_each_create_as_single_creates_in_order_do(backend: Backend) {
    // One seat is taken by the user that exists before, four are free.
    let (Some(singly), Some(bulked)) = (
        spawn_app_with_seat_quota(backend, 5).await,
        spawn_app_with_seat_quota(backend, 5).await,
    ) else {
        return;
    };
    for app in [&singly, &bulked] {
        app.create_user("taken@example.com").await;
    }

    let (one_by_one, in_bulk, answered) = singly_and_in_bulk(&singly, &bulked, creates()).await;

    let expected = [
        "201", "409", "400", "201", "201", "409", "409", "201", "201", "201", "403", "201",
    ];
    assert_eq!(one_by_one, expected);
    assert_eq!(in_bulk, expected, "{answered:?}");
    for (op, status) in answered.iter().zip(expected) {
        match status {
            "409" => assert_eq!(op["response"]["scimType"], "uniqueness", "{op}"),
            "403" => assert!(
                op["response"]["detail"]
                    .as_str()
                    .unwrap()
                    .contains("seat quota is reached"),
                "{op}"
            ),
            "400" => assert_eq!(op["response"]["status"], "400", "{op}"),
            _ => assert!(op["location"].as_str().is_some(), "{op}"),
        }
    }
    assert_eq!(
        after(&singly, one_by_one).await,
        after(&bulked, in_bulk).await
    );
}

on_both_backends!(a_wave_answers_each_create_as_single_creates_in_order_do);

/// Three hundred creates: a wave longer than one transaction of its writes
/// (`insert_users` writes 256 a transaction) and than one message of seat
/// requests, with taken names early, in the middle and late, inactive
/// users, and the quota reached in the middle.
fn creates_across_transactions() -> Vec<Value> {
    (0..300)
        .map(|i| match i {
            5 | 140 | 270 => user(&format!("taken{i}@example.com"), true),
            i if i % 7 == 3 => user(&format!("c{i}@example.com"), false),
            i => user(&format!("c{i}@example.com"), true),
        })
        .collect()
}

async fn a_wave_across_chunks_answers_as_single_creates_in_order_do(backend: Backend) {
    let quota = 3 + 150;
    let (Some(singly), Some(bulked)) = (
        spawn_app_with_seat_quota(backend, quota).await,
        spawn_app_with_seat_quota(backend, quota).await,
    ) else {
        return;
    };
    for app in [&singly, &bulked] {
        for i in [5, 140, 270] {
            app.create_user(&format!("taken{i}@example.com")).await;
        }
    }
    let (one_by_one, in_bulk, _) =
        singly_and_in_bulk(&singly, &bulked, creates_across_transactions()).await;
    let count = |status: &str| one_by_one.iter().filter(|s| *s == status).count();
    assert_eq!(count("409"), 3, "{one_by_one:?}");
    assert!(count("403") > 0, "the quota is reached: {one_by_one:?}");
    let first_refused = one_by_one.iter().position(|s| s == "403").expect("a 403");
    assert!(
        (128..256).contains(&first_refused),
        "the quota is reached in the middle: {first_refused}"
    );
    assert_eq!(in_bulk, one_by_one);
    assert_eq!(
        after(&singly, one_by_one).await,
        after(&bulked, in_bulk).await
    );
}

on_both_backends!(a_wave_across_chunks_answers_as_single_creates_in_order_do);
