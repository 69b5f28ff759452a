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
//! - A failing event is retried `max_attempts` times with doubling pauses,
//!   then recorded as dead with its error; the events behind it go on.
//! - Subscribers are called one at a time per event, in `seq` order, so the
//!   events of one aggregate arrive in version order.

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
trait ErasedHandler: Send + Sync {
    fn handle<'a>(&'a self, event: &'a Event) -> HandleFuture<'a>;
}

impl<H: EventHandler> ErasedHandler for H {
    fn handle<'a>(&'a self, event: &'a Event) -> HandleFuture<'a> {
        Box::pin(EventHandler::handle(self, event))
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

    async fn deliver(&self, subscriber: &Subscriber, event: &Event) -> Result<(), PublishError> {
        let mut pause = self.retry.first_pause;
        let mut attempt = 1;
        loop {
            let span = tracing::info_span!(
                "consume",
                service = %subscriber.consumer,
                event_id = %event.id,
                event_type = event.routing_key(),
                aggregate_id = %event.aggregate.id,
                version = event.aggregate.version,
                attempt,
            );
            trace_context::continue_trace(&span, event.traceparent.as_deref());
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
        for event in events {
            for subscriber in &self.subscribers {
                if subscriber
                    .patterns
                    .iter()
                    .any(|p| topic_matches(p, event.routing_key()))
                {
                    self.deliver(subscriber, event).await?;
                }
            }
        }
        Ok(())
    }
}
