//! A test's own corner of the shared RabbitMQ: an events exchange and
//! service queues named with a suffix of the test's own (so tests never see
//! each other's messages), consumers running in the background until
//! stopped, and all of it deleted at the end.

use std::time::Duration;

use lapin::{Connection, ConnectionProperties};
use messaging::EventHandler;
use messaging_rabbitmq::consumer::{self, ConsumerSettings};
use messaging_rabbitmq::topology::{Exchanges, ServiceTopology, declare_service_topology};
use uuid::Uuid;

pub struct TestBroker {
    pub url: String,
    /// `provisioning.test.<suffix>` and its retry, requeue and dead exchanges.
    pub exchanges: Exchanges,
    pub suffix: String,
}

impl TestBroker {
    /// Names for a new test on the broker at `url` (nothing declared yet).
    pub fn new(url: &str) -> TestBroker {
        let suffix = Uuid::new_v4().simple().to_string();
        TestBroker {
            url: url.to_owned(),
            exchanges: Exchanges::for_exchange(&format!("provisioning.test.{suffix}")),
            suffix,
        }
    }

    /// The queue `<service>-<suffix>` bound to `routing_keys`, failed
    /// messages retried after 200 ms.
    pub fn topology(&self, service: &str, routing_keys: &[&str]) -> ServiceTopology {
        ServiceTopology {
            service: format!("{service}-{}", self.suffix),
            routing_keys: routing_keys.iter().map(|k| (*k).to_owned()).collect(),
            retry_delay: Duration::from_millis(200),
        }
    }

    /// A consumer of [`TestBroker::topology`]: 16 messages ahead, dead
    /// after 5 deliveries.
    pub fn consumer_settings(&self, service: &str, routing_keys: &[&str]) -> ConsumerSettings {
        ConsumerSettings {
            url: self.url.clone(),
            exchanges: self.exchanges.clone(),
            topology: self.topology(service, routing_keys),
            prefetch: 16,
            max_attempts: 5,
            health: Default::default(),
        }
    }

    /// Declares the exchanges and `topologies`' queues, before anything is
    /// published so that no event finds the exchange without its queues.
    pub async fn declare(&self, topologies: &[&ServiceTopology]) {
        let connection = Connection::connect(&self.url, ConnectionProperties::default())
            .await
            .expect("RabbitMQ at SCIM_TEST_AMQP_URL is reachable");
        let channel = connection.create_channel().await.expect("channel");
        for topology in topologies {
            declare_service_topology(&channel, &self.exchanges, topology)
                .await
                .expect("topology");
        }
        let _ = connection.close(200, "declared".into()).await;
    }

    /// Deletes `topologies`' queues, the other `queues` and the exchanges:
    /// the shared broker stays clean.
    pub async fn remove(&self, topologies: &[&ServiceTopology], queues: &[&str]) {
        let Ok(connection) = Connection::connect(&self.url, ConnectionProperties::default()).await
        else {
            return;
        };
        if let Ok(channel) = connection.create_channel().await {
            let names = topologies
                .iter()
                .flat_map(|t| t.queues())
                .chain(queues.iter().map(|q| (*q).to_owned()));
            for queue in names {
                let _ = channel
                    .queue_delete(queue.as_str().into(), Default::default())
                    .await;
            }
            let e = &self.exchanges;
            for exchange in [&e.events, &e.retry, &e.requeue, &e.dead] {
                let _ = channel
                    .exchange_delete(exchange.as_str().into(), Default::default())
                    .await;
            }
        }
        let _ = connection.close(200, "test done".into()).await;
    }
}

/// A consumer loop in the background, as a service's own process runs it.
pub struct RunningConsumer {
    pub settings: ConsumerSettings,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningConsumer {
    pub fn spawn<H: EventHandler>(settings: ConsumerSettings, handler: H) -> RunningConsumer {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(consumer::run(settings.clone(), handler, async move {
            let _ = stopped.await;
        }));
        RunningConsumer {
            settings,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Asks the loop to stop and waits for it (10 s at the most).
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// Ends the loop wherever it is, as a killed process's would end: no
    /// batch finished, its connection dropped, what it had not acked handed
    /// back by the broker to the other consumers of the queue.
    pub async fn abort(&mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}
