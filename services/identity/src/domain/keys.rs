//! Opening sealed profiles: the data keys identity has fetched, kept in a
//! bounded cache (oldest fetched evicted first), and the events of a batch
//! with their profiles opened.
//!
//! A person's key is fetched once and kept until the service applies their
//! `user.deleted` (the gateway destroys the key then) or the cache is full.
//! A person whose key is gone gets no entry: their sealed profiles open as
//! erased.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use provisioning_events::sealing::DataKey;
use provisioning_events::{Event, EventBody, PersonRef};

use super::ports::{DataKeys, KeysUnavailable};

/// How many persons' keys identity keeps by default.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// Data keys by person, at most `capacity` of them.
pub struct KeyCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    keys: HashMap<PersonRef, (u64, DataKey)>,
    /// Insertion order: the first entry is the oldest.
    order: BTreeMap<u64, PersonRef>,
    next: u64,
}

impl KeyCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new(Entries::default()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self, person: &PersonRef) -> Option<DataKey> {
        self.entries().keys.get(person).map(|(_, key)| key.clone())
    }

    pub fn insert(&self, person: PersonRef, key: DataKey) {
        let mut entries = self.entries();
        let sequence = entries.next;
        entries.next += 1;
        if let Some((old, _)) = entries.keys.insert(person.clone(), (sequence, key)) {
            entries.order.remove(&old);
        }
        entries.order.insert(sequence, person);
        while entries.keys.len() > self.capacity {
            let Some((_, oldest)) = entries.order.pop_first() else {
                break;
            };
            entries.keys.remove(&oldest);
        }
    }

    /// Drops the person's key (their `user.deleted` was applied).
    pub fn forget(&self, person: &PersonRef) {
        let mut entries = self.entries();
        if let Some((sequence, _)) = entries.keys.remove(person) {
            entries.order.remove(&sequence);
        }
    }

    pub fn len(&self) -> usize {
        self.entries().keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why an event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Unavailable(#[from] KeysUnavailable),
    /// Names the event only: the blob and its person stay out of messages.
    #[error("the profile of event {0} does not open with its person's data key")]
    DoesNotOpen(uuid::Uuid),
}

/// `events` as the rules read them: every sealed profile opened with its
/// person's key, or erased when the key is gone; the rest as they are. The
/// keys the cache lacks are fetched in one call for all of the batch's
/// persons. An event whose blob does not open is an error of its own; a key
/// source that cannot answer fails them all.
pub async fn open_events<'e, K: DataKeys>(
    cache: &KeyCache,
    source: &K,
    events: &'e [Event],
) -> Result<Vec<Result<Cow<'e, Event>, OpenError>>, KeysUnavailable> {
    let mut keys: HashMap<PersonRef, Option<DataKey>> = HashMap::new();
    let mut missing = Vec::new();
    for person in events
        .iter()
        .filter(|e| e.is_sealed())
        .filter_map(Event::person)
    {
        if keys.contains_key(&person) {
            continue;
        }
        match cache.get(&person) {
            Some(key) => {
                keys.insert(person, Some(key));
            }
            None => {
                keys.insert(person.clone(), None);
                missing.push(person);
            }
        }
    }
    if !missing.is_empty() {
        let fetched = source.data_keys(&missing).await?;
        if fetched.len() != missing.len() {
            return Err(KeysUnavailable(format!(
                "{} keys for {} persons",
                fetched.len(),
                missing.len()
            )));
        }
        for (person, key) in missing.into_iter().zip(fetched) {
            if let Some(key) = &key {
                cache.insert(person.clone(), key.clone());
            }
            keys.insert(person, key);
        }
    }
    Ok(events
        .iter()
        .map(|event| {
            let Some(person) = event.person().filter(|_| event.is_sealed()) else {
                return Ok(Cow::Borrowed(event));
            };
            let key = keys.get(&person).and_then(Option::as_ref);
            let mut opened = event.clone();
            opened
                .open_with(key)
                .map_err(|_| OpenError::DoesNotOpen(event.id))?;
            Ok(Cow::Owned(opened))
        })
        .collect())
}

/// The person a `user.deleted` erases, whose key is to be forgotten.
pub fn deleted_person(event: &Event) -> Option<PersonRef> {
    matches!(event.body, EventBody::UserDeleted {}).then(|| PersonRef {
        org_id: event.org_id,
        user_id: event.aggregate.id.clone(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn person(n: u32) -> PersonRef {
        PersonRef {
            org_id: uuid::Uuid::from_u128(1),
            user_id: format!("u{n}"),
        }
    }

    #[test]
    fn the_cache_keeps_at_most_its_capacity_and_evicts_the_oldest() {
        let cache = KeyCache::new(2);
        let (a, b) = (DataKey::generate().unwrap(), DataKey::generate().unwrap());
        cache.insert(person(1), a.clone());
        cache.insert(person(2), b.clone());
        // Fetched again: now the newest.
        cache.insert(person(1), a.clone());
        cache.insert(person(3), DataKey::generate().unwrap());
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&person(2)), None, "the oldest went");
        assert_eq!(cache.get(&person(1)), Some(a));
        cache.forget(&person(1));
        assert_eq!(cache.get(&person(1)), None);
        assert_eq!(cache.len(), 1);
        cache.insert(person(4), b);
        cache.insert(person(5), DataKey::generate().unwrap());
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&person(3)).is_none());
        assert!(cache.get(&person(4)).is_some() && cache.get(&person(5)).is_some());
    }
}
