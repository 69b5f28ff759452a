//! The in-process bus of the embedded mode. It stands where RabbitMQ stands in
//! the distributed deployment and keeps the same guarantees:
//!
//! - The gateway's relay publishes journal entries to it in `seq` order, and
//!   `publish` returns only once every subscriber whose topic pattern matches
//!   has applied each event (effect and event id committed in its own
//!   database) or set it aside as a dead letter (durably, through the
//!   [`DeadLetterSink`]). Only then does the relay mark the entries published,
//!   so a process that dies in between delivers them again on restart, and
//!   the subscribers' inboxes turn the repeat into duplicates.
//! - Each subscriber gets the events it matches as one batch, in `seq` order
//!   (its `handle_batch`: one transaction for the lot), so the events of one
//!   aggregate arrive in version order. Subscribers have databases of their
//!   own and run side by side.
//! - An event that fails in a batch is delivered again on its own, in order
//!   with the batch's other failures, `max_attempts` times with doubling
//!   pauses, then recorded as dead with its error; the events behind it go on.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use messaging::{
    DeadLetter, DeadLetterSink, EventHandler, EventPublisher, HandleError, Handled, PublishError,
    topic_matches,
};
use provisioning_events::Event;

type HandleFuture<'a> = Pin<Box<dyn Future<Output = Result<Handled, HandleError>> + Send + 'a>>;

/// `EventHandler` with its future boxed, so handlers of different services can
/// sit in one list.
type BatchFuture<'a> = Pin<Box<dyn Future<Output = Vec<Result<Handled, HandleError>>> + Send + 'a>>;

trait ErasedHandler: Send + Sync {
    fn handle<'a>(&'a self, event: &'a Event) -> HandleFuture<'a>;
    fn handle_batch<'a>(&'a self, events: &'a [Event]) -> BatchFuture<'a>;
}

impl<H: EventHandler> ErasedHandler for H {
    fn handle<'a>(&'a self, event: &'a Event) -> HandleFuture<'a> {
        Box::pin(EventHandler::handle(self, event))
    }

    fn handle_batch<'a>(&'a self, events: &'a [Event]) -> BatchFuture<'a> {
        Box::pin(EventHandler::handle_batch(self, events))
    }
}

struct Subscriber {
    consumer: String,
    patterns: Vec<String>,
    handler: Arc<dyn ErasedHandler>,
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Deliveries of one event to one subscriber before it is set aside.
    pub max_attempts: u32,
    /// Pause after the first failure; doubled after each further one.
    pub first_pause: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            first_pause: Duration::from_millis(50),
        }
    }
}

pub struct InProcessBus<D> {
    subscribers: Vec<Subscriber>,
    dead_letters: D,
    retry: RetryPolicy,
}

impl<D: DeadLetterSink> InProcessBus<D> {
    pub fn new(dead_letters: D, retry: RetryPolicy) -> Self {
        Self {
            subscribers: Vec::new(),
            dead_letters,
            retry,
        }
    }

    /// Adds a consumer that receives the events whose type matches one of
    /// `patterns` (AMQP topic syntax, as its queue bindings would be).
    pub fn subscribe<H: EventHandler>(
        mut self,
        consumer: impl Into<String>,
        patterns: &[&str],
        handler: H,
    ) -> Self {
        self.subscribers.push(Subscriber {
            consumer: consumer.into(),
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
            handler: Arc::new(handler),
        });
        self
    }

    /// Hands `subscriber` the events it matches in one batch, then each
    /// one that failed again on its own.
    async fn deliver_batch(
        &self,
        subscriber: &Subscriber,
        events: &[Event],
    ) -> Result<(), PublishError> {
        let wanted = |event: &&Event| {
            subscriber
                .patterns
                .iter()
                .any(|p| topic_matches(p, event.routing_key()))
        };
        // Copied only when the subscriber takes part of the batch.
        let matching: Cow<'_, [Event]> = if events.iter().all(|e| wanted(&e)) {
            Cow::Borrowed(events)
        } else {
            Cow::Owned(events.iter().filter(wanted).cloned().collect())
        };
        if matching.is_empty() {
            return Ok(());
        }
        // A consume span per event, in its own trace, lasting the batch.
        let spans: Vec<tracing::Span> = matching
            .iter()
            .map(|event| messaging::consume_span(&subscriber.consumer, event, 1))
            .collect();
        let outcomes = subscriber.handler.handle_batch(&matching).await;
        drop(spans);
        for (event, outcome) in matching.iter().zip(outcomes) {
            match outcome {
                Ok(handled) => {
                    tracing::debug!(consumer = %subscriber.consumer, event_id = %event.id, ?handled, "event settled");
                }
                Err(error) => {
                    tracing::warn!(
                        consumer = %subscriber.consumer,
                        event_id = %event.id,
                        error = %error,
                        "event failed in a batch; delivered again on its own"
                    );
                    tokio::time::sleep(self.retry.first_pause).await;
                    self.deliver(subscriber, event, 2).await?;
                }
            }
        }
        Ok(())
    }

    async fn deliver(
        &self,
        subscriber: &Subscriber,
        event: &Event,
        first_attempt: u32,
    ) -> Result<(), PublishError> {
        let mut pause = self.retry.first_pause;
        let mut attempt = first_attempt;
        loop {
            let span = messaging::consume_span(&subscriber.consumer, event, attempt);
            let outcome =
                tracing::Instrument::instrument(subscriber.handler.handle(event), span).await;
            match outcome {
                Ok(handled) => {
                    tracing::debug!(consumer = %subscriber.consumer, event_id = %event.id, ?handled, "event settled");
                    return Ok(());
                }
                Err(error) if attempt >= self.retry.max_attempts => {
                    tracing::error!(
                        consumer = %subscriber.consumer,
                        event_id = %event.id,
                        attempt,
                        error = %error,
                        "event set aside as a dead letter"
                    );
                    return self
                        .dead_letters
                        .record(DeadLetter {
                            consumer: subscriber.consumer.clone(),
                            event: event.clone(),
                            error: error.to_string(),
                            attempts: attempt,
                        })
                        .await;
                }
                Err(error) => {
                    tracing::warn!(
                        consumer = %subscriber.consumer,
                        event_id = %event.id,
                        attempt,
                        error = %error,
                        "event will be retried"
                    );
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
            }
        }
    }
}

impl<D: DeadLetterSink> EventPublisher for InProcessBus<D> {
    async fn publish(&self, events: &[Event]) -> Result<(), PublishError> {
        let deliveries = self
            .subscribers
            .iter()
            .map(|subscriber| self.deliver_batch(subscriber, events));
        for delivered in futures_util::future::join_all(deliveries).await {
            delivered?;
        }
        Ok(())
    }
}
