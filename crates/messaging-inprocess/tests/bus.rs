//! The in-process bus: routing by topic, ordered delivery, retries, dead
//! letters, and a failed dead-letter write surfacing to the relay.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use messaging::{
    DeadLetter, DeadLetterSink, EventHandler, EventPublisher, HandleError, Handled, PublishError,
};
use messaging_inprocess::{InProcessBus, RetryPolicy};
use provisioning_events::{AggregateKind, Event, EventBody};
use test_support::consumers::{MemoryInbox, event, renamed};
use uuid::Uuid;

/// A consumer with an inbox in memory; fails every event whose name is in
/// `poison`.
#[derive(Clone, Default)]
struct Recorder {
    inbox: MemoryInbox,
    calls: Arc<Mutex<usize>>,
    poison: HashSet<String>,
}

impl EventHandler for Recorder {
    async fn handle(&self, event: &Event) -> Result<Handled, HandleError> {
        *self.calls.lock().unwrap() += 1;
        if let EventBody::GroupRenamed { display_name } = &event.body
            && self.poison.contains(display_name)
        {
            return Err(HandleError::Failed(format!("cannot apply {display_name}")));
        }
        self.inbox.apply(event)
    }
}

#[derive(Clone, Default)]
struct MemoryDeadLetters {
    letters: Arc<Mutex<Vec<DeadLetter>>>,
    broken: bool,
}

impl DeadLetterSink for MemoryDeadLetters {
    async fn record(&self, letter: DeadLetter) -> Result<(), PublishError> {
        if self.broken {
            return Err(PublishError::Unavailable("dead letter store down".into()));
        }
        self.letters.lock().unwrap().push(letter);
        Ok(())
    }
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        first_pause: Duration::from_millis(1),
    }
}

#[tokio::test]
async fn routes_by_topic_and_delivers_in_order() {
    let teams = Recorder::default();
    let identity = Recorder::default();
    let bus = InProcessBus::new(MemoryDeadLetters::default(), quick_retry())
        .subscribe("team", &["group.*", "user.*"], teams.clone())
        .subscribe("identity", &["user.*"], identity.clone());
    let events = vec![
        renamed("g1", 1, "a"),
        event(AggregateKind::User, "u1", 1, EventBody::UserDeleted {}),
        renamed("g1", 2, "b"),
    ];
    bus.publish(&events).await.unwrap();
    let team_ids: Vec<Uuid> = teams.inbox.applied().iter().map(|e| e.id).collect();
    assert_eq!(team_ids, events.iter().map(|e| e.id).collect::<Vec<_>>());
    let identity_ids: Vec<Uuid> = identity.inbox.applied().iter().map(|e| e.id).collect();
    assert_eq!(identity_ids, vec![events[1].id]);

    // The relay publishes the batch again after a crash: nothing doubles.
    bus.publish(&events).await.unwrap();
    assert_eq!(teams.inbox.applied().len(), 3);
    assert_eq!(identity.inbox.applied().len(), 1);
}

#[tokio::test]
async fn a_poison_event_becomes_a_dead_letter_and_the_rest_go_on() {
    let dead = MemoryDeadLetters::default();
    let teams = Recorder {
        poison: HashSet::from(["poison".to_owned()]),
        ..Recorder::default()
    };
    let bus = InProcessBus::new(dead.clone(), quick_retry()).subscribe(
        "team",
        &["group.*"],
        teams.clone(),
    );
    let events = vec![
        renamed("g1", 1, "poison"),
        renamed("g2", 1, "fine"),
        renamed("g2", 2, "still fine"),
    ];
    bus.publish(&events).await.unwrap();

    let letters = dead.letters.lock().unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].consumer, "team");
    assert_eq!(letters[0].event.id, events[0].id);
    assert_eq!(letters[0].attempts, 3);
    assert!(letters[0].error.contains("cannot apply poison"));
    let applied: Vec<Uuid> = teams.inbox.applied().iter().map(|e| e.id).collect();
    assert_eq!(applied, vec![events[1].id, events[2].id]);
}

