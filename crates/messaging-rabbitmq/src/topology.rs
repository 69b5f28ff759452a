//! The queues and exchanges of one consuming service, declared idempotently at
//! start (declaring again with the same arguments is a no-op).
//!
//! ```text
//! provisioning (topic) ──keys──▶ <service> (quorum)        provisioning.retry (direct)
//!        ▲                           ▲                    │ key <service>.1 ▶ <service>.retry.1 (delay d)
//!        │                           │ key <service>      │ key <service>.2 ▶ <service>.retry.2 (5 d)
//!   the relay publishes     provisioning.requeue ◀────────│ key <service>.3 ▶ <service>.retry.3 (25 d)
//!                                    TTL expiry of any retry queue
//!
//! provisioning.dead (direct) ──key <service>──▶ <service>.dead (quorum): poison
//! messages, with their error, for operators to inspect and requeue.
//! ```
//!
//! A consumer that fails to apply a message publishes a copy to
//! `provisioning.retry` with the key of the tier for its attempt (attempt 1 →
//! tier 1, 2 → tier 2, later → tier 3) and an `x-attempts` header, then acks
//! the original: the copy waits out the tier's delay and returns to
//! `<service>`. The delay grows 1×, 5×, 25× `retry_delay`. After the last
//! allowed attempt the consumer publishes it to `provisioning.dead` instead, so
//! a poison message never blocks the queue. A message rejected without requeue
//! dead-letters to tier 1 (its `x-death` header counts those attempts).

use std::time::Duration;

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ErrorKind,
    ExchangeKind,
};
use provisioning_events::Event;

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

/// Retry queues per service, each waiting `RETRY_FACTOR` times longer.
pub const RETRY_TIERS: u32 = 3;
pub const RETRY_FACTOR: u32 = 5;

impl ServiceTopology {
    pub fn queue(&self) -> String {
        self.service.clone()
    }
    /// The retry tier for a message's `attempt` (1-based).
    pub fn retry_tier(attempt: u32) -> u32 {
        attempt.clamp(1, RETRY_TIERS)
    }
    pub fn retry_queue(&self, tier: u32) -> String {
        format!("{}.retry.{tier}", self.service)
    }
    pub fn retry_key(&self, tier: u32) -> String {
        format!("{}.{tier}", self.service)
    }
    pub fn retry_delay_of(&self, tier: u32) -> Duration {
        self.retry_delay * RETRY_FACTOR.pow(tier.saturating_sub(1))
    }
    /// Every queue of the service: main, retry tiers, dead.
    pub fn queues(&self) -> Vec<String> {
        let mut queues = vec![self.queue()];
        queues.extend((1..=RETRY_TIERS).map(|tier| self.retry_queue(tier)));
        queues.push(self.dead_queue());
        queues
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
    main.insert(
        "x-dead-letter-routing-key".into(),
        text(&topology.retry_key(1)),
    );
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

    for tier in 1..=RETRY_TIERS {
        let delay = topology.retry_delay_of(tier);
        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        let mut retry = FieldTable::default();
        retry.insert("x-message-ttl".into(), AMQPValue::LongLongInt(delay_ms));
        retry.insert("x-dead-letter-exchange".into(), text(&exchanges.requeue));
        retry.insert("x-dead-letter-routing-key".into(), text(&topology.service));
        let queue = topology.retry_queue(tier);
        channel
            .queue_declare(queue.as_str().into(), durable(), retry)
            .await?;
        bind(channel, &queue, &exchanges.retry, &topology.retry_key(tier)).await?;
    }

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

/// Whether the queue `queue` exists on the broker at `url` (a passive
/// declare, on a connection of its own: the broker closes the channel of a
/// passive declare that finds nothing).
pub async fn queue_exists(url: &str, queue: &str) -> lapin::Result<bool> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let found = channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await;
    let _ = connection.close(200, "checked".into()).await;
    match found {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

fn is_not_found(error: &lapin::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ProtocolError(e) if matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND))
    )
}

/// [`declare_service_topology`] on a connection of its own to `url`; once
/// it returns, the broker routes every new event of the bindings to the
/// queue.
pub async fn declare_at(
    url: &str,
    exchanges: &Exchanges,
    topology: &ServiceTopology,
) -> lapin::Result<()> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let declared = declare_service_topology(&channel, exchanges, topology).await;
    let _ = connection.close(200, "declared".into()).await;
    declared
}

/// Puts `events` into the service's own queue through the requeue exchange
/// (persistent, each confirmed), where the consumer handles them with its
/// retries and dead queue: what a catch-up could not apply goes the way a
/// live event would.
pub async fn hand_to_queue(
    url: &str,
    exchanges: &Exchanges,
    topology: &ServiceTopology,
    events: &[Event],
) -> Result<(), String> {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .map_err(|e| e.to_string())?;
    let handed = async {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let mut confirms = Vec::with_capacity(events.len());
        for event in events {
            let payload = serde_json::to_vec(event)
                .map_err(|e| lapin::Error::from(std::io::Error::other(e)))?;
            let properties = BasicProperties::default()
                .with_message_id(event.id.to_string().into())
                .with_content_type("application/json".into())
                .with_type(event.routing_key().into())
                .with_delivery_mode(2);
            let options = BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            };
            let confirm = channel
                .basic_publish(
                    exchanges.requeue.as_str().into(),
                    topology.service.as_str().into(),
                    options,
                    &payload,
                    properties,
                )
                .await?;
            confirms.push(confirm);
        }
        let mut refused = 0;
        for confirm in confirms {
            if !matches!(confirm.await?, Confirmation::Ack(None)) {
                refused += 1;
            }
        }
        Ok::<usize, lapin::Error>(refused)
    }
    .await;
    let _ = connection.close(200, "handed over".into()).await;
    match handed {
        Ok(0) => Ok(()),
        Ok(refused) => Err(format!("{refused} events not taken by the queue")),
        Err(e) => Err(e.to_string()),
    }
}
