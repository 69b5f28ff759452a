//! The persons' data keys for the consuming services, over request/reply on
//! `gateway.data-keys` (`provisioning_events::personal::DATA_KEY_QUEUE`; the
//! distributed deployment — the embedded process reads the store directly):
//! a [`DataKeyRequest`] is answered with one key per
//! person in order, `null` for a person without one (deleted: erased), or
//! `Unavailable` when the key table cannot be read. Nothing about the
//! persons or their keys is logged, only counts.

use messaging_rabbitmq::consumer::ConsumerHealth;
use std::sync::Arc;

use provisioning_events::personal::{DataKeyReply, DataKeyRequest};

use crate::domain::ports::DataKeyStore;

/// The most persons one request may ask for; a larger request is answered
/// `Unavailable` (consumers ask per batch of events, well under this).
pub const MAX_PERSONS: usize = 1000;

/// Answers data-key requests from a [`DataKeyStore`].
pub struct DataKeyDesk<S> {
    store: Arc<S>,
}

impl<S> Clone for DataKeyDesk<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
        }
    }
}

impl<S: DataKeyStore> DataKeyDesk<S> {
    pub fn new(store: S) -> Self {
        Self {
            store: Arc::new(store),
        }
    }

    pub async fn answer(&self, request: &DataKeyRequest) -> DataKeyReply {
        if request.persons.len() > MAX_PERSONS {
            tracing::warn!(
                persons = request.persons.len(),
                max = MAX_PERSONS,
                "data-key request for too many persons refused"
            );
            return DataKeyReply::Unavailable;
        }
        match self.store.data_keys(&request.persons).await {
            Ok(keys) => DataKeyReply::Keys {
                keys: keys
                    .into_iter()
                    .map(|key| key.map(|key| key.to_base64()))
                    .collect(),
            },
            Err(e) => {
                tracing::error!(error = %e, persons = request.persons.len(), "data keys unreadable");
                DataKeyReply::Unavailable
            }
        }
    }

    /// The body-to-body handler `messaging_rabbitmq::rpc::serve` runs.
    pub async fn answer_bytes(&self, body: Vec<u8>) -> Vec<u8> {
        let reply = match serde_json::from_slice::<DataKeyRequest>(&body) {
            Ok(request) => self.answer(&request).await,
            Err(e) => {
                // Where and what kind of error only: serde's message may
                // quote a value of the body.
                tracing::warn!(
                    category = ?e.classify(),
                    line = e.line(),
                    column = e.column(),
                    "unreadable data-key request"
                );
                DataKeyReply::Unavailable
            }
        };
        serde_json::to_vec(&reply).unwrap_or_default()
    }
}

/// Serves data-key requests on `queue` (`data_keys.queue`) at `url`, up to
/// `concurrency` at once, until `shutdown`.
pub async fn serve<S: DataKeyStore>(
    store: S,
    url: &str,
    queue: &str,
    concurrency: u16,
    health: ConsumerHealth,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let desk = DataKeyDesk::new(store);
    let answer = move |body, _headers| {
        let desk = desk.clone();
        async move { desk.answer_bytes(body).await }
    };
    if let Err(e) =
        messaging_rabbitmq::rpc::serve_reporting(url, queue, concurrency, answer, health, shutdown)
            .await
    {
        tracing::error!(error = %e, "the data-key server stopped");
    }
}
