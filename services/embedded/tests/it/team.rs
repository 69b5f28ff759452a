//! The team service: groups become teams, memberships follow (resolved to
//! each user's current account), deleting a group never touches the users,
//! deleting a user takes them out of every team as out of every group.

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::stack_tests;
use crate::support::Stack;

fn group(name: &str, members: &[&str]) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": name,
        "members": members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>()
    })
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// The team made from `group_id`, or None.
pub(crate) async fn team_of(stack: &Stack, group_id: &str) -> Option<Value> {
    let mut after: Option<String> = None;
    loop {
        let uri = match &after {
            Some(a) => format!("/teams?limit=100&after={a}"),
            None => "/teams?limit=100".into(),
        };
        let page = stack.admin("GET", &uri, None).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        if let Some(team) = page.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["group_id"] == group_id)
        {
            return Some(team.clone());
        }
        match page.body["next_after"].as_str() {
            Some(next) => after = Some(next.into()),
            None => return None,
        }
    }
}

/// Every member of a team, walking the pages `limit` at a time.
pub(crate) async fn members(stack: &Stack, team_id: &str, limit: u64) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let uri = match &after {
            Some(a) => format!("/teams/{team_id}/members?limit={limit}&after={a}"),
            None => format!("/teams/{team_id}/members?limit={limit}"),
        };
        let page = stack.admin("GET", &uri, None).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() as u64 <= limit);
        all.extend(items.iter().cloned());
        match page.body["next_after"].as_str() {
            Some(next) => after = Some(next.into()),
            None => return all,
        }
    }
}

