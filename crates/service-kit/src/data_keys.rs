//! Where a service gets the data keys that open sealed personal values
//! (docs/privacy.md): the gateway keeps them; the distributed deployment asks
//! it over request/reply ([`RpcDataKeys`]), the embedded process reads the
//! gateway's key table directly (an adapter in the embedded crate).
//!
//! [`DataKeySource`] is object-safe so a service is wired with either.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use messaging_rabbitmq::rpc::{RpcClient, RpcError};
use provisioning_events::PersonRef;
use provisioning_events::personal::{DATA_KEY_QUEUE, DataKeyReply, DataKeyRequest};
use provisioning_events::sealing::DataKey;

#[derive(Debug, thiserror::Error)]
pub enum DataKeyError {
    /// The gateway (or its key table) could not answer: try again later.
    #[error("data keys unavailable: {0}")]
    Unavailable(String),
}

pub type DataKeysFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Option<DataKey>>, DataKeyError>> + Send + 'a>>;

/// The data keys of persons, one entry per person in order: `None` when the
/// person's key is gone (the person was deleted: their values are erased).
pub trait DataKeySource: Send + Sync + 'static {
    fn data_keys<'a>(&'a self, persons: &'a [PersonRef]) -> DataKeysFuture<'a>;
}

/// Asks the gateway on [`DATA_KEY_QUEUE`] over RabbitMQ request/reply.
#[derive(Clone)]
pub struct RpcDataKeys {
    client: RpcClient,
    queue: String,
    timeout: Duration,
}

impl RpcDataKeys {
    pub fn new(amqp_url: &str, timeout: Duration) -> Self {
        Self {
            client: RpcClient::new(amqp_url),
            queue: DATA_KEY_QUEUE.to_owned(),
            timeout,
        }
    }

    /// Asks on `queue` instead of [`DATA_KEY_QUEUE`] (a test's own queue on
    /// a shared broker).
    pub fn with_queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }
}

impl DataKeySource for RpcDataKeys {
    fn data_keys<'a>(&'a self, persons: &'a [PersonRef]) -> DataKeysFuture<'a> {
        Box::pin(async move {
            if persons.is_empty() {
                return Ok(Vec::new());
            }
            let request = DataKeyRequest {
                persons: persons.to_vec(),
            };
            let body = serde_json::to_vec(&request)
                .map_err(|e| DataKeyError::Unavailable(e.to_string()))?;
            let reply = self
                .client
                .call_traced(&self.queue, &body, self.timeout)
                .await
                .map_err(|e| match e {
                    RpcError::Timeout => DataKeyError::Unavailable("no answer in time".into()),
                    other => DataKeyError::Unavailable(other.to_string()),
                })?;
            let reply: DataKeyReply = serde_json::from_slice(&reply)
                // The serde message can quote the reply (data keys): only where.
                .map_err(|e| {
                    DataKeyError::Unavailable(format!(
                        "unreadable reply ({:?} error at line {} column {})",
                        e.classify(),
                        e.line(),
                        e.column()
                    ))
                })?;
            keys_from_reply(reply, persons.len())
        })
    }
}

/// The keys of a gateway's reply, checked against the number asked for.
pub fn keys_from_reply(
    reply: DataKeyReply,
    asked: usize,
) -> Result<Vec<Option<DataKey>>, DataKeyError> {
    match reply {
        DataKeyReply::Keys { keys } if keys.len() == asked => keys
            .into_iter()
            .map(|key| {
                key.map(|k| DataKey::from_base64(&k))
                    .transpose()
                    .map_err(|e| DataKeyError::Unavailable(format!("unreadable key: {e}")))
            })
            .collect(),
        DataKeyReply::Keys { keys } => Err(DataKeyError::Unavailable(format!(
            "{} keys for {asked} persons",
            keys.len()
        ))),
        DataKeyReply::Unavailable => Err(DataKeyError::Unavailable(
            "the gateway could not read its key table".into(),
        )),
    }
}

/// Without any key source (a consumer run on its own for development): every
/// sealed value stays unopened, so nothing personal is applied. Services that
/// need profiles refuse to start with it unless told otherwise.
pub struct NoDataKeys;

impl DataKeySource for NoDataKeys {
    fn data_keys<'a>(&'a self, _persons: &'a [PersonRef]) -> DataKeysFuture<'a> {
        Box::pin(async {
            Err(DataKeyError::Unavailable(
                "no data-key source configured".into(),
            ))
        })
    }
}
