//! Where a service catching up reads the gateway's journal: over
//! request/reply on the gateway's journal queue ([`RpcJournal`]). The trait
//! is object-safe so tests and other deployments can wire another source.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use messaging_rabbitmq::rpc::{RpcClient, RpcError};
use provisioning_events::Event;
use provisioning_events::catch_up::{JournalReply, JournalRequest};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The gateway did not answer (not started yet, broker down): try again.
    #[error("the journal is unavailable: {0}")]
    Unavailable(String),
    /// The gateway refused the request as asked.
    #[error("the journal refused the request: {0}")]
    Refused(String),
}

pub type JournalFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, JournalError>> + Send + 'a>>;

/// The gateway's journal as a catch-up reads it.
pub trait JournalSource: Send + Sync + 'static {
    /// The highest `seq` committed now.
    fn head(&self) -> JournalFuture<'_, i64>;
    /// Entries with `after_seq < seq <= until_seq` of `types`, in `seq`
    /// order, at most `limit`.
    fn page<'a>(
        &'a self,
        after_seq: i64,
        until_seq: i64,
        types: &'a [String],
        limit: u32,
    ) -> JournalFuture<'a, Vec<Event>>;
}

/// Asks the gateway on its journal queue over RabbitMQ request/reply.
#[derive(Clone)]
pub struct RpcJournal {
    client: RpcClient,
    queue: String,
    timeout: Duration,
}

impl RpcJournal {
    pub fn new(amqp_url: &str, queue: impl Into<String>, timeout: Duration) -> Self {
        Self {
            client: RpcClient::new(amqp_url),
            queue: queue.into(),
            timeout,
        }
    }

    async fn ask(&self, request: &JournalRequest) -> Result<JournalReply, JournalError> {
        let body =
            serde_json::to_vec(request).map_err(|e| JournalError::Unavailable(e.to_string()))?;
        let reply = self
            .client
            .call_traced(&self.queue, &body, self.timeout)
            .await
            .map_err(|e| match e {
                RpcError::Timeout => JournalError::Unavailable("no answer in time".into()),
                other => JournalError::Unavailable(other.to_string()),
            })?;
        // Where only: serde's message could quote an entry.
        let reply: JournalReply = serde_json::from_slice(&reply).map_err(|e| {
            JournalError::Unavailable(format!(
                "unreadable reply ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        match reply {
            JournalReply::Unavailable => Err(JournalError::Unavailable(
                "the gateway could not read its journal".into(),
            )),
            JournalReply::Refused { reason } => Err(JournalError::Refused(reason)),
            answered => Ok(answered),
        }
    }
}

fn unexpected() -> JournalError {
    JournalError::Unavailable("the gateway answered another question".into())
}

impl JournalSource for RpcJournal {
    fn head(&self) -> JournalFuture<'_, i64> {
        Box::pin(async move {
            match self.ask(&JournalRequest::Head).await? {
                JournalReply::Head { seq } => Ok(seq),
                _ => Err(unexpected()),
            }
        })
    }

    fn page<'a>(
        &'a self,
        after_seq: i64,
        until_seq: i64,
        types: &'a [String],
        limit: u32,
    ) -> JournalFuture<'a, Vec<Event>> {
        Box::pin(async move {
            let request = JournalRequest::Page {
                after_seq,
                until_seq,
                types: types.to_vec(),
                limit,
            };
            match self.ask(&request).await? {
                JournalReply::Page { events } => Ok(events),
                _ => Err(unexpected()),
            }
        })
    }
}
