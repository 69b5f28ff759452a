//! Against the machine's RabbitMQ (`SCIM_TEST_AMQP_URL`): the service topology
//! declares idempotently, routes events to the service's queue, sends a
//! rejected message round the delayed retry path back to it, and routes
//! poison messages to the dead queue.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, BasicRejectOptions, ExchangeDeleteOptions,
    QueueDeleteOptions,
};
use lapin::types::AMQPValue;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use messaging_rabbitmq::topology::{Exchanges, ServiceTopology, declare_service_topology};
use uuid::Uuid;

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

async fn get(channel: &Channel, queue: &str) -> Option<lapin::message::Delivery> {
    for _ in 0..100 {
        if let Some(message) = channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .unwrap()
        {
            return Some(message.delivery);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test]
async fn topology_routes_retries_and_dead_letters() {
    let Some(url) = amqp_url() else { return };
    let suffix = Uuid::new_v4().simple().to_string();
    let exchanges = Exchanges::for_exchange(&format!("provisioning.test.{suffix}"));
    let topology = ServiceTopology {
        service: format!("identity-test-{suffix}"),
        routing_keys: vec!["user.provisioned".into(), "user.deleted".into()],
        retry_delay: Duration::from_millis(200),
    };
    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    declare_service_topology(&channel, &exchanges, &topology)
        .await
        .unwrap();
    declare_service_topology(&channel, &exchanges, &topology)
        .await
        .expect("declaring again is a no-op");

    let publish = |exchange: String, key: String, body: &'static [u8]| {
        let channel = channel.clone();
        async move {
            channel
                .basic_publish(
                    exchange.as_str().into(),
                    key.into(),
                    BasicPublishOptions::default(),
                    body,
                    BasicProperties::default(),
                )
                .await
                .unwrap();
        }
    };
    publish(
        exchanges.events.clone(),
        "group.deleted".into(),
        b"not for identity",
    )
    .await;
    publish(
        exchanges.events.clone(),
        "user.provisioned".into(),
        b"for identity",
    )
    .await;

    let first = get(&channel, &topology.queue())
        .await
        .expect("routed by key");
    assert_eq!(first.data, b"for identity");
    first
        .acker
        .reject(BasicRejectOptions { requeue: false })
        .await
        .unwrap();

    // Back after the retry delay, with the broker's count of the attempt.
    let again = get(&channel, &topology.queue())
        .await
        .expect("returned from the retry queue");
    assert_eq!(again.data, b"for identity");
    let deaths = again
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-death").cloned());
    assert!(
        matches!(deaths, Some(AMQPValue::FieldArray(_))),
        "x-death counts attempts: {deaths:?}"
    );
    again.acker.ack(Default::default()).await.unwrap();
    assert!(
        channel
            .basic_get(topology.queue().as_str().into(), BasicGetOptions::default())
            .await
            .unwrap()
            .is_none(),
        "the unrouted key never arrived"
    );

    publish(exchanges.dead.clone(), topology.service.clone(), b"poison").await;
    let poison = get(&channel, &topology.dead_queue())
        .await
        .expect("dead queue");
    assert_eq!(poison.data, b"poison");
    poison.acker.ack(Default::default()).await.unwrap();

    for queue in topology.queues() {
        let _ = channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    for exchange in [
        &exchanges.events,
        &exchanges.retry,
        &exchanges.requeue,
        &exchanges.dead,
    ] {
        let _ = channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await;
    }
    let _ = connection.close(0, "done".into()).await;
}
