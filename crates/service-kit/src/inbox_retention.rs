//! How long a service's inbox keeps its per-event rows: the `inbox` settings
//! (`SCIM_INBOX__RETENTION_DAYS`, `SCIM_INBOX__PRUNE_INTERVAL_SECS`) and the
//! background task that prunes `inbox_events` beyond the horizon every
//! interval ([`InboxPruner`]), stopping on the process's shutdown signal.
//!
//! The version kept per aggregate (`inbox_aggregates`) is never pruned: it
//! is what keeps ordering and idempotency (see [`crate::inbox`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use config::ConfigBuilder;
use config::builder::DefaultState;
use sea_orm::DatabaseConnection;
use serde::Deserialize;

use crate::inbox;
use crate::shutdown::ShutdownSignal;

/// Days an applied event's inbox row is kept by default.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// Seconds between two prunes by default.
pub const DEFAULT_PRUNE_INTERVAL_SECS: u64 = 3600;
/// Rows deleted per statement.
pub const PRUNE_BATCH: u64 = 1000;

/// The `inbox` section of every service that consumes events.
#[derive(Debug, Clone, Deserialize)]
pub struct InboxSettings {
    /// Days an applied event's `inbox_events` row is kept; 0 keeps them
    /// forever.
    pub retention_days: u32,
    /// Seconds between prunes.
    pub prune_interval_secs: u64,
}

impl Default for InboxSettings {
    fn default() -> Self {
        Self {
            retention_days: DEFAULT_RETENTION_DAYS,
            prune_interval_secs: DEFAULT_PRUNE_INTERVAL_SECS,
        }
    }
}

impl InboxSettings {
    /// Adds the section's defaults to a service's settings.
    pub fn defaults(
        builder: ConfigBuilder<DefaultState>,
    ) -> Result<ConfigBuilder<DefaultState>, config::ConfigError> {
        builder
            .set_default("inbox.retention_days", DEFAULT_RETENTION_DAYS)?
            .set_default("inbox.prune_interval_secs", DEFAULT_PRUNE_INTERVAL_SECS)
    }

    /// How long rows are kept; `None`: for ever.
    pub fn retention(&self) -> Option<chrono::Duration> {
        (self.retention_days > 0).then(|| chrono::Duration::days(i64::from(self.retention_days)))
    }

    /// Time between prunes (at least a second).
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.prune_interval_secs.max(1))
    }
}

/// The service's clock, as the pruner reads it.
pub type Now = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// One inbox to prune: whose it is (for logs), its database, its clock.
#[derive(Clone)]
pub struct Inbox {
    pub service: &'static str,
    pub db: DatabaseConnection,
    pub now: Now,
}

/// Prunes the rows of `inboxes` older than the retention every interval.
pub struct InboxPruner {
    inboxes: Vec<Inbox>,
    retention: chrono::Duration,
    interval: Duration,
    batch: u64,
}

impl InboxPruner {
    /// The pruner of `inboxes`; `None` when the settings keep rows forever.
    pub fn new(settings: &InboxSettings, inboxes: Vec<Inbox>) -> Option<Self> {
        let Some(retention) = settings.retention() else {
            tracing::info!("inbox.retention_days = 0: inbox rows are kept forever");
            return None;
        };
        Some(Self {
            inboxes,
            retention,
            interval: settings.interval(),
            batch: PRUNE_BATCH,
        })
    }

    /// Prunes at once, then every interval, until `shutdown`. A failed
    /// prune is logged and tried again at the next interval.
    pub async fn run(self, mut shutdown: ShutdownSignal) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.recv() => return,
                _ = tick.tick() => {}
            }
            for inbox in &self.inboxes {
                self.prune(inbox, &shutdown).await;
            }
        }
    }

    /// Deletes one inbox's rows beyond the horizon, a batch at a time,
    /// stopping between batches when the shutdown is announced.
    async fn prune(&self, inbox: &Inbox, shutdown: &ShutdownSignal) {
        let horizon = (inbox.now)() - self.retention;
        let mut pruned = 0u64;
        while !shutdown.is_announced() {
            match inbox::prune(&inbox.db, horizon, self.batch).await {
                Ok(deleted) => {
                    pruned += deleted;
                    if deleted < self.batch {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(service = inbox.service, error = %e, "pruning the inbox failed");
                    break;
                }
            }
        }
        if pruned > 0 {
            tracing::info!(
                service = inbox.service,
                pruned,
                "inbox rows beyond the retention pruned"
            );
        }
    }
}
