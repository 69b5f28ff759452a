//! The consumer loop against the machine's RabbitMQ (`SCIM_TEST_AMQP_URL`):
//! acks after the handler, retries through the delayed path, keeps aggregate
//! order, sets poison and unreadable messages aside in `<service>.dead` with
//! their error while the messages behind them go on, and finishes the message
//! in flight on shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lapin::options::{BasicGetOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::types::AMQPValue;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use messaging::{EventHandler, EventPublisher, HandleError, Handled};
use messaging_rabbitmq::RabbitPublisher;
use messaging_rabbitmq::consumer::{self, ConsumerSettings};
use messaging_rabbitmq::topology::{Exchanges, ServiceTopology, declare_service_topology};
use provisioning_events::{Event, EventBody};
use test_support::consumers::{MemoryInbox, renamed};
use uuid::Uuid;

/// An inbox in memory; events named "poison" always fail; events named
/// "slow" take 300 ms.
#[derive(Clone, Default)]
struct Recorder {
    inbox: MemoryInbox,
    started: Arc<Mutex<usize>>,
    poison_attempts: Arc<Mutex<Vec<Instant>>>,
    /// Batches fail whole when one event fails, as a transaction would.
    transactional: bool,
    batches: Arc<Mutex<Vec<usize>>>,
}

impl EventHandler for Recorder {
    async fn handle(&self, event: &Event) -> Result<Handled, HandleError> {
        *self.started.lock().unwrap() += 1;
        if let EventBody::GroupRenamed { display_name } = &event.body {
            match display_name.as_str() {
                "poison" => {
                    self.poison_attempts.lock().unwrap().push(Instant::now());
                    return Err(HandleError::Failed("poison cannot be applied".into()));
                }
                "slow" => tokio::time::sleep(Duration::from_millis(300)).await,
                _ => {}
            }
        }
        self.inbox.apply(event)
    }

    async fn handle_batch(&self, events: &[Event]) -> Vec<Result<Handled, HandleError>> {
        self.batches.lock().unwrap().push(events.len());
        let poisoned = events.iter().any(
            |e| matches!(&e.body, EventBody::GroupRenamed { display_name } if display_name == "poison"),
        );
        if self.transactional && poisoned {
            return events
                .iter()
                .map(|_| Err(HandleError::Failed("the batch rolled back".into())))
                .collect();
        }
        let mut outcomes = Vec::new();
        for event in events {
            outcomes.push(self.handle(event).await);
        }
        outcomes
    }
}

struct Fixture {
    url: String,
    settings: ConsumerSettings,
    channel: Channel,
    _connection: Connection,
}

