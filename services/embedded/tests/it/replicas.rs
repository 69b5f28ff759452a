//! Issue 24: three replicas each of identity, team and licensing, every
//! service's replicas on one PostgreSQL database and one RabbitMQ queue.
//! The gateway's journal of an IdP's writes (users created, renamed,
//! disabled, re-enabled, deleted; groups, their members and names) is
//! published to the replicas shuffled and with copies of many events, some
//! long after the first; one replica of each is killed a third of the way
//! through. Afterwards every event was applied exactly once,
//! each aggregate's versions in order, and each service's tables are those
//! of the single instance that consumed the journal in order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use messaging::{EventHandler, EventPublisher, HandleError, Handled};
use messaging_rabbitmq::RabbitPublisher;
use provisioning_events::Event;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use service_kit::compared_tables::{ComparedTable, diff};
use test_support::broker::{RunningConsumer, TestBroker};

use crate::support::{Mode, Stack, user};

const REPLICAS: usize = 3;
const USERS: usize = 20;
const GROUPS: usize = 5;
const CHANGES: usize = 240;

/// A replica's consumer, counting what it applied and what it had to
/// retry (an event ahead of its aggregate's previous version).
struct Counted<H> {
    inner: H,
    applied: Arc<AtomicUsize>,
    early: Arc<AtomicUsize>,
}

impl<H: EventHandler> Counted<H> {
    fn count(&self, outcomes: &[Result<Handled, HandleError>]) {
        for outcome in outcomes {
            match outcome {
                Ok(Handled::Applied) => {
                    self.applied.fetch_add(1, Ordering::Relaxed);
                }
                Err(HandleError::OutOfOrder { .. }) => {
                    self.early.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    }
}

impl<H: EventHandler> EventHandler for Counted<H> {
    async fn handle(&self, event: &Event) -> Result<Handled, HandleError> {
        let outcome = self.inner.handle(event).await;
        self.count(std::slice::from_ref(&outcome));
        outcome
    }

    async fn handle_batch(&self, events: &[Event]) -> Vec<Result<Handled, HandleError>> {
        let outcomes = self.inner.handle_batch(events).await;
        self.count(&outcomes);
        outcomes
    }
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// An IdP's writes: users and groups created, then renames, disables and
/// re-enables, member adds and removes, group renames, a few deletions.
async fn provision(stack: &Stack) {
    // Re-enablings reserve a seat before the disable's release is applied.
    let reply = stack
        .admin("PUT", "/subscription", Some(json!({"seat_quota": 1000})))
        .await;
    assert!(reply.status.is_success(), "{}", reply.body);
    let mut users = Vec::new();
    for i in 0..USERS {
        let reply = stack
            .scim(
                "POST",
                "/Users",
                Some(user(
                    &format!("replica{i}@replicas.test"),
                    "Replica",
                    &format!("User{i}"),
                    &format!("replica{i}@replicas.test"),
                )),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 201, "{}", reply.body);
        users.push((reply.body["id"].as_str().unwrap().to_owned(), true));
    }
    let mut groups = Vec::new();
    for g in 0..GROUPS {
        let members: Vec<Value> = (0..4)
            .map(|k| json!({"value": users[(g * 3 + k) % USERS].0}))
            .collect();
        let reply = stack
            .scim(
                "POST",
                "/Groups",
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": format!("Replica group {g}"),
                    "members": members,
                })),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 201, "{}", reply.body);
        groups.push(reply.body["id"].as_str().unwrap().to_owned());
    }
    for step in 0..CHANGES {
        let u = (step * 7) % USERS;
        let group = &groups[step % GROUPS];
        let (method, uri, body) = match step % 6 {
            0 => (
                "PATCH",
                format!("/Users/{}", users[u].0),
                patch(
                    json!([{"op": "replace", "path": "displayName", "value": format!("Renamed {step}")}]),
                ),
            ),
            1 => {
                users[u].1 = !users[u].1;
                (
                    "PATCH",
                    format!("/Users/{}", users[u].0),
                    patch(json!([{"op": "replace", "path": "active", "value": users[u].1}])),
                )
            }
            2 => (
                "PATCH",
                format!("/Groups/{group}"),
                patch(json!([{"op": "add", "path": "members", "value": [{"value": users[u].0}]}])),
            ),
            3 => (
                "PATCH",
                format!("/Groups/{group}"),
                patch(
                    json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[(u + 1) % USERS].0)}]),
                ),
            ),
            4 => (
                "PATCH",
                format!("/Groups/{group}"),
                patch(
                    json!([{"op": "replace", "path": "displayName", "value": format!("Group {step}")}]),
                ),
            ),
            _ => (
                "PATCH",
                format!("/Users/{}", users[u].0),
                patch(
                    json!([{"op": "replace", "path": "title", "value": format!("Title {step}")}]),
                ),
            ),
        };
        let reply = stack.scim(method, &uri, Some(body)).await;
        assert!(
            reply.status.is_success(),
            "{method} {uri}: {} {}",
            reply.status,
            reply.body
        );
    }
    for (id, _) in users.iter().take(3) {
        let reply = stack.scim("DELETE", &format!("/Users/{id}"), None).await;
        assert_eq!(reply.status.as_u16(), 204, "{}", reply.body);
    }
    let reply = stack
        .scim("DELETE", &format!("/Groups/{}", groups[0]), None)
        .await;
    assert_eq!(reply.status.as_u16(), 204, "{}", reply.body);
}

