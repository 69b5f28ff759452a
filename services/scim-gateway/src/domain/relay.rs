//! The outbox relay: publishes journal entries in `seq` order and marks them
//! published only after the broker confirmed them. A crash between the two
//! publishes the batch again on restart; consumers are idempotent on the event
//! id, so that costs a duplicate, never a loss.

use std::time::Duration;

use messaging::{EventPublisher, PublishError};

use super::ports::{JournalOutbox, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("the journal is unavailable: {0}")]
    Journal(#[from] StoreError),
}

#[derive(Debug, Clone, Copy)]
pub struct RelaySettings {
    pub batch_size: u64,
    /// Pause when the journal is drained.
    pub idle_poll: Duration,
    /// Longest pause between attempts while the broker or database is down.
    pub max_backoff: Duration,
}

pub struct Relay<O, P> {
    outbox: O,
    publisher: P,
    settings: RelaySettings,
}

impl<O: JournalOutbox, P: EventPublisher> Relay<O, P> {
    pub fn new(outbox: O, publisher: P, settings: RelaySettings) -> Self {
        Self {
            outbox,
            publisher,
            settings,
        }
    }

    /// Publishes one batch; returns how many entries it published (0: drained).
    pub async fn publish_batch(&self) -> Result<usize, RelayError> {
        let batch = self.outbox.unpublished(self.settings.batch_size).await?;
        if batch.is_empty() {
            return Ok(0);
        }
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

    /// Runs until the process stops: drains, idles, backs off on failure.
    pub async fn run(&self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.publish_batch().await {
                Ok(0) => tokio::time::sleep(self.settings.idle_poll).await,
                Ok(_) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "relay attempt failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
            }
        }
    }
}
