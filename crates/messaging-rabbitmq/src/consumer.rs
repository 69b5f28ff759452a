//! Drives an [`EventHandler`] from the service's quorum queue.
//!
//! - The handler commits its effect and the event id together; the message is
//!   acked only after that, so a crash before the ack redelivers it and the
//!   handler sees a duplicate.
//! - A failure (or an event that arrived before an earlier version of its
//!   aggregate) is republished (with a publisher confirm) to the retry tier of
//!   its attempt — delays growing 1×, 5×, 25× the retry delay (see
//!   [`crate::topology`]) — with its attempt in `x-attempts` and the error in
//!   `x-error`, then acked. After `max_attempts` it is published to the dead
//!   exchange instead, with `x-error`, `x-attempts` and `x-consumer`, so it
//!   never blocks the messages behind it. A crash between the republish and
//!   the ack leaves two copies: the inbox turns the second into a duplicate.
//! - An unreadable message goes to the dead queue at once.
//! - Messages are handled in delivery order, a batch at a time: the one that
//!   arrived plus those already waiting in the prefetch window (at most
//!   `prefetch`), through the handler's `handle_batch` (one transaction for
//!   the lot). An event that fails in a batch is handled again on its own at
//!   once, so one poison event never drags its neighbours into retries; what
//!   still fails is retried as above. On shutdown the batch in flight is
//!   finished and acked, the rest return to the queue when the channel closes.
//! - A lost connection is re-established with back-off (100 ms doubling to
//!   10 s, starting over once a session consumed); unacked messages are
//!   redelivered by the broker.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use messaging::{EventHandler, HandleError, Handled};
use provisioning_events::Event;

use crate::connection::{STATUS_CHECK, broken};
use crate::topology::{Exchanges, RETRY_TIERS, ServiceTopology, declare_service_topology};

/// Whether the consumer is connected and consuming (its topology declared),
/// and how deep its queues were when last sampled: what a service's `/readyz`
/// reports. Clones share the state.
#[derive(Debug, Clone, Default)]
pub struct ConsumerHealth(Arc<HealthState>);

#[derive(Debug, Default)]
struct HealthState {
    consuming: AtomicBool,
    depths: Mutex<Option<QueueDepths>>,
}

/// Messages in a service's queues, as the broker counted them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepths {
    pub queue: String,
    /// Waiting in the main queue (not counting those delivered, unacked).
    pub ready: u32,
    /// Waiting in the retry tiers.
    pub retrying: u32,
    /// Set aside in the dead queue.
    pub dead: u32,
    /// Consumers on the main queue (competing instances of the service).
    pub consumers: u32,
    pub sampled_at: Instant,
}

impl ConsumerHealth {
    pub fn is_consuming(&self) -> bool {
        self.0.consuming.load(Ordering::SeqCst)
    }

