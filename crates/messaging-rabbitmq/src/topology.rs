//! The queues and exchanges of one consuming service, declared idempotently at
//! start (declaring again with the same arguments is a no-op).
//!
//! ```text
//! provisioning (topic) ──keys──▶ <service> (quorum) ──nack──▶ provisioning.retry (direct)
//!        ▲                           ▲                              │ key <service>
//!        │                           │ key <service>                ▼
//!   the relay publishes     provisioning.requeue ◀──TTL expiry── <service>.retry (delay)
//!
//! provisioning.dead (direct) ──key <service>──▶ <service>.dead (quorum): poison
//! messages, with their error, for operators to inspect and requeue.
//! ```
//!
//! A consumer that fails to apply a message rejects it without requeue; the
//! broker dead-letters it to `<service>.retry`, where it waits `retry_delay`
//! and then returns to `<service>` (its `x-death` header counts the attempts).
//! After the last allowed attempt the consumer publishes it to
//! `provisioning.dead` instead and acks it, so a poison message never blocks the
//! queue.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

/// Names derived from the main exchange (`provisioning` in production).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchanges {
    pub events: String,
    pub retry: String,
    pub requeue: String,
    pub dead: String,
}

impl Exchanges {
    pub fn for_exchange(events: &str) -> Self {
        Self {
            events: events.to_owned(),
            retry: format!("{events}.retry"),
            requeue: format!("{events}.requeue"),
            dead: format!("{events}.dead"),
        }
    }
}

/// What one consuming service needs.
#[derive(Debug, Clone)]
pub struct ServiceTopology {
    /// Queue name; also the routing key on the retry, requeue and dead exchanges.
    pub service: String,
    /// Event types (routing keys) the service consumes.
    pub routing_keys: Vec<String>,
    /// How long a failed message waits before it is delivered again.
    pub retry_delay: Duration,
}

impl ServiceTopology {
    pub fn queue(&self) -> String {
        self.service.clone()
    }
    pub fn retry_queue(&self) -> String {
        format!("{}.retry", self.service)
    }
    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.service)
    }
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.as_bytes().to_vec()))
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

async fn exchange(channel: &Channel, name: &str, kind: ExchangeKind) -> lapin::Result<()> {
    channel
        .exchange_declare(
            name.into(),
            kind,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str) -> lapin::Result<()> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// Declares the exchanges, the service's quorum queue with its bindings, the
/// delayed retry path and the dead queue.
pub async fn declare_service_topology(
    channel: &Channel,
    exchanges: &Exchanges,
    topology: &ServiceTopology,
) -> lapin::Result<()> {
    exchange(channel, &exchanges.events, ExchangeKind::Topic).await?;
    for name in [&exchanges.retry, &exchanges.requeue, &exchanges.dead] {
        exchange(channel, name, ExchangeKind::Direct).await?;
    }

    let mut main = FieldTable::default();
    main.insert("x-queue-type".into(), text("quorum"));
    main.insert("x-dead-letter-exchange".into(), text(&exchanges.retry));
    main.insert("x-dead-letter-routing-key".into(), text(&topology.service));
    channel
        .queue_declare(topology.queue().as_str().into(), durable(), main)
        .await?;
    for key in &topology.routing_keys {
        bind(channel, &topology.queue(), &exchanges.events, key).await?;
    }
    bind(
        channel,
        &topology.queue(),
        &exchanges.requeue,
        &topology.service,
    )
    .await?;

    let delay_ms = i64::try_from(topology.retry_delay.as_millis()).unwrap_or(i64::MAX);
    let mut retry = FieldTable::default();
    retry.insert("x-message-ttl".into(), AMQPValue::LongLongInt(delay_ms));
    retry.insert("x-dead-letter-exchange".into(), text(&exchanges.requeue));
    retry.insert("x-dead-letter-routing-key".into(), text(&topology.service));
    channel
        .queue_declare(topology.retry_queue().as_str().into(), durable(), retry)
        .await?;
    bind(
        channel,
        &topology.retry_queue(),
        &exchanges.retry,
        &topology.service,
    )
    .await?;

    let mut dead = FieldTable::default();
    dead.insert("x-queue-type".into(), text("quorum"));
    channel
        .queue_declare(topology.dead_queue().as_str().into(), durable(), dead)
        .await?;
    bind(
        channel,
        &topology.dead_queue(),
        &exchanges.dead,
        &topology.service,
    )
    .await?;
    Ok(())
}
