//! Issue 23: a Bulk request's users become accounts and its group a team,
//! embedded and distributed, as if each operation had been sent alone; a
//! wave of creates gets licensing's seats in request order, also when it is
//! longer than one stretch of seats and writes.

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::stack_tests;
use crate::support::Stack;
use crate::team::{active_account, ids, members, team_of};

fn operation(bulk_id: &str, path: &str, data: Value) -> Value {
    json!({"method": "POST", "path": path, "bulkId": bulk_id, "data": data})
}

/// One bulk creating a user `<name>@example.com` per name, in order: each
/// operation's status.
async fn create_users_in_one_bulk(stack: &Stack, names: &[impl AsRef<str>]) -> Vec<String> {
    let operations: Vec<Value> = names
        .iter()
        .map(|name| {
            let name = name.as_ref();
            let email = format!("{name}@example.com");
            operation(
                name,
                "/Users",
                crate::support::user(&email, "Wave", name, &email),
            )
        })
        .collect();
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": operations,
    });
    let response = stack.scim("POST", "/Bulk", Some(body)).await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    response.body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap().to_owned())
        .collect()
}

stack_tests! {
    async fn a_waves_seats_go_to_its_creates_in_request_order(stack: Stack) {
        let set = stack.admin("PUT", "/subscription", Some(json!({"seat_quota": 5}))).await;
        assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
        let taken = crate::support::user("taken@example.com", "Taken", "Before", "taken@example.com");
        assert_eq!(stack.scim("POST", "/Users", Some(taken.clone())).await.status, StatusCode::CREATED);
        let names = ["a", "b", "taken", "c", "d", "e", "f"];
        let statuses = create_users_in_one_bulk(stack, &names).await;
        // One seat was taken before; the four left go to a, b, c and d.
        assert_eq!(statuses, ["201", "201", "409", "201", "201", "403", "403"]);
        stack.settle().await;
        let listed = stack.scim("GET", "/Users?count=1", None).await;
        assert_eq!(listed.body["totalResults"], 5);
        let active = stack.admin("GET", "/accounts?status=active&limit=50", None).await;
        assert_eq!(active.body["items"].as_array().unwrap().len(), 5);
    }

    async fn a_wave_longer_than_a_stretch_gets_its_seats_in_request_order(stack: Stack) {
        // 300 creates: seats asked for and users written in two stretches,
        // the second's seats decided while the first is written.
        let set = stack.admin("PUT", "/subscription", Some(json!({"seat_quota": 270}))).await;
        assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
        let taken = crate::support::user("w100@example.com", "Taken", "Before", "w100@example.com");
        assert_eq!(stack.scim("POST", "/Users", Some(taken)).await.status, StatusCode::CREATED);
        let names: Vec<String> = (0..300).map(|i| format!("w{i}")).collect();
        let statuses = create_users_in_one_bulk(stack, &names).await;
        // 269 seats left: to the creates before index 270 but the taken
        // name's (409, no seat asked), none after.
        let expected: Vec<&str> = (0..300)
            .map(|i| match i {
                100 => "409",
                i if i < 270 => "201",
                _ => "403",
            })
            .collect();
        assert_eq!(statuses, expected);
        stack.settle().await;
        let listed = stack.scim("GET", "/Users?count=1", None).await;
        assert_eq!(listed.body["totalResults"], 270);
        let active = stack.admin("GET", "/accounts?status=active&limit=500", None).await;
        assert_eq!(active.body["items"].as_array().unwrap().len(), 270);
    }

    async fn a_bulks_users_become_accounts_and_its_group_a_team(stack: Stack) {
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Bulk team",
            "members": [{"value": "bulkId:dee"}, {"value": "bulkId:eli"}],
        });
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                operation("team", "/Groups", group),
                operation("dee", "/Users", crate::support::user("dee@example.com", "Dee", "Bulk", "dee@example.com")),
                operation("eli", "/Users", crate::support::user("eli@example.com", "Eli", "Bulk", "eli@example.com")),
            ],
        });
        let response = stack.scim("POST", "/Bulk", Some(body)).await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
        let operations = response.body["Operations"].as_array().unwrap();
        let id_of = |i: usize| {
            assert_eq!(operations[i]["status"], "201", "{:?}", response.body);
            operations[i]["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned()
        };
        let (group_id, dee, eli) = (id_of(0), id_of(1), id_of(2));
        stack.settle().await;

        for user in [&dee, &eli] {
            let account = active_account(stack, user).await;
            assert_eq!(account["scim_user_id"], user.as_str());
        }
        let team = team_of(stack, &group_id).await.expect("a team for the bulk's group");
        assert_eq!(team["name"], "Bulk team");
        let listed = members(stack, team["id"].as_str().unwrap(), 10).await;
        let mut expected = vec![dee, eli];
        expected.sort();
        assert_eq!(ids(&listed), expected);
    }
}
