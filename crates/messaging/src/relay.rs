//! The outbox relay: publishes outbox entries (the gateway's journal,
//! licensing's outbox) in `seq` order and marks them published only after the
//! bus took them. A crash between the two
//! publishes the batch again on restart; consumers are idempotent on the event
//! id, so that costs a duplicate, never a loss.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use provisioning_events::Event;

use crate::{EventPublisher, PublishError};

#[derive(Debug, thiserror::Error)]
#[error("the outbox is unavailable: {0}")]
pub struct OutboxError(pub String);

/// A transactional outbox as the relay sees it: entries not yet confirmed
/// by the bus.
pub trait Outbox: Send + Sync + 'static {
    /// Unpublished entries in `seq` order, at most `limit`. Every unpublished
    /// entry, not "everything above the last seq sent": a lower seq can commit
    /// after a higher one.
    fn unpublished(
        &self,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<Event>, OutboxError>> + Send;

    fn mark_published(&self, seqs: &[i64]) -> impl Future<Output = Result<(), OutboxError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

pub struct Relay<O, P> {
    outbox: O,
    publisher: P,
    batch_size: u64,
}

impl<O: Outbox, P: EventPublisher> Relay<O, P> {
    pub fn new(outbox: O, publisher: P, batch_size: u64) -> Self {
        Self {
            outbox,
            publisher,
            batch_size: batch_size.max(1),
        }
    }

    /// Publishes one batch; returns how many entries it published (0: drained).
    pub async fn publish_batch(&self) -> Result<usize, RelayError> {
        let mut batch = self.outbox.unpublished(self.batch_size).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        // One `publish` span per event, in the trace of the request that
        // caused it; consumers continue from this span.
        let _spans: Vec<tracing::Span> = batch.iter_mut().map(publish_span).collect();
        self.publisher.publish(&batch).await?;
        let seqs: Vec<i64> = batch.iter().map(|e| e.seq).collect();
        self.outbox.mark_published(&seqs).await?;
        Ok(batch.len())
    }

    /// Publishes until the journal is drained.
    pub async fn drain(&self) -> Result<usize, RelayError> {
        let mut total = 0;
        loop {
            match self.publish_batch().await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }
}

fn publish_span(event: &mut Event) -> tracing::Span {
    let span = tracing::info_span!(
        "publish",
        event_id = %event.id,
        event_type = event.routing_key(),
        aggregate_id = %event.aggregate.id,
        version = event.aggregate.version,
        seq = event.seq,
    );
    trace_context::continue_trace(&span, event.traceparent.as_deref());
    if let Some(traceparent) = trace_context::traceparent_of(&span) {
        event.traceparent = Some(traceparent);
    }
    span
}

/// A nudge from the outbox's writer to the relay: "entries were committed".
/// A relay that shares the process with the writer publishes them at once
/// rather than at its next poll; writers elsewhere (other gateway replicas)
/// are still picked up by the poll. A nudge given while the relay is busy
/// is kept for its next wait.
#[derive(Debug, Clone, Default)]
pub struct Wakeup(Arc<tokio::sync::Notify>);

impl Wakeup {
    pub fn notify(&self) {
        self.0.notify_one();
    }

    async fn wait(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.0.notified()).await;
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Pause when the journal is drained.
    pub idle_poll: Duration,
    /// Longest pause between attempts while the broker or database is down.
    pub max_backoff: Duration,
}

/// The right to publish an outbox that several processes share (gateway
/// replicas on one database): at most one holder at a time, and a holder
/// that dies loses it without having to say so.
pub trait RelayLease: Send + Sync + 'static {
    /// Whether other processes compete for it (acquiring and losing it is
    /// worth a log line).
    const SHARED: bool = true;

    /// Takes the lease if no one holds it; `true`: this process holds it now.
    fn try_acquire(&self) -> impl Future<Output = Result<bool, OutboxError>> + Send;

    /// Whether this process still holds the lease it acquired.
    fn still_held(&self) -> impl Future<Output = Result<bool, OutboxError>> + Send;
}

/// The lease of an outbox only one process reads (a SQLite file: the
/// embedded process): always held.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unshared;

impl RelayLease for Unshared {
    const SHARED: bool = false;

    async fn try_acquire(&self) -> Result<bool, OutboxError> {
        Ok(true)
    }

    async fn still_held(&self) -> Result<bool, OutboxError> {
        Ok(true)
    }
}

/// What this process's relay is doing, for readiness and status reports:
/// whether it runs, whether it holds its lease (publishes), and the error
/// of its last attempt while its attempts fail. Clones share the state.
#[derive(Debug, Clone, Default)]
pub struct RelayStatus(Arc<RelayState>);

#[derive(Debug, Default)]
struct RelayState {
    running: AtomicBool,
    held: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl RelayStatus {
    /// Whether the relay's loop runs (from its start until its stop).
    pub fn running(&self) -> bool {
        self.0.running.load(Ordering::Relaxed)
    }

    /// Whether the relay holds its outbox's lease: it is the one publishing.
    pub fn held(&self) -> bool {
        self.0.held.load(Ordering::Relaxed)
    }

    /// Why its last attempt to publish (or to check its lease) failed, while
    /// it has not succeeded since; None while it works.
    pub fn failure(&self) -> Option<String> {
        self.0
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_running(&self, running: bool) {
        self.0.running.store(running, Ordering::Relaxed);
    }

    fn set_held(&self, held: bool) {
        self.0.held.store(held, Ordering::Relaxed);
    }

    fn set_failure(&self, failure: Option<String>) {
        *self
            .0
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = failure;
    }
}

/// How a relay that shares its outbox waits for the lease.
#[derive(Debug, Clone)]
pub struct Leasing<L> {
    pub lease: L,
    /// Pause between attempts to acquire the lease while another holds it.
    pub retry: Duration,
    pub status: RelayStatus,
}

/// Drives a relay until `shutdown` resolves: drains the outbox, idles when
/// it is empty until `wakeup` or the next poll, backs off while the bus or
/// the database is down. A batch being published when the stop comes is
/// finished (published and marked) first; waits end at once.
pub async fn run<O: Outbox, P: EventPublisher>(
    relay: Relay<O, P>,
    pacing: Pacing,
    wakeup: Wakeup,
    shutdown: impl Future<Output = ()>,
) {
    let leasing = Leasing {
        lease: Unshared,
        retry: pacing.idle_poll,
        status: RelayStatus::default(),
    };
    run_leased(relay, pacing, wakeup, leasing, shutdown).await
}

/// [`run`] for an outbox several processes share: publishes only while it
/// holds `leasing.lease`, confirming it before each batch; without it,
/// tries to acquire it every `leasing.retry`.
pub async fn run_leased<O: Outbox, P: EventPublisher, L: RelayLease>(
    relay: Relay<O, P>,
    pacing: Pacing,
    wakeup: Wakeup,
    leasing: Leasing<L>,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let first_backoff = Duration::from_millis(100);
    let mut backoff = first_backoff;
    let mut held = false;
    leasing.status.set_running(true);
    // Whatever ends the loop (its stop, a panic), the status says so.
    let _stopped = StoppedOnDrop(leasing.status.clone());
    loop {
        let holding = if held {
            leasing.lease.still_held().await
        } else {
            leasing.lease.try_acquire().await
        };
        let holding = match holding {
            Ok(holding) => {
                if !holding {
                    leasing.status.set_failure(None);
                }
                holding
            }
            Err(e) => {
                tracing::warn!(error = %e, "relay lease check failed");
                leasing.status.set_failure(Some(e.to_string()));
                false
            }
        };
        if holding != held {
            held = holding;
            leasing.status.set_held(held);
            if L::SHARED && held {
                tracing::info!("relay lease acquired: this process publishes the outbox");
            } else if L::SHARED {
                tracing::warn!("relay lease lost: this process stops publishing the outbox");
            }
        }
        if !held {
            tokio::select! {
                biased;
                () = shutdown.as_mut() => break,
                () = tokio::time::sleep(leasing.retry) => continue,
            }
        }
        let (idle, retry_in) = match relay.publish_batch().await {
            Ok(0) => {
                leasing.status.set_failure(None);
                (true, None)
            }
            Ok(_) => {
                leasing.status.set_failure(None);
                backoff = first_backoff;
                (false, None)
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "relay attempt failed");
                leasing.status.set_failure(Some(e.to_string()));
                let retry_in = backoff;
                backoff = (backoff * 2).min(pacing.max_backoff);
                (false, Some(retry_in))
            }
        };
        let pause = async {
            if idle {
                wakeup.wait(pacing.idle_poll).await;
            } else if let Some(retry_in) = retry_in {
                tokio::time::sleep(retry_in).await;
            }
        };
        tokio::select! {
            biased;
            () = shutdown.as_mut() => break,
            () = pause => {}
        }
    }
}

/// Marks a relay's status stopped when its loop ends.
struct StoppedOnDrop(RelayStatus);

impl Drop for StoppedOnDrop {
    fn drop(&mut self) {
        self.0.set_held(false);
        self.0.set_running(false);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chrono::Utc;
    use provisioning_events::{Aggregate, AggregateKind, EventBody, SCHEMA_VERSION};
    use uuid::Uuid;

    use super::*;

    fn event(seq: i64) -> Event {
        Event {
            id: Uuid::now_v7(),
            seq,
            schema_version: SCHEMA_VERSION,
            org_id: Uuid::nil(),
            workspace_id: Uuid::nil(),
            aggregate: Aggregate {
                kind: AggregateKind::User,
                id: format!("u{seq}"),
                version: 1,
            },
            occurred_at: Utc::now(),
            traceparent: None,
            body: EventBody::UserDeleted {},
        }
    }

    /// A journal in memory: entries with a published flag.
    #[derive(Clone, Default)]
    struct MemoryJournal(Arc<Mutex<Vec<(Event, bool)>>>);

    impl Outbox for MemoryJournal {
        async fn unpublished(&self, limit: u64) -> Result<Vec<Event>, OutboxError> {
            let mut entries: Vec<Event> = self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, p)| !p)
                .map(|(e, _)| e.clone())
                .collect();
            entries.sort_by_key(|e| e.seq);
            entries.truncate(limit as usize);
            Ok(entries)
        }
        async fn mark_published(&self, seqs: &[i64]) -> Result<(), OutboxError> {
            for (e, published) in self.0.lock().unwrap().iter_mut() {
                if seqs.contains(&e.seq) {
                    *published = true;
                }
            }
            Ok(())
        }
    }

    #[derive(Clone, Default)]
    struct RecordingPublisher(Arc<Mutex<Vec<i64>>>);

    impl EventPublisher for RecordingPublisher {
        async fn publish(&self, events: &[Event]) -> Result<(), PublishError> {
            self.0.lock().unwrap().extend(events.iter().map(|e| e.seq));
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_late_commit_below_the_last_published_seq_is_still_published() {
        let journal = MemoryJournal::default();
        let published = RecordingPublisher::default();
        let relay = Relay::new(journal.clone(), published.clone(), 10);
        // seq 2 committed and was published before seq 1's transaction committed.
        journal.0.lock().unwrap().push((event(2), false));
        relay.drain().await.unwrap();
        journal.0.lock().unwrap().push((event(1), false));
        journal.0.lock().unwrap().push((event(3), false));
        relay.drain().await.unwrap();
        assert_eq!(*published.0.lock().unwrap(), vec![2, 1, 3]);
        assert!(journal.0.lock().unwrap().iter().all(|(_, p)| *p));
    }

    /// A publisher whose bus is down: every attempt fails.
    struct DownPublisher;

    impl EventPublisher for DownPublisher {
        async fn publish(&self, _: &[Event]) -> Result<(), PublishError> {
            Err(PublishError::Unavailable("the bus is down".into()))
        }
    }

    /// A lease in memory shared by several relays: the holder's number.
    #[derive(Clone)]
    struct MemoryLease {
        holder: Arc<Mutex<Option<u32>>>,
        me: u32,
    }

    impl RelayLease for MemoryLease {
        async fn try_acquire(&self) -> Result<bool, OutboxError> {
            let mut holder = self.holder.lock().unwrap();
            Ok(*holder.get_or_insert(self.me) == self.me)
        }
        async fn still_held(&self) -> Result<bool, OutboxError> {
            Ok(*self.holder.lock().unwrap() == Some(self.me))
        }
    }

    #[tokio::test]
    async fn only_the_lease_holder_publishes_and_another_takes_over_when_it_is_lost() {
        let journal = MemoryJournal::default();
        let published = RecordingPublisher::default();
        let holder = Arc::new(Mutex::new(None));
        let pacing = Pacing {
            idle_poll: Duration::from_millis(5),
            max_backoff: Duration::from_millis(5),
        };
        let mut statuses = Vec::new();
        let mut stops = Vec::new();
        for me in [1, 2] {
            let leasing = Leasing {
                lease: MemoryLease {
                    holder: holder.clone(),
                    me,
                },
                retry: Duration::from_millis(5),
                status: RelayStatus::default(),
            };
            statuses.push(leasing.status.clone());
            let relay = Relay::new(journal.clone(), published.clone(), 2);
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            stops.push(stop);
            tokio::spawn(run_leased(
                relay,
                pacing,
                Wakeup::default(),
                leasing,
                async move {
                    let _ = stopped.await;
                },
            ));
        }
        let all_published =
            |journal: &MemoryJournal| journal.0.lock().unwrap().iter().all(|(_, p)| *p);
        for seq in 1..=5 {
            journal.0.lock().unwrap().push((event(seq), false));
        }
        while !all_published(&journal) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let first = holder.lock().unwrap().expect("a holder");
        while !statuses[first as usize - 1].held() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let other = 3 - first;
        assert!(!statuses[other as usize - 1].held());

        // The holder lost its lease (its connection closed) and the other one
        // acquired it: the other publishes what follows.
        *holder.lock().unwrap() = Some(other);
        while statuses[first as usize - 1].held() || !statuses[other as usize - 1].held() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for seq in 6..=9 {
            journal.0.lock().unwrap().push((event(seq), false));
        }
        while !all_published(&journal) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            *published.0.lock().unwrap(),
            (1..=9).collect::<Vec<_>>(),
            "each entry once, in order"
        );
        let _ = stops;
    }

    #[tokio::test]
    async fn the_relay_loop_ends_when_shutdown_resolves_idle_or_backing_off() {
        let pacing = Pacing {
            idle_poll: Duration::from_secs(3600),
            max_backoff: Duration::from_secs(3600),
        };
        let bound = Duration::from_secs(2);

        let idle = Relay::new(MemoryJournal::default(), RecordingPublisher::default(), 10);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(idle, pacing, Wakeup::default(), async move {
            let _ = stopped.await;
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.send(()).unwrap();
        tokio::time::timeout(bound, task).await.unwrap().unwrap();

        let journal = MemoryJournal::default();
        journal.0.lock().unwrap().push((event(1), false));
        let failing = Relay::new(journal, DownPublisher, 10);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(failing, pacing, Wakeup::default(), async move {
            let _ = stopped.await;
        }));
        tokio::time::sleep(Duration::from_millis(250)).await;
        stop.send(()).unwrap();
        tokio::time::timeout(bound, task).await.unwrap().unwrap();
    }

    /// A publisher whose bus is down while `down` is set.
    #[derive(Clone, Default)]
    struct FlakyPublisher {
        down: Arc<AtomicBool>,
    }

    impl EventPublisher for FlakyPublisher {
        async fn publish(&self, _: &[Event]) -> Result<(), PublishError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(PublishError::Unavailable("the bus is down".into()));
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_status_says_whether_the_relay_runs_and_why_it_fails() {
        let pacing = Pacing {
            idle_poll: Duration::from_millis(5),
            max_backoff: Duration::from_millis(5),
        };
        let journal = MemoryJournal::default();
        journal.0.lock().unwrap().push((event(1), false));
        let publisher = FlakyPublisher::default();
        publisher.down.store(true, Ordering::SeqCst);
        let leasing = Leasing {
            lease: Unshared,
            retry: Duration::from_millis(5),
            status: RelayStatus::default(),
        };
        let status = leasing.status.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = Relay::new(journal.clone(), publisher.clone(), 10);
        let task = tokio::spawn(run_leased(
            relay,
            pacing,
            Wakeup::default(),
            leasing,
            async move {
                let _ = stopped.await;
            },
        ));
        while status.failure().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(status.running() && status.held());
        assert!(status.failure().unwrap().contains("the bus is down"));

        publisher.down.store(false, Ordering::SeqCst);
        while status.failure().is_some() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(journal.0.lock().unwrap().iter().all(|(_, p)| *p));
        stop.send(()).unwrap();
        task.await.unwrap();
        assert!(!status.running() && !status.held());
    }
}