    /// The last sample of the queue depths (taken every few seconds while
    /// consuming), if any.
    pub fn queue_depths(&self) -> Option<QueueDepths> {
        self.0
            .depths
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn set(&self, consuming: bool) {
        self.0.consuming.store(consuming, Ordering::SeqCst);
    }

    fn record(&self, depths: QueueDepths) {
        *self
            .0
            .depths
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(depths);
    }
}

const DEPTH_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Samples the queue depths on a channel of its own (a passive declare
/// answers the counts) until the session ends.
async fn sample_depths(channel: Channel, topology: ServiceTopology, health: ConsumerHealth) {
    let count = |name: String| {
        let channel = channel.clone();
        async move {
            let options = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            channel
                .queue_declare(name.as_str().into(), options, FieldTable::default())
                .await
                .map(|q| (q.message_count(), q.consumer_count()))
        }
    };
    let mut every = tokio::time::interval(DEPTH_SAMPLE_INTERVAL);
    loop {
        every.tick().await;
        let sample = async {
            let (ready, consumers) = count(topology.queue()).await?;
            let mut retrying = 0;
            for tier in 1..=RETRY_TIERS {
                retrying += count(topology.retry_queue(tier)).await?.0;
            }
            let (dead, _) = count(topology.dead_queue()).await?;
            Ok::<_, lapin::Error>(QueueDepths {
                queue: topology.queue(),
                ready,
                retrying,
                dead,
                consumers,
                sampled_at: Instant::now(),
            })
        };
        match sample.await {
            Ok(depths) => health.record(depths),
            // The session's own error handling notices a broken connection.
            Err(_) => return,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub url: String,
    pub exchanges: Exchanges,
    pub topology: ServiceTopology,
    /// Messages the broker sends ahead of the one being handled.
    pub prefetch: u16,
    /// Deliveries of one message before it is set aside as dead.
    pub max_attempts: u32,
    pub health: ConsumerHealth,
}

/// Why a consumer session ended.
enum SessionEnd {
    Shutdown,
    /// `consumed`: the session got as far as consuming, so the broker was
    /// healthy until then and the back-off starts over.
    Broken {
        error: String,
        consumed: bool,
    },
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest a message may take from delivery to ack (handler, retry or dead
/// publish with confirm, ack). Beyond it the session is presumed broken and
/// restarts; the broker redelivers the message.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Consumes until `shutdown` resolves, reconnecting whenever the broker goes
/// away. Returns once the message in flight at shutdown is settled.
pub async fn run<H: EventHandler>(
    settings: ConsumerSettings,
    handler: H,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = pin!(shutdown);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let session = consume(&settings, &handler, shutdown.as_mut());
        match session.await {
            SessionEnd::Shutdown => return,
            SessionEnd::Broken { error, consumed } => {
                if consumed {
                    backoff = FIRST_BACKOFF;
                }
                tracing::warn!(
                    service = %settings.topology.service,
                    error = %error,
                    retry_in_ms = backoff.as_millis() as u64,
                    "consumer lost its broker connection"
                );
            }
        }
        tokio::select! {
            biased;
            () = shutdown.as_mut() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn open(settings: &ConsumerSettings) -> lapin::Result<(Connection, Channel, Channel)> {
    let connection = Connection::connect(&settings.url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    declare_service_topology(&channel, &settings.exchanges, &settings.topology).await?;
    channel
        .basic_qos(settings.prefetch.max(1), BasicQosOptions::default())
        .await?;
    // Retries and dead letters are published with confirms on a channel of
    // their own: a message is acked only once its copy is safely queued.
    let side_channel = connection.create_channel().await?;
    side_channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok((connection, channel, side_channel))
}

async fn consume<H: EventHandler>(
    settings: &ConsumerSettings,
    handler: &H,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> SessionEnd {
    let (connection, channel, side_channel) = tokio::select! {
        biased;
        () = shutdown.as_mut() => return SessionEnd::Shutdown,
        opened = open(settings) => match opened {
            Ok(link) => link,
            Err(e) => return SessionEnd::Broken { error: e.to_string(), consumed: false },
        },
    };
    let consumer = channel
        .basic_consume(
            settings.topology.queue().as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    let mut consumer = match consumer {
        Ok(consumer) => consumer,
        Err(e) => {
            return SessionEnd::Broken {
                error: e.to_string(),
                consumed: false,
            };
        }
    };
    tracing::info!(service = %settings.topology.service, "consuming");
    settings.health.set(true);
    let sampler = match connection.create_channel().await {
        Ok(channel) => Some(tokio::spawn(sample_depths(
            channel,
            settings.topology.clone(),
            settings.health.clone(),
        ))),
        Err(_) => None,
    };
    // A connection can break without the consumer stream ending (seen when
    // the peer half-closes the socket): watch the connection itself too.
    let mut connection_events = Box::pin(connection.events_listener());
    let end = loop {
        let next = tokio::select! {
            biased;
            () = shutdown.as_mut() => break SessionEnd::Shutdown,
            error = broken(&connection, &mut connection_events) => {
                break SessionEnd::Broken { error, consumed: true };
            }
            next = consumer.next() => next,
        };
        let delivery = match next {
            Some(Ok(delivery)) => delivery,
            Some(Err(e)) => {
                break SessionEnd::Broken {
                    error: e.to_string(),
                    consumed: true,
                };
            }
            None => {
                break SessionEnd::Broken {
                    error: "the broker cancelled the consumer".into(),
                    consumed: true,
                };
            }
        };
        // The deliveries already here join this one's batch; an error or
        // the end of the stream surfaces on the next turn.
        let mut batch = vec![delivery];
        while batch.len() < usize::from(settings.prefetch.max(1)) {
            match consumer.next().now_or_never() {
                Some(Some(Ok(delivery))) => batch.push(delivery),
                _ => break,
            }
        }
        // An ack or confirm on a connection that just died can wait for
        // ever: give up on the message (it is redelivered) when the
        // connection breaks or settling takes too long.
        let settled = tokio::select! {
            settled = tokio::time::timeout(
                SETTLE_TIMEOUT,
                settle(settings, handler, &side_channel, batch),
            ) => settled.unwrap_or_else(|_| Err("settling a message took too long".into())),
            error = broken(&connection, &mut connection_events) => Err(error),
        };
        if let Err(e) = settled {
            break SessionEnd::Broken {
                error: e,
                consumed: true,
            };
        }
    };
    settings.health.set(false);
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    // Closing a dead connection can hang too.
    let close = async {
        let _ = channel.close(200, "consumer stopping".into()).await;
        let _ = connection.close(200, "consumer stopping".into()).await;
    };
    let _ = tokio::time::timeout(STATUS_CHECK, close).await;
    end
}

/// Handles a batch of deliveries and acks, retries or dead-letters each.
async fn settle<H: EventHandler>(
    settings: &ConsumerSettings,
    handler: &H,
    side_channel: &Channel,
    deliveries: Vec<Delivery>,
) -> Result<(), String> {
    // The readable ones: events side by side (what `handle_batch` takes),
    // each with its delivery and attempt.
    let mut events = Vec::with_capacity(deliveries.len());
    let mut received = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        let attempt = previous_attempts(&delivery, &settings.topology.queue()) + 1;
        match serde_json::from_slice::<Event>(&delivery.data) {
            Ok(mut event) => {
                event.traceparent = header_text(&delivery, trace_context::TRACEPARENT);
                events.push(event);
                received.push((delivery, attempt));
            }
            Err(e) => {
                let error = crate::unreadable_event(&e);
                dead_letter(settings, side_channel, delivery, &error, attempt).await?;
            }
        }
    }
    let outcomes = match events.as_slice() {
        [] => return Ok(()),
        [one] => vec![handle_alone(settings, handler, one, received[0].1).await],
        many => {
            // A consume span per event, in its own trace, lasting the batch.
            let spans: Vec<tracing::Span> = many
                .iter()
                .zip(&received)
                .map(|(event, (_, attempt))| {
                    messaging::consume_span(&settings.topology.service, event, *attempt)
                })
                .collect();
            let outcomes = handler.handle_batch(many).await;
            drop(spans);
            let mut settled = Vec::with_capacity(outcomes.len());
            for ((event, (_, attempt)), outcome) in many.iter().zip(&received).zip(outcomes) {
                settled.push(match outcome {
                    Ok(handled) => Ok(handled),
                    Err(_) => handle_alone(settings, handler, event, *attempt).await,
                });
            }
            settled
        }
    };
    for ((event, (delivery, attempt)), outcome) in events.iter().zip(received).zip(outcomes) {
        conclude(settings, side_channel, delivery, event, attempt, outcome).await?;
    }
    Ok(())
}

async fn handle_alone<H: EventHandler>(
    settings: &ConsumerSettings,
    handler: &H,
    event: &Event,
    attempt: u32,
) -> Result<Handled, HandleError> {
    let span = messaging::consume_span(&settings.topology.service, event, attempt);
    tracing::Instrument::instrument(handler.handle(event), span).await
}

/// Acks a handled delivery; retries or dead-letters a failed one.
async fn conclude(
    settings: &ConsumerSettings,
    side_channel: &Channel,
    delivery: Delivery,
    event: &Event,
    attempt: u32,
    outcome: Result<Handled, HandleError>,
) -> Result<(), String> {
    match outcome {
        Ok(handled) => {
            tracing::debug!(event_id = %event.id, ?handled, "event settled");
            ack(delivery).await
        }
        Err(error) if attempt >= settings.max_attempts => {
            tracing::error!(
                service = %settings.topology.service,
                event_id = %event.id,
                attempt,
                error = %error,
                "event set aside in the dead queue"
            );
            dead_letter(
                settings,
                side_channel,
                delivery,
                &error.to_string(),
                attempt,
            )
            .await
        }
        Err(error) => {
            let level_is_gap = matches!(error, HandleError::OutOfOrder { .. });
            let tier = ServiceTopology::retry_tier(attempt);
            tracing::warn!(
                service = %settings.topology.service,
                event_id = %event.id,
                attempt,
                out_of_order = level_is_gap,
                retry_in_ms = settings.topology.retry_delay_of(tier).as_millis() as u64,
                error = %error,
                "event will be retried"
            );
            let key = settings.topology.retry_key(tier);
            republish(
                side_channel,
                &settings.exchanges.retry,
                &key,
                delivery,
                &[
                    ("x-error", text(&error.to_string())),
                    ("x-attempts", AMQPValue::LongLongInt(attempt.into())),
                ],
            )
            .await
        }
    }
}

/// How many times this message failed before: the `x-attempts` header the
/// consumer sets when it schedules a retry, else RabbitMQ's `x-death` count of
/// rejections from `queue`.
pub fn previous_attempts(delivery: &Delivery, queue: &str) -> u32 {
    let Some(headers) = delivery.properties.headers() else {
        return 0;
    };
    if let Some(AMQPValue::LongLongInt(n)) = headers.inner().get("x-attempts") {
        return u32::try_from(*n).unwrap_or(0);
    }
    let Some(AMQPValue::FieldArray(deaths)) = headers.inner().get("x-death") else {
        return 0;
    };
    deaths
        .as_slice()
        .iter()
        .filter_map(|death| match death {
            AMQPValue::FieldTable(table) => Some(table),
            _ => None,
        })
        .filter(|table| {
            matches!(table.inner().get("queue"), Some(AMQPValue::LongString(q)) if q.as_bytes() == queue.as_bytes())
                && matches!(table.inner().get("reason"), Some(AMQPValue::LongString(r)) if r.as_bytes() == b"rejected")
        })
        .map(|table| match table.inner().get("count") {
            Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
            Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
            _ => 1,
        })
        .sum()
}

fn header_text(delivery: &Delivery, name: &str) -> Option<String> {
    match delivery.properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(value) => String::from_utf8(value.as_bytes().to_vec()).ok(),
        _ => None,
    }
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.as_bytes().to_vec()))
}

/// Publishes a copy of the message (its headers plus `extra`) to `exchange`
/// with `key`, waits for the broker's confirm, then acks the original. If the
/// broker does not confirm, the original stays unacked and the session
/// restarts: it comes back rather than being lost.
async fn republish(
    side_channel: &Channel,
    exchange: &str,
    key: &str,
    delivery: Delivery,
    extra: &[(&str, AMQPValue)],
) -> Result<(), String> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    for (name, value) in extra {
        headers.insert((*name).into(), value.clone());
    }
    let properties: BasicProperties = delivery.properties.clone().with_headers(headers);
    let confirm = side_channel
        .basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            &delivery.data,
            properties,
        )
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    if !confirm.is_ack() {
        return Err(format!("the broker refused the message for {exchange}"));
    }
    ack(delivery).await
}

/// Sets the message aside in `<service>.dead` with its error.
async fn dead_letter(
    settings: &ConsumerSettings,
    side_channel: &Channel,
    delivery: Delivery,
    error: &str,
    attempts: u32,
) -> Result<(), String> {
    republish(
        side_channel,
        &settings.exchanges.dead,
        &settings.topology.service,
        delivery,
        &[
            ("x-error", text(error)),
            ("x-attempts", AMQPValue::LongLongInt(attempts.into())),
            ("x-consumer", text(&settings.topology.service)),
        ],
    )
    .await
}

async fn ack(delivery: Delivery) -> Result<(), String> {
    delivery
        .acker
        .ack(BasicAckOptions::default())
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}
