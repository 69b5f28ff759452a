//! Request/reply over RabbitMQ ("RPC"), bytes in and bytes out: the caller
//! serializes its own JSON.
//!
//! Protocol:
//! - The client consumes the pseudo-queue `amq.rabbitmq.reply-to` (direct
//!   reply-to) in no-ack mode on the channel it publishes on, and publishes
//!   each request to the default exchange with routing key = the server's
//!   queue, `reply_to = amq.rabbitmq.reply-to`, a fresh `correlation_id`
//!   (UUID v4) and `expiration` = the call's timeout in milliseconds, so a
//!   request nobody picked up in time is dropped by the broker instead of being
//!   answered late. Many concurrent calls share one connection and channel;
//!   replies are matched to callers by correlation id, and a reply nobody waits
//!   for any more is dropped.
//! - Requests are published `mandatory` on a channel with publisher confirms,
//!   so a request the broker cannot route (no server queue) comes back at once.
//! - The server ([`serve`]) consumes a durable queue with prefetch =
//!   concurrency, calls the handler, publishes the reply to the default
//!   exchange with routing key = the request's `reply_to` and the same
//!   correlation id, then acks the request.
//!
//! What the caller of [`RpcClient::call`] sees:
//! - the reply's body, when a server answered in time;
//! - [`RpcError::Unavailable`] when the broker is unreachable, the connection
//!   broke before the reply, the broker refused the request, or the request was
//!   unroutable (no queue by that name): the last case returns within a round
//!   trip, not after the timeout;
//! - [`RpcError::Timeout`] when no reply arrived in time (no server consuming,
//!   handler too slow, or the broker held the request past its expiration). A
//!   timed-out request may still have been handled: make handlers idempotent
//!   where that matters.
//!
//! The client connects lazily on the first call and drops its connection on
//! any connection error, so the next call reconnects.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::{BasicReturnMessage, Delivery};
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::{AbortHandle, JoinSet};

/// The pseudo-queue of RabbitMQ's direct reply-to.
const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";
const CONTENT_TYPE: &str = "application/json";
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// Broker unreachable, connection lost, request refused or unroutable.
    #[error("RPC unavailable: {0}")]
    Unavailable(String),
    /// No reply within the call's timeout.
    #[error("RPC timed out")]
    Timeout,
}

fn unavailable(e: impl std::fmt::Display) -> RpcError {
    RpcError::Unavailable(e.to_string())
}

fn short(value: &str, what: &str) -> Result<ShortString, RpcError> {
    ShortString::try_new(value)
        .map_err(|e| RpcError::Unavailable(format!("{what} is not a valid AMQP short string: {e}")))
}

type Waiter = oneshot::Sender<Result<Vec<u8>, RpcError>>;

/// The calls waiting on one connection, by correlation id. Once `closed` is set
/// (the connection broke) no call can register any more.
#[derive(Default)]
struct Waiters {
    map: HashMap<String, Waiter>,
    closed: Option<String>,
}

#[derive(Default)]
struct PendingCalls(std::sync::Mutex<Waiters>);

impl PendingCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(
        &self,
        correlation_id: &str,
    ) -> Result<oneshot::Receiver<Result<Vec<u8>, RpcError>>, RpcError> {
        let mut waiters = self.lock();
        if let Some(reason) = &waiters.closed {
            return Err(RpcError::Unavailable(reason.clone()));
        }
        let (sender, receiver) = oneshot::channel();
        waiters.map.insert(correlation_id.to_owned(), sender);
        Ok(receiver)
    }

    fn complete(&self, correlation_id: &str, result: Result<Vec<u8>, RpcError>) -> bool {
        let waiter = self.lock().map.remove(correlation_id);
        match waiter {
            // The caller may have given up in between; nothing to do then.
            Some(sender) => sender.send(result).is_ok(),
            None => false,
        }
    }

    fn remove(&self, correlation_id: &str) {
        self.lock().map.remove(correlation_id);
    }

    fn close(&self, reason: &str) {
        let waiting = {
            let mut waiters = self.lock();
            waiters.closed.get_or_insert_with(|| reason.to_owned());
            std::mem::take(&mut waiters.map)
        };
        for (_, sender) in waiting {
            let _ = sender.send(Err(RpcError::Unavailable(reason.to_owned())));
        }
    }
}

