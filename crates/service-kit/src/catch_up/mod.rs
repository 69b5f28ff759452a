//! Catch-up: a consuming service whose queue did not exist when events were
//! routed to its siblings (a new service, a service started late, a queue
//! deleted by an operator) applies what it missed from the gateway's journal
//! before it consumes live (docs/events.md, "Catch-up").
//!
//! At start, before consuming:
//!
//! 1. Does the queue exist? (a passive declare). When it does not, the
//!    service's database records a pending catch-up **before** the queue is
//!    declared, so a crash in between cannot forget it.
//! 2. The queue and its bindings are declared: from then on the broker keeps
//!    every new event for the service.
//! 3. Pending: one replica at a time (a PostgreSQL advisory lock; the others
//!    wait, then find it done) learns the journal's head — after the
//!    bindings, so anything routed before them has a `seq` at or below it —
//!    and applies the entries of its bindings' types up to it through its
//!    own consumer (the inbox drops duplicates and older versions), a page
//!    at a time, recording how far it got (a restart resumes there).
//! 4. Then it consumes live: events routed meanwhile wait in the queue; those
//!    the catch-up applied already are duplicates to the inbox.
//!
//! A queue that existed (the service was only down: the queue kept its
//! events) means nothing to catch up on and the journal is not read.

mod journal;
mod watermark;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use messaging::{EventHandler, HandleError, Handled};
use messaging_rabbitmq::topology::{self, Exchanges, ServiceTopology};
use provisioning_events::Event;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

pub use journal::{JournalError, JournalFuture, JournalSource, RpcJournal};
pub use watermark::{CatchUpMigration, Watermark, read as read_watermark};

use crate::shutdown::ShutdownSignal;

/// `catch_up.*` of a consuming service.
#[derive(Debug, Clone, Deserialize)]
pub struct CatchUpSettings {
    /// Catch up on what a new queue missed (default true).
    pub enabled: bool,
    /// The gateway's journal queue (the gateway's `catch_up.queue`); by
    /// default `<amqp.exchange>.journal` ([`CatchUpSettings::queue_for`]).
    pub queue: Option<String>,
    /// Entries read and applied at once (default 500, at most 1000).
    pub page_size: u32,
    /// How long one request waits for the gateway, in milliseconds.
    pub timeout_ms: u64,
}

impl CatchUpSettings {
    pub fn defaults(
        builder: config::ConfigBuilder<config::builder::DefaultState>,
    ) -> Result<config::ConfigBuilder<config::builder::DefaultState>, config::ConfigError> {
        builder
            .set_default("catch_up.enabled", true)?
            .set_default("catch_up.page_size", 500)?
            .set_default("catch_up.timeout_ms", 10_000)
    }
}

impl CatchUpSettings {
    /// The journal queue asked, for the events' `exchange`.
    pub fn queue_for(&self, exchange: &str) -> String {
        self.queue
            .clone()
            .unwrap_or_else(|| provisioning_events::catch_up::journal_queue(exchange))
    }
}

/// Where a catch-up stands, as `/readyz` shows it. Clones share the state.
#[derive(Debug, Clone, Default)]
pub struct CatchUpProgress(Arc<Mutex<Progress>>);

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Progress {
    /// `starting` (queue not declared yet), `waiting_for_replica`,
    /// `waiting_for_journal`, `applying`, `done`, `not_needed`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_seq: Option<i64>,
    /// Entries read from the journal by this process.
    pub read: u64,
    /// Of those, applied (the others were duplicates, stale or not its own).
    pub applied: u64,
    /// Handed to the live queue (failed or out of order here).
    pub handed_over: u64,
}

impl CatchUpProgress {
    pub fn snapshot(&self) -> Progress {
        let mut progress = self.lock().clone();
        if progress.state.is_empty() {
            progress.state = "starting";
        }
        progress
    }

    /// Whether the queue is declared and a catch-up still runs (nothing is
    /// lost from here on; the service is not consuming live yet).
    pub fn is_catching_up(&self) -> bool {
        matches!(
            self.lock().state,
            "waiting_for_replica" | "waiting_for_journal" | "applying"
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut Progress)) {
        change(&mut self.lock());
    }
}

/// How a catch-up ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The queue existed and no catch-up was pending: the journal was not read.
    NotNeeded,
    /// Entries up to `through_seq` applied, starting after `from_seq`
    /// (above 0 when it resumed an interrupted catch-up).
    CaughtUp { from_seq: i64, through_seq: i64 },
    /// Stopped before it was done (it resumes at the next start).
    Stopped,
}

/// Everything a catch-up needs.
pub struct CatchUp<H> {
    pub handler: H,
    /// The service's database (its inbox and the watermark).
    pub db: DatabaseConnection,
    pub url: String,
    pub exchanges: Exchanges,
    pub topology: ServiceTopology,
    pub journal: Arc<dyn JournalSource>,
    pub page_size: u32,
    pub now: Arc<dyn Fn() -> i64 + Send + Sync>,
    pub progress: CatchUpProgress,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Why an attempt did not finish: retried after a pause.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("broker: {0}")]
    Broker(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("every entry of a page failed: {0}")]
    Page(String),
}

