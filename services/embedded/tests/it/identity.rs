//! The identity service: accounts follow the IdP, roles stay local, disabled
//! and deleted people are forgotten without breaking what points at them.

use actix_web::http::StatusCode;
use messaging::{EventHandler, HandleError, Handled};
use serde_json::json;

use crate::stack_tests;

stack_tests! {
    async fn account_lifecycle_follows_the_idp_and_keeps_local_roles(stack: Stack) {
        let created = stack
            .scim("POST", "/Users", Some(user("ann.lee@example.com", "Ann", "Lee", "ann.lee@example.com")))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let scim_id = created.body["id"].as_str().unwrap().to_owned();
        stack.settle().await;

        // Created → one active account with the organization's default role.
        let accounts = stack.accounts_of(&scim_id).await;
        assert_eq!(accounts.len(), 1, "{accounts:?}");
        let first = &accounts[0];
        let first_id = first["id"].as_str().unwrap().to_owned();
        assert_eq!(first["status"], "active");
        assert_eq!(first["role"], "member");
        assert_eq!(first["label"], "Ann Lee");
        assert_eq!(first["profile"]["email"], "ann.lee@example.com");
        assert_eq!(first["workspace_id"].as_str().map(str::len), Some(36));

        // An admin promotes the account; a later SCIM update changes the
        // profile and leaves the role alone.
        let promoted = stack
            .admin("PATCH", &format!("/accounts/{first_id}"), Some(json!({"role": "admin", "permissions": ["risks.manage"], "changed_by": "owner@customer.test"})))
            .await;
        assert_eq!(promoted.status, StatusCode::OK, "{:?}", promoted.body);
        assert_eq!(promoted.body["role"], "admin");
        let renamed = stack
            .scim("PATCH", &format!("/Users/{scim_id}"), Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "replace", "path": "displayName", "value": "Ann Lee-Smith"},
                    {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ann.smith@example.com"}
                ]
            })))
            .await;
        assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
        stack.settle().await;
        let account = stack.admin("GET", &format!("/accounts/{first_id}"), None).await;
        assert_eq!(account.body["label"], "Ann Lee-Smith");
        assert_eq!(account.body["profile"]["email"], "ann.smith@example.com");
        assert_eq!(account.body["role"], "admin");
        assert_eq!(account.body["permissions"], json!(["risks.manage"]));
        let changes = stack.admin("GET", &format!("/accounts/{first_id}/access-changes"), None).await;
        assert_eq!(changes.body["items"][0]["changed_by"], "owner@customer.test");
        assert_eq!(changes.body["items"][0]["before"]["role"], "member");

        // Disabled → anonymized; no trace of the person in the identity database.
        let disabled = stack.scim("PATCH", &format!("/Users/{scim_id}"), Some(set_active(false))).await;
        assert_eq!(disabled.status, StatusCode::OK, "{:?}", disabled.body);
        stack.settle().await;
        let account = stack.admin("GET", &format!("/accounts/{first_id}"), None).await;
        assert_eq!(account.body["status"], "anonymized");
        assert_eq!(account.body["label"], "Anonymized user");
        assert!(account.body["profile"].is_null());
        let texts = stack.identity_texts().await;
        for personal in ["ann.lee@example.com", "ann.smith@example.com", "Ann", "Lee", "ext-ann"] {
            let found: Vec<&String> = texts.iter().filter(|t| t.contains(personal)).collect();
            assert!(found.is_empty(), "{personal:?} is still stored: {found:?}");
        }

        // Re-enabled → a new account with the default role; the old one stays anonymized.
        let enabled = stack.scim("PATCH", &format!("/Users/{scim_id}"), Some(set_active(true))).await;
        assert_eq!(enabled.status, StatusCode::OK, "{:?}", enabled.body);
        stack.settle().await;
        let accounts = stack.accounts_of(&scim_id).await;
        assert_eq!(accounts.len(), 2, "{accounts:?}");
        assert_eq!(accounts[0]["id"], first_id.as_str());
        assert_eq!(accounts[0]["status"], "anonymized");
        assert_ne!(accounts[1]["id"], first_id.as_str());
        assert_eq!(accounts[1]["status"], "active");
        assert_eq!(accounts[1]["role"], "member");
        assert_eq!(accounts[1]["profile"]["email"], "ann.smith@example.com");
        let second_id = accounts[1]["id"].as_str().unwrap().to_owned();

        // Deleted → "Deleted user"; every id still resolves.
        let deleted = stack.scim("DELETE", &format!("/Users/{scim_id}"), None).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        stack.settle().await;
        for id in [&first_id, &second_id] {
            let account = stack.admin("GET", &format!("/accounts/{id}"), None).await;
            assert_eq!(account.status, StatusCode::OK, "{:?}", account.body);
            assert_eq!(account.body["label"], "Deleted user");
            assert_eq!(account.body["status"], "deleted");
            assert!(account.body["profile"].is_null());
            assert!(account.body["deleted_at"].is_string());
        }
        let texts = stack.identity_texts().await;
        assert!(!texts.iter().any(|t| t.contains("ann.smith@example.com") || t.contains("Lee-Smith")));
        let active = stack.admin("GET", "/accounts?status=active", None).await;
        assert_eq!(active.body["items"], json!([]));
    }

    async fn replaying_events_changes_nothing_and_order_is_kept(stack: Stack) {
        let created = stack.scim("POST", "/Users", Some(user("bo@example.com", "Bo", "Ek", "bo@example.com"))).await;
        let scim_id = created.body["id"].as_str().unwrap().to_owned();
        stack.scim("PATCH", &format!("/Users/{scim_id}"), Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Bo E."}]
        }))).await;
        stack.settle().await;
        let before = stack.accounts_of(&scim_id).await;

        // The whole journal again, straight into the identity consumer.
        let events = stack.platform.gateway_store.journal(None, 0, 1000).await.unwrap();
        assert_eq!(events.len(), 2);
        let consumer = stack.platform.identity.consumer();
        for event in &events {
            assert_eq!(consumer.handle(event).await.unwrap(), Handled::Duplicate);
        }
        assert_eq!(stack.accounts_of(&scim_id).await, before);

        // Out of order within one user: version 2 before version 1 is refused
        // (to be retried), then both apply in order. (The copies for another
        // user carry their profiles open: sealed, they would open with that
        // user's key, which does not exist.)
        let person = events[0].person().unwrap();
        let key = stack.platform.data_keys.data_keys(std::slice::from_ref(&person)).await.unwrap();
        let mut later = events[1].clone();
        let mut earlier = events[0].clone();
        for (event, version) in [(&mut earlier, 1), (&mut later, 2)] {
            event.open_with(key[0].as_ref()).unwrap();
            event.id = uuid::Uuid::now_v7();
            event.aggregate.id = "another-scim-user".into();
            event.aggregate.version = version;
            if let provisioning_events::EventBody::UserProvisioned { account_id, .. } = &mut event.body {
                *account_id = uuid::Uuid::now_v7();
            }
        }
        let refused = consumer.handle(&later).await;
        assert!(matches!(refused, Err(HandleError::OutOfOrder { expected: 1, got: 2 })), "{refused:?}");
        assert!(stack.accounts_of("another-scim-user").await.is_empty());
        assert_eq!(consumer.handle(&earlier).await.unwrap(), Handled::Applied);
        assert_eq!(consumer.handle(&later).await.unwrap(), Handled::Applied);
        let accounts = stack.accounts_of("another-scim-user").await;
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0]["label"], "Bo E.");
        assert_eq!(consumer.handle(&earlier).await.unwrap(), Handled::Duplicate);
    }

    async fn admin_api_guards_and_validates(stack: Stack) {
        let created = stack.scim("POST", "/Users", Some(user("cy@example.com", "Cy", "Ro", "cy@example.com"))).await;
        let scim_id = created.body["id"].as_str().unwrap().to_owned();
        stack.settle().await;
        let id = stack.accounts_of(&scim_id).await[0]["id"].as_str().unwrap().to_owned();
        let path = format!("/accounts/{id}");

        assert_eq!(stack.admin_with_key("GET", &path, None, None).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(stack.admin_with_key("GET", &path, None, Some("wrong")).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(stack.scim("GET", "/Users", None).await.status, StatusCode::OK);
        let unknown_role = stack.admin("PATCH", &path, Some(json!({"role": "superuser", "changed_by": "x"}))).await;
        assert_eq!(unknown_role.status, StatusCode::BAD_REQUEST);
        assert!(unknown_role.body["detail"].as_str().unwrap().contains("superuser"));
        let unknown_permission = stack.admin("PATCH", &path, Some(json!({"permissions": ["launch.missiles"], "changed_by": "x"}))).await;
        assert_eq!(unknown_permission.status, StatusCode::BAD_REQUEST);
        let anonymous = stack.admin("PATCH", &path, Some(json!({"role": "admin", "changed_by": " "}))).await;
        assert_eq!(anonymous.status, StatusCode::BAD_REQUEST);
        let garbage = stack.admin("PATCH", &path, Some(json!({"role": 7}))).await;
        assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
        assert_eq!(stack.admin("GET", "/accounts/not-an-id", None).await.status, StatusCode::NOT_FOUND);
        assert_eq!(stack.admin("GET", &format!("/accounts/{}", uuid::Uuid::now_v7()), None).await.status, StatusCode::NOT_FOUND);
        assert_eq!(stack.admin("GET", "/accounts?status=sleeping", None).await.status, StatusCode::BAD_REQUEST);
        assert_eq!(stack.admin("GET", "/accounts?limit=many", None).await.status, StatusCode::BAD_REQUEST);

        // Another organization's admin path sees nothing of this one.
        let other_org = uuid::Uuid::now_v7();
        let reply = stack
            .call(actix_web::test::TestRequest::get()
                .uri(&format!("/admin/v1/organizations/{other_org}/accounts/{id}"))
                .insert_header(("Authorization", format!("Bearer {ADMIN_KEY}"))))
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);

        // Paging walks every account exactly once.
        for i in 0..5 {
            stack.scim("POST", "/Users", Some(user(&format!("p{i}@example.com"), "P", &format!("N{i}"), &format!("p{i}@example.com")))).await;
        }
        stack.settle().await;
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let uri = match &after { Some(a) => format!("/accounts?limit=2&after={a}"), None => "/accounts?limit=2".into() };
            let page = stack.admin("GET", &uri, None).await;
            assert!(page.body["items"].as_array().unwrap().len() <= 2);
            seen.extend(page.body["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()));
            match page.body["next_after"].as_str() { Some(n) => after = Some(n.into()), None => break }
        }
        let mut unique = seen.clone();
        unique.dedup();
        assert_eq!(seen.len(), 6);
        assert_eq!(unique.len(), 6);
    }

    async fn accounts_are_found_by_name_e_mail_and_person(stack: Stack) {
        let ann = stack.scim("POST", "/Users", Some(user("ann.lee@example.com", "Ann", "Lee", "ann.lee@example.com"))).await;
        assert_eq!(ann.status, StatusCode::CREATED, "{:?}", ann.body);
        let ann_scim = ann.body["id"].as_str().unwrap().to_owned();
        stack.scim("POST", "/Users", Some(user("bo_ek@example.com", "Bo", "Ek", "bo_ek@corp.test"))).await;
        stack.scim("POST", "/Users", Some(user("carl@example.com", "Carl", "Boek", "carl@example.com"))).await;
        stack.settle().await;
        let labels = |body: &serde_json::Value| -> Vec<String> {
            let mut labels: Vec<String> = body["items"].as_array().unwrap().iter().map(|a| a["label"].as_str().unwrap().to_owned()).collect();
            labels.sort();
            labels
        };

        // By a name, whatever its case; by e-mail; `_` and `%` match themselves.
        assert_eq!(labels(&stack.admin("GET", "/accounts?q=LEE", None).await.body), ["Ann Lee"]);
        assert_eq!(labels(&stack.admin("GET", "/accounts?q=boek", None).await.body), ["Carl Boek"]);
        assert_eq!(labels(&stack.admin("GET", "/accounts?q=corp.test", None).await.body), ["Bo Ek"]);
        assert_eq!(labels(&stack.admin("GET", "/accounts?q=bo_", None).await.body), ["Bo Ek"]);
        assert_eq!(labels(&stack.admin("GET", "/accounts?q=%25", None).await.body), Vec::<String>::new());
        assert_eq!(labels(&stack.admin("GET", "/accounts?q=example.com&status=active", None).await.body), ["Ann Lee", "Bo Ek", "Carl Boek"]);

        // One person's accounts across a re-enable: the anonymized one and the new one.
        stack.scim("PATCH", &format!("/Users/{ann_scim}"), Some(set_active(false))).await;
        stack.settle().await;
        stack.scim("PATCH", &format!("/Users/{ann_scim}"), Some(set_active(true))).await;
        stack.settle().await;
        let hers = stack.admin("GET", &format!("/accounts?scim_user_id={ann_scim}"), None).await;
        let statuses: Vec<&str> = hers.body["items"].as_array().unwrap().iter().map(|a| a["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["anonymized", "active"], "{:?}", hers.body);
        assert_eq!(labels(&stack.admin("GET", "/accounts?q=ann", None).await.body), ["Ann Lee"], "the anonymized account has no name left to find");
    }
}

/// A `user.updated` of the SCIM user `scim_id` at `version`, sealed under
/// the person's data key as the gateway would have sealed it.
async fn sealed_update(
    stack: &crate::support::Stack,
    scim_id: &str,
    version: i64,
    user_name: &str,
) -> provisioning_events::Event {
    use provisioning_events::{AggregateKind, EventBody, UserProfile};
    let mut event = test_support::consumers::event_in(
        stack.org.0,
        AggregateKind::User,
        scim_id,
        version,
        EventBody::UserUpdated {
            profile: UserProfile {
                user_name: user_name.into(),
                ..UserProfile::default()
            }
            .into(),
        },
    );
    let person = event.person().unwrap();
    let keys = stack
        .platform
        .data_keys
        .data_keys(std::slice::from_ref(&person))
        .await
        .unwrap();
    event
        .seal_with(keys[0].as_ref().expect("the person has a data key"))
        .unwrap();
    event
}

/// The embedded process's counterpart of `identity.dead`: an event identity
/// can never apply is kept, with its error, in the gateway database, and the
/// events behind it are applied.
#[actix_web::test]
async fn a_poison_event_becomes_a_dead_letter_in_the_embedded_process() {
    use crate::support::{Mode, Stack, quick_retry, user};
    use messaging::EventPublisher;
    use provisioning_events::{AggregateKind, EventBody, UserProfile};

    let stack = Stack::start(Mode::Embedded).await.unwrap();
    let created = stack
        .scim(
            "POST",
            "/Users",
            Some(user("ghost@example.com", "Gho", "St", "ghost@example.com")),
        )
        .await;
    let ghost = created.body["id"].as_str().unwrap().to_owned();
    stack.settle().await;
    // Version 3 of a user at version 1: not applicable until version 2.
    let poison = sealed_update(&stack, &ghost, 3, "dee@example.com").await;
    let behind = test_support::consumers::event_in(
        stack.org.0,
        AggregateKind::User,
        "dee",
        1,
        EventBody::UserProvisioned {
            account_id: uuid::Uuid::now_v7(),
            default_role: "member".into(),
            seat_key: None,
            profile: UserProfile {
                user_name: "dee@example.com".into(),
                ..UserProfile::default()
            }
            .into(),
        },
    );
    stack
        .platform
        .bus(quick_retry())
        .publish(&[poison.clone(), behind])
        .await
        .unwrap();

    let letters = stack
        .platform
        .gateway_store
        .dead_letters(Some("identity"), 10)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event.id, poison.id);
    assert_eq!(letters[0].attempts, 3);
    assert!(
        letters[0].error.contains("before version 2"),
        "{}",
        letters[0].error
    );
    assert_eq!(stack.accounts_of("dee").await.len(), 1);

    // The operator's view (`scimctl dead`): listed with its error, its
    // profile sealed; a requeue before the cause is fixed leaves it there.
    let dead = "/admin/v1/services/identity/dead-letters";
    let listed = stack.admin_at("GET", dead, None).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    assert_eq!(listed.body["items"][0]["event_id"], poison.id.to_string());
    assert_eq!(listed.body["items"][0]["attempts"], 3);
    assert!(listed.body["items"][0]["event"]["payload"]["profile"]["sealed"].is_string());
    let early = stack
        .admin_at(
            "POST",
            &format!("{dead}/requeue"),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(early.body["applied"], 0, "{:?}", early.body);
    assert_eq!(early.body["still_failing"].as_array().unwrap().len(), 1);
    // The cause fixed (version 2 arrives), the requeue applies it once and
    // the letter is gone; team's letters are its own.
    let renamed = stack
        .scim(
            "PATCH",
            &format!("/Users/{ghost}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "displayName", "value": "G. St"}]
            })),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    stack.settle().await;
    let requeued = stack
        .admin_at("POST", &format!("{dead}/requeue"), None)
        .await;
    assert_eq!(requeued.body["applied"], 1, "{:?}", requeued.body);
    assert_eq!(requeued.body["erased"], json!([]));
    let after = stack.admin_at("GET", dead, None).await;
    assert_eq!(after.body["items"], serde_json::json!([]));
    let accounts = stack.accounts_of(&ghost).await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["profile"]["user_name"], "dee@example.com");
    let missing = stack
        .admin_at("GET", &format!("{dead}/{}", uuid::Uuid::now_v7()), None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// A poison event of a person deleted since: its dead letter shows the
/// profile erased once the person's key is gone (it was sealed before), and
/// a requeue hands it to identity without a profile, reports it under
/// `erased` and removes it — it never fails forever.
#[actix_web::test]
async fn the_dead_letter_of_a_person_deleted_since_shows_erased_and_requeues_as_erased() {
    use crate::support::{Mode, Stack, quick_retry, user};
    use messaging::EventPublisher;

    const MARKER: &str = "poisoned-marker-5d1c";
    let stack = Stack::start(Mode::Embedded).await.unwrap();
    let created = stack
        .scim(
            "POST",
            "/Users",
            Some(user(
                &format!("{MARKER}@example.com"),
                MARKER,
                "Ko",
                "pk@example.com",
            )),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let scim_id = created.body["id"].as_str().unwrap().to_owned();
    stack.settle().await;
    let poison = sealed_update(
        &stack,
        &scim_id,
        3,
        &format!("{MARKER}-renamed@example.com"),
    )
    .await;
    stack
        .platform
        .bus(quick_retry())
        .publish(std::slice::from_ref(&poison))
        .await
        .unwrap();
    let dead = "/admin/v1/services/identity/dead-letters";
    let letter = format!("{dead}/{}", poison.id);
    let shown = stack.admin_at("GET", &letter, None).await;
    assert_eq!(shown.status, StatusCode::OK, "{:?}", shown.body);
    assert!(
        shown.body["event"]["payload"]["profile"]["sealed"].is_string(),
        "{:?}",
        shown.body
    );

    // The person is deleted (user.deleted, version 2): their key goes.
    let deleted = stack
        .scim("DELETE", &format!("/Users/{scim_id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    stack.settle().await;
    let shown = stack.admin_at("GET", &letter, None).await;
    assert_eq!(shown.status, StatusCode::OK, "{:?}", shown.body);
    assert_eq!(
        shown.body["event"]["payload"]["profile"],
        json!({"erased": true})
    );
    let listed = stack.admin_at("GET", dead, None).await;
    assert_eq!(
        listed.body["items"][0]["event"]["payload"]["profile"],
        json!({"erased": true})
    );
    assert!(
        !listed.body.to_string().contains(MARKER),
        "{:?}",
        listed.body
    );

    let requeued = stack
        .admin_at("POST", &format!("{dead}/requeue"), None)
        .await;
    assert_eq!(requeued.status, StatusCode::OK, "{:?}", requeued.body);
    assert_eq!(
        requeued.body["erased"],
        json!([poison.id]),
        "{:?}",
        requeued.body
    );
    assert_eq!(requeued.body["applied"], 0);
    assert_eq!(requeued.body["still_failing"], json!([]));
    let after = stack.admin_at("GET", dead, None).await;
    assert_eq!(after.body["items"], json!([]));
    // Applied without a profile: the account stays "Deleted user".
    let accounts = stack.accounts_of(&scim_id).await;
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert_eq!(accounts[0]["label"], "Deleted user");
    assert!(accounts[0]["profile"].is_null());
    assert!(
        !stack
            .identity_texts()
            .await
            .iter()
            .any(|t| t.contains(MARKER))
    );
}
