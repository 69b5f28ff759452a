//! The calling side: one lazily opened connection consuming direct reply-to,
//! calls matched to replies by correlation id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::BasicReturnMessage;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use super::error::RpcError;

/// The content type of requests.
const CONTENT_TYPE: &str = "application/json";

/// The pseudo-queue of RabbitMQ's direct reply-to.
const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

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

    /// [`Self::call`] carrying the current span's W3C `traceparent`, so the
    /// server's work joins the caller's trace.
    pub async fn call_traced(
        &self,
        queue: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, RpcError> {
        let traceparent = trace_context::current_traceparent();
        let headers: Vec<(&str, &str)> = traceparent
            .as_deref()
            .map(|t| vec![(trace_context::TRACEPARENT, t)])
            .unwrap_or_default();
        self.call(queue, body, &headers, timeout).await
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
