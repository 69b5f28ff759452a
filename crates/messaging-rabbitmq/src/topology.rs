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