/// The journal as the replicas get it: chunks of 24 entries each shuffled,
/// a copy of about a quarter of the events again one to three chunks
/// later, and the first 40 again at the end (a redelivery after the fact).
fn scrambled(journal: &[Event]) -> Vec<Event> {
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut below = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut stream = Vec::new();
    let mut copies: Vec<(usize, Event)> = Vec::new();
    for (c, chunk) in journal.chunks(24).enumerate() {
        let mut chunk = chunk.to_vec();
        for i in (1..chunk.len()).rev() {
            let j = below(i + 1);
            chunk.swap(i, j);
        }
        for event in &chunk {
            if below(4) == 0 {
                copies.push((c + 1 + below(3), event.clone()));
            }
        }
        stream.extend(chunk);
        let (due, later): (Vec<_>, Vec<_>) = copies.into_iter().partition(|(at, _)| *at <= c);
        copies = later;
        stream.extend(due.into_iter().map(|(_, e)| e));
    }
    stream.extend(copies.into_iter().map(|(_, e)| e));
    stream.extend(journal.iter().take(40).cloned());
    stream
}

/// One service's replicas: their database and consumers.
struct Replicated {
    service: &'static str,
    db: DatabaseConnection,
    reference: DatabaseConnection,
    tables: &'static [ComparedTable],
    bindings: &'static [&'static str],
    consumers: Vec<RunningConsumer>,
    applied: Vec<Arc<AtomicUsize>>,
    early: Arc<AtomicUsize>,
}

impl Replicated {
    fn expected<'a>(&self, journal: &'a [Event]) -> Vec<&'a Event> {
        journal
            .iter()
            .filter(|e| {
                self.bindings
                    .iter()
                    .any(|b| messaging::topic_matches(b, e.routing_key()))
            })
            .collect()
    }

    async fn applied_in_order(&self) -> Vec<(String, String, i64, uuid::Uuid)> {
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT aggregate_kind, aggregate_id, aggregate_version, event_id \
                 FROM inbox_events ORDER BY applied_order",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                (
                    r.try_get("", "aggregate_kind").unwrap(),
                    r.try_get("", "aggregate_id").unwrap(),
                    r.try_get("", "aggregate_version").unwrap(),
                    r.try_get("", "event_id").unwrap(),
                )
            })
            .collect()
    }
}

