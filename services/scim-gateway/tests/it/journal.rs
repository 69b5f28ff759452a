//! Every state-changing request appends its provisioning events to the
//! journal in the same transaction; requests that change nothing (or fail)
//! append nothing.

use provisioning_events::sealing::DataKey;
use provisioning_events::{Event, EventBody, PersonRef};
use serde_json::json;

use crate::backend_tests;

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn journal(app: &crate::support::TestApp) -> Vec<Event> {
    app.store
        .journal(None, 0, 10_000)
        .await
        .expect("journal readable")
}

/// The data key of the user `id` of the app's organization.
async fn data_key(app: &crate::support::TestApp, id: &str) -> Option<DataKey> {
    let person = PersonRef {
        org_id: app.org.0,
        user_id: id.to_owned(),
    };
    app.store
        .data_keys(&[person])
        .await
        .expect("key table readable")
        .remove(0)
}

fn opened(events: Vec<Event>, key: &DataKey) -> Vec<Event> {
    events
        .into_iter()
        .map(|mut event| {
            event
                .open_with(Some(key))
                .expect("opens with its person's key");
            event
        })
        .collect()
}

fn summary(events: &[Event]) -> Vec<(String, &'static str, i64)> {
    events
        .iter()
        .map(|e| (e.aggregate.id.clone(), e.routing_key(), e.aggregate.version))
        .collect()
}

fn patch(ops: serde_json::Value) -> serde_json::Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

