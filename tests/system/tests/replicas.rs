//! Issue 24's system test: the platform scaled out — two gateways behind a
//! round-robin TCP proxy, two replicas each of identity, team and licensing,
//! on PostgreSQL and RabbitMQ — takes 2,000 IdP writes (creates, PATCHes
//! without If-Match, disables, re-enables, deletes, group creates and
//! membership changes) from 8 concurrent clients while one replica of each
//! service is killed (SIGKILL) and started again: first the gateway holding
//! the journal's lease, then identity, team and licensing.
//!
//! The clients behave as IdPs do: a write left unanswered is sent again
//! (counted). Once the platform is quiet:
//! - nothing lost: the SCIM view is exactly what the clients were told, the
//!   spy queue received every journal entry, and every consumer's inbox holds
//!   every event of its kinds;
//! - nothing applied twice: each inbox holds each event once, identity has one
//!   account per provisioning (create or re-enable) and licensing one seat per
//!   active user;
//! - per-user versions in order: the journal's versions of each aggregate are
//!   1, 2, 3… in `seq` order and each inbox is at the last;
//! - teams equal groups (names and members);
//! - events published more than once (the spy's duplicates) are printed: none
//!   before the lease holder was killed, at most one relay batch after.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use system_tests::OtlpReceiver;
use system_tests::cluster::Cluster;
use system_tests::deployment::{ADMIN_KEY, json_of, scimctl, set_active, user};
use system_tests::idp::{Idp, Retries};
use system_tests::spy::PublishSpy;

const CLIENTS: usize = 8;
const WRITES_PER_CLIENT: usize = 250;
/// The gateways' relay batch: the most a dead lease holder can leave
/// published but not marked, to be published again by its successor.
const RELAY_BATCH: usize = 64;

/// xorshift64: the same workload on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[derive(Debug, Clone)]
struct UserModel {
    id: String,
    given_name: String,
    active: bool,
    deleted: bool,
    /// Accounts identity should have made: the create and each re-enable.
    provisionings: usize,
}

#[derive(Debug, Clone)]
struct GroupModel {
    id: String,
    name: String,
    members: BTreeSet<String>,
}

/// What one client was told its writes did.
#[derive(Default)]
struct Model {
    users: Vec<UserModel>,
    groups: Vec<GroupModel>,
}

fn patch(operations: Value) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": operations
    })
}

fn eq_filter(attribute: &str, value: &str) -> String {
    format!("{attribute}%20eq%20%22{value}%22")
}