pub(crate) fn ids(members: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = members
        .iter()
        .map(|m| m["scim_user_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn create_users(stack: &Stack, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        let email = format!("{name}@example.com");
        let created = stack
            .scim(
                "POST",
                "/Users",
                Some(crate::support::user(&email, name, "Test", &email)),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        ids.push(created.body["id"].as_str().unwrap().to_owned());
    }
    ids
}

pub(crate) async fn active_account(stack: &Stack, scim_id: &str) -> Value {
    let accounts = stack.accounts_of(scim_id).await;
    accounts
        .into_iter()
        .find(|a| a["status"] == "active")
        .unwrap_or_else(|| panic!("no active account for {scim_id}"))
}

stack_tests! {
    async fn a_group_becomes_a_team_and_deleting_it_leaves_the_users(stack: Stack) {
        let users = create_users(stack, &["ana", "ben", "cai"]).await;
        let created = stack
            .scim("POST", "/Groups", Some(group("Engineering", &[&users[0], &users[1], &users[2]])))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let group_id = created.body["id"].as_str().unwrap().to_owned();
        stack.settle().await;

        let team = team_of(stack, &group_id).await.expect("a team for the group");
        assert_eq!(team["name"], "Engineering");
        let team_id = team["id"].as_str().unwrap().to_owned();
        let detail = stack.admin("GET", &format!("/teams/{team_id}"), None).await;
        assert_eq!(detail.body["member_count"], 3);
        let listed = members(stack, &team_id, 2).await;
        let mut expected = users.clone();
        expected.sort();
        assert_eq!(ids(&listed), expected);
        for member in &listed {
            let account = active_account(stack, member["scim_user_id"].as_str().unwrap()).await;
            assert_eq!(member["account_id"], account["id"], "members resolve to their account");
            assert_eq!(member["account_status"], "active");
        }

        // Rename → the team follows.
        let renamed = stack
            .scim("PATCH", &format!("/Groups/{group_id}"), Some(patch(json!([{"op": "replace", "path": "displayName", "value": "Platform"}]))))
            .await;
        assert!(renamed.status.is_success(), "{:?}", renamed.body);
        stack.settle().await;
        assert_eq!(team_of(stack, &group_id).await.unwrap()["name"], "Platform");

        // A member leaves → gone from the team, the account still active.
        let removed = stack
            .scim("PATCH", &format!("/Groups/{group_id}"), Some(patch(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[1])}]))))
            .await;
        assert!(removed.status.is_success(), "{:?}", removed.body);
        stack.settle().await;
        let listed = members(stack, &team_id, 10).await;
        assert!(!ids(&listed).contains(&users[1]));
        assert_eq!(listed.len(), 2);
        active_account(stack, &users[1]).await;

        // The group is deleted → the team is gone, every former member still
        // an active account.
        let deleted = stack.scim("DELETE", &format!("/Groups/{group_id}"), None).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        stack.settle().await;
        assert!(team_of(stack, &group_id).await.is_none());
        assert_eq!(stack.admin("GET", &format!("/teams/{team_id}"), None).await.status, StatusCode::NOT_FOUND);
        assert_eq!(stack.admin("GET", &format!("/teams/{team_id}/members"), None).await.status, StatusCode::NOT_FOUND);
        for user in &users {
            active_account(stack, user).await;
        }
    }

    async fn entra_patches_and_okta_puts_end_in_the_right_membership(stack: Stack) {
        let users = create_users(stack, &["u0", "u1", "u2", "u3", "u4", "u5", "u6"]).await;
        // Entra: create empty, add members in batches, remove by value filter.
        let created = stack.scim("POST", "/Groups", Some(group("Entra group", &[]))).await;
        let entra = created.body["id"].as_str().unwrap().to_owned();
        for batch in [&users[0..3], &users[3..6]] {
            let add = stack
                .scim("PATCH", &format!("/Groups/{entra}"), Some(patch(json!([{
                    "op": "Add", "path": "members",
                    "value": batch.iter().map(|u| json!({"value": u})).collect::<Vec<_>>()
                }]))))
                .await;
            assert!(add.status.is_success(), "{:?}", add.body);
        }
        let remove = stack
            .scim("PATCH", &format!("/Groups/{entra}"), Some(patch(json!([
                {"op": "Remove", "path": format!("members[value eq \"{}\"]", users[0])},
                {"op": "Remove", "path": format!("members[value eq \"{}\"]", users[4])}
            ]))))
            .await;
        assert!(remove.status.is_success(), "{:?}", remove.body);

        // Okta: PUT the whole group, twice, with different members.
        let created = stack.scim("POST", "/Groups", Some(group("Okta group", &[&users[0], &users[1]]))).await;
        let okta = created.body["id"].as_str().unwrap().to_owned();
        for members in [vec![&users[1], &users[2], &users[6]], vec![&users[2], &users[6], &users[5]]] {
            let mut body = group("Okta group", &members.iter().map(|s| s.as_str()).collect::<Vec<_>>());
            body["id"] = json!(okta);
            let put = stack.scim("PUT", &format!("/Groups/{okta}"), Some(body)).await;
            assert!(put.status.is_success(), "{:?}", put.body);
        }
        stack.settle().await;

        let entra_team = team_of(stack, &entra).await.unwrap();
        let mut expected: Vec<String> = vec![users[1].clone(), users[2].clone(), users[3].clone(), users[5].clone()];
        expected.sort();
        assert_eq!(ids(&members(stack, entra_team["id"].as_str().unwrap(), 3).await), expected);
        let okta_team = team_of(stack, &okta).await.unwrap();
        let mut expected: Vec<String> = vec![users[2].clone(), users[5].clone(), users[6].clone()];
        expected.sort();
        assert_eq!(ids(&members(stack, okta_team["id"].as_str().unwrap(), 3).await), expected);
    }

    async fn members_resolve_to_the_current_account(stack: Stack) {
        let users = create_users(stack, &["dan", "eve"]).await;
        let created = stack.scim("POST", "/Groups", Some(group("Ops", &[&users[0], &users[1]]))).await;
        let group_id = created.body["id"].as_str().unwrap().to_owned();
        for active in [false, true] {
            let toggled = stack.scim("PATCH", &format!("/Users/{}", users[0]), Some(crate::support::set_active(active))).await;
            assert!(toggled.status.is_success());
        }
        let disabled = stack.scim("PATCH", &format!("/Users/{}", users[1]), Some(crate::support::set_active(false))).await;
        assert!(disabled.status.is_success());
        stack.settle().await;

        let team = team_of(stack, &group_id).await.unwrap();
        let listed = members(stack, team["id"].as_str().unwrap(), 10).await;
        let dan = listed.iter().find(|m| m["scim_user_id"] == users[0].as_str()).unwrap();
        let accounts = stack.accounts_of(&users[0]).await;
        assert_eq!(accounts.len(), 2, "re-enabled: a new account");
        assert_eq!(dan["account_id"], accounts[1]["id"], "the re-enabled user is the new account");
        assert_eq!(dan["account_status"], "active");
        let eve = listed.iter().find(|m| m["scim_user_id"] == users[1].as_str()).unwrap();
        assert_eq!(eve["account_status"], "anonymized");
    }

    async fn a_deleted_user_leaves_the_team_as_the_group(stack: Stack) {
        let users = create_users(stack, &["fay", "gus", "hal", "ivy"]).await;
        let member_ids: Vec<&str> = users.iter().map(String::as_str).collect();
        let created = stack.scim("POST", "/Groups", Some(group("Support", &member_ids))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let group_id = created.body["id"].as_str().unwrap().to_owned();
        let other = stack.scim("POST", "/Groups", Some(group("On call", &[&users[1], &users[3]]))).await;
        assert_eq!(other.status, StatusCode::CREATED, "{:?}", other.body);
        let other_id = other.body["id"].as_str().unwrap().to_owned();
        stack.settle().await;
        let team_id = team_of(stack, &group_id).await.expect("a team")["id"].as_str().unwrap().to_owned();
        let other_team_id = team_of(stack, &other_id).await.expect("a team")["id"].as_str().unwrap().to_owned();
        assert_eq!(stack.admin("GET", &format!("/teams/{team_id}"), None).await.body["member_count"], 4);
        let account_id = active_account(stack, &users[1]).await["id"].as_str().unwrap().to_owned();

        let deleted = stack.scim("DELETE", &format!("/Users/{}", users[1]), None).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:?}", deleted.body);
        stack.settle().await;

        // Each team lists exactly its group's current members.
        for (group_id, team_id) in [(&group_id, &team_id), (&other_id, &other_team_id)] {
            let scim_group = stack.scim("GET", &format!("/Groups/{group_id}"), None).await;
            assert_eq!(scim_group.status, StatusCode::OK, "{:?}", scim_group.body);
            let mut in_group: Vec<String> = scim_group.body["members"]
                .as_array()
                .map(|members| members.iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            in_group.sort();
            assert!(!in_group.contains(&users[1]), "the gateway removed the user from the group");
            let listed = members(stack, team_id, 10).await;
            assert_eq!(ids(&listed), in_group);
            let detail = stack.admin("GET", &format!("/teams/{team_id}"), None).await;
            assert_eq!(detail.body["member_count"], in_group.len());
        }
        assert_eq!(ids(&members(stack, &team_id, 10).await).len(), 3);

        // The account stays, as "Deleted user".
        let account = stack.admin("GET", &format!("/accounts/{account_id}"), None).await;
        assert_eq!(account.status, StatusCode::OK, "{:?}", account.body);
        assert_eq!(account.body["status"], "deleted");
        assert_eq!(account.body["label"], "Deleted user");
    }
}
