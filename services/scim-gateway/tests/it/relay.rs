//! The outbox relay against the real RabbitMQ (`SCIM_TEST_AMQP_URL`): journal
//! entries arrive in `seq` order, persistent, with the event id as message id;
//! they are marked published only after the broker confirmed them, so a
//! broker outage loses nothing.

use std::time::Duration;

use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use messaging::relay::Outbox;
use messaging::relay::Relay;
use messaging_rabbitmq::RabbitPublisher;
use provisioning_events::Event;
use serde_json::json;
use uuid::Uuid;

use crate::backend_tests;
use crate::support::TestApp;

fn amqp_url() -> Option<String> {
    match std::env::var("SCIM_TEST_AMQP_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            let required = std::env::var("SCIM_TEST_REQUIRE_INFRA").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "SCIM_TEST_REQUIRE_INFRA=1 but SCIM_TEST_AMQP_URL is not set"
            );
            eprintln!("skipping: SCIM_TEST_AMQP_URL is not set");
            None
        }
    }
}

backend_tests! {
    async fn relay_publishes_journal_in_order_after_confirms(app: TestApp) {
        let Some(url) = amqp_url() else { return };
        let exchange = format!("provisioning.test.{}", Uuid::new_v4().simple());

        // An observer queue bound to every routing key of this test's exchange.
        let connection = Connection::connect(&url, ConnectionProperties::default()).await.expect("broker reachable");
        let channel = connection.create_channel().await.expect("channel");
        channel
            .exchange_declare(exchange.as_str().into(), ExchangeKind::Topic,
                ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() }, FieldTable::default())
            .await
            .expect("exchange");
        let queue = channel
            .queue_declare("".into(), QueueDeclareOptions { exclusive: true, ..QueueDeclareOptions::default() }, FieldTable::default())
            .await
            .expect("queue");
        channel
            .queue_bind(queue.name().clone(), exchange.as_str().into(), "#".into(), QueueBindOptions::default(), FieldTable::default())
            .await
            .expect("bind");

        let a = app.create_user("relay-a@example.com").await;
        app.create_user("relay-b@example.com").await;
        app.create_group("Relayed", &[&a]).await;
        app.patch(&format!("/scim/v2/Users/{a}"), &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]})).await;
        assert_eq!(app.store.unpublished(100).await.expect("journal").len(), 4);

        // Broker unreachable: nothing is marked published.
        let down = Relay::new(app.store.clone(), RabbitPublisher::new("amqp://guest:guest@127.0.0.1:1/%2f", exchange.clone()), 2);
        assert!(down.publish_batch().await.is_err());
        assert_eq!(app.store.unpublished(100).await.expect("journal").len(), 4, "an outage loses nothing");

        let relay = Relay::new(app.store.clone(), RabbitPublisher::new(url.clone(), exchange.clone()), 2);
        assert_eq!(relay.drain().await.expect("published"), 4, "in batches of 2");
        assert!(app.store.unpublished(100).await.expect("journal").is_empty());
        assert_eq!(relay.drain().await.expect("nothing left"), 0);

        let journal = app.store.journal(None, 0, 100).await.expect("journal");
        let mut received = Vec::new();
        for _ in 0..50 {
            match channel.basic_get(queue.name().clone(), BasicGetOptions { no_ack: true }).await.expect("get") {
                Some(message) => {
                    let delivery = message.delivery;
                    let event: Event = serde_json::from_slice(&delivery.data).expect("an event");
                    assert_eq!(delivery.routing_key.as_str(), event.routing_key());
                    assert_eq!(delivery.properties.message_id().as_ref().map(|s| s.as_str().to_owned()), Some(event.id.to_string()));
                    assert_eq!(*delivery.properties.delivery_mode(), Some(2), "persistent");
                    assert_eq!(delivery.properties.content_type().as_ref().map(|s| s.as_str().to_owned()), Some("application/json".to_owned()));
                    received.push(event);
                    if received.len() == journal.len() {
                        break;
                    }
                }
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        let types: Vec<_> = received.iter().map(|e| e.routing_key()).collect();
        assert_eq!(types, ["user.provisioned", "user.provisioned", "group.provisioned", "user.deactivated"]);
        assert_eq!(received, journal, "the journal's events, seq included, in seq order");

        let _ = channel.exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default()).await;
        let _ = connection.close(0, "done".into()).await;
    }
}

/// The relay's marks are the one write whose commit does not wait for the
/// disk (a lost mark only republishes); the main pool's commits still do.
#[tokio::test]
async fn only_publication_marks_commit_without_waiting_for_the_disk() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    let setting = async |db: &sea_orm::DatabaseConnection| -> String {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT current_setting('synchronous_commit') AS value",
            ))
            .await
            .expect("setting")
            .expect("a row");
        row.try_get("", "value").expect("text")
    };
    let marks = scim_gateway::outbound::sql::connect_publication_marks(&url)
        .await
        .expect("connects")
        .expect("a pool on PostgreSQL");
    assert_eq!(setting(&marks).await, "off");
    let main = scim_gateway::outbound::sql::connect(&url, 2)
        .await
        .expect("connects");
    assert_eq!(setting(&main).await, "on");
}

/// Publishes nowhere: counts how often it was given each event.
#[derive(Clone, Default)]
struct CountingPublisher(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<Uuid, usize>>>);