/// One IdP's 250 writes over its own users and groups (clients never touch
/// each other's, so each one's model is exact).
async fn client(idp: Idp, number: usize, done: Arc<AtomicUsize>) -> Model {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (number as u64 + 1));
    let mut model = Model::default();
    let mut created = 0;
    for write in 0..WRITES_PER_CLIENT {
        let live: Vec<usize> = (0..model.users.len())
            .filter(|&i| !model.users[i].deleted)
            .collect();
        let pick = |rng: &mut Rng, among: &[usize]| among[rng.below(among.len())];
        let active: Vec<usize> = live
            .iter()
            .copied()
            .filter(|&i| model.users[i].active)
            .collect();
        let disabled: Vec<usize> = live
            .iter()
            .copied()
            .filter(|&i| !model.users[i].active)
            .collect();
        let roll = if write < 30 || (active.len() < 4 && created < 90) {
            0
        } else if write < 32 {
            95
        } else {
            rng.below(100)
        };
        match roll {
            0..20 if created < 90 => {
                let name = format!("replica-c{number}-u{created}");
                let id = idp
                    .create(
                        "Users",
                        user(&name),
                        &eq_filter("userName", &format!("{name}@example.com")),
                    )
                    .await;
                created += 1;
                model.users.push(UserModel {
                    id,
                    given_name: name,
                    active: true,
                    deleted: false,
                    provisionings: 1,
                });
            }
            40..52 => {
                let i = pick(&mut rng, &active);
                let (status, body, _) = idp
                    .write(
                        "PATCH",
                        &format!("/Users/{}", model.users[i].id),
                        Some(set_active(false)),
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
                model.users[i].active = false;
            }
            52..60 if !disabled.is_empty() => {
                let i = pick(&mut rng, &disabled);
                let (status, body, _) = idp
                    .write(
                        "PATCH",
                        &format!("/Users/{}", model.users[i].id),
                        Some(set_active(true)),
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
                model.users[i].active = true;
                model.users[i].provisionings += 1;
            }
            60..75 if !model.groups.is_empty() => {
                let g = rng.below(model.groups.len());
                let outside: Vec<usize> = live
                    .iter()
                    .copied()
                    .filter(|&i| !model.groups[g].members.contains(&model.users[i].id))
                    .collect();
                if outside.is_empty() {
                    continue_with_rename(&idp, &mut model, &mut rng, &active, write).await;
                } else {
                    let i = pick(&mut rng, &outside);
                    let id = model.users[i].id.clone();
                    let operations =
                        json!([{"op": "add", "path": "members", "value": [{"value": id}]}]);
                    let path = format!("/Groups/{}", model.groups[g].id);
                    let (status, body, _) =
                        idp.write("PATCH", &path, Some(patch(operations))).await;
                    assert!(matches!(status, 200 | 204), "{status} {body}");
                    model.groups[g].members.insert(id);
                }
            }
            75..85 if model.groups.iter().any(|g| !g.members.is_empty()) => {
                let with: Vec<usize> = (0..model.groups.len())
                    .filter(|&g| !model.groups[g].members.is_empty())
                    .collect();
                let g = pick(&mut rng, &with);
                let members: Vec<String> = model.groups[g].members.iter().cloned().collect();
                let id = members[rng.below(members.len())].clone();
                let operations =
                    json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]);
                let path = format!("/Groups/{}", model.groups[g].id);
                let (status, body, _) = idp.write("PATCH", &path, Some(patch(operations))).await;
                assert!(matches!(status, 200 | 204), "{status} {body}");
                model.groups[g].members.remove(&id);
            }
            85..92 => {
                let i = pick(&mut rng, &live);
                let path = format!("/Users/{}", model.users[i].id);
                let (status, body, retried) = idp.write("DELETE", &path, None).await;
                // 404: a lost attempt had deleted it.
                assert!(
                    status == 204 || (retried && status == 404),
                    "{status} {body}"
                );
                model.users[i].deleted = true;
                let id = model.users[i].id.clone();
                for group in &mut model.groups {
                    group.members.remove(&id);
                }
            }
            92.. if model.groups.len() < 4 => {
                let name = format!("replica-c{number}-team-{}", model.groups.len());
                let members: BTreeSet<String> = active
                    .iter()
                    .take(5)
                    .map(|&i| model.users[i].id.clone())
                    .collect();
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": name,
                    "members": members.iter().map(|id| json!({"value": id})).collect::<Vec<_>>()
                });
                let id = idp
                    .create("Groups", body, &eq_filter("displayName", &name))
                    .await;
                model.groups.push(GroupModel { id, name, members });
            }
            _ => continue_with_rename(&idp, &mut model, &mut rng, &active, write).await,
        }
        done.fetch_add(1, Ordering::SeqCst);
    }
    model
}

/// A PATCH without If-Match: an active user's given name replaced.
async fn continue_with_rename(
    idp: &Idp,
    model: &mut Model,
    rng: &mut Rng,
    active: &[usize],
    write: usize,
) {
    let i = active[rng.below(active.len())];
    let given_name = format!("{}-w{write}", model.users[i].given_name);
    let operations = json!([{"op": "replace", "path": "name.givenName", "value": given_name}]);
    let path = format!("/Users/{}", model.users[i].id);
    let (status, body, _) = idp.write("PATCH", &path, Some(patch(operations))).await;
    assert_eq!(status, 200, "{body}");
    model.users[i].given_name = given_name;
}

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
}

