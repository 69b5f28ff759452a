//! Drives an [`EventHandler`] from the service's quorum queue.
//!
//! - The handler commits its effect and the event id together; the message is
//!   acked only after that, so a crash before the ack redelivers it and the
//!   handler sees a duplicate.
//! - A failure (or an event that arrived before an earlier version of its
//!   aggregate) is rejected without requeue: the topology sends it round the
//!   delayed retry path (see [`crate::topology`]). Its `x-death` count tells
//!   the attempt; after `max_attempts` it is published to the dead exchange with
//!   the error in its headers (`x-error`, `x-attempts`, `x-consumer`) and acked,
//!   so it never blocks the messages behind it.
//! - An unreadable message goes to the dead queue at once.
//! - Messages are handled one at a time, in delivery order; `prefetch` only
//!   keeps the next ones on their way. On shutdown the message in flight is
//!   finished and acked, the rest return to the queue when the channel closes.
//! - A lost connection is re-established with back-off (100 ms doubling to
//!   10 s, starting over once a session consumed); unacked messages are
//!   redelivered by the broker.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use messaging::{EventHandler, HandleError};
use provisioning_events::Event;

use crate::topology::{Exchanges, ServiceTopology, declare_service_topology};

/// Whether the consumer is connected and consuming (its topology declared):
/// what a service's `/readyz` reports. Clones share the state.
#[derive(Debug, Clone, Default)]
pub struct ConsumerHealth(Arc<AtomicBool>);

impl ConsumerHealth {
    pub fn is_consuming(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self, consuming: bool) {
        self.0.store(consuming, Ordering::SeqCst);
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
    // Dead letters are published with confirms on a channel of their own, so
    // a poison message is acked only once the dead queue holds it.
    let dead_channel = connection.create_channel().await?;
    dead_channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok((connection, channel, dead_channel))
}

async fn consume<H: EventHandler>(
    settings: &ConsumerSettings,
    handler: &H,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> SessionEnd {
    let (connection, channel, dead_channel) = tokio::select! {
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
    let end = loop {
        let next = tokio::select! {
            biased;
            () = shutdown.as_mut() => break SessionEnd::Shutdown,
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
        if let Err(e) = settle(settings, handler, &dead_channel, delivery).await {
            break SessionEnd::Broken {
                error: e,
                consumed: true,
            };
        }
    };
    settings.health.set(false);
    let _ = channel.close(200, "consumer stopping".into()).await;
    let _ = connection.close(200, "consumer stopping".into()).await;
    end
}

/// Handles one delivery and acks, retries or dead-letters it.
async fn settle<H: EventHandler>(
    settings: &ConsumerSettings,
    handler: &H,
    dead_channel: &Channel,
    delivery: Delivery,
) -> Result<(), String> {
    let attempt = previous_attempts(&delivery, &settings.topology.queue()) + 1;
    let mut event: Event = match serde_json::from_slice(&delivery.data) {
        Ok(event) => event,
        Err(e) => {
            let error = format!("unreadable event: {e}");
            return dead_letter(settings, dead_channel, delivery, &error, attempt).await;
        }
    };
    let span = tracing::info_span!(
        "consume",
        service = %settings.topology.service,
        event_id = %event.id,
        event_type = event.routing_key(),
        aggregate_id = %event.aggregate.id,
        version = event.aggregate.version,
        attempt,
    );
    event.traceparent = header_text(&delivery, trace_context::TRACEPARENT);
    trace_context::continue_trace(&span, event.traceparent.as_deref());
    let outcome = tracing::Instrument::instrument(handler.handle(&event), span).await;
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
                dead_channel,
                delivery,
                &error.to_string(),
                attempt,
            )
            .await
        }
        Err(error) => {
            let level_is_gap = matches!(error, HandleError::OutOfOrder { .. });
            tracing::warn!(
                service = %settings.topology.service,
                event_id = %event.id,
                attempt,
                out_of_order = level_is_gap,
                error = %error,
                "event will be retried"
            );
            delivery
                .acker
                .reject(BasicRejectOptions { requeue: false })
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
    }
}

/// How many times this message was rejected from `queue` before (RabbitMQ
/// counts them in `x-death` as it dead-letters the message).
pub fn previous_attempts(delivery: &Delivery, queue: &str) -> u32 {
    let Some(headers) = delivery.properties.headers() else {
        return 0;
    };
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

/// Publishes the message to the dead exchange with its error, then acks it.
/// If the dead queue does not confirm, the message is left unacked and the
/// session restarts: it comes back rather than being lost.
async fn dead_letter(
    settings: &ConsumerSettings,
    dead_channel: &Channel,
    delivery: Delivery,
    error: &str,
    attempts: u32,
) -> Result<(), String> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert("x-error".into(), text(error));
    headers.insert("x-attempts".into(), AMQPValue::LongLongInt(attempts.into()));
    headers.insert("x-consumer".into(), text(&settings.topology.service));
    let properties: BasicProperties = delivery.properties.clone().with_headers(headers);
    let confirm = dead_channel
        .basic_publish(
            settings.exchanges.dead.as_str().into(),
            settings.topology.service.as_str().into(),
            BasicPublishOptions::default(),
            &delivery.data,
            properties,
        )
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    if !confirm.is_ack() {
        return Err("the dead exchange refused the message".into());
    }
    ack(delivery).await
}

async fn ack(delivery: Delivery) -> Result<(), String> {
    delivery
        .acker
        .ack(BasicAckOptions::default())
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}