/// Marks the order in which `db`'s inbox records events, in the database
/// itself: a row's number is drawn when it is inserted, and an aggregate's
/// next version can only be inserted once the previous one committed.
async fn number_inbox_rows(db: &DatabaseConnection) {
    db.execute_unprepared("ALTER TABLE inbox_events ADD COLUMN applied_order BIGSERIAL")
        .await
        .unwrap();
}

async fn inbox_count(db: &DatabaseConnection) -> usize {
    test_support::scenario::count(db, "SELECT COUNT(*) AS n FROM inbox_events").await as usize
}

#[actix_web::test]
async fn replicas_of_each_service_apply_every_event_once_in_order_as_one_instance_would() {
    let Some(stack) = Stack::start(Mode::Distributed).await else {
        return;
    };
    // The reference: one instance of each service, the journal in order.
    provision(&stack).await;
    stack.settle().await;
    let journal = stack
        .platform
        .gateway_store
        .journal(None, 0, 1_000_000)
        .await
        .unwrap();
    let url = test_support::amqp_url().unwrap();
    let broker = TestBroker::new(&url);
    let platform = &stack.platform;
    // The reference's settings (access catalogue, seat policy).
    let defaults =
        scim_embedded::EmbeddedSettings::defaults(test_support::gateway::settings("unused".into()));

    let mut services = Vec::new();
    for service in ["identity", "team", "licensing"] {
        let database = test_support::postgres_database().await.unwrap();
        let (reference, tables, bindings) = match service {
            "identity" => (
                platform.identity.store.connection().clone(),
                identity::outbound::sql::COMPARED_TABLES,
                identity::inbound::consumer::BINDINGS,
            ),
            "team" => (
                platform.team.store.connection().clone(),
                team::outbound::sql::COMPARED_TABLES,
                team::inbound::consumer::BINDINGS,
            ),
            _ => (
                platform.licensing.store.connection().clone(),
                licensing::outbound::sql::COMPARED_TABLES,
                licensing::inbound::consumer::BINDINGS,
            ),
        };
        let mut settings = broker.consumer_settings(&format!("{service}-replicas"), bindings);
        settings.max_attempts = 1000;
        let mut replicated = Replicated {
            service,
            db: sea_orm::Database::connect(&database).await.unwrap(),
            reference,
            tables,
            bindings,
            consumers: Vec::new(),
            applied: Vec::new(),
            early: Arc::new(AtomicUsize::new(0)),
        };
        broker.declare(&[&settings.topology]).await;
        // Each replica as its own process builds it: its own pool on the
        // shared database (the first one migrates it).
        for replica in 0..REPLICAS {
            let applied = Arc::new(AtomicUsize::new(0));
            let early = replicated.early.clone();
            let settings = settings.clone();
            let consumer = match service {
                "identity" => {
                    let instance = identity::startup::IdentityService::build(
                        &database,
                        4,
                        defaults.access.clone(),
                        platform.data_keys.clone(),
                    )
                    .await
                    .unwrap();
                    let inner = instance.consumer();
                    RunningConsumer::spawn(
                        settings,
                        Counted {
                            inner,
                            applied: applied.clone(),
                            early,
                        },
                    )
                }
                "team" => {
                    let instance = team::startup::TeamService::build(&database, 4)
                        .await
                        .unwrap();
                    let inner = instance.consumer();
                    RunningConsumer::spawn(
                        settings,
                        Counted {
                            inner,
                            applied: applied.clone(),
                            early,
                        },
                    )
                }
                _ => {
                    let instance = licensing::startup::LicensingService::build(
                        &database,
                        4,
                        defaults.seat_policy,
                    )
                    .await
                    .unwrap();
                    let inner = instance.consumer();
                    RunningConsumer::spawn(
                        settings,
                        Counted {
                            inner,
                            applied: applied.clone(),
                            early,
                        },
                    )
                }
            };
            if replica == 0 {
                number_inbox_rows(&replicated.db).await;
            }
            replicated.consumers.push(consumer);
            replicated.applied.push(applied);
        }
        services.push(replicated);
    }

    // The journal, shuffled and with copies, to every service's queue.
    let stream = scrambled(&journal);
    RabbitPublisher::new(&url, &broker.exchanges.events)
        .publish(&stream)
        .await
        .unwrap();

    // A third of the way through, one replica of each service is killed:
    // what it had taken and not acknowledged goes to the others.
    let deadline = Instant::now() + Duration::from_secs(180);
    for replicated in &mut services {
        let third = replicated.expected(&journal).len() / 3;
        while inbox_count(&replicated.db).await < third {
            assert!(Instant::now() < deadline, "{}: stuck", replicated.service);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        replicated.consumers[REPLICAS - 1].abort().await;
    }
    for replicated in &services {
        let expected = replicated.expected(&journal).len();
        while inbox_count(&replicated.db).await < expected {
            assert!(
                Instant::now() < deadline,
                "{}: {} of {expected} events applied",
                replicated.service,
                inbox_count(&replicated.db).await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The copies still queued or waiting for a retry are settled too.
    for replicated in &services {
        let health = &replicated.consumers[0].settings.health;
        let settled_after = std::time::Instant::now();
        loop {
            let depths = health.queue_depths();
            if depths.as_ref().is_some_and(|d| {
                d.sampled_at > settled_after && d.ready == 0 && d.retrying == 0 && d.dead == 0
            }) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: queues not drained: {depths:?}",
                replicated.service
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for replicated in &mut services {
        for consumer in &mut replicated.consumers {
            consumer.stop().await;
        }
    }

    for replicated in &services {
        let service = replicated.service;
        // Each event applied exactly once: one inbox row per journal event
        // the service binds, no other.
        let expected: HashSet<uuid::Uuid> =
            replicated.expected(&journal).iter().map(|e| e.id).collect();
        let applied = replicated.applied_in_order().await;
        assert_eq!(applied.len(), expected.len(), "{service}: applied once");
        let ids: HashSet<uuid::Uuid> = applied.iter().map(|(_, _, _, id)| *id).collect();
        assert_eq!(ids, expected, "{service}: the journal's events");
        let counted: usize = replicated
            .applied
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum();
        // (A killed replica may have committed a batch, at most its
        // prefetch of 16, it had no time to count.)
        assert!(
            counted <= expected.len() && counted + 16 >= expected.len(),
            "{service}: {counted} applications counted of {}",
            expected.len()
        );
        // Each aggregate's versions in order, from its first.
        let mut next: HashMap<(&str, &str), i64> = HashMap::new();
        for (kind, id, version, _) in &applied {
            let expected = next.entry((kind, id)).or_insert(1);
            assert_eq!(version, expected, "{service}: {kind} {id} out of order");
            *expected += 1;
        }
        // What the single in-order instance built (its organization: the
        // reference also holds the seat server's start-up probe).
        let differences = diff(
            &replicated.reference,
            &replicated.db,
            replicated.tables,
            Some(stack.org.0),
        )
        .await
        .unwrap();
        assert!(
            differences.is_empty(),
            "{service}: {:?}",
            differences.iter().map(|d| d.to_json()).collect::<Vec<_>>()
        );
        // The replicas shared the work (the killed one until its end, if it
        // got any).
        let per_replica: Vec<usize> = replicated
            .applied
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect();
        assert!(
            per_replica[..REPLICAS - 1].iter().all(|n| *n > 0),
            "{service}: every surviving replica applied events: {per_replica:?}"
        );
        eprintln!(
            "{service}: {} events ({} published) applied by {REPLICAS} replicas as {per_replica:?}, {} deliveries early (retried)",
            expected.len(),
            stream.len(),
            replicated.early.load(Ordering::Relaxed)
        );
    }

    let topologies: Vec<_> = services
        .iter()
        .map(|s| &s.consumers[0].settings.topology)
        .collect();
    broker.remove(&topologies, &[]).await;
    stack.stop().await;
}