backend_tests! {
    async fn creates_committed_together_are_journaled_each_and_a_taken_name_fails_alone(app: TestApp) {
        // Concurrent creates are written in batches; one of these names is
        // asked for twice, so a batch may fail on it and be written again
        // one create at a time.
        let names: Vec<String> = (0..10)
            .map(|i| format!("batch-{i}@example.com"))
            .chain(["batch-3@example.com".to_owned()])
            .collect();
        let bodies: Vec<_> = names
            .iter()
            .map(|name| {
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": name,
                    "emails": [{"value": name, "type": "work"}]
                })
            })
            .collect();
        let attempts = bodies.iter().map(|body| app.post("/scim/v2/Users", body));
        let replies = futures_util::future::join_all(attempts).await;
        let created: Vec<String> = replies
            .iter()
            .filter(|r| r.status.as_u16() == 201)
            .map(|r| r.body["id"].as_str().expect("id").to_owned())
            .collect();
        let conflicts = replies.iter().filter(|r| r.status.as_u16() == 409).count();
        assert_eq!((created.len(), conflicts), (10, 1));

        let events = journal(&app).await;
        let mut provisioned: Vec<String> = events
            .iter()
            .filter(|e| matches!(e.body, EventBody::UserProvisioned { .. }))
            .map(|e| e.aggregate.id.clone())
            .collect();
        provisioned.sort();
        let mut expected = created.clone();
        expected.sort();
        assert_eq!(provisioned, expected, "one user.provisioned per 201, none for the 409");
        for id in &created {
            let user = app.get(&format!("/scim/v2/Users/{id}")).await;
            assert_eq!(user.status.as_u16(), 200);
            // Found by its e-mail: the e-mail rows were written with it.
            let email = user.body["emails"][0]["value"].as_str().expect("email").to_owned();
            let found = app
                .get(&format!("/scim/v2/Users?filter=emails.value%20eq%20%22{}%22", email.replace('@', "%40")))
                .await;
            assert_eq!(found.body["totalResults"], 1, "{email}");
        }
    }

    async fn concurrent_name_checks_answer_each_create_for_its_own_organization(app: TestApp) {
        // Checks that arrive together are read in one statement: each must
        // still be answered for its own organization and name.
        app.create_user("taken@a.example").await;
        let other = app.new_organization("Organization B").await;
        let user = |name: &str| json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name
        });
        let attempts = [
            ("taken@a.example", &app.token, 409),
            ("TAKEN@A.example", &app.token, 409),
            ("fresh-1@a.example", &app.token, 201),
            ("taken@a.example", &other, 201),
            ("fresh-2@a.example", &other, 201),
            ("fresh-3@a.example", &app.token, 201),
        ];
        let bodies: Vec<_> = attempts.iter().map(|(name, _, _)| user(name)).collect();
        let replies = futures_util::future::join_all(
            attempts
                .iter()
                .zip(&bodies)
                .map(|((_, token, _), body)| app.with_body_as("POST", "/scim/v2/Users", body, token)),
        )
        .await;
        for ((name, token, expected), reply) in attempts.iter().zip(&replies) {
            let org = if *token == &app.token { "A" } else { "B" };
            assert_eq!(reply.status.as_u16(), *expected, "{name} in {org}: {}", reply.body);
        }
        let listed_a = app.get("/scim/v2/Users").await;
        assert_eq!(listed_a.body["totalResults"], 3, "{}", listed_a.body);
        let listed_b = app.get_as("/scim/v2/Users", &other).await;
        assert_eq!(listed_b.body["totalResults"], 2, "{}", listed_b.body);
    }

    async fn updates_committed_together_are_journaled_each_and_a_taken_name_fails_alone(app: TestApp) {
        // Concurrent updates are written in batches. Two users are renamed to
        // one free name (both pass the name check, the unique index refuses
        // the second: a batch holding both is written again one update at a
        // time); one user is changed twice at once (the second write finds a
        // new version and starts over); one user's e-mails are replaced.
        let mut ids = Vec::new();
        for i in 0..6 {
            ids.push(app.create_user(&format!("upd-{i}@example.com")).await);
        }
        let before = journal(&app).await.len();
        let changes = [
            (0, json!([{"op": "replace", "path": "userName", "value": "renamed@example.com"}])),
            (1, json!([{"op": "replace", "path": "userName", "value": "Renamed@example.com"}])),
            (2, json!([{"op": "replace", "path": "name.familyName", "value": "first"}])),
            (2, json!([{"op": "replace", "path": "displayName", "value": "second"}])),
            (3, json!([{"op": "replace", "path": "emails", "value": [{"value": "new-3@example.com", "type": "work"}]}])),
            // No event: the title is not part of the profile the services get.
            (4, json!([{"op": "replace", "path": "title", "value": "four"}])),
            (5, json!([{"op": "replace", "path": "name.familyName", "value": "five"}])),
        ];
        let app = &app;
        let attempts = changes.iter().map(|(user, ops)| {
            let uri = format!("/scim/v2/Users/{}", ids[*user]);
            let body = patch(ops.clone());
            async move { app.patch(&uri, &body).await }
        });
        let replies = futures_util::future::join_all(attempts).await;
        let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
        let mut renames = [statuses[0], statuses[1]];
        renames.sort();
        assert_eq!(renames, [200, 409], "{statuses:?}");
        assert!(statuses[2..].iter().all(|s| *s == 200), "{statuses:?}");

        let events = journal(app).await;
        let new_events: Vec<&Event> = events[before..].iter().collect();
        let per_user = |user: usize| new_events.iter().filter(|e| e.aggregate.id == ids[user]).count();
        let renamed = if statuses[0] == 200 { 0 } else { 1 };
        assert_eq!(per_user(renamed), 1, "the rename that won");
        assert_eq!(per_user(1 - renamed), 0, "nothing for the 409");
        assert_eq!(per_user(2), 2, "both changes of user 2");
        assert_eq!((per_user(3), per_user(4), per_user(5)), (1, 0, 1));
        let user2 = app.get(&format!("/scim/v2/Users/{}", ids[2])).await;
        assert_eq!((user2.body["name"]["familyName"].as_str(), user2.body["displayName"].as_str()), (Some("first"), Some("second")));
        let user4 = app.get(&format!("/scim/v2/Users/{}", ids[4])).await;
        assert_eq!((user4.body["title"].as_str(), &user4.body["meta"]["version"]), (Some("four"), &json!("W/\"2\"")));
        assert_eq!(user2.body["meta"]["version"], "W/\"3\"");
        let by_new = app.get("/scim/v2/Users?filter=emails.value%20eq%20%22new-3%40example.com%22").await;
        assert_eq!(by_new.body["totalResults"], 1);
        let by_old = app.get("/scim/v2/Users?filter=emails.value%20eq%20%22upd-3%40example.com%22").await;
        assert_eq!(by_old.body["totalResults"], 0);
        let by_name = app.get("/scim/v2/Users?filter=userName%20eq%20%22renamed%40example.com%22").await;
        assert_eq!(by_name.body["Resources"][0]["id"].as_str(), Some(ids[renamed].as_str()));
    }

    async fn updates_handed_to_the_store_together_get_each_their_own_answer(app: TestApp) {
        // Straight to the store, past the service's name check, all at once:
        // they reach the writer together, as racing requests would.
        use scim_gateway::domain::models::{BearerToken, ResourceId, StoredResource};
        use scim_gateway::domain::ports::{CredentialStore, StoreError, UserStore};
        let tenant = app
            .store
            .token_grant(&BearerToken::new(app.token.clone()).hash())
            .await
            .expect("store")
            .expect("tenant")
            .tenant;
        let mut current = Vec::new();
        for i in 0..5 {
            let id = ResourceId::parse(&app.create_user(&format!("store-{i}@example.com")).await).expect("id");
            current.push(app.store.find_user(tenant.org, id).await.expect("store").expect("user"));
        }
        let changed = |user: &StoredResource, user_name: &str, version_read: i64| {
            let mut read = user.clone();
            read.meta.version = version_read;
            let mut next = user.clone();
            next.document["userName"] = json!(user_name);
            next.meta.version = user.meta.version + 1;
            (read, next)
        };
        let updates = [
            changed(&current[0], "store-new@example.com", 1),
            changed(&current[1], "STORE-NEW@example.com", 1),
            changed(&current[2], "store-2b@example.com", 1),
            // Read at a version the row no longer has.
            changed(&current[3], "store-3b@example.com", 7),
            changed(&current[4], "store-4b@example.com", 1),
        ];
        let store = &app.store;
        let results = futures_util::future::join_all(
            updates.iter().map(|(read, next)| store.update_user(tenant.org, read, next, &[])),
        )
        .await;
        let answer = |r: &Result<(), StoreError>| match r {
            Ok(()) => "written",
            Err(StoreError::Duplicate) => "duplicate",
            Err(StoreError::VersionConflict) => "conflict",
            Err(_) => "failed",
        };
        let answers: Vec<&str> = results.iter().map(answer).collect();
        let mut renames = [answers[0], answers[1]];
        renames.sort();
        assert_eq!(renames, ["duplicate", "written"], "{answers:?}");
        assert_eq!(answers[2..], ["written", "conflict", "written"], "{answers:?}");
        for (i, expected) in [(2, "store-2b@example.com"), (3, "store-3@example.com"), (4, "store-4b@example.com")] {
            let user = app.store.find_user(tenant.org, current[i].id).await.expect("store").expect("user");
            assert_eq!(user.document["userName"], expected);
        }
    }

    async fn user_lifecycle_is_journaled_in_order(app: TestApp) {
        let id = app.create_user("life@example.com").await;
        let uri = format!("/scim/v2/Users/{id}");
        // Not mapped into the product: no event.
        app.patch(&uri, &patch(json!([{"op": "replace", "path": "title", "value": "CTO"}]))).await;
        app.patch(&uri, &patch(json!([{"op": "replace", "path": "displayName", "value": "Life"}]))).await;
        app.patch(&uri, &patch(json!([{"op": "Replace", "path": "active", "value": "False"}]))).await;
        // Changes to an inactive user's profile: anonymized anyway, no event.
        app.patch(&uri, &patch(json!([{"op": "replace", "path": "displayName", "value": "Ghost"}]))).await;
        app.patch(&uri, &patch(json!([{"op": "replace", "path": "active", "value": true}]))).await;
        // A PATCH that changes nothing, and one that fails: no event.
        app.patch(&uri, &patch(json!([{"op": "replace", "path": "active", "value": true}]))).await;
        let failed = app.patch(&uri, &patch(json!([{"op": "replace", "path": "nope", "value": 1}]))).await;
        assert_eq!(failed.status.as_u16(), 400);
        let key = data_key(&app, &id).await.expect("a live user has a data key");
        app.delete(&uri).await;
        assert!(data_key(&app, &id).await.is_none(), "the delete destroyed the key");

        let events = journal(&app).await;
        assert_eq!(
            summary(&events),
            vec![
                (id.clone(), "user.provisioned", 1),
                (id.clone(), "user.updated", 2),
                (id.clone(), "user.deactivated", 3),
                (id.clone(), "user.reactivated", 4),
                (id.clone(), "user.deleted", 5),
            ]
        );
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "seq is monotonic");
        // Opened with the person's data key, as read before the delete.
        let events = opened(events, &key);
        let first = &events[0];
        assert_eq!(first.schema_version, 2);
        let EventBody::UserProvisioned { default_role, profile, seat_key, .. } = &first.body else { panic!("{first:?}") };
        assert_eq!(default_role, "member");
        assert!(seat_key.as_deref().is_some_and(|k| k.starts_with("user:h:")), "{seat_key:?}");
        let profile = profile.opened().expect("opened");
        assert_eq!(profile.user_name, "life@example.com");
        assert_eq!(profile.email.as_deref(), Some("life@example.com"));
        let EventBody::UserReactivated { profile, .. } = &events[3].body else { panic!() };
        let profile = profile.opened().expect("opened");
        assert_eq!(profile.display_name.as_deref(), Some("Ghost"), "a reactivation carries the current profile");
        assert!(events.iter().all(|e| e.workspace_id == first.workspace_id && e.org_id == first.org_id));
    }

    async fn rejected_writes_journal_nothing(app: TestApp) {
        app.create_user("dup@example.com").await;
        let before = journal(&app).await.len();
        let duplicate = app
            .post("/scim/v2/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "DUP@example.com"}))
            .await;
        assert_eq!(duplicate.status.as_u16(), 409);
        let inactive = app
            .post("/scim/v2/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "off@example.com", "active": false}))
            .await;
        assert_eq!(inactive.status.as_u16(), 201);
        assert_eq!(journal(&app).await.len(), before, "no account for an inactive user");
        let id = inactive.body["id"].as_str().expect("id").to_owned();
        app.patch(&format!("/scim/v2/Users/{id}"), &patch(json!([{"op": "replace", "path": "active", "value": true}]))).await;
        let events = journal(&app).await;
        assert_eq!(summary(&events[before..]), vec![(id, "user.reactivated", 1)]);
    }

    async fn group_lifecycle_is_journaled(app: TestApp) {
        let a = app.create_user("ga@example.com").await;
        let b = app.create_user("gb@example.com").await;
        let group = app.create_group("Eng", &[&a]).await;
        let uri = format!("/scim/v2/Groups/{group}");
        app.patch(&uri, &patch(json!([{"op": "Add", "path": "members", "value": [{"value": b}]}]))).await;
        app.patch(&uri, &patch(json!([{"op": "Replace", "path": "displayName", "value": "Platform"}]))).await;
        app.patch(&uri, &patch(json!([{"op": "remove", "path": "members"}]))).await;
        app.delete(&uri).await;
        let events: Vec<Event> = journal(&app).await.into_iter().filter(|e| e.aggregate.id == group).collect();
        assert_eq!(
            summary(&events).into_iter().map(|(_, t, v)| (t, v)).collect::<Vec<_>>(),
            vec![
                ("group.provisioned", 1),
                ("group.members_added", 2),
                ("group.renamed", 3),
                ("group.members_removed", 4),
                ("group.deleted", 5),
            ]
        );
        let EventBody::GroupProvisioned { display_name, members, .. } = &events[0].body else { panic!() };
        assert_eq!(display_name, "Eng");
        assert_eq!(members.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), vec![a.clone()]);
        let EventBody::GroupMembersRemoved { members } = &events[3].body else { panic!() };
        let mut removed = members.clone();
        removed.sort();
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(removed, expected, "removing all members names them");
    }
}

backend_tests! {
    async fn a_batch_of_creates_the_database_refuses_answers_503_and_writes_nothing(app: TestApp) {
        use sea_orm::ConnectionTrait;
        // The e-mail rows cannot be written: every create's transaction
        // fails after its user row was inserted.
        app.store
            .connection()
            .execute_unprepared("ALTER TABLE scim_user_emails RENAME TO scim_user_emails_away")
            .await
            .expect("table renamed");
        let bodies: Vec<_> = (0..6)
            .map(|i| {
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("refused-{i}@example.com"),
                    "emails": [{"value": format!("refused-{i}@example.com")}]
                })
            })
            .collect();
        let replies =
            futures_util::future::join_all(bodies.iter().map(|b| app.post("/scim/v2/Users", b)))
                .await;
        for reply in &replies {
            assert_eq!(reply.status.as_u16(), 503, "{}", reply.body);
        }
        app.store
            .connection()
            .execute_unprepared("ALTER TABLE scim_user_emails_away RENAME TO scim_user_emails")
            .await
            .expect("table back");
        let listed = app.get("/scim/v2/Users").await;
        assert_eq!(listed.body["totalResults"], 0, "no user row left behind");
        assert!(journal(&app).await.is_empty(), "no event without its user");
    }
}
