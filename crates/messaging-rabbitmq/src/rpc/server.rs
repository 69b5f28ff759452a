//! The serving side: a durable queue consumed with bounded concurrency, each
//! request's reply published to its `reply_to`, reconnecting until shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::error::RpcError;
use crate::connection::{STATUS_CHECK, broken};
use crate::consumer::ConsumerHealth;

/// The content type of replies.
const CONTENT_TYPE: &str = "application/json";

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The string-valued view of a message's headers given to handlers; other
/// scalar values are rendered with `Display`, tables and arrays are skipped.
fn header_map(headers: Option<&FieldTable>) -> HashMap<String, String> {
    let Some(headers) = headers else {
        return HashMap::new();
    };
    headers
        .inner()
        .iter()
        .filter_map(|(name, value)| {
            let text = match value {
                AMQPValue::LongString(s) => s.to_string(),
                AMQPValue::ShortString(s) => s.to_string(),
                AMQPValue::Boolean(v) => v.to_string(),
                AMQPValue::ShortShortInt(v) => v.to_string(),
                AMQPValue::ShortShortUInt(v) => v.to_string(),
                AMQPValue::ShortInt(v) => v.to_string(),
                AMQPValue::ShortUInt(v) => v.to_string(),
                AMQPValue::LongInt(v) => v.to_string(),
                AMQPValue::LongUInt(v) => v.to_string(),
                AMQPValue::LongLongInt(v) => v.to_string(),
                AMQPValue::Timestamp(v) => v.to_string(),
                AMQPValue::Float(v) => v.to_string(),
                AMQPValue::Double(v) => v.to_string(),
                _ => return None,
            };
            Some((name.to_string(), text))
        })
        .collect()
}

/// How one connection's session ended.
enum SessionEnd {
    Shutdown,
    Lost { connected: bool, reason: String },
}

