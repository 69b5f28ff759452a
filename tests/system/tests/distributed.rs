//! The distributed deployment as docker compose runs it, minus Docker: the
//! `identity`, `team`, `licensing` and `scim-gateway` binaries as separate
//! processes, each with the `environment:` docker-compose.yml gives it (read
//! from the file), pointed at the machine's PostgreSQL (a fresh database per
//! service), RabbitMQ and an OTLP receiver standing in for the collector.
//! Only what cannot be shared on one machine is changed: hosts, ports, and
//! names on the broker (exchange and queues, so that parallel tests do not
//! meet).
//!
//! Through `scimctl` and the gateway it drives a whole provisioning
//! lifecycle — organization and token, users, a group, the seat quota,
//! disable, re-enable, delete, token revoke and rotation — and checks each
//! service's own view of it through its admin API, `scimctl status`, one
//! trace across the four processes, and JSON log lines carrying trace ids.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use system_tests::OtlpReceiver;
use system_tests::deployment::{
    ADMIN_KEY, Http, eventually, json_of, scimctl, set_active, start, user,
};

#[actix_web::test]
async fn the_compose_services_as_processes_provision_a_whole_lifecycle() {
    let Some(amqp_url) = test_support::amqp_url() else {
        return;
    };
    let (otlp, otlp_endpoint) = OtlpReceiver::start().unwrap();
    let Some(mut deployment) = start(amqp_url, &otlp_endpoint).await else {
        return;
    };
    let http = Http {
        client: reqwest::Client::new(),
    };

    // The gateway's readiness reports what it serves on the broker: the
    // consumer of licensing's events, the data-key and journal servers.
    let readyz = format!("{}/readyz", deployment.url("scim-gateway"));
    let ready: Value = eventually("the gateway's broker parts consuming", &deployment, || {
        let (client, readyz) = (http.client.clone(), readyz.clone());
        async move {
            let ready: Value = client.get(&readyz).send().await.ok()?.json().await.ok()?;
            let consuming = ["queue", "data_key_server", "journal_server"]
                .iter()
                .all(|part| ready[part]["consuming"] == true);
            consuming.then_some(ready)
        }
    })
    .await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(
        ready["data_key_server"]["queue"],
        deployment.data_key_queue(),
        "{ready}"
    );
    assert!(ready["journal_server"]["queue"].is_string(), "{ready}");
    assert!(ready.get("detail").is_none(), "{ready}");

    // An organization, its connection, subscription and token, by scimctl.
    let created = json_of(
        &scimctl(
            &deployment,
            &[
                "org",
                "create",
                "--name",
                "Acme",
                "--seats",
                "3",
                "--workspace",
                "Synced",
                "--default-role",
                "viewer",
            ],
        )
        .await,
    );
    let org = created["org_id"].as_str().unwrap().to_owned();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(created["workspace_id"].is_string(), "{created}");
    let scim = format!("{}/scim/v2", deployment.url("scim-gateway"));
    let accounts_url = format!(
        "{}/admin/v1/organizations/{org}/accounts?limit=500",
        deployment.url("identity")
    );
    let teams_url = format!(
        "{}/admin/v1/organizations/{org}/teams",
        deployment.url("team")
    );
    let usage_url = format!(
        "{}/admin/v1/organizations/{org}/usage",
        deployment.url("licensing")
    );

    // Three users fill the quota; the fourth is refused, nothing written.
    let mut ids = HashMap::new();
    for name in ["alice", "bob", "carol"] {
        let (status, body) = http
            .send("POST", &format!("{scim}/Users"), &token, Some(user(name)))
            .await;
        assert_eq!(status, 201, "{body}");
        ids.insert(name, body["id"].as_str().unwrap().to_owned());
    }
    let (status, body) = http
        .send("POST", &format!("{scim}/Users"), &token, Some(user("dave")))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("3 of 3"),
        "{body}"
    );
    let (_, found) = http
        .send(
            "GET",
            &format!("{scim}/Users?filter=userName%20eq%20%22dave@example.com%22"),
            &token,
            None,
        )
        .await;
    assert_eq!(found["totalResults"], 0);

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

    let accounts = || async {
        let (status, page) = http.send("GET", &accounts_url, ADMIN_KEY, None).await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    };
    let accounts_of = |scim_id: String| {
        let accounts = &accounts;
        async move {
            accounts()
                .await
                .into_iter()
                .filter(|a| a["scim_user_id"] == scim_id.as_str())
                .collect::<Vec<_>>()
        }
    };

    // Identity: three active accounts in the synced workspace, default role.
    let active = eventually("three accounts in identity", &deployment, || async {
        let items = accounts().await;
        (items.len() == 3).then_some(items)
    })
    .await;
    for account in &active {
        assert_eq!(account["status"], "active", "{account}");
        assert_eq!(account["role"], "viewer", "{account}");
        assert_eq!(
            account["workspace_id"], created["workspace_id"],
            "{account}"
        );
    }
    // Team: the group is a team of alice's and bob's accounts.
    let team = eventually("the team", &deployment, || async {
        let (_, page) = http.send("GET", &teams_url, ADMIN_KEY, None).await;
        page["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|t| t["group_id"] == group_id.as_str())
                .cloned()
        })
    })
    .await;
    assert_eq!(team["name"], "Engineering");
    let members_url = format!("{teams_url}/{}/members", team["id"].as_str().unwrap());
    let members = eventually("two members", &deployment, || async {
        let (_, page) = http.send("GET", &members_url, ADMIN_KEY, None).await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 2 && items.iter().all(|m| m["account_id"].is_string())).then_some(items)
    })
    .await;
    let mut member_users: Vec<&str> = members
        .iter()
        .map(|m| m["scim_user_id"].as_str().unwrap())
        .collect();
    member_users.sort_unstable();
    let mut expected = vec![ids["alice"].as_str(), ids["bob"].as_str()];
    expected.sort_unstable();
    assert_eq!(member_users, expected);
    // Licensing: three seats confirmed.
    eventually("three confirmed seats", &deployment, || async {
        let (_, usage) = http.send("GET", &usage_url, ADMIN_KEY, None).await;
        (usage["seats"]["confirmed"] == 3).then_some(())
    })
    .await;

    // Disable alice: her profile is anonymized, her seat freed, dave fits.
    let (status, body) = http
        .send(
            "PATCH",
            &format!("{scim}/Users/{}", ids["alice"]),
            &token,
            Some(set_active(false)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let alice_before = eventually("alice anonymized", &deployment, || async {
        let mine = accounts_of(ids["alice"].clone()).await;
        (mine.len() == 1 && mine[0]["status"] == "anonymized").then(|| mine[0].clone())
    })
    .await;
    assert!(alice_before["profile"].is_null(), "{alice_before}");
    eventually("alice's seat released", &deployment, || async {
        let (_, usage) = http.send("GET", &usage_url, ADMIN_KEY, None).await;
        (usage["seats"]["confirmed"] == 2).then_some(())
    })
    .await;
    let (status, body) = http
        .send("POST", &format!("{scim}/Users"), &token, Some(user("dave")))
        .await;
    assert_eq!(status, 201, "{body}");
    ids.insert("dave", body["id"].as_str().unwrap().to_owned());

    // Re-enabling alice needs a seat: refused while full…
    let (status, body) = http
        .send(
            "PATCH",
            &format!("{scim}/Users/{}", ids["alice"]),
            &token,
            Some(set_active(true)),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // …granted once dave is deleted, as a new account.
    let (status, _) = http
        .send(
            "DELETE",
            &format!("{scim}/Users/{}", ids["dave"]),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = eventually("alice re-enabled", &deployment, || async {
        let answer = http
            .send(
                "PATCH",
                &format!("{scim}/Users/{}", ids["alice"]),
                &token,
                Some(set_active(true)),
            )
            .await;
        // dave's seat is released when licensing applies his deletion.
        (answer.0 != 403).then_some(answer)
    })
    .await;
    assert_eq!(status, 200, "{body}");
    let alice_now = eventually("alice's new account", &deployment, || async {
        let mine = accounts_of(ids["alice"].clone()).await;
        mine.into_iter().find(|a| a["status"] == "active")
    })
    .await;
    assert_ne!(alice_now["id"], alice_before["id"]);
    assert_eq!(alice_now["profile"]["user_name"], "alice@example.com");
    // The team resolves alice to her current account.
    eventually(
        "the team follows alice's new account",
        &deployment,
        || async {
            let (_, page) = http.send("GET", &members_url, ADMIN_KEY, None).await;
            page["items"]
                .as_array()?
                .iter()
                .any(|m| m["account_id"] == alice_now["id"])
                .then_some(())
        },
    )
    .await;

    // Delete bob: "Deleted user", the account kept.
    let (status, _) = http
        .send(
            "DELETE",
            &format!("{scim}/Users/{}", ids["bob"]),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let bob = eventually("bob deleted", &deployment, || async {
        let mine = accounts_of(ids["bob"].clone()).await;
        (mine.len() == 1 && mine[0]["status"] == "deleted").then(|| mine[0].clone())
    })
    .await;
    assert_eq!(bob["label"], "Deleted user");
    assert!(bob["profile"].is_null(), "{bob}");

    // Delete the group: the team goes, the accounts stay.
    let (status, _) = http
        .send("DELETE", &format!("{scim}/Groups/{group_id}"), &token, None)
        .await;
    assert_eq!(status, 204);
    let team_url = format!("{teams_url}/{}", team["id"].as_str().unwrap());
    eventually("the team deleted", &deployment, || async {
        let (status, _) = http.send("GET", &team_url, ADMIN_KEY, None).await;
        (status == 404).then_some(())
    })
    .await;
    let still = accounts_of(ids["alice"].clone()).await;
    assert!(still.iter().any(|a| a["status"] == "active"), "{still:?}");
    eventually("two seats in use (alice, carol)", &deployment, || async {
        let (_, usage) = http.send("GET", &usage_url, ADMIN_KEY, None).await;
        (usage["seats"]["confirmed"] == 2 && usage["seats"]["reserved"] == 0).then_some(())
    })
    .await;

    // Tokens: rotation keeps the old value only for the overlap; a revoked
    // token is refused at once.
    let tokens = json_of(&scimctl(&deployment, &["token", "list", &org]).await);
    let token_id = tokens["items"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        !tokens.to_string().contains(&token),
        "a listing shows a token's value"
    );
    let rotated = json_of(
        &scimctl(
            &deployment,
            &["token", "rotate", &org, &token_id, "--overlap-seconds", "2"],
        )
        .await,
    );
    let successor = rotated["token"].as_str().unwrap().to_owned();
    let users_url = format!("{scim}/Users?count=1");
    assert_eq!(http.send("GET", &users_url, &token, None).await.0, 200);
    assert_eq!(http.send("GET", &users_url, &successor, None).await.0, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(http.send("GET", &users_url, &token, None).await.0, 401);
    let successor_id = rotated["id"].as_str().unwrap().to_owned();
    json_of(&scimctl(&deployment, &["token", "revoke", &org, &successor_id]).await);
    assert_eq!(http.send("GET", &users_url, &successor, None).await.0, 401);

    // scimctl status: every service ready, the journal drained, each
    // consumer's queue sampled, nothing dead.
    let status = eventually("every queue sampled and drained", &deployment, || async {
        let output = scimctl(&deployment, &["status"]).await;
        let report: Value = serde_json::from_slice(&output.stdout).ok()?;
        let queues = report["queues"].as_object()?;
        let drained = ["identity", "team", "licensing"].iter().all(|s| {
            queues
                .get(*s)
                .is_some_and(|q| q["ready"] == 0 && q["retrying"] == 0 && q["consumers"] == 1)
        });
        (output.status.success() && drained && report["journal"]["unpublished"] == 0)
            .then_some(report)
    })
    .await;
    assert_eq!(status["all_ready"], true);
    for service in ["identity", "team", "licensing"] {
        assert_eq!(status["queues"][service]["dead"], 0, "{status}");
        assert_eq!(
            status["queues"][service]["name"],
            format!("{service}-{}", deployment.suffix)
        );
    }

    // One trace: carol's creation in the gateway, the relay's publish, and
    // her event's handling in identity, team and licensing — four processes
    // exporting over OTLP.
    let carol = ids["carol"].clone();
    let trace = eventually(
        "carol's trace from all four services",
        &deployment,
        || async {
            let spans = otlp.spans();
            let consume = |service: &str| {
                spans
                    .iter()
                    .find(|s| {
                        s.service == service
                            && s.name == "consume"
                            && s.attributes.get("aggregate_id") == Some(&carol)
                            && s.attributes.get("event_type").map(String::as_str)
                                == Some("user.provisioned")
                    })
                    .cloned()
            };
            let identity = consume("identity")?;
            let (team, licensing) = (consume("team")?, consume("licensing")?);
            let publish = spans
                .iter()
                .find(|s| {
                    s.service == "scim-gateway"
                        && s.name == "publish"
                        && s.span_id == identity.parent_span_id
                })?
                .clone();
            let request = spans
                .iter()
                .find(|s| {
                    s.service == "scim-gateway"
                        && s.name == "http request"
                        && s.span_id == publish.parent_span_id
                })?
                .clone();
            Some((request, publish, [identity, team, licensing]))
        },
    )
    .await;
    let (request, publish, consumers) = trace;
    assert_eq!(
        request.attributes.get("url.path").map(String::as_str),
        Some("/scim/v2/Users")
    );
    for span in consumers.iter().chain([&publish]) {
        assert_eq!(span.trace_id, request.trace_id, "{span:?}");
    }
    for consumer in &consumers {
        assert_eq!(consumer.parent_span_id, publish.span_id, "{consumer:?}");
    }

    // Logs are JSON lines; the gateway's request line carries the trace id.
    let gateway_log = deployment.processes["scim-gateway"].output();
    let lines: Vec<Value> = gateway_log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["trace_id"] == request.trace_id.as_str()
                && l["fields"]["message"] == "request"),
        "no request log line with trace id {}:\n{gateway_log}",
        request.trace_id
    );
    assert!(
        !gateway_log.contains(&token),
        "a token value in the gateway's log"
    );
    assert!(
        !gateway_log.contains(ADMIN_KEY),
        "the admin key in the gateway's log"
    );

    // SIGTERM: every process stops cleanly.
    for process in deployment.processes.values_mut() {
        process.stop(Duration::from_secs(15));
    }
    deployment.clean_broker().await;
}
