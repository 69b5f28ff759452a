//! Test consumers' building blocks: events made to order, and an inbox in
//! memory that applies the same ordering rule (`messaging::admit`) as the
//! services' SQL inbox.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;
use messaging::{Admission, HandleError, Handled, admit};
use provisioning_events::{Aggregate, AggregateKind, Event, EventBody, SCHEMA_VERSION};
use uuid::Uuid;

/// An event of `kind`/`id` at `version`, with a fresh id and nil tenant.
pub fn event(kind: AggregateKind, id: &str, version: i64, body: EventBody) -> Event {
    Event {
        id: Uuid::now_v7(),
        seq: 0,
        schema_version: SCHEMA_VERSION,
        org_id: Uuid::nil(),
        workspace_id: Uuid::nil(),
        aggregate: Aggregate {
            kind,
            id: id.into(),
            version,
        },
        occurred_at: Utc::now(),
        body,
        traceparent: None,
    }
}

/// `group.renamed` of group `id` at `version`.
pub fn renamed(id: &str, version: i64, name: &str) -> Event {
    event(
        AggregateKind::Group,
        id,
        version,
        EventBody::GroupRenamed {
            display_name: name.into(),
        },
    )
}

/// Applied events in memory, exactly once and in aggregate order.
#[derive(Clone, Default)]
pub struct MemoryInbox {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    applied: Vec<Event>,
    seen: HashSet<Uuid>,
    versions: HashMap<String, i64>,
}

impl MemoryInbox {
    pub fn apply(&self, event: &Event) -> Result<Handled, HandleError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let last = state.versions.get(&event.aggregate.id).copied();
        match admit(
            state.seen.contains(&event.id),
            last,
            event.aggregate.version,
        ) {
            Admission::Apply => {
                state.seen.insert(event.id);
                state
                    .versions
                    .insert(event.aggregate.id.clone(), event.aggregate.version);
                state.applied.push(event.clone());
                Ok(Handled::Applied)
            }
            Admission::Duplicate => Ok(Handled::Duplicate),
            Admission::Stale => Ok(Handled::Stale),
            Admission::OutOfOrder { expected } => Err(HandleError::OutOfOrder {
                expected,
                got: event.aggregate.version,
            }),
        }
    }

    /// What was applied, in order.
    pub fn applied(&self) -> Vec<Event> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .applied
            .clone()
    }
}

/// An event of organization `org` (also its workspace): `kind`/`id` at
/// `version`, which is also its `seq`.
pub fn event_in(org: Uuid, kind: AggregateKind, id: &str, version: i64, body: EventBody) -> Event {
    Event {
        seq: version,
        org_id: org,
        workspace_id: org,
        ..event(kind, id, version, body)
    }
}
