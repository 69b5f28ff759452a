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