impl<H: EventHandler> CatchUp<H> {
    /// Declares the queue, catches up when needed, and returns once the
    /// service may consume live (or `stop` came). Failures (broker, database
    /// or gateway unavailable) are retried with back-off.
    pub async fn run(&self, mut stop: ShutdownSignal) -> Outcome {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let attempt = self.attempt();
            let failed = tokio::select! {
                biased;
                () = stop.recv() => return Outcome::Stopped,
                done = attempt => match done {
                    Ok(outcome) => return outcome,
                    Err(e) => e,
                },
            };
            tracing::warn!(
                queue = %self.topology.service,
                error = %failed,
                retry_in_ms = backoff.as_millis() as u64,
                "catch-up interrupted; trying again"
            );
            tokio::select! {
                biased;
                () = stop.recv() => return Outcome::Stopped,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn attempt(&self) -> Result<Outcome, AttemptError> {
        let queue = self.topology.service.as_str();
        let existed = topology::queue_exists(&self.url, queue)
            .await
            .map_err(|e| AttemptError::Broker(e.to_string()))?;
        if !existed {
            watermark::mark_pending(&self.db, queue, (self.now)()).await?;
        }
        topology::declare_at(&self.url, &self.exchanges, &self.topology)
            .await
            .map_err(|e| AttemptError::Broker(e.to_string()))?;
        match watermark::read(&self.db, queue).await? {
            Some(Watermark { done: true, .. }) => return Ok(self.not_needed()),
            Some(_) => {}
            None => {
                watermark::record_existing(&self.db, queue, (self.now)()).await?;
                return Ok(self.not_needed());
            }
        }
        self.progress.update(|p| p.state = "waiting_for_replica");
        let lock = watermark::CatchUpLock::acquire(&self.db, queue).await?;
        let caught_up = self.catch_up_locked().await;
        lock.release().await;
        caught_up
    }

    fn not_needed(&self) -> Outcome {
        self.progress.update(|p| p.state = "not_needed");
        Outcome::NotNeeded
    }

    /// Under the lock: reads the row again (another replica may have
    /// finished), then applies pages up to the target.
    async fn catch_up_locked(&self) -> Result<Outcome, AttemptError> {
        let queue = self.topology.service.as_str();
        let Some(row) = watermark::read(&self.db, queue).await? else {
            return Ok(self.not_needed());
        };
        if row.done {
            return Ok(self.not_needed());
        }
        let target = match row.target_seq {
            Some(target) => target,
            None => {
                self.progress.update(|p| p.state = "waiting_for_journal");
                let head = self.journal.head().await?;
                watermark::set_target(&self.db, queue, head, (self.now)()).await?;
                head
            }
        };
        let from = row.through_seq;
        tracing::info!(queue, from_seq = from, target_seq = target, "catching up");
        self.progress.update(|p| {
            p.state = "applying";
            p.through_seq = Some(from);
            p.target_seq = Some(target);
        });
        let started = std::time::Instant::now();
        let types = self.topology.routing_keys.clone();
        let limit = self
            .page_size
            .clamp(1, provisioning_events::catch_up::MAX_JOURNAL_PAGE);
        let mut through = from;
        while through < target {
            let page = self.journal.page(through, target, &types, limit).await?;
            let Some(last) = page.last().map(|e| e.seq) else {
                break;
            };
            self.apply(&page).await?;
            through = last;
            watermark::advance(&self.db, queue, through, (self.now)()).await?;
            self.progress.update(|p| p.through_seq = Some(through));
            if page.len() < limit as usize {
                break;
            }
        }
        watermark::complete(&self.db, queue, target, (self.now)()).await?;
        let progress = self.progress.snapshot();
        tracing::info!(
            queue,
            from_seq = from,
            through_seq = target,
            read = progress.read,
            applied = progress.applied,
            handed_over = progress.handed_over,
            seconds = started.elapsed().as_secs_f64(),
            "caught up; consuming live"
        );
        self.progress.update(|p| {
            p.state = "done";
            p.through_seq = Some(target);
        });
        Ok(Outcome::CaughtUp {
            from_seq: from,
            through_seq: target,
        })
    }

    /// Applies a page through the consumer: the batch first, then each
    /// event that failed in it on its own. What still fails (or waits for an
    /// earlier version) goes to the live queue, where retries and the dead
    /// queue handle it as they would a live event; a page where every event
    /// failed for another reason (the database down) is tried again later.
    async fn apply(&self, page: &[Event]) -> Result<(), AttemptError> {
        let outcomes = self.handler.handle_batch(page).await;
        let mut applied = 0;
        let mut unsettled: Vec<(&Event, HandleError)> = Vec::new();
        for (event, outcome) in page.iter().zip(outcomes) {
            let outcome = match outcome {
                Ok(handled) => Ok(handled),
                Err(_) => self.handler.handle(event).await,
            };
            match outcome {
                Ok(Handled::Applied) => applied += 1,
                Ok(Handled::Duplicate | Handled::Stale) => {}
                Err(e) => unsettled.push((event, e)),
            }
        }
        let all_failed = unsettled.len() == page.len()
            && unsettled
                .iter()
                .all(|(_, e)| matches!(e, HandleError::Failed(_)));
        if all_failed && let Some((_, e)) = unsettled.first() {
            return Err(AttemptError::Page(e.to_string()));
        }
        if !unsettled.is_empty() {
            for (event, error) in &unsettled {
                tracing::warn!(
                    queue = %self.topology.service,
                    event_id = %event.id,
                    seq = event.seq,
                    error = %error,
                    "catch-up hands an event to the live queue"
                );
            }
            let events: Vec<Event> = unsettled.iter().map(|(e, _)| (*e).clone()).collect();
            topology::hand_to_queue(&self.url, &self.exchanges, &self.topology, &events)
                .await
                .map_err(AttemptError::Broker)?;
        }
        let handed = unsettled.len() as u64;
        self.progress.update(|p| {
            p.read += page.len() as u64;
            p.applied += applied;
            p.handed_over += handed;
        });
        Ok(())
    }
}
