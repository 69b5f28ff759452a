//! A service's dead queue (`<service>.dead`) as operators handle it: read
//! without taking (messages are fetched unacknowledged, then all returned to
//! the queue), and one letter removed once it has been applied.
//!
//! Each call opens its own connection: this is an operator's tool, not a hot
//! path, and it must never disturb the consumer's channels.

use std::time::Duration;

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::AMQPValue;
use lapin::{Channel, Connection, ConnectionProperties};
use messaging::{BoxFuture, DeadLetter, DeadLetterBox, PublishError};
use provisioning_events::Event;
use uuid::Uuid;

/// Most messages looked at by one call.
const SCAN_LIMIT: usize = 10_000;
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct RabbitDeadLetters {
    url: String,
    queue: String,
}

impl RabbitDeadLetters {
    /// The dead queue `queue` (e.g. `identity.dead`) on the broker at `url`.
    pub fn new(url: impl Into<String>, queue: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            queue: queue.into(),
        }
    }

    async fn open(&self) -> Result<(Connection, Channel), PublishError> {
        let unavailable = |e: lapin::Error| PublishError::Unavailable(e.to_string());
        let connection = Connection::connect(&self.url, ConnectionProperties::default())
            .await
            .map_err(unavailable)?;
        let channel = connection.create_channel().await.map_err(unavailable)?;
        Ok((connection, channel))
    }

    /// Fetches up to `limit` messages unacknowledged, hands each to `keep`
    /// (true: ack it, taking it off the queue), then returns the others to
    /// the queue.
    async fn scan(
        &self,
        limit: usize,
        mut take: impl FnMut(&Delivery) -> bool,
    ) -> Result<(), PublishError> {
        let unavailable = |e: lapin::Error| PublishError::Unavailable(e.to_string());
        let (connection, channel) = self.open().await?;
        let mut last_returned = None;
        let mut outcome = Ok(());
        for _ in 0..limit {
            let got = channel
                .basic_get(
                    self.queue.as_str().into(),
                    BasicGetOptions { no_ack: false },
                )
                .await;
            let message = match got {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(e) => {
                    outcome = Err(unavailable(e));
                    break;
                }
            };
            let delivery = message.delivery;
            if take(&delivery) {
                if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                    outcome = Err(unavailable(e));
                    break;
                }
            } else {
                last_returned = Some(delivery.delivery_tag);
            }
        }
        if let Some(tag) = last_returned {
            // Every message still unacknowledged on this channel goes back.
            let back = BasicNackOptions {
                multiple: true,
                requeue: true,
            };
            if let Err(e) = channel.basic_nack(tag, back).await {
                outcome = outcome.and(Err(unavailable(e)));
            }
        }
        let _ = channel.close(200, "done".into()).await;
        let _ = connection.close(200, "done".into()).await;
        outcome
    }
}

fn header_text(delivery: &Delivery, name: &str) -> Option<String> {
    match delivery.properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(value) => String::from_utf8(value.as_bytes().to_vec()).ok(),
        _ => None,
    }
}

fn header_count(delivery: &Delivery, name: &str) -> u32 {
    match delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(name).cloned())
    {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(n).unwrap_or(0),
        Some(AMQPValue::LongInt(n)) => u32::try_from(n).unwrap_or(0),
        _ => 0,
    }
}

fn letter(delivery: &Delivery) -> Option<DeadLetter> {
    let event: Event = serde_json::from_slice(&delivery.data).ok()?;
    Some(DeadLetter {
        consumer: header_text(delivery, "x-consumer").unwrap_or_default(),
        error: header_text(delivery, "x-error").unwrap_or_default(),
        attempts: header_count(delivery, "x-attempts"),
        event,
    })
}

impl DeadLetterBox for RabbitDeadLetters {
    fn list(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadLetter>, PublishError>> {
        Box::pin(async move {
            let mut letters = Vec::new();
            let scan = self.scan(limit.min(SCAN_LIMIT), |delivery| {
                // An unreadable message stays where it is; it is not listed.
                letters.extend(letter(delivery));
                false
            });
            tokio::time::timeout(TIMEOUT, scan).await.map_err(|_| {
                PublishError::Unavailable("the broker did not answer in time".into())
            })??;
            Ok(letters)
        })
    }

    fn remove(&self, event_id: Uuid) -> BoxFuture<'_, Result<bool, PublishError>> {
        Box::pin(async move {
            let mut removed = false;
            let scan = self.scan(SCAN_LIMIT, |delivery| {
                let matches =
                    !removed && letter(delivery).is_some_and(|letter| letter.event.id == event_id);
                removed |= matches;
                matches
            });
            tokio::time::timeout(TIMEOUT, scan).await.map_err(|_| {
                PublishError::Unavailable("the broker did not answer in time".into())
            })??;
            Ok(removed)
        })
    }
}
