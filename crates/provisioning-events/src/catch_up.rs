//! The request/reply contract a consuming service catches up with: the
//! gateway answers, on its journal queue ([`journal_queue`]), how far its journal goes and pages
//! of it, so a service whose queue was declared after events were routed
//! applies what it missed before consuming live (docs/events.md, "Catch-up").
//!
//! Entries travel as the relay publishes them: profiles sealed, never opened.

use serde::{Deserialize, Serialize};

use crate::Event;

/// The queue the gateway answers journal requests on by default: named
/// after the events' exchange (`provisioning.journal`), the exchange whose
/// events the journal holds — so a deployment (or a test) with an exchange
/// of its own has its own journal queue too. Distributed deployment only:
/// the embedded process's bus delivers every event to every service and
/// needs no catch-up.
pub fn journal_queue(exchange: &str) -> String {
    format!("{exchange}.journal")
}

/// The most entries one page may carry.
pub const MAX_JOURNAL_PAGE: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ask", rename_all = "snake_case")]
pub enum JournalRequest {
    /// The highest `seq` committed in the journal now.
    Head,
    /// Entries with `after_seq < seq <= until_seq` whose type matches one of
    /// `types` (`user.*`, `group.provisioned`), in `seq` order, at most
    /// `limit` (up to [`MAX_JOURNAL_PAGE`]).
    Page {
        after_seq: i64,
        until_seq: i64,
        types: Vec<String>,
        limit: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum JournalReply {
    Head {
        seq: i64,
    },
    /// Fewer than `limit` entries: nothing more matches up to `until_seq`.
    Page {
        events: Vec<Event>,
    },
    /// The request cannot be answered as asked (a bad type pattern).
    Refused {
        reason: String,
    },
    /// The gateway could not read its journal: retry later.
    Unavailable,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn requests_and_replies_read_back() {
        let page = JournalRequest::Page {
            after_seq: 10,
            until_seq: 20,
            types: vec!["user.*".into()],
            limit: 100,
        };
        let text = serde_json::to_string(&page).unwrap();
        assert!(text.contains(r#""ask":"page""#), "{text}");
        assert_eq!(serde_json::from_str::<JournalRequest>(&text).unwrap(), page);
        let head = serde_json::to_string(&JournalReply::Head { seq: 7 }).unwrap();
        assert_eq!(head, r#"{"outcome":"head","seq":7}"#);
    }
}
