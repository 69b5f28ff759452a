//! The messaging port. Services depend on these traits; the RabbitMQ adapter
//! (`messaging-rabbitmq`) and, for the embedded mode, an in-process adapter
//! implement them.

pub mod relay;

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
    /// No queue is bound for this event type yet (its consumer never
    /// started): it stays in the outbox until one is.
    #[error("no queue is bound for {0} yet")]
    Unroutable(String),
}

/// Publishes events durably. `publish` returns Ok only once the broker has
/// confirmed every event of the batch; on error, any of them may or may not
/// have been delivered, so the caller publishes the batch again (consumers
/// are idempotent on the event id).
pub trait EventPublisher: Send + Sync + 'static {
    fn publish(&self, events: &[Event]) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// An event a consumer could not apply after its last attempt, set aside for
/// operators to inspect and replay.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub consumer: String,
    pub event: Event,
    pub error: String,
    pub attempts: u32,
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A service's dead letters as an operator handles them (`scimctl dead`):
/// RabbitMQ's `<service>.dead` queue in the distributed deployment, the
/// gateway database's `dead_letters` table in the embedded process.
/// Object-safe: the admin API holds whichever the deployment wires.
pub trait DeadLetterBox: Send + Sync + 'static {
    /// The oldest letters first, at most `limit`; reading takes nothing away.
    fn list(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadLetter>, PublishError>>;

    /// Removes the letter of `event_id` (once it has been applied); false
    /// when there is none.
    fn remove(&self, event_id: uuid::Uuid) -> BoxFuture<'_, Result<bool, PublishError>>;
}

/// Where the in-process bus keeps dead letters (the embedded mode's
/// `<service>.dead` queue). Durable: a recorded letter survives a restart.
pub trait DeadLetterSink: Send + Sync + 'static {
    fn record(&self, letter: DeadLetter) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// What a consumer did with one event. Every outcome is final: the message is
/// acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The effect and the event id were committed together.
    Applied,
    /// This event id was applied before (a redelivery or a replay).
    Duplicate,
    /// A later version of the aggregate was applied already.
    Stale,
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// An earlier version of the aggregate has not been applied yet: retry
    /// later, never apply out of order.
    #[error("version {got} arrived before version {expected} of its aggregate")]
    OutOfOrder { expected: i64, got: i64 },
    /// The event cannot be applied now (database down, conflict, bad data):
    /// retry, and after the last attempt set it aside as dead.
    #[error("{0}")]
    Failed(String),
}

/// Applies one event: its effect and its id in one transaction of the
/// service's own database. Called again for the same event after any error, so
/// it must be idempotent (see [`admit`]).
pub trait EventHandler: Send + Sync + 'static {
    fn handle(&self, event: &Event) -> impl Future<Output = Result<Handled, HandleError>> + Send;

    /// Handles `events` in order, one outcome each. A service may apply a
    /// batch in one transaction (consumers hand it what is waiting in their
    /// queue; a rebuild its journal pages); by default each event is handled
    /// on its own.
    fn handle_batch(
        &self,
        events: &[Event],
    ) -> impl Future<Output = Vec<Result<Handled, HandleError>>> + Send {
        async move {
            let mut outcomes = Vec::with_capacity(events.len());
            for event in events {
                outcomes.push(self.handle(event).await);
            }
            outcomes
        }
    }
}

/// Whether an event may be applied, given what the consumer has recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Apply,
    Duplicate,
    Stale,
    OutOfOrder { expected: i64 },
}

impl Admission {
    /// What the inbox's decision means to the bus: applied, skipped, or an
    /// event to retry later (`event` arrived before an earlier version).
    pub fn outcome(self, event: &Event) -> Result<Handled, HandleError> {
        match self {
            Admission::Apply => Ok(Handled::Applied),
            Admission::Duplicate => Ok(Handled::Duplicate),
            Admission::Stale => Ok(Handled::Stale),
            Admission::OutOfOrder { expected } => Err(HandleError::OutOfOrder {
                expected,
                got: event.aggregate.version,
            }),
        }
    }
}

/// The outcomes of a batch applied in one transaction: each event's
/// admission, or — when the transaction failed — the failure for every event.
pub fn batch_outcomes<E: std::fmt::Display>(
    events: &[Event],
    admissions: Result<Vec<Admission>, E>,
) -> Vec<Result<Handled, HandleError>> {
    match admissions {
        Ok(admissions) => admissions
            .into_iter()
            .zip(events)
            .map(|(admission, event)| admission.outcome(event))
            .collect(),
        Err(e) => events
            .iter()
            .map(|_| Err(HandleError::Failed(e.to_string())))
            .collect(),
    }
}

/// The ordering rule of every consumer. Aggregate versions start at 1 and have
/// no gaps (the gateway assigns them in the transaction of the change), so the
/// next event of an aggregate is exactly `last_applied + 1`.
pub fn admit(already_recorded: bool, last_applied: Option<i64>, version: i64) -> Admission {
    let last = last_applied.unwrap_or(0);
    if already_recorded {
        Admission::Duplicate
    } else if version <= last {
        Admission::Stale
    } else if version == last + 1 {
        Admission::Apply
    } else {
        Admission::OutOfOrder { expected: last + 1 }
    }
}

/// AMQP topic matching: `*` matches one dot-separated word, `#` zero or more.
/// The in-process bus routes with it exactly as the broker would.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(pattern: &[&str], key: &[&str]) -> bool {
        match pattern.split_first() {
            None => key.is_empty(),
            Some((&"#", rest)) => (0..=key.len()).any(|skip| go(rest, &key[skip..])),
            Some((&word, rest)) => key
                .split_first()
                .is_some_and(|(&k, key_rest)| (word == "*" || word == k) && go(rest, key_rest)),
        }
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = key.split('.').collect();
    go(&pattern, &key)
}

/// The span of one event's handling by `consumer`, continuing the trace the
/// event carries (the relay's `publish` span): what every consumer loop —
/// RabbitMQ's, the in-process bus — opens per event and attempt.
pub fn consume_span(consumer: &str, event: &Event, attempt: u32) -> tracing::Span {
    let span = tracing::info_span!(
        "consume",
        service = %consumer,
        event_id = %event.id,
        event_type = event.routing_key(),
        aggregate_id = %event.aggregate.id,
        version = event.aggregate.version,
        attempt,
    );
    trace_context::continue_trace(&span, event.traceparent.as_deref());
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_follows_the_aggregate_version() {
        assert_eq!(admit(false, None, 1), Admission::Apply);
        assert_eq!(admit(false, Some(3), 4), Admission::Apply);
        assert_eq!(admit(true, Some(3), 4), Admission::Duplicate);
        assert_eq!(admit(false, Some(3), 3), Admission::Stale);
        assert_eq!(admit(false, Some(3), 1), Admission::Stale);
        assert_eq!(admit(false, None, 2), Admission::OutOfOrder { expected: 1 });
        assert_eq!(
            admit(false, Some(3), 6),
            Admission::OutOfOrder { expected: 4 }
        );
    }

    #[test]
    fn topics_match_like_the_broker() {
        assert!(topic_matches("user.*", "user.provisioned"));
        assert!(!topic_matches("user.*", "group.renamed"));
        assert!(!topic_matches("user.*", "user"));
        assert!(topic_matches("#", "group.members_added"));
        assert!(topic_matches("user.#", "user"));
        assert!(topic_matches("user.provisioned", "user.provisioned"));
        assert!(!topic_matches("user.provisioned", "user.updated"));
        assert!(topic_matches("*.deleted", "group.deleted"));
    }
}
