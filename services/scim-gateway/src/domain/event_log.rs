//! The event log: the journal as operators read it — what the IdP's requests
//! caused, in order, filtered by organization, type, aggregate, `seq` or
//! time, a page at a time.
//!
//! Personal values are never opened here: a sealed profile is shown sealed
//! while its person's data key exists, and erased (`{"erased": true}`) once
//! the key is gone; a plain profile of a journal written before sealing is
//! shown erased when its person has no key.

use std::collections::HashMap;

use provisioning_events::PersonRef;
use provisioning_events::personal::PersonalProfile;
use uuid::Uuid;

use super::ports::{DataKeyStore, JournalEntry, JournalFilter, JournalReader, StoreError};

/// The largest page.
pub const MAX_PAGE: u64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    #[error("no journal entry has this event id")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A page of entries; `next_after_seq` continues it (absent on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub entries: Vec<JournalEntry>,
    pub next_after_seq: Option<i64>,
}

pub struct EventLog<S> {
    store: S,
}

impl<S: JournalReader + DataKeyStore> EventLog<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }

    pub async fn list(
        &self,
        filter: &JournalFilter,
        limit: u64,
    ) -> Result<EventPage, EventLogError> {
        if let (Some(after), Some(until)) = (filter.after_seq, filter.until_seq)
            && until <= after
        {
            return Err(EventLogError::Invalid(format!(
                "the seq range ({after}, {until}] is empty"
            )));
        }
        if let (Some(since), Some(until)) = (filter.since, filter.until)
            && until <= since
        {
            return Err(EventLogError::Invalid(
                "`until` must be after `since`".into(),
            ));
        }
        if let Some(pattern) = &filter.event_type
            && !is_type_pattern(pattern)
        {
            return Err(EventLogError::Invalid(format!(
                "not an event type (`user.provisioned`) or a kind (`user.*`): {pattern:?}"
            )));
        }
        let limit = limit.clamp(1, MAX_PAGE);
        let mut entries = self.store.entries(filter, limit).await?;
        self.erase_without_keys(&mut entries).await?;
        let next_after_seq = (entries.len() as u64 == limit)
            .then(|| entries.last().map(|e| e.event.seq))
            .flatten();
        Ok(EventPage {
            entries,
            next_after_seq,
        })
    }

    pub async fn show(&self, event_id: Uuid) -> Result<JournalEntry, EventLogError> {
        let entry = self
            .store
            .entry(event_id)
            .await?
            .ok_or(EventLogError::NotFound)?;
        let mut entries = vec![entry];
        self.erase_without_keys(&mut entries).await?;
        Ok(entries.remove(0))
    }

    /// Erases the profile of every entry whose person has no data key left.
    async fn erase_without_keys(&self, entries: &mut [JournalEntry]) -> Result<(), StoreError> {
        let mut persons: Vec<PersonRef> = entries
            .iter()
            .filter(|entry| shows_personal_values(entry))
            .filter_map(|entry| entry.event.person())
            .collect();
        persons.sort();
        persons.dedup();
        if persons.is_empty() {
            return Ok(());
        }
        let present = self.store.has_data_keys(&persons).await?;
        let keyed: HashMap<PersonRef, bool> = persons.into_iter().zip(present).collect();
        for entry in entries.iter_mut().filter(|e| shows_personal_values(e)) {
            let has_key = entry
                .event
                .person()
                .and_then(|person| keyed.get(&person).copied())
                .unwrap_or(false);
            if !has_key {
                entry.event.erase_personal();
            }
        }
        Ok(())
    }
}

/// Whether the entry carries a profile that is not yet shown erased.
fn shows_personal_values(entry: &JournalEntry) -> bool {
    matches!(
        entry.event.profile(),
        Some(PersonalProfile::Open(_) | PersonalProfile::Sealed(_))
    )
}

/// `kind.action` or `kind.*`, lowercase words.
pub(crate) fn is_type_pattern(pattern: &str) -> bool {
    let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    match pattern.split_once('.') {
        Some((kind, action)) => word(kind) && (action == "*" || word(action)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_patterns() {
        for ok in [
            "user.provisioned",
            "user.*",
            "group.members_changed",
            "subscription.changed",
        ] {
            assert!(is_type_pattern(ok), "{ok}");
        }
        for bad in [
            "",
            "user",
            "user.",
            ".x",
            "user.#",
            "User.created",
            "user.%",
            "a.b.c",
            "user.pro'",
        ] {
            assert!(!is_type_pattern(bad), "{bad}");
        }
    }
}