/// Removes the call's entry when the call ends in any way (reply, error,
/// timeout, or the caller dropping the future).
struct Registration<'a> {
    pending: &'a PendingCalls,
    correlation_id: &'a str,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.pending.remove(self.correlation_id);
    }
}

/// One connection with its channel consuming direct reply-to.
struct Link {
    id: u64,
    connection: Connection,
    channel: Channel,
    pending: Arc<PendingCalls>,
    reader: AbortHandle,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
        self.pending.close("RPC client connection closed");
    }
}

struct Shared {
    url: String,
    link: tokio::sync::Mutex<Option<Arc<Link>>>,
    next_link_id: AtomicU64,
}

impl Shared {
    /// Drops the link (if it is still the current one) so the next call
    /// reconnects, and fails the calls waiting on it.
    async fn forget(&self, link_id: u64, reason: &str) {
        let dropped = {
            let mut slot = self.link.lock().await;
            match slot.as_ref() {
                Some(link) if link.id == link_id => slot.take(),
                _ => None,
            }
        };
        if let Some(link) = dropped {
            tracing::warn!(
                reason,
                "RPC client connection dropped; reconnecting on the next call"
            );
            link.pending.close(reason);
            let _ = link.connection.close(0, "reconnecting".into()).await;
        }
    }
}

/// Sends requests and waits for their replies. Clones are cheap and share one
/// connection; concurrent calls run concurrently on it.
#[derive(Clone)]
pub struct RpcClient {
    shared: Arc<Shared>,
}

