//! The operator's view of the journal and replay, on the four service
//! processes over PostgreSQL and RabbitMQ: after a scripted provisioning
//! history, `scimctl events list|show|tail` tell what happened and what each
//! service did with it; replaying the organization to identity reports every
//! event as already applied and changes nothing, and touches no other
//! service; after identity lost one user's rows, replaying that user brings
//! them back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use system_tests::OtlpReceiver;
use system_tests::deployment::{
    ADMIN_KEY, Deployment, Http, eventually, json_of, scimctl, set_active, start_with, user,
};

fn lines(output: &std::process::Output) -> Vec<Value> {
    assert!(
        output.status.success(),
        "scimctl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

async fn accounts(http: &Http, deployment: &Deployment, org: &str) -> Vec<Value> {
    let url = format!(
        "{}/admin/v1/organizations/{org}/accounts?limit=500",
        deployment.url("identity")
    );
    let (status, page) = http.send("GET", &url, ADMIN_KEY, None).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// Identity loses every row of one user — accounts, access history, inbox
/// entries — as a restore from an old backup (or a bug) would leave it.
async fn forget_user(identity_db: &sea_orm::DatabaseConnection, scim_user_id: &str) {
    for sql in [
        "DELETE FROM access_changes WHERE account_id IN (SELECT id FROM accounts WHERE scim_user_id = $1)",
        "DELETE FROM accounts WHERE scim_user_id = $1",
        "DELETE FROM inbox_events WHERE aggregate_id = $1",
        "DELETE FROM inbox_aggregates WHERE aggregate_id = $1",
    ] {
        identity_db
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                sql,
                [scim_user_id.into()],
            ))
            .await
            .unwrap();
    }
}

#[actix_web::test]
async fn events_tell_the_history_and_replay_skips_what_was_applied() {
    let Some(amqp_url) = test_support::amqp_url() else {
        return;
    };
    let (_otlp, otlp_endpoint) = OtlpReceiver::start().unwrap();
    // Identity gives up on an event quickly, so that a poison event reaches
    // its dead queue within the test.
    let quick_dead = [
        ("identity", "SCIM_AMQP__MAX_ATTEMPTS", "2"),
        ("identity", "SCIM_AMQP__RETRY_DELAY_MS", "100"),
    ];
    let Some(mut deployment) = start_with(amqp_url, &otlp_endpoint, &quick_dead).await else {
        return;
    };
    let http = Http {
        client: reqwest::Client::new(),
    };
    let created = json_of(
        &scimctl(
            &deployment,
            &["org", "create", "--name", "Replay", "--seats", "10"],
        )
        .await,
    );
    let org = created["org_id"].as_str().unwrap().to_owned();
    let token = created["token"].as_str().unwrap().to_owned();
    let scim = format!("{}/scim/v2", deployment.url("scim-gateway"));

    // The history: three users, a group, a disable and re-enable, a delete,
    // a membership change.
    let mut ids = std::collections::HashMap::new();
    for name in ["alice", "bob", "carol"] {
        let (status, body) = http
            .send("POST", &format!("{scim}/Users"), &token, Some(user(name)))
            .await;
        assert_eq!(status, 201, "{body}");
        ids.insert(name, body["id"].as_str().unwrap().to_owned());
    }
    let (status, group) = http
        .send(
            "POST",
            &format!("{scim}/Groups"),
            &token,
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Engineering",
                "members": [{"value": ids["alice"]}, {"value": ids["bob"]}]
            })),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let group_id = group["id"].as_str().unwrap().to_owned();
    for (who, active) in [("bob", false), ("bob", true)] {
        let (status, body) = http
            .send(
                "PATCH",
                &format!("{scim}/Users/{}", ids[who]),
                &token,
                Some(set_active(active)),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = http
        .send(
            "DELETE",
            &format!("{scim}/Users/{}", ids["carol"]),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = http
        .send(
            "PATCH",
            &format!("{scim}/Groups/{group_id}"),
            &token,
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "remove", "path": format!("members[value eq \"{}\"]", ids["alice"])}]
            })),
        )
        .await;
    assert!(status == 200 || status == 204, "{status} {body}");

    // events list: the whole history of the organization, in seq order.
    let history = lines(
        &scimctl(
            &deployment,
            &["events", "list", "--org", &org, "--format", "jsonl"],
        )
        .await,
    );
    let types: Vec<&str> = history
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "user.provisioned",
            "user.provisioned",
            "user.provisioned",
            "group.provisioned",
            "user.deactivated",
            "user.reactivated",
            "user.deleted",
            "group.members_removed"
        ],
        "{history:?}"
    );
    let seqs: Vec<i64> = history.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // Filters: type, kind, aggregate, seq range.
    let provisioned = lines(
        &scimctl(
            &deployment,
            &[
                "events",
                "list",
                "--org",
                &org,
                "--type",
                "user.provisioned",
                "--format",
                "jsonl",
            ],
        )
        .await,
    );
    assert_eq!(provisioned.len(), 3);
    let group_events = lines(
        &scimctl(
            &deployment,
            &[
                "events", "list", "--org", &org, "--type", "group.*", "--format", "jsonl",
            ],
        )
        .await,
    );
    assert_eq!(group_events.len(), 2);
    let bobs = lines(
        &scimctl(
            &deployment,
            &[
                "events",
                "list",
                "--aggregate",
                &ids["bob"],
                "--format",
                "jsonl",
            ],
        )
        .await,
    );
    let versions: Vec<i64> = bobs
        .iter()
        .map(|e| e["event"]["aggregate"]["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    let middle = lines(
        &scimctl(
            &deployment,
            &[
                "events",
                "list",
                "--org",
                &org,
                "--after-seq",
                &seqs[1].to_string(),
                "--until-seq",
                &seqs[3].to_string(),
                "--format",
                "jsonl",
            ],
        )
        .await,
    );
    assert_eq!(
        middle
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        seqs[2..=3]
    );
    let bad = scimctl(&deployment, &["events", "list", "--type", "user.%"]).await;
    assert!(!bad.status.success());
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).lines().count(),
        1,
        "one line of error"
    );

    // events show: the whole event and what each service did with it.
    let carol_deleted = history[6]["event"]["id"].as_str().unwrap().to_owned();
    let shown = eventually(
        "carol's deletion applied everywhere",
        &deployment,
        || async {
            let shown = json_of(&scimctl(&deployment, &["events", "show", &carol_deleted]).await);
            ["identity", "team", "licensing"]
                .iter()
                .all(|s| shown["delivery"][s]["status"] == "applied")
                .then_some(shown)
        },
    )
    .await;
    assert_eq!(shown["event"]["type"], "user.deleted");
    assert_eq!(shown["event"]["aggregate"]["id"], ids["carol"].as_str());
    assert!(shown["published_at"].is_string(), "{shown}");
    let group_provisioned = history[3]["event"]["id"].as_str().unwrap().to_owned();
    let shown_group = eventually("the group's event applied by team", &deployment, || async {
        let shown = json_of(&scimctl(&deployment, &["events", "show", &group_provisioned]).await);
        (shown["delivery"]["team"]["status"] == "applied").then_some(shown)
    })
    .await;
    assert_eq!(
        shown_group["delivery"]["identity"]["status"],
        "not consumed by this service"
    );
    assert_eq!(
        shown_group["delivery"]["licensing"]["status"],
        "not consumed by this service"
    );
    let team_applied_at = shown["delivery"]["team"]["applied_at"].clone();

    // events tail: the last entries.
    let tail = lines(
        &scimctl(
            &deployment,
            &[
                "events", "tail", "--org", &org, "-n", "2", "--format", "jsonl",
            ],
        )
        .await,
    );
    assert_eq!(
        tail.iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        seqs[6..]
    );

    // Every user event applied by identity (the membership change is the
    // last thing and identity does not consume it): then replay.
    eventually("identity applied the history", &deployment, || async {
        let shown = json_of(&scimctl(&deployment, &["events", "show", &carol_deleted]).await);
        (shown["delivery"]["identity"]["status"] == "applied").then_some(())
    })
    .await;
    let before = accounts(&http, &deployment, &org).await;
    let dry = json_of(
        &scimctl(
            &deployment,
            &[
                "replay",
                "--service",
                "identity",
                "--org",
                &org,
                "--dry-run",
            ],
        )
        .await,
    );
    assert_eq!(dry["events"], 8, "{dry}");
    assert_eq!(
        dry["counts"],
        json!({"already_applied": 6, "not_consumed": 2}),
        "{dry}"
    );
    assert_eq!(dry["would_apply"], json!([]), "{dry}");
    let replayed = json_of(
        &scimctl(
            &deployment,
            &["replay", "--service", "identity", "--org", &org],
        )
        .await,
    );
    assert_eq!(
        replayed["counts"],
        json!({"already_applied": 6, "not_consumed": 2}),
        "{replayed}"
    );
    assert_eq!(replayed["problems"], json!([]));
    assert_eq!(
        accounts(&http, &deployment, &org).await,
        before,
        "a replay of applied events changed identity"
    );
    // No other service received anything.
    let after_replay = json_of(&scimctl(&deployment, &["events", "show", &carol_deleted]).await);
    assert_eq!(
        after_replay["delivery"]["team"]["applied_at"],
        team_applied_at
    );

    // The replay endpoint wants the admin key and well-formed events.
    let endpoint = format!(
        "{}/admin/v1/services/identity/replay",
        deployment.url("identity")
    );
    let (status, _) = http
        .send("POST", &endpoint, "wrong-key", Some(json!({"events": []})))
        .await;
    assert_eq!(status, 401);
    let (status, body) = http
        .send(
            "POST",
            &endpoint,
            ADMIN_KEY,
            Some(json!({"events": [{"id": "nope"}]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let too_many = vec![history[0]["event"].clone(); 1001];
    let (status, body) = http
        .send(
            "POST",
            &endpoint,
            ADMIN_KEY,
            Some(json!({"events": too_many})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = http
        .send(
            "GET",
            &format!("{}/admin/v1/events?org=x", deployment.url("scim-gateway")),
            ADMIN_KEY,
            None,
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = http
        .send(
            "GET",
            &format!("{}/admin/v1/events", deployment.url("scim-gateway")),
            "wrong-key",
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = http
        .send(
            "GET",
            &format!(
                "{}/admin/v1/events/{}",
                deployment.url("scim-gateway"),
                uuid::Uuid::new_v4()
            ),
            ADMIN_KEY,
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Identity loses bob's rows (a restore from an old backup, a bug): the
    // dry run names his events, the replay of bob applies them, and his
    // account is back as it was (the events name the account ids).
    let identity_db = Database::connect(deployment.databases["identity"].as_str())
        .await
        .unwrap();
    let bob = ids["bob"].clone();
    forget_user(&identity_db, &bob).await;
    let lost = json_of(
        &scimctl(
            &deployment,
            &[
                "replay",
                "--service",
                "identity",
                "--org",
                &org,
                "--dry-run",
            ],
        )
        .await,
    );
    assert_eq!(
        lost["counts"],
        json!({"already_applied": 3, "not_consumed": 2, "would_apply": 3}),
        "{lost}"
    );
    let would: Vec<&str> = lost["would_apply"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["aggregate_id"].as_str().unwrap())
        .collect();
    assert_eq!(would, [bob.as_str(); 3]);
    let restored = json_of(
        &scimctl(
            &deployment,
            &["replay", "--service", "identity", "--aggregate", &bob],
        )
        .await,
    );
    assert_eq!(restored["counts"], json!({"applied": 3}), "{restored}");
    let key = |a: &Value| {
        (
            a["id"].clone(),
            a["status"].clone(),
            a["profile"].clone(),
            a["role"].clone(),
        )
    };
    let mut now: Vec<_> = accounts(&http, &deployment, &org)
        .await
        .iter()
        .map(key)
        .collect();
    let mut was: Vec<_> = before.iter().map(key).collect();
    now.sort_by_key(|k| k.0.to_string());
    was.sort_by_key(|k| k.0.to_string());
    assert_eq!(now, was);

    // Rebuild each service from the journal into a fresh database and
    // compare it with the live one: nothing differs.
    for service in ["identity", "team", "licensing"] {
        let fresh = test_support::postgres_database().await.unwrap();
        let rebuilt = json_of(
            &scimctl(
                &deployment,
                &["rebuild", service, "--into", &fresh, "--org", &org],
            )
            .await,
        );
        assert_eq!(rebuilt["events"], 8, "{rebuilt}");
        assert_eq!(rebuilt["problems"], json!([]), "{rebuilt}");
        let live = deployment.databases[if service == "scim-gateway" {
            "gateway"
        } else {
            service
        }]
        .clone();
        let same = scimctl(
            &deployment,
            &["diff", service, "--against", &fresh, "--live", &live],
        )
        .await;
        assert!(
            same.status.success(),
            "{service}: {}{}",
            String::from_utf8_lossy(&same.stdout),
            String::from_utf8_lossy(&same.stderr)
        );
        // A database that is not fresh is refused.
        let again = scimctl(&deployment, &["rebuild", service, "--into", &fresh]).await;
        assert!(!again.status.success());
        assert!(String::from_utf8_lossy(&again.stderr).contains("not a fresh database"));
    }
    let fresh = test_support::postgres_database().await.unwrap();
    let rebuilt = json_of(&scimctl(&deployment, &["rebuild", "identity", "--into", &fresh]).await);
    assert_eq!(rebuilt["counts"]["applied"], 6, "{rebuilt}");
    assert_eq!(rebuilt["counts"]["not_consumed"], 2, "{rebuilt}");

    // A projection bug, simulated: one column of one live row altered. The
    // diff reports exactly that row and column.
    let alice_account = accounts(&http, &deployment, &org)
        .await
        .into_iter()
        .find(|a| a["scim_user_id"] == ids["alice"].as_str() && a["status"] == "active")
        .unwrap();
    identity_db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "UPDATE accounts SET email = 'wrong@example.com' WHERE id = $1",
            [uuid::Uuid::parse_str(alice_account["id"].as_str().unwrap())
                .unwrap()
                .into()],
        ))
        .await
        .unwrap();
    let differs = scimctl(
        &deployment,
        &[
            "diff",
            "identity",
            "--against",
            &fresh,
            "--live",
            &deployment.databases["identity"],
        ],
    )
    .await;
    assert_eq!(
        differs.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&differs.stderr)
    );
    let report: Value = serde_json::from_slice(&differs.stdout).unwrap();
    assert_eq!(report["differences"], 1, "{report}");
    let row = &report["rows"][0];
    assert_eq!(row["table"], "accounts");
    assert_eq!(row["key"]["id"], alice_account["id"]);
    assert_eq!(row["columns"], json!(["email"]));
    assert_eq!(row["live"]["email"], "wrong@example.com");
    assert_eq!(row["rebuilt"]["email"], "alice@example.com");

    // A poison event: identity lost alice's rows, then the IdP renames her.
    // Version n before version 1 can never apply: after its attempts it is a
    // dead letter.
    let alice = ids["alice"].clone();
    forget_user(&identity_db, &alice).await;
    let last_seq_before = *seqs.last().unwrap();
    let (status, body) = http
        .send(
            "PATCH",
            &format!("{scim}/Users/{alice}"),
            &token,
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "displayName", "value": "Alice Renamed"}]
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let letters = eventually(
        "the rename in identity's dead letters",
        &deployment,
        || async {
            let listed = json_of(&scimctl(&deployment, &["dead", "list", "identity"]).await);
            let items = listed["items"].as_array().cloned().unwrap_or_default();
            (!items.is_empty()).then_some(items)
        },
    )
    .await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["aggregate_id"], alice.as_str());
    assert_eq!(letters[0]["type"], "user.updated");
    assert_eq!(letters[0]["attempts"], 2);
    assert!(
        letters[0]["error"]
            .as_str()
            .unwrap()
            .contains("before version 1"),
        "{letters:?}"
    );
    let poison = letters[0]["event_id"].as_str().unwrap().to_owned();
    let shown = json_of(&scimctl(&deployment, &["dead", "show", "identity", &poison]).await);
    // Shown sealed: the person's data key exists, and no admin answer opens
    // a profile.
    assert_eq!(shown["event"]["payload"]["profile"], "sealed", "{shown}");
    assert!(!shown.to_string().contains("Alice Renamed"), "{shown}");
    // Requeued before its cause is fixed: it fails again and stays.
    let early = json_of(&scimctl(&deployment, &["dead", "requeue", "identity"]).await);
    assert_eq!(early["applied"], 0, "{early}");
    assert_eq!(
        early["still_failing"].as_array().unwrap().len(),
        1,
        "{early}"
    );
    assert_eq!(
        json_of(&scimctl(&deployment, &["dead", "list", "identity"]).await)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The cause fixed (alice's history replayed), the requeue applies it once.
    let fixed = json_of(
        &scimctl(
            &deployment,
            &[
                "replay",
                "--service",
                "identity",
                "--aggregate",
                &alice,
                "--until-seq",
                &last_seq_before.to_string(),
            ],
        )
        .await,
    );
    assert_eq!(fixed["problems"], json!([]), "{fixed}");
    let requeued = json_of(&scimctl(&deployment, &["dead", "requeue", "identity", &poison]).await);
    assert_eq!(requeued["applied"], 1, "{requeued}");
    assert_eq!(requeued["still_failing"], json!([]), "{requeued}");
    assert_eq!(
        json_of(&scimctl(&deployment, &["dead", "list", "identity"]).await)["items"],
        json!([])
    );
    let renamed = accounts(&http, &deployment, &org)
        .await
        .into_iter()
        .find(|a| a["scim_user_id"] == alice.as_str() && a["status"] == "active")
        .unwrap();
    assert_eq!(renamed["profile"]["display_name"], "Alice Renamed");
    let again = json_of(&scimctl(&deployment, &["dead", "requeue", "identity"]).await);
    assert_eq!(
        (again["applied"].clone(), again["already_applied"].clone()),
        (json!(0), json!(0))
    );
    let shown = json_of(&scimctl(&deployment, &["events", "show", &poison]).await);
    assert_eq!(shown["delivery"]["identity"]["status"], "applied");

    for process in deployment.processes.values_mut() {
        process.stop(Duration::from_secs(15));
    }
    deployment.clean_broker().await;
}