/// Serves requests from the durable queue `queue` (declared idempotently)
/// until `shutdown` resolves.
///
/// For each request: `handler(body, headers)` gives the reply body, which is
/// published to the request's `reply_to` with its correlation id; then the
/// request is acked. A request without `reply_to` is acked and dropped with a
/// warning; a request whose handler panicked is rejected without requeue (its
/// caller times out). Up to `concurrency` requests are handled at once, in
/// spawned tasks (prefetch = `concurrency`; 0 counts as 1).
///
/// On shutdown it stops consuming, finishes the requests in flight and
/// returns `Ok(())`; requests prefetched but not started go back to the queue.
/// If the connection is lost (or cannot be opened) it reconnects with back-off
/// (100 ms doubling to 5 s) until shutdown, so it currently never returns an
/// error.
pub async fn serve<H, Fut>(
    url: &str,
    queue: &str,
    concurrency: u16,
    handler: H,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RpcError>
where
    H: Fn(Vec<u8>, HashMap<String, String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<u8>> + Send + 'static,
{
    let health = ConsumerHealth::default();
    serve_reporting(url, queue, concurrency, handler, health, shutdown).await
}

/// [`serve`], telling `health` whether it is consuming its queue: from the
/// moment its consumer is registered until its session ends (connection
/// lost — its status and error events are watched, as the event consumer's
/// are —, consumer cancelled, shutdown). A service's `/readyz` reports it.
pub async fn serve_reporting<H, Fut>(
    url: &str,
    queue: &str,
    concurrency: u16,
    handler: H,
    health: ConsumerHealth,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RpcError>
where
    H: Fn(Vec<u8>, HashMap<String, String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<u8>> + Send + 'static,
{
    let concurrency = concurrency.max(1);
    let handler = Arc::new(handler);
    let mut shutdown = std::pin::pin!(shutdown);
    // Whatever ends the server (its stop, a panic), `health` says so.
    let _stopped = NotConsumingOnDrop(health.clone());
    let mut backoff = FIRST_BACKOFF;
    loop {
        match session(url, queue, concurrency, &handler, &health, &mut shutdown).await {
            SessionEnd::Shutdown => return Ok(()),
            SessionEnd::Lost { connected, reason } => {
                if connected {
                    backoff = FIRST_BACKOFF;
                }
                tracing::warn!(
                    queue,
                    reason,
                    retry_in_ms = backoff.as_millis(),
                    "RPC server lost its connection; reconnecting"
                );
                tokio::select! {
                    () = shutdown.as_mut() => return Ok(()),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn open_session(
    url: &str,
    queue: &str,
    concurrency: u16,
) -> lapin::Result<(Connection, Channel, Consumer)> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(concurrency, BasicQosOptions::default())
        .await?;
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    let consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((connection, channel, consumer))
}

async fn session<H, Fut, S>(
    url: &str,
    queue: &str,
    concurrency: u16,
    handler: &Arc<H>,
    health: &ConsumerHealth,
    shutdown: &mut Pin<&mut S>,
) -> SessionEnd
where
    H: Fn(Vec<u8>, HashMap<String, String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<u8>> + Send + 'static,
    S: Future<Output = ()>,
{
    if ShortString::try_new(queue).is_err() {
        return SessionEnd::Lost {
            connected: false,
            reason: "the queue name is longer than 255 bytes".into(),
        };
    }
    let (connection, channel, mut consumer) = tokio::select! {
        () = shutdown.as_mut() => return SessionEnd::Shutdown,
        opened = open_session(url, queue, concurrency) => match opened {
            Ok(opened) => opened,
            Err(e) => return SessionEnd::Lost { connected: false, reason: e.to_string() },
        },
    };
    tracing::info!(queue, concurrency, "RPC server consuming");
    health.set(true);
    // The consumer stream does not always end when the socket breaks.
    let mut connection_events = Box::pin(connection.events_listener());

    let slots = Arc::new(Semaphore::new(usize::from(concurrency)));
    let mut in_flight = JoinSet::new();
    // `None` once shutdown resolved, the reason otherwise.
    let lost = loop {
        while let Some(done) = in_flight.try_join_next() {
            log_task_end(done);
        }
        let slot = tokio::select! {
            () = shutdown.as_mut() => break None,
            reason = broken(&connection, &mut connection_events) => break Some(reason),
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(e) => break Some(e.to_string()),
            },
        };
        let delivery = tokio::select! {
            () = shutdown.as_mut() => break None,
            reason = broken(&connection, &mut connection_events) => break Some(reason),
            next = consumer.next() => match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(e)) => break Some(e.to_string()),
                None => break Some("the broker cancelled the consumer".to_owned()),
            },
        };
        in_flight.spawn(handle_request(
            channel.clone(),
            Arc::clone(handler),
            delivery,
            slot,
        ));
    };

    health.set(false);
    if lost.is_none() {
        // Stop deliveries first, then let the requests in flight finish.
        if let Err(e) = channel
            .basic_cancel(consumer.tag(), BasicCancelOptions::default())
            .await
        {
            tracing::warn!(queue, error = %e, "cancelling the RPC consumer failed");
        }
    }
    while let Some(done) = in_flight.join_next().await {
        log_task_end(done);
    }
    drop(consumer);
    match lost {
        None => {
            // Closing the channel requeues what was prefetched but not handled.
            let _ = channel.close(200, "shutdown".into()).await;
            let _ = connection.close(200, "shutdown".into()).await;
            tracing::info!(queue, "RPC server stopped");
            SessionEnd::Shutdown
        }
        Some(reason) => {
            // Closing a dead connection can hang.
            let close = connection.close(200, "reconnecting".into());
            let _ = tokio::time::timeout(STATUS_CHECK, close).await;
            SessionEnd::Lost {
                connected: true,
                reason,
            }
        }
    }
}

struct NotConsumingOnDrop(ConsumerHealth);

impl Drop for NotConsumingOnDrop {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

fn log_task_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(error = %e, "RPC request task failed");
    }
}

async fn handle_request<H, Fut>(
    channel: Channel,
    handler: Arc<H>,
    delivery: Delivery,
    _slot: OwnedSemaphorePermit,
) where
    H: Fn(Vec<u8>, HashMap<String, String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<u8>> + Send + 'static,
{
    let Delivery {
        properties,
        data,
        acker,
        ..
    } = delivery;
    let Some(reply_to) = properties.reply_to().clone() else {
        tracing::warn!("dropping an RPC request without reply_to");
        if let Err(e) = acker.ack(BasicAckOptions::default()).await {
            tracing::warn!(error = %e, "acking an RPC request failed");
        }
        return;
    };
    let headers = header_map(properties.headers().as_ref());
    // A separate task so that a panicking handler cannot take the request's
    // prefetch slot with it: the request is rejected instead.
    let reply = match tokio::spawn(async move { (*handler)(data, headers).await }).await {
        Ok(reply) => reply,
        Err(e) => {
            tracing::error!(error = %e, "RPC handler failed; rejecting the request");
            if let Err(e) = acker.reject(BasicRejectOptions { requeue: false }).await {
                tracing::warn!(error = %e, "rejecting an RPC request failed");
            }
            return;
        }
    };
    let mut reply_properties = BasicProperties::default().with_content_type(CONTENT_TYPE.into());
    if let Some(correlation_id) = properties.correlation_id() {
        reply_properties = reply_properties.with_correlation_id(correlation_id.clone());
    }
    let published = channel
        .basic_publish(
            "".into(),
            reply_to,
            BasicPublishOptions::default(),
            &reply,
            reply_properties,
        )
        .await;
    match published {
        // Not in confirm mode: this resolves at once.
        Ok(confirm) => {
            let _ = confirm.await;
        }
        Err(e) => {
            // Unacked, the request is redelivered once the server reconnects.
            tracing::warn!(error = %e, "publishing an RPC reply failed");
            return;
        }
    }
    if let Err(e) = acker.ack(BasicAckOptions::default()).await {
        tracing::warn!(error = %e, "acking an RPC request failed");
    }
}