#[tokio::test]
async fn a_version_gap_is_never_applied_out_of_order() {
    let dead = MemoryDeadLetters::default();
    let teams = Recorder::default();
    let bus = InProcessBus::new(dead.clone(), quick_retry()).subscribe(
        "team",
        &["group.*"],
        teams.clone(),
    );
    // Version 2 without version 1: retried, then set aside, never applied.
    bus.publish(&[renamed("g1", 2, "b")]).await.unwrap();
    assert!(teams.inbox.applied().is_empty());
    let letters = dead.letters.lock().unwrap();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].error.contains("before version 1"),
        "{}",
        letters[0].error
    );
    assert_eq!(*teams.calls.lock().unwrap(), 3);
}

#[tokio::test]
async fn when_a_dead_letter_cannot_be_kept_the_relay_is_told() {
    let teams = Recorder {
        poison: HashSet::from(["poison".to_owned()]),
        ..Recorder::default()
    };
    let dead = MemoryDeadLetters {
        broken: true,
        ..MemoryDeadLetters::default()
    };
    let bus = InProcessBus::new(dead, quick_retry()).subscribe("team", &["group.*"], teams);
    let outcome = bus.publish(&[renamed("g1", 1, "poison")]).await;
    assert!(matches!(outcome, Err(PublishError::Unavailable(_))));
}

/// A consumer that applies a batch in one go (as the services' batch path
/// does in one transaction) and can be made to fail its first batch whole.
#[derive(Clone, Default)]
struct BatchingRecorder {
    inbox: MemoryInbox,
    batches: Arc<Mutex<Vec<usize>>>,
    fail_first_batch: bool,
}

impl EventHandler for BatchingRecorder {
    async fn handle(&self, event: &Event) -> Result<Handled, HandleError> {
        self.inbox.apply(event)
    }

    async fn handle_batch(&self, events: &[Event]) -> Vec<Result<Handled, HandleError>> {
        let first = {
            let mut batches = self.batches.lock().unwrap();
            batches.push(events.len());
            batches.len() == 1
        };
        if first && self.fail_first_batch {
            return events
                .iter()
                .map(|_| Err(HandleError::Failed("database unavailable".into())))
                .collect();
        }
        events.iter().map(|e| self.inbox.apply(e)).collect()
    }
}

#[tokio::test]
async fn each_subscriber_gets_its_events_as_one_batch() {
    let teams = BatchingRecorder::default();
    let identity = BatchingRecorder::default();
    let bus = InProcessBus::new(MemoryDeadLetters::default(), quick_retry())
        .subscribe("team", &["group.*"], teams.clone())
        .subscribe("identity", &["user.*"], identity.clone());
    let events = vec![
        renamed("g1", 1, "a"),
        event(AggregateKind::User, "u1", 1, EventBody::UserDeleted {}),
        renamed("g1", 2, "b"),
        renamed("g2", 1, "c"),
    ];
    bus.publish(&events).await.unwrap();
    assert_eq!(*teams.batches.lock().unwrap(), vec![3]);
    assert_eq!(*identity.batches.lock().unwrap(), vec![1]);
    let team_ids: Vec<Uuid> = teams.inbox.applied().iter().map(|e| e.id).collect();
    assert_eq!(team_ids, vec![events[0].id, events[2].id, events[3].id]);
}

#[tokio::test]
async fn a_failed_batch_is_delivered_again_event_by_event_in_order() {
    let dead = MemoryDeadLetters::default();
    let teams = BatchingRecorder {
        fail_first_batch: true,
        ..BatchingRecorder::default()
    };
    let bus = InProcessBus::new(dead.clone(), quick_retry()).subscribe(
        "team",
        &["group.*"],
        teams.clone(),
    );
    let events = vec![renamed("g1", 1, "a"), renamed("g1", 2, "b")];
    bus.publish(&events).await.unwrap();
    let applied: Vec<Uuid> = teams.inbox.applied().iter().map(|e| e.id).collect();
    assert_eq!(applied, vec![events[0].id, events[1].id]);
    assert!(dead.letters.lock().unwrap().is_empty());
}
