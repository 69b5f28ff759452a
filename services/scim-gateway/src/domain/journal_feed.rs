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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use uuid::Uuid;

    use super::*;
    use crate::domain::ports::JournalEntry;

    /// A journal that records what it was asked.
    #[derive(Default)]
    struct Asked(Mutex<Vec<(JournalFilter, u64)>>);

    impl JournalReader for Asked {
        async fn entries(
            &self,
            filter: &JournalFilter,
            limit: u64,
        ) -> Result<Vec<JournalEntry>, StoreError> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((filter.clone(), limit));
            Ok(Vec::new())
        }

        async fn entry(&self, _: Uuid) -> Result<Option<JournalEntry>, StoreError> {
            Ok(None)
        }

        async fn head(&self) -> Result<i64, StoreError> {
            Ok(42)
        }
    }

    fn page(types: &[&str], after_seq: i64, until_seq: i64, limit: u32) -> JournalRequest {
        JournalRequest::Page {
            after_seq,
            until_seq,
            types: types.iter().map(|t| (*t).to_owned()).collect(),
            limit,
        }
    }

    #[tokio::test]
    async fn a_page_asks_the_journal_for_the_types_and_range_given_at_most_a_thousand() {
        let feed = JournalFeed::new(Asked::default());
        assert_eq!(
            feed.answer(&JournalRequest::Head).await,
            JournalReply::Head { seq: 42 }
        );
        let reply = feed
            .answer(&page(&["user.*", "group.*"], 10, 20, 5000))
            .await;
        assert_eq!(reply, JournalReply::Page { events: Vec::new() });
        let asked = feed.store.0.lock().unwrap().clone();
        let (filter, limit) = &asked[0];
        assert_eq!(filter.any_of_types, vec!["user.*", "group.*"]);
        assert_eq!((filter.after_seq, filter.until_seq), (Some(10), Some(20)));
        assert_eq!(*limit, u64::from(MAX_JOURNAL_PAGE));
    }

    #[tokio::test]
    async fn bad_patterns_are_refused_and_empty_ranges_read_nothing() {
        let feed = JournalFeed::new(Asked::default());
        let refused = feed.answer(&page(&["user.*", "user.%"], 0, 10, 10)).await;
        assert!(
            matches!(refused, JournalReply::Refused { .. }),
            "{refused:?}"
        );
        for empty in [page(&["user.*"], 10, 10, 10), page(&[], 0, 10, 10)] {
            let reply = feed.answer(&empty).await;
            assert_eq!(reply, JournalReply::Page { events: Vec::new() });
        }
        assert!(feed.store.0.lock().unwrap().is_empty());
    }
}