impl messaging::EventPublisher for CountingPublisher {
    async fn publish(&self, events: &[Event]) -> Result<(), messaging::PublishError> {
        let mut counts = self.0.lock().expect("counts");
        for event in events {
            *counts.entry(event.id).or_default() += 1;
        }
        Ok(())
    }
}

/// Waits (with a generous bound, not a timing assertion) until `app`'s
/// journal is all published, then checks each entry was published once.
async fn every_entry_published_once(app: &TestApp, published: &CountingPublisher) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !app.store.unpublished(1).await.expect("journal").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the journal was not published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let journal = app.store.journal(None, 0, 10_000).await.expect("journal");
    let counts = published.0.lock().expect("counts").clone();
    assert_eq!(counts.len(), journal.len(), "every entry, nothing else");
    for event in &journal {
        assert_eq!(
            counts.get(&event.id),
            Some(&1),
            "entry {} published once",
            event.seq
        );
    }
}

async fn relay_held(app: &TestApp) -> bool {
    let ready = app
        .send(actix_web::test::TestRequest::get().uri("/readyz"))
        .await;
    let held = ready.body["journal"]["relay_held"]
        .as_bool()
        .expect("relay_held");
    assert_eq!(held, app.store.relay_lease().held());
    held
}

/// The replica whose relay holds the lease, once exactly one says so (a
/// relay learns it lost the lease at its next check).
async fn the_one_holder(replicas: &[&TestApp]) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut held = Vec::new();
        for app in replicas {
            held.push(relay_held(app).await);
        }
        if held.iter().filter(|h| **h).count() == 1 {
            return held.iter().position(|h| *h).expect("a holder");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not exactly one relay holds the lease: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The session holding the relay's advisory lock on `app`'s database.
async fn lease_session(app: &TestApp) -> Option<i32> {
    use sea_orm::ConnectionTrait;
    let row = app
        .store
        .connection()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND classid = 23578 AND objid = 1 \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        ))
        .await
        .expect("pg_locks");
    row.map(|row| row.try_get("", "pid").expect("pid"))
}

async fn terminate(app: &TestApp, pid: i32) {
    use sea_orm::ConnectionTrait;
    app.store
        .connection()
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_terminate_backend($1)",
            [pid.into()],
        ))
        .await
        .expect("terminated");
}

/// Two gateway replicas on one PostgreSQL journal each run a relay: one
/// holds the lease and publishes every entry once; when it stops, the other
/// takes over and publishes what follows. PostgreSQL only: a SQLite file has
/// one process, whose relay needs no lease.
#[actix_web::test]
async fn two_replicas_relays_publish_each_entry_once_and_fail_over() {
    use scim_gateway::startup::{build_api, journal_relay};
    use service_kit::shutdown::BackgroundTasks;
    let Some(url) = crate::support::Backend::Postgres
        .fresh_database("gateway.db")
        .await
    else {
        return;
    };
    let mut settings = crate::support::suite_settings(url);
    settings.amqp.relay_idle_poll_ms = 20;
    settings.amqp.relay_lease_retry_ms = 50;
    settings.amqp.relay_batch_size = 3;
    let first = TestApp::spawn(&settings, "Test org").await;
    let (api, store) = build_api(&settings).await.expect("second gateway");
    let second = TestApp {
        api,
        store,
        token: first.token.clone(),
        org: first.org,
    };
    let replicas = [&first, &second];

    let published = CountingPublisher::default();
    let mut relays: Vec<Option<BackgroundTasks>> = Vec::new();
    for app in replicas {
        let mut tasks = BackgroundTasks::new();
        let publisher = published.clone();
        tasks.spawn("journal relay", |stop| {
            journal_relay(&app.store, publisher, &settings, stop)
        });
        relays.push(Some(tasks));
    }
    for i in 0..10 {
        first.create_user(&format!("first-{i}@example.com")).await;
        second.create_user(&format!("second-{i}@example.com")).await;
    }
    every_entry_published_once(&first, &published).await;
    the_one_holder(&replicas).await;

    // The holder's lease connection dies (as when its process is killed):
    // the lock goes with it, and a relay acquires it again (either replica).
    let lost = lease_session(&first)
        .await
        .expect("a session holds the lease");
    terminate(&first, lost).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while lease_session(&first).await.is_none_or(|pid| pid == lost) {
        assert!(
            std::time::Instant::now() < deadline,
            "no relay took the lease again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..5 {
        first
            .create_user(&format!("first-after-{i}@example.com"))
            .await;
        second
            .create_user(&format!("second-after-{i}@example.com"))
            .await;
    }
    every_entry_published_once(&first, &published).await;
    let holder = the_one_holder(&replicas).await;

    // The holder stops (its lease's connection closes): the other replica
    // acquires the lease and publishes what is written next, through both.
    let survivor = replicas[1 - holder];
    relays[holder]
        .take()
        .expect("running")
        .stop(Duration::from_secs(30))
        .await
        .expect("the relay stops");
    assert!(
        !relay_held(replicas[holder]).await,
        "a stopped relay holds nothing"
    );
    for i in 0..10 {
        first
            .create_user(&format!("first-late-{i}@example.com"))
            .await;
        second
            .create_user(&format!("second-late-{i}@example.com"))
            .await;
    }
    every_entry_published_once(survivor, &published).await;
    assert!(relay_held(survivor).await, "the survivor holds the lease");

    for tasks in relays.into_iter().flatten() {
        tasks
            .stop(Duration::from_secs(30))
            .await
            .expect("the relay stops");
    }
}
