//! Issue 23: a Bulk request's users become accounts and its group a team,
//! embedded and distributed, as if each operation had been sent alone.

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::stack_tests;
use crate::support::Stack;
use crate::team::{active_account, ids, members, team_of};

fn operation(bulk_id: &str, path: &str, data: Value) -> Value {
    json!({"method": "POST", "path": path, "bulkId": bulk_id, "data": data})
}

stack_tests! {
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