/// (event id, aggregate kind, aggregate id, version) of every journal entry
/// in `seq` order, and how many are unpublished.
async fn journal(gateway: &DatabaseConnection) -> (Vec<(String, String, String, i64)>, usize) {
    let entries = rows(
        gateway,
        "SELECT event_id::text AS event_id, aggregate_kind, aggregate_id, \
         aggregate_version::int8 AS aggregate_version, published_at IS NULL AS unpublished FROM journal ORDER BY seq",
    )
    .await;
    let mut unpublished = 0;
    let entries = entries
        .iter()
        .map(|row| {
            if row.try_get::<bool>("", "unpublished").unwrap() {
                unpublished += 1;
            }
            (
                row.try_get("", "event_id").unwrap(),
                row.try_get("", "aggregate_kind").unwrap(),
                row.try_get("", "aggregate_id").unwrap(),
                row.try_get("", "aggregate_version").unwrap(),
            )
        })
        .collect();
    (entries, unpublished)
}

/// A consumer's inbox: (event id, kind, aggregate id, version) of every
/// applied event, and the last applied version per (kind, aggregate id).
async fn inbox(
    db: &DatabaseConnection,
) -> (
    Vec<(String, String, String, i64)>,
    BTreeMap<(String, String), i64>,
) {
    let applied = rows(
        db,
        "SELECT event_id::text AS event_id, aggregate_kind, aggregate_id, \
         aggregate_version::int8 AS aggregate_version FROM inbox_events",
    )
    .await
    .iter()
    .map(|row| {
        (
            row.try_get("", "event_id").unwrap(),
            row.try_get("", "aggregate_kind").unwrap(),
            row.try_get("", "aggregate_id").unwrap(),
            row.try_get("", "aggregate_version").unwrap(),
        )
    })
    .collect();
    let last = rows(
        db,
        "SELECT aggregate_kind, aggregate_id, version::int8 AS version FROM inbox_aggregates",
    )
    .await
    .iter()
    .map(|row| {
        (
            (
                row.try_get("", "aggregate_kind").unwrap(),
                row.try_get("", "aggregate_id").unwrap(),
            ),
            row.try_get("", "version").unwrap(),
        )
    })
    .collect();
    (applied, last)
}