impl RpcClient {
    /// Lazy: the connection is opened on the first call, and dropped on any
    /// connection error so the next call reconnects.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            shared: Arc::new(Shared {
                url: url.into(),
                link: tokio::sync::Mutex::new(None),
                next_link_id: AtomicU64::new(0),
            }),
        }
    }

    /// Sends `body` to the server consuming `queue` and waits at most
    /// `timeout` (connecting included) for its reply. `headers` travel as AMQP
    /// string headers (e.g. W3C `traceparent`).
    pub async fn call(
        &self,
        queue: &str,
        body: &[u8],
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Vec<u8>, RpcError> {
        match tokio::time::timeout(timeout, self.call_within(queue, body, headers, timeout)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(RpcError::Timeout),
        }
    }

    async fn call_within(
        &self,
        queue: &str,
        body: &[u8],
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Vec<u8>, RpcError> {
        let routing_key = short(queue, "queue name")?;
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let properties = request_properties(&correlation_id, headers, timeout)?;

        let link = self.link().await?;
        let reply = link.pending.register(&correlation_id)?;
        let _registration = Registration {
            pending: &link.pending,
            correlation_id: &correlation_id,
        };

        let published = link
            .channel
            .basic_publish(
                "".into(),
                routing_key,
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                body,
                properties,
            )
            .await;
        let confirm = match published {
            Ok(confirm) => confirm,
            Err(e) => {
                let reason = format!("publishing the request failed: {e}");
                self.shared.forget(link.id, &reason).await;
                return Err(RpcError::Unavailable(reason));
            }
        };
        match confirm.await {
            Ok(confirmation) => {
                let refused = confirmation.is_nack();
                // With several requests in flight the broker may confirm them
                // together, and lapin then hands a returned message to any of
                // their confirms: route it by its own correlation id.
                if let Some(returned) = confirmation.take_message() {
                    fail_returned(&link.pending, &returned);
                }
                if refused {
                    return Err(RpcError::Unavailable(
                        "the broker refused the request (nack)".into(),
                    ));
                }
            }
            Err(e) => {
                let reason = format!("the request was not confirmed: {e}");
                self.shared.forget(link.id, &reason).await;
                return Err(RpcError::Unavailable(reason));
            }
        }

        match reply.await {
            Ok(result) => result,
            Err(_closed) => Err(RpcError::Unavailable(
                "the connection closed before the reply".into(),
            )),
        }
    }

    /// The current link, connecting first if there is none.
    async fn link(&self) -> Result<Arc<Link>, RpcError> {
        let mut slot = self.shared.link.lock().await;
        if let Some(link) = slot.as_ref() {
            if link.channel.status().connected() {
                return Ok(Arc::clone(link));
            }
            link.pending.close("RPC client connection lost");
            *slot = None;
        }
        let link = Arc::new(self.connect().await?);
        *slot = Some(Arc::clone(&link));
        Ok(link)
    }

    async fn connect(&self) -> Result<Link, RpcError> {
        let connection = Connection::connect(&self.shared.url, ConnectionProperties::default())
            .await
            .map_err(unavailable)?;
        let channel = connection.create_channel().await.map_err(unavailable)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(unavailable)?;
        // Direct reply-to: consume before publishing, on the same channel, no-ack.
        let replies = channel
            .basic_consume(
                DIRECT_REPLY_TO.into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        let id = self.shared.next_link_id.fetch_add(1, Ordering::Relaxed);
        let pending = Arc::new(PendingCalls::default());
        let reader = tokio::spawn(read_replies(
            replies,
            Arc::clone(&pending),
            Arc::downgrade(&self.shared),
            id,
        ))
        .abort_handle();
        Ok(Link {
            id,
            connection,
            channel,
            pending,
            reader,
        })
    }
}

fn request_properties(
    correlation_id: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<BasicProperties, RpcError> {
    let mut properties = BasicProperties::default()
        .with_correlation_id(short(correlation_id, "correlation id")?)
        .with_reply_to(DIRECT_REPLY_TO.into())
        .with_content_type(CONTENT_TYPE.into())
        .with_expiration(short(&timeout.as_millis().to_string(), "expiration")?);
    if !headers.is_empty() {
        let mut table = FieldTable::default();
        for (name, value) in headers {
            table.insert(
                short(name, "header name")?,
                AMQPValue::LongString((*value).into()),
            );
        }
        properties = properties.with_headers(table);
    }
    Ok(properties)
}

fn fail_returned(pending: &PendingCalls, returned: &BasicReturnMessage) {
    let Some(correlation_id) = returned.delivery.properties.correlation_id() else {
        return;
    };
    let error = RpcError::Unavailable(format!(
        "no route to queue {:?}: {} {}",
        returned.delivery.routing_key.as_str(),
        returned.reply_code,
        returned.reply_text
    ));
    pending.complete(correlation_id.as_str(), Err(error));
}

/// Hands each reply to the call waiting for it. When the stream ends (the
/// connection or channel broke), fails the waiting calls and drops the link.
async fn read_replies(
    mut replies: Consumer,
    pending: Arc<PendingCalls>,
    shared: Weak<Shared>,
    link_id: u64,
) {
    let reason = loop {
        match replies.next().await {
            Some(Ok(delivery)) => {
                let delivered = delivery
                    .properties
                    .correlation_id()
                    .as_ref()
                    .is_some_and(|id| pending.complete(id.as_str(), Ok(delivery.data)));
                if !delivered {
                    tracing::debug!("dropping a reply nobody waits for (late or unknown)");
                }
            }
            Some(Err(e)) => break format!("the reply consumer failed: {e}"),
            None => break "the reply consumer was cancelled".to_owned(),
        }
    };
    pending.close(&reason);
    if let Some(shared) = shared.upgrade() {
        shared.forget(link_id, &reason).await;
    }
}

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
    let concurrency = concurrency.max(1);
    let handler = Arc::new(handler);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = FIRST_BACKOFF;
    loop {
        match session(url, queue, concurrency, &handler, &mut shutdown).await {
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

    let slots = Arc::new(Semaphore::new(usize::from(concurrency)));
    let mut in_flight = JoinSet::new();
    // `None` once shutdown resolved, the reason otherwise.
    let lost = loop {
        while let Some(done) = in_flight.try_join_next() {
            log_task_end(done);
        }
        let slot = tokio::select! {
            () = shutdown.as_mut() => break None,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(e) => break Some(e.to_string()),
            },
        };
        let delivery = tokio::select! {
            () = shutdown.as_mut() => break None,
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
            let _ = connection.close(200, "reconnecting".into()).await;
            SessionEnd::Lost {
                connected: true,
                reason,
            }
        }
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
