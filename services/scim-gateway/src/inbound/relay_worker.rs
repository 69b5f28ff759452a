//! Drives the outbox relay for the life of the process: drains the journal,
//! idles when it is empty, backs off while the broker or database is down.

use std::time::Duration;

use messaging::EventPublisher;

use crate::domain::ports::JournalOutbox;
use crate::domain::relay::Relay;

#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Pause when the journal is drained.
    pub idle_poll: Duration,
    /// Longest pause between attempts while the broker or database is down.
    pub max_backoff: Duration,
}

pub async fn run<O: JournalOutbox, P: EventPublisher>(relay: Relay<O, P>, pacing: Pacing) {
    let first_backoff = Duration::from_millis(100);
    let mut backoff = first_backoff;
    loop {
        match relay.publish_batch().await {
            Ok(0) => tokio::time::sleep(pacing.idle_poll).await,
            Ok(_) => backoff = first_backoff,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "relay attempt failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(pacing.max_backoff);
            }
        }
    }
}
