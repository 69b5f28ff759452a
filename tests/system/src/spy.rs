//! A queue of the test's own bound to every routing key of the events
//! exchange: it receives one copy of each publish, so an event id seen
//! twice is an event the relays published twice (a consumer's redelivery
//! does not show here).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

/// One message as the spy received it.
#[derive(Debug, Clone)]
pub struct Published {
    pub event_id: String,
    pub routing_key: String,
    pub received: Instant,
}

pub struct PublishSpy {
    received: Arc<Mutex<Vec<Published>>>,
    connection: Connection,
}

impl PublishSpy {
    /// An exclusive queue (gone with the spy's connection) bound with `#` to
    /// `exchange`, which must exist.
    pub async fn start(amqp_url: &str, exchange: &str) -> PublishSpy {
        let connection = Connection::connect(amqp_url, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let name = queue.name().as_str().to_owned();
        channel
            .queue_bind(
                name.as_str().into(),
                exchange.into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let mut consumer = channel
            .basic_consume(
                name.as_str().into(),
                "publish-spy".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let event_id = delivery
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|id| id.as_str().to_owned())
                    .unwrap_or_default();
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Published {
                        event_id,
                        routing_key: delivery.routing_key.as_str().to_owned(),
                        received: Instant::now(),
                    });
            }
        });
        PublishSpy {
            received,
            connection,
        }
    }

    pub fn received(&self) -> Vec<Published> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub async fn close(self) {
        let _ = self.connection.close(200, "done".into()).await;
    }
}
