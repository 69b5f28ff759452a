//! Issue 22's acceptance end to end: concurrent PATCHes without `If-Match`
//! of one group (100 member adds) and of one user (50 changes) all apply,
//! and what team and identity built from the journal agrees with the SCIM
//! view: team's members are the group's, each resolved to the user's
//! account, and the account shows the user's last change.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::stack_tests;
use crate::support::{Stack, user};

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Every item of a paged admin list (`limit`/`after`/`next_after`).
async fn all_pages(stack: &Stack, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let uri = match &after {
            Some(a) => format!("{path}?limit=100&after={a}"),
            None => format!("{path}?limit=100"),
        };
        let page = stack.admin("GET", &uri, None).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        items.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return items,
        }
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

stack_tests! {
    async fn concurrent_member_adds_and_user_changes_reach_team_and_identity(stack: Stack) {
        let quota = stack.admin("PUT", "/subscription", Some(json!({"seat_quota": 200}))).await;
        assert_eq!(quota.status, StatusCode::OK, "{:?}", quota.body);
        let creates = (0..100).map(|i| {
            let email = format!("member{i}@example.com");
            async move { stack.scim("POST", "/Users", Some(user(&email, "Member", &format!("N{i}"), &email))).await }
        });
        let created = futures_util::future::join_all(creates).await;
        assert!(created.iter().all(|r| r.status == StatusCode::CREATED));
        let users: Vec<String> = created.iter().map(|r| r.body["id"].as_str().unwrap().to_owned()).collect();
        let group = stack
            .scim("POST", "/Groups", Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Everyone"
            })))
            .await;
        assert_eq!(group.status, StatusCode::CREATED, "{:?}", group.body);
        let group_id = group.body["id"].as_str().unwrap().to_owned();
        let group_uri = format!("/Groups/{group_id}");

        // 100 PATCHes of the group, each adding one member, and 50 of one
        // user, all at once, none with If-Match.
        let adds = users.iter().map(|id| {
            let body = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]});
            let uri = group_uri.clone();
            async move { stack.scim("PATCH", &uri, Some(body)).await }
        });
        let busy = format!("/Users/{}", users[0]);
        let changes = (0..50).map(|i| {
            let body = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": format!("Busy {i}")}]});
            let uri = busy.clone();
            async move { stack.scim("PATCH", &uri, Some(body)).await }
        });
        let (added, changed) = futures_util::future::join(
            futures_util::future::join_all(adds),
            futures_util::future::join_all(changes),
        )
        .await;
        let statuses = |replies: &[crate::support::Reply]| replies.iter().map(|r| r.status.as_u16()).collect::<Vec<_>>();
        assert!(added.iter().all(|r| r.status == StatusCode::NO_CONTENT), "{:?}", statuses(&added));
        assert!(changed.iter().all(|r| r.status == StatusCode::OK), "{:?}", statuses(&changed));

        let scim_group = stack.scim("GET", &group_uri, None).await;
        let scim_members = sorted(
            scim_group.body["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect(),
        );
        assert_eq!(scim_members, sorted(users.clone()), "the SCIM group has every member");
        let scim_user = stack.scim("GET", &busy, None).await;
        assert_eq!(scim_user.body["meta"]["version"], "W/\"51\"");
        let last_name = scim_user.body["displayName"].as_str().unwrap().to_owned();
        stack.settle().await;

        // Team: one team with exactly the SCIM group's members, each the
        // user's active account in identity.
        let teams = all_pages(stack, "/teams").await;
        let team = teams.iter().find(|t| t["group_id"] == group_id.as_str()).expect("a team for the group");
        let team_id = team["id"].as_str().unwrap();
        let detail = stack.admin("GET", &format!("/teams/{team_id}"), None).await;
        assert_eq!(detail.body["member_count"], 100);
        let team_members = all_pages(stack, &format!("/teams/{team_id}/members")).await;
        let team_ids = sorted(team_members.iter().map(|m| m["scim_user_id"].as_str().unwrap().to_owned()).collect());
        assert_eq!(team_ids, scim_members, "team's members are the SCIM group's");
        let accounts: HashMap<String, Value> = all_pages(stack, "/accounts")
            .await
            .into_iter()
            .filter(|a| a["status"] == "active")
            .map(|a| (a["scim_user_id"].as_str().unwrap().to_owned(), a))
            .collect();
        assert_eq!(accounts.len(), 100, "one active account per user");
        for member in &team_members {
            let account = &accounts[member["scim_user_id"].as_str().unwrap()];
            assert_eq!(member["account_id"], account["id"], "members resolve to their account");
        }
        // Identity: the busy user's account shows the last of its changes.
        assert_eq!(accounts[&users[0]]["label"], last_name.as_str());
    }
}
