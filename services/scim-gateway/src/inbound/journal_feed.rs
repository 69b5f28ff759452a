//! The journal for consumers catching up, over request/reply on
//! `catch_up.queue` (by default `<amqp.exchange>.journal`; the
//! distributed deployment): a `JournalRequest` is answered with the head
//! `seq` or a page of entries (`domain::journal_feed`). Only counts are
//! logged.

use messaging_rabbitmq::consumer::ConsumerHealth;
use std::sync::Arc;

use provisioning_events::catch_up::{JournalReply, JournalRequest};

use crate::domain::journal_feed::JournalFeed;
use crate::domain::ports::JournalReader;

async fn answer_bytes<S: JournalReader>(feed: &JournalFeed<S>, body: &[u8]) -> Vec<u8> {
    let reply = match serde_json::from_slice::<JournalRequest>(body) {
        Ok(request) => {
            let reply = feed.answer(&request).await;
            if let (JournalRequest::Page { after_seq, .. }, JournalReply::Page { events }) =
                (&request, &reply)
            {
                tracing::debug!(after_seq, entries = events.len(), "catch-up page served");
            }
            reply
        }
        Err(e) => {
            tracing::warn!(
                category = ?e.classify(),
                line = e.line(),
                column = e.column(),
                "unreadable journal request"
            );
            JournalReply::Refused {
                reason: "unreadable request".into(),
            }
        }
    };
    serde_json::to_vec(&reply).unwrap_or_default()
}

/// Serves journal requests on `queue` at `url`, up to `concurrency` at once,
/// until `shutdown`.
pub async fn serve<S: JournalReader>(
    store: S,
    url: &str,
    queue: &str,
    concurrency: u16,
    health: ConsumerHealth,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let feed = Arc::new(JournalFeed::new(store));
    let answer = move |body: Vec<u8>, _headers| {
        let feed = Arc::clone(&feed);
        async move { answer_bytes(&feed, &body).await }
    };
    if let Err(e) =
        messaging_rabbitmq::rpc::serve_reporting(url, queue, concurrency, answer, health, shutdown)
            .await
    {
        tracing::error!(error = %e, "the journal server stopped");
    }
}