/// Every page of an admin listing (`items`, `next_after`).
async fn admin_list(http: &reqwest::Client, url: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page_url = match &after {
            Some(after) => format!("{url}&after={after}"),
            None => url.to_owned(),
        };
        let page: Value = http
            .get(&page_url)
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// The gateways (numbered from 1) whose relay says it holds the journal's
/// lease, once one does (a relay takes it a moment after its gateway is
/// ready; 60 s at the most).
async fn relay_holders(http: &reqwest::Client, gateway_urls: &[String]) -> Vec<usize> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut holders = Vec::new();
        for (i, url) in gateway_urls.iter().enumerate() {
            let ready: Value = http
                .get(format!("{url}/readyz"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if ready["journal"]["relay_held"] == true {
                holders.push(i + 1);
            }
        }
        if !holders.is_empty() || Instant::now() > deadline {
            return holders;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The consumers and their aggregate kinds.
const CONSUMERS: [(&str, &str, &[&str]); 3] = [
    ("identity", "identity", &["user"]),
    ("team", "team", &["user", "group"]),
    ("licensing", "licensing", &["user"]),
];

#[actix_web::test]
async fn replicas_killed_and_restarted_lose_nothing_and_apply_nothing_twice() {
    let Some(amqp_url) = test_support::amqp_url() else {
        return;
    };
    let (_otlp, otlp_endpoint) = OtlpReceiver::start().unwrap();
    let batch = RELAY_BATCH.to_string();
    let extra = [
        (
            "scim-gateway",
            "SCIM_AMQP__RELAY_BATCH_SIZE",
            batch.as_str(),
        ),
        // Reservations of a gateway killed mid-create are swept within the
        // test (the default holds them 120 s).
        ("licensing", "SCIM_SEATS__HOLD_FOR_SECS", "10"),
        ("licensing", "SCIM_SEATS__SWEEP_INTERVAL_SECS", "1"),
    ];
    let Some(mut cluster) = Cluster::start(amqp_url.clone(), &otlp_endpoint, 2, &extra).await
    else {
        return;
    };
    let spy = PublishSpy::start(
        &amqp_url,
        &format!("provisioning.test.{}", cluster.setup.suffix),
    )
    .await;
    let created = json_of(
        &scimctl(
            &cluster.deployment,
            &["org", "create", "--name", "Replicas", "--seats", "100000"],
        )
        .await,
    );
    let org = created["org_id"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let retries = Arc::new(Retries::default());
    let idp = Idp {
        // A connection per request: the proxy spreads connections, and a
        // pool kept for the whole run would stay on the gateway that
        // survived the kill.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        scim: format!("{}/scim/v2", cluster.deployment.url("scim-gateway")),
        token: created["token"].as_str().unwrap().to_owned(),
        retries: retries.clone(),
    };

    let started = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|number| tokio::spawn(client(idp.clone(), number, done.clone())))
        .collect();

    // One replica of each service killed at a point of the run and started
    // again a while later; the gateway first, the one publishing.
    let gateway_urls: Vec<String> = [1, 2]
        .map(|i| cluster.replica("scim-gateway", i).url())
        .to_vec();
    let lease_holder = relay_holders(&http, &gateway_urls).await;
    assert_eq!(
        lease_holder.len(),
        1,
        "gateways holding the journal's lease"
    );
    let lease_holder = lease_holder[0];
    let total = CLIENTS * WRITES_PER_CLIENT;
    let schedule = [
        ("scim-gateway", lease_holder, total / 8),
        ("identity", 1, total * 3 / 8),
        ("team", 1, total * 5 / 8),
        ("licensing", 1, total * 6 / 8),
    ];
    let reached = |point: usize| {
        done.load(Ordering::SeqCst) >= point || clients.iter().all(|c| c.is_finished())
    };
    let mut killed_at: HashMap<&str, Instant> = HashMap::new();
    for (service, index, at) in schedule {
        while !reached(at) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let replica = cluster.replica(service, index);
        replica.kill();
        println!(
            "killed {} after {} writes",
            replica.name(),
            done.load(Ordering::SeqCst)
        );
        killed_at.insert(service, Instant::now());
        let back_at = done.load(Ordering::SeqCst) + total / 16;
        while !reached(back_at) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let replica = cluster.replica(service, index);
        replica.start();
        replica.wait_ready().await;
        println!(
            "{} back after {} writes",
            replica.name(),
            done.load(Ordering::SeqCst)
        );
    }
    let gateway_killed_at = killed_at["scim-gateway"];
    let licensing_killed_at = killed_at["licensing"];
    let mut models = Vec::new();
    for client in clients {
        models.push(client.await.unwrap());
    }
    assert_eq!(done.load(Ordering::SeqCst), total);
    println!(
        "{total} writes from {CLIENTS} clients in {:.1} s; {}",
        started.elapsed().as_secs_f64(),
        retries.report()
    );

    // Quiet: the journal published, every inbox at the journal's last
    // versions, no seat reservation left.
    let gateway_db = Database::connect(&cluster.setup.databases["gateway"])
        .await
        .unwrap();
    let mut consumer_dbs = HashMap::new();
    for (service, database, _) in CONSUMERS {
        let db = Database::connect(&cluster.setup.databases[database])
            .await
            .unwrap();
        consumer_dbs.insert(service, db);
    }
    let usage_url = format!(
        "{}/admin/v1/organizations/{org}/usage",
        cluster.deployment.url("licensing")
    );
    let deadline = Instant::now() + Duration::from_secs(240);
    let (entries, usage) = loop {
        let (entries, unpublished) = journal(&gateway_db).await;
        let mut last_versions: BTreeMap<(String, String), i64> = BTreeMap::new();
        for (_, kind, id, version) in &entries {
            last_versions.insert((kind.clone(), id.clone()), *version);
        }
        let mut caught_up = unpublished == 0;
        for (service, _, kinds) in CONSUMERS {
            let (_, last) = inbox(&consumer_dbs[service]).await;
            let expected: BTreeMap<_, _> = last_versions
                .iter()
                .filter(|((kind, _), _)| kinds.contains(&kind.as_str()))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            caught_up &= last == expected;
        }
        let usage: Value = http
            .get(&usage_url)
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        if caught_up && usage["seats"]["reserved"] == 0 {
            break (entries, usage);
        }
        assert!(
            Instant::now() < deadline,
            "not quiet within 240 s ({unpublished} unpublished, usage {usage})\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // The journal: each aggregate's versions 1, 2, 3… in seq order.
    let mut versions: HashMap<(&str, &str), i64> = HashMap::new();
    for (event_id, kind, id, version) in &entries {
        let last = versions.entry((kind, id)).or_insert(0);
        assert_eq!(
            *version,
            *last + 1,
            "journal entry {event_id} of {kind} {id} out of order"
        );
        *last = *version;
    }

    // Published: every entry reached the broker; duplicates only from the
    // lease holder's death on, at most the batch it had in flight.
    let received = spy.received();
    let mut copies: HashMap<&str, Vec<Instant>> = HashMap::new();
    for message in &received {
        copies
            .entry(message.event_id.as_str())
            .or_default()
            .push(message.received);
    }
    let mut duplicated = 0;
    for (event_id, ..) in &entries {
        let times = copies
            .get(event_id.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        assert!(
            !times.is_empty(),
            "journal entry {event_id} never published"
        );
        if times.len() > 1 {
            duplicated += 1;
            for again in &times[1..] {
                assert!(
                    *again > gateway_killed_at,
                    "{event_id} published twice before any relay died"
                );
            }
        }
    }
    println!(
        "{} journal entries, {} messages on the spy queue, {duplicated} entries published more than once",
        entries.len(),
        received.len()
    );
    assert!(
        duplicated <= RELAY_BATCH,
        "{duplicated} entries published twice: more than one relay batch"
    );
    // The rest is licensing's outbox (`subscription.changed`), relayed under
    // a lease of its own: duplicates only from a licensing replica's death
    // on, at most a batch.
    let journal_ids: BTreeSet<&str> = entries.iter().map(|(id, ..)| id.as_str()).collect();
    let others: Vec<&Vec<Instant>> = copies
        .iter()
        .filter(|(id, _)| !journal_ids.contains(*id))
        .map(|(_, times)| times)
        .collect();
    let outbox_duplicated = others.iter().filter(|t| t.len() > 1).count();
    println!(
        "licensing's outbox: {} events, {} messages, {outbox_duplicated} events published more than once",
        others.len(),
        others.iter().map(|t| t.len()).sum::<usize>(),
    );
    for times in &others {
        for again in times.iter().skip(1) {
            assert!(
                *again > licensing_killed_at,
                "a subscription.changed published twice before any licensing replica died"
            );
        }
    }
    assert!(
        outbox_duplicated <= RELAY_BATCH,
        "{outbox_duplicated} subscription.changed published twice: more than one relay batch"
    );

    // Every consumer applied every event of its kinds, each once.
    for (service, _, kinds) in CONSUMERS {
        let (applied, _) = inbox(&consumer_dbs[service]).await;
        let mut expected: Vec<_> = entries
            .iter()
            .filter(|(_, kind, ..)| kinds.contains(&kind.as_str()))
            .cloned()
            .collect();
        let mut applied = applied;
        expected.sort();
        applied.sort();
        assert_eq!(
            applied.len(),
            expected.len(),
            "{service}: {} events applied, {} journal entries",
            applied.len(),
            expected.len()
        );
        assert!(applied == expected, "{service}'s inbox is not the journal");
    }

    // The SCIM view is what the clients were told.
    let users: Vec<&UserModel> = models.iter().flat_map(|m| &m.users).collect();
    let groups: Vec<&GroupModel> = models.iter().flat_map(|m| &m.groups).collect();
    let listed = idp.get("/Users?count=1000").await;
    let listed: HashMap<&str, &Value> = listed["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_str().unwrap(), u))
        .collect();
    let live: Vec<&&UserModel> = users.iter().filter(|u| !u.deleted).collect();
    assert_eq!(listed.len(), live.len(), "users in the SCIM view");
    for user in &live {
        let scim = listed[user.id.as_str()];
        assert_eq!(scim["active"], user.active, "{scim}");
        assert_eq!(
            scim["name"]["givenName"],
            user.given_name.as_str(),
            "{scim}"
        );
    }
    let listed = idp.get("/Groups?count=1000").await;
    let listed: HashMap<&str, &Value> = listed["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["id"].as_str().unwrap(), g))
        .collect();
    assert_eq!(listed.len(), groups.len(), "groups in the SCIM view");
    for group in &groups {
        let scim = listed[group.id.as_str()];
        assert_eq!(scim["displayName"], group.name.as_str());
        let members: BTreeSet<String> = scim["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|m| m["value"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(members, group.members, "members of {}", group.name);
    }

    // Identity: one account per provisioning, the current one active with
    // the current name, the others erased.
    let accounts = admin_list(
        &http,
        &format!(
            "{}/admin/v1/organizations/{org}/accounts?limit=500",
            cluster.deployment.url("identity")
        ),
    )
    .await;
    let mut by_user: HashMap<&str, Vec<&Value>> = HashMap::new();
    for account in &accounts {
        by_user
            .entry(account["scim_user_id"].as_str().unwrap())
            .or_default()
            .push(account);
    }
    for user in &users {
        let mine = by_user.remove(user.id.as_str()).unwrap_or_default();
        assert_eq!(mine.len(), user.provisionings, "accounts of {user:?}");
        let active: Vec<&&Value> = mine.iter().filter(|a| a["status"] == "active").collect();
        let expected_active = usize::from(user.active && !user.deleted);
        assert_eq!(active.len(), expected_active, "{user:?}: {mine:?}");
        for account in &mine {
            if account["status"] == "active" {
                assert_eq!(account["profile"]["given_name"], user.given_name.as_str());
            } else {
                assert!(account["profile"].is_null(), "{account}");
            }
        }
        if user.deleted {
            assert!(mine.iter().any(|a| a["status"] == "deleted"), "{mine:?}");
        }
    }
    assert!(by_user.is_empty(), "accounts of no user: {by_user:?}");

    // Team: one team per group, same name, same members.
    let teams_url = format!(
        "{}/admin/v1/organizations/{org}/teams",
        cluster.deployment.url("team")
    );
    let teams = admin_list(&http, &format!("{teams_url}?limit=100")).await;
    assert_eq!(teams.len(), groups.len(), "{teams:?}");
    for group in &groups {
        let team = teams
            .iter()
            .find(|t| t["group_id"] == group.id.as_str())
            .unwrap_or_else(|| panic!("no team for {}", group.name));
        assert_eq!(team["name"], group.name.as_str());
        let members = admin_list(
            &http,
            &format!(
                "{teams_url}/{}/members?limit=100",
                team["id"].as_str().unwrap()
            ),
        )
        .await;
        let ids: BTreeSet<String> = members
            .iter()
            .map(|m| m["scim_user_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), members.len(), "a member twice in {}", group.name);
        assert_eq!(ids, group.members, "team {}", group.name);
    }

    // Licensing: one confirmed seat per active user, nothing reserved.
    let active_users = users.iter().filter(|u| u.active && !u.deleted).count();
    assert_eq!(usage["seats"]["confirmed"], active_users, "{usage}");

    // Both gateways took writes.
    for index in [1, 2] {
        let replica = cluster.replica("scim-gateway", index);
        let writes = replica
            .output()
            .lines()
            .filter(|l| {
                l.contains("\"message\":\"request\"")
                    && l.contains("\"url.path\":\"/scim/v2/")
                    && !l.contains("\"http.method\":\"GET\"")
            })
            .count();
        println!("{} answered {writes} SCIM writes", replica.name());
        assert!(writes > 0, "{} answered no write", replica.name());
    }

    // Exactly one relay publishes again.
    let holders = relay_holders(&http, &gateway_urls).await;
    assert_eq!(holders.len(), 1, "gateways holding the journal's lease");

    spy.close().await;
    for replica in &mut cluster.replicas {
        replica.kill();
    }
    cluster.deployment.clean_broker().await;
}
