//! The journal as a consuming service catching up reads it (docs/events.md,
//! "Catch-up"): the head `seq`, then pages of the entries of the types it
//! consumes up to that head. Entries are given as the relay publishes them —
//! a sealed profile stays sealed; nothing is opened here.

use provisioning_events::catch_up::{JournalReply, JournalRequest, MAX_JOURNAL_PAGE};

use super::event_log::is_type_pattern;
use super::ports::{JournalFilter, JournalReader, StoreError};

pub struct JournalFeed<S> {
    store: S,
}

impl<S: JournalReader> JournalFeed<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }

    pub async fn answer(&self, request: &JournalRequest) -> JournalReply {
        let answered = match request {
            JournalRequest::Head => self
                .store
                .head()
                .await
                .map(|seq| JournalReply::Head { seq }),
            JournalRequest::Page {
                after_seq,
                until_seq,
                types,
                limit,
            } => {
                if let Some(bad) = types.iter().find(|t| !is_type_pattern(t)) {
                    return JournalReply::Refused {
                        reason: format!("not an event type or a kind: {bad:?}"),
                    };
                }
                if types.is_empty() || until_seq <= after_seq {
                    return JournalReply::Page { events: Vec::new() };
                }
                self.page(*after_seq, *until_seq, types, *limit).await
            }
        };
        answered.unwrap_or_else(|e| {
            tracing::error!(error = %e, "the journal could not be read for a catch-up");
            JournalReply::Unavailable
        })
    }

    async fn page(
        &self,
        after_seq: i64,
        until_seq: i64,
        types: &[String],
        limit: u32,
    ) -> Result<JournalReply, StoreError> {
        let filter = JournalFilter {
            any_of_types: types.to_vec(),
            after_seq: Some(after_seq),
            until_seq: Some(until_seq),
            ..JournalFilter::default()
        };
        let limit = u64::from(limit.clamp(1, MAX_JOURNAL_PAGE));
        let entries = self.store.entries(&filter, limit).await?;
        Ok(JournalReply::Page {
            events: entries.into_iter().map(|entry| entry.event).collect(),
        })
    }
}