impl Fixture {
    async fn new() -> Option<Fixture> {
        let url = test_support::amqp_url()?;
        let suffix = Uuid::new_v4().simple().to_string();
        let settings = ConsumerSettings {
            url: url.clone(),
            exchanges: Exchanges::for_exchange(&format!("provisioning.test.{suffix}")),
            topology: ServiceTopology {
                service: format!("consumer-test-{suffix}"),
                routing_keys: vec!["group.*".into()],
                retry_delay: Duration::from_millis(100),
            },
            prefetch: 8,
            max_attempts: 3,
            health: Default::default(),
        };
        let connection = Connection::connect(&url, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        declare_service_topology(&channel, &settings.exchanges, &settings.topology)
            .await
            .unwrap();
        Some(Fixture {
            url,
            settings,
            channel,
            _connection: connection,
        })
    }

    fn publisher(&self) -> RabbitPublisher {
        RabbitPublisher::new(&self.url, &self.settings.exchanges.events)
    }

    fn start(
        &self,
        handler: Recorder,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(consumer::run(self.settings.clone(), handler, async move {
            let _ = stopped.await;
        }));
        (stop, task)
    }

    async fn dead(&self) -> Vec<lapin::message::Delivery> {
        let mut letters = Vec::new();
        while let Some(message) = self
            .channel
            .basic_get(
                self.settings.topology.dead_queue().as_str().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap()
        {
            letters.push(message.delivery);
        }
        letters
    }

    async fn cleanup(self) {
        let t = &self.settings.topology;
        for queue in t.queues() {
            let _ = self
                .channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let e = &self.settings.exchanges;
        for exchange in [&e.events, &e.retry, &e.requeue, &e.dead] {
            let _ = self
                .channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await;
        }
    }
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn header_text(delivery: &lapin::message::Delivery, name: &str) -> Option<String> {
    match delivery.properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn a_poison_event_is_set_aside_and_the_rest_go_on() {
    let Some(fixture) = Fixture::new().await else {
        return;
    };
    let recorder = Recorder::default();
    let (stop, task) = fixture.start(recorder.clone());
    let events = vec![
        renamed("g1", 1, "poison"),
        renamed("g2", 1, "fine"),
        renamed("g2", 2, "still fine"),
    ];
    fixture.publisher().publish(&events).await.unwrap();
    // A message that is not an event at all.
    fixture
        .channel
        .basic_publish(
            fixture.settings.exchanges.events.as_str().into(),
            "group.renamed".into(),
            Default::default(),
            b"{not json",
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    wait_until("the good events", Duration::from_secs(10), || {
        recorder.inbox.applied().len() == 2
    })
    .await;
    let mut letters = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while letters.len() < 2 && Instant::now() < deadline {
        letters.extend(fixture.dead().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(letters.len(), 2, "poison and unreadable in the dead queue");
    let poison = letters
        .iter()
        .find(|l| l.data != b"{not json")
        .expect("the poison event");
    let event: Event = serde_json::from_slice(&poison.data).unwrap();
    assert_eq!(event.id, events[0].id);
    assert_eq!(
        header_text(poison, "x-error").as_deref(),
        Some("poison cannot be applied")
    );
    assert_eq!(
        header_text(poison, "x-consumer").as_deref(),
        Some(fixture.settings.topology.service.as_str())
    );
    assert!(matches!(
        poison
            .properties
            .headers()
            .as_ref()
            .unwrap()
            .inner()
            .get("x-attempts"),
        Some(AMQPValue::LongLongInt(3))
    ));
    let unreadable = letters.iter().find(|l| l.data == b"{not json").unwrap();
    assert!(
        header_text(unreadable, "x-error")
            .unwrap()
            .contains("unreadable event")
    );
    let applied: Vec<Uuid> = recorder.inbox.applied().iter().map(|e| e.id).collect();
    assert_eq!(applied, vec![events[1].id, events[2].id]);

    stop.send(()).unwrap();
    task.await.unwrap();
    fixture.cleanup().await;
}

#[tokio::test]
async fn an_early_version_waits_for_the_one_before_it() {
    let Some(fixture) = Fixture::new().await else {
        return;
    };
    let recorder = Recorder::default();
    let (stop, task) = fixture.start(recorder.clone());
    let first = renamed("g1", 1, "a");
    let second = renamed("g1", 2, "b");
    // Version 2 is published (and delivered) first.
    fixture
        .publisher()
        .publish(std::slice::from_ref(&second))
        .await
        .unwrap();
    wait_until("the first attempt", Duration::from_secs(5), || {
        *recorder.started.lock().unwrap() >= 1
    })
    .await;
    fixture
        .publisher()
        .publish(std::slice::from_ref(&first))
        .await
        .unwrap();
    wait_until("both versions", Duration::from_secs(10), || {
        recorder.inbox.applied().len() == 2
    })
    .await;
    let applied: Vec<i64> = recorder
        .inbox
        .applied()
        .iter()
        .map(|e| e.aggregate.version)
        .collect();
    assert_eq!(applied, vec![1, 2]);
    // The same messages again are duplicates: acked, nothing applied.
    fixture.publisher().publish(&[first, second]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(recorder.inbox.applied().len(), 2);
    assert!(fixture.dead().await.is_empty());

    stop.send(()).unwrap();
    task.await.unwrap();
    fixture.cleanup().await;
}

#[tokio::test]
async fn shutdown_finishes_the_batch_in_flight() {
    let Some(fixture) = Fixture::new().await else {
        return;
    };
    let recorder = Recorder::default();
    let (stop, task) = fixture.start(recorder.clone());
    let slow = renamed("g1", 1, "slow");
    let next = renamed("g1", 2, "after");
    fixture
        .publisher()
        .publish(std::slice::from_ref(&slow))
        .await
        .unwrap();
    wait_until("the slow event to start", Duration::from_secs(5), || {
        *recorder.started.lock().unwrap() >= 1
    })
    .await;
    // Delivered while the batch of the slow one is handled: not part of it.
    fixture
        .publisher()
        .publish(std::slice::from_ref(&next))
        .await
        .unwrap();
    stop.send(()).unwrap();
    task.await.unwrap();
    let applied: Vec<Uuid> = recorder.inbox.applied().iter().map(|e| e.id).collect();
    assert_eq!(
        applied,
        vec![slow.id],
        "the batch in flight finished, no more"
    );

    // The next one was not lost: a new consumer gets it.
    let (stop, task) = fixture.start(recorder.clone());
    wait_until("the next event", Duration::from_secs(10), || {
        recorder.inbox.applied().len() == 2
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap();
    fixture.cleanup().await;
}

#[tokio::test]
async fn an_event_no_queue_is_bound_for_is_not_confirmed() {
    let Some(fixture) = Fixture::new().await else {
        return;
    };
    // The fixture's queue takes group.*: a user event has nowhere to go.
    let publisher = fixture.publisher();
    let mut lonely = renamed("g1", 1, "x");
    lonely.body = EventBody::UserDeleted {};
    let outcome = publisher.publish(std::slice::from_ref(&lonely)).await;
    assert!(
        matches!(outcome, Err(messaging::PublishError::Unroutable(ref key)) if key == "user.deleted"),
        "{outcome:?}"
    );
    // A routable one still goes through on the same publisher.
    publisher
        .publish(&[renamed("g1", 1, "y")])
        .await
        .expect("routable events are confirmed");
    fixture.cleanup().await;
}

#[tokio::test]
async fn a_poison_event_in_a_batch_does_not_take_its_neighbours_with_it() {
    let Some(fixture) = Fixture::new().await else {
        return;
    };
    let recorder = Recorder {
        transactional: true,
        ..Recorder::default()
    };
    // The queue exists once a consumer declared it; the events then wait in
    // it together, and the next consumer gets them in one prefetch window.
    let (stop, task) = fixture.start(recorder.clone());
    stop.send(()).unwrap();
    task.await.unwrap();
    let events = vec![
        renamed("g1", 1, "a"),
        renamed("g2", 1, "poison"),
        renamed("g3", 1, "b"),
        renamed("g1", 2, "c"),
    ];
    fixture.publisher().publish(&events).await.unwrap();
    let (stop, task) = fixture.start(recorder.clone());
    wait_until("the poison event dead", Duration::from_secs(20), || {
        recorder.poison_attempts.lock().unwrap().len() >= 3
    })
    .await;
    wait_until("the neighbours applied", Duration::from_secs(5), || {
        recorder.inbox.applied().len() == 3
    })
    .await;
    let applied: Vec<Uuid> = recorder.inbox.applied().iter().map(|e| e.id).collect();
    assert_eq!(applied, vec![events[0].id, events[2].id, events[3].id]);
    eprintln!("batch sizes: {:?}", recorder.batches.lock().unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dead = fixture.dead().await;
    assert_eq!(dead.len(), 1, "only the poison event is dead");
    stop.send(()).unwrap();
    task.await.unwrap();
    fixture.cleanup().await;
}
