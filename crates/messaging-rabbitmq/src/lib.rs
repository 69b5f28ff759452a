//! Publishes provisioning events to RabbitMQ: topic exchange (durable),
//! routing key = event type, `message_id` = event id, JSON, persistent
//! delivery, W3C `traceparent` header, publisher confirms. The connection is opened lazily and dropped on
//! any error, so the next publish reconnects: a broker outage only delays.

mod connection;
pub mod consumer;
pub mod dead_letters;
pub mod rpc;
pub mod topology;

use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use messaging::{EventPublisher, PublishError};
use provisioning_events::Event;
use tokio::sync::Mutex;

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// Longest wait for a batch's publisher confirms.
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct RabbitPublisher {
    url: String,
    exchange: String,
    link: Mutex<Option<(Connection, Channel)>>,
}

fn unavailable(e: impl std::fmt::Display) -> PublishError {
    PublishError::Unavailable(e.to_string())
}

impl RabbitPublisher {
    /// `exchange` is `provisioning_events::EXCHANGE` in production; tests use
    /// their own to stay isolated.
    pub fn new(url: impl Into<String>, exchange: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            exchange: exchange.into(),
            link: Mutex::new(None),
        }
    }

    async fn connect(&self) -> Result<(Connection, Channel), PublishError> {
        let connection = Connection::connect(&self.url, ConnectionProperties::default())
            .await
            .map_err(unavailable)?;
        let channel = connection.create_channel().await.map_err(unavailable)?;
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(unavailable)?;
        Ok((connection, channel))
    }

    async fn publish_on(&self, channel: &Channel, events: &[Event]) -> Result<(), PublishError> {
        // Keep the whole batch in flight, then collect the confirms: one disk
        // sync per batch instead of one per message.
        let mut pending = Vec::with_capacity(events.len());
        for event in events {
            let payload = serde_json::to_vec(event).map_err(unavailable)?;
            let mut properties = BasicProperties::default()
                .with_message_id(event.id.to_string().into())
                .with_content_type("application/json".into())
                .with_type(event.routing_key().into())
                .with_delivery_mode(PERSISTENT);
            if let Some(traceparent) = &event.traceparent {
                let mut headers = FieldTable::default();
                headers.insert(
                    trace_context::TRACEPARENT.into(),
                    AMQPValue::LongString(LongString::from(traceparent.as_bytes().to_vec())),
                );
                properties = properties.with_headers(headers);
            }
            let confirm = channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    event.routing_key().into(),
                    // Unroutable (no consumer queue bound yet) comes back as a
                    // failure instead of being dropped by the broker.
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &payload,
                    properties,
                )
                .await
                .map_err(unavailable)?;
            pending.push((event.id, event.routing_key(), confirm));
        }
        for (id, key, confirm) in pending {
            match confirm.await.map_err(unavailable)? {
                Confirmation::Ack(None) | Confirmation::NotRequested => {}
                // With several confirms at once lapin may hand a return to a
                // neighbour's confirm: any return fails the whole batch.
                Confirmation::Ack(Some(_)) => return Err(PublishError::Unroutable(key.to_owned())),
                Confirmation::Nack(_) => return Err(PublishError::Refused(id)),
            }
        }
        Ok(())
    }
}

impl EventPublisher for RabbitPublisher {
    async fn publish(&self, events: &[Event]) -> Result<(), PublishError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut link = self.link.lock().await;
        if link.is_none() {
            *link = Some(self.connect().await?);
        }
        let result = match link.as_ref() {
            // A broken socket can leave confirms pending for ever: bound the wait.
            Some((_, channel)) => {
                tokio::time::timeout(CONFIRM_TIMEOUT, self.publish_on(channel, events))
                    .await
                    .unwrap_or_else(|_| {
                        Err(PublishError::Unavailable(
                            "no publisher confirm in time".into(),
                        ))
                    })
            }
            None => Err(PublishError::Unavailable("no connection".into())),
        };
        if let Err(PublishError::Unroutable(key)) = &result {
            tracing::warn!(routing_key = %key, "no queue bound for an event yet; it stays in the outbox");
            return result;
        }
        if let Err(e) = &result {
            tracing::warn!(error = %e, "publishing failed; reconnecting on the next attempt");
            if let Some((connection, _)) = link.take() {
                // A dead connection may never answer the close.
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(1),
                    connection.close(0, "reconnecting".into()),
                )
                .await;
            }
        }
        result
    }
}

/// Why a message is not an event, without its content: a parse error's text
/// may quote the value it choked on (a personal one, say), so only its
/// category and position go into a dead letter's reason.
pub(crate) fn unreadable_event(error: &serde_json::Error) -> String {
    format!(
        "unreadable event: {:?} error at line {} column {}",
        error.classify(),
        error.line(),
        error.column()
    )
}

#[cfg(test)]
mod tests {
    use provisioning_events::Event;

    #[test]
    fn an_unreadable_events_reason_quotes_none_of_its_values() {
        let body = br#"{"id": "018f0000-0000-7000-8000-000000000000", "seq": "marker-4b2e"}"#;
        let Err(error) = serde_json::from_slice::<Event>(body) else {
            unreachable!("not an event")
        };
        assert!(error.to_string().contains("marker-4b2e"), "{error}");
        let reason = super::unreadable_event(&error);
        assert!(!reason.contains("marker-4b2e"), "{reason}");
        assert!(
            reason.starts_with("unreadable event: Data error at line 1"),
            "{reason}"
        );
    }
}
