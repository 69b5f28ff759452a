//! The messaging port. Services depend on these traits; the RabbitMQ adapter
//! (`messaging-rabbitmq`) and, for the embedded mode, an in-process adapter
//! implement them.

use std::future::Future;

use provisioning_events::Event;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker cannot be reached or the connection broke: retry later.
    #[error("the message broker is unavailable: {0}")]
    Unavailable(String),
    /// The broker refused (nacked) this event.
    #[error("the message broker refused event {0}")]
    Refused(Uuid),
}

/// Publishes events durably. `publish` returns Ok only once the broker has
/// confirmed every event of the batch; on error, any of them may or may not
/// have been delivered, so the caller publishes the batch again (consumers
/// are idempotent on the event id).
pub trait EventPublisher: Send + Sync + 'static {
    fn publish(&self, events: &[Event]) -> impl Future<Output = Result<(), PublishError>> + Send;
}
