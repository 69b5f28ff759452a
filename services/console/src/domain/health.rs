//! What the health page shows: each service (or the one embedded process
//! serving them all) ready or not, its parts, its queues and the journal's
//! lag, as the services' `/readyz` report them.

use chrono::{DateTime, Utc};

/// One process the console asked, and the services it serves (in the
/// embedded process, all four on one address: asked once).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceHealth {
    /// The services answering at this address, e.g. `["licensing"]`.
    pub services: Vec<&'static str>,
    pub state: Readiness,
    pub parts: Vec<HealthPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Ready, and still applying what its new queue missed from the journal.
    CatchingUp,
    /// Answered 503: `detail` names each part that is not ready, and why.
    NotReady {
        detail: String,
    },
    /// No answer, or one that is not a readiness report: why, in words.
    NotAnswering {
        why: String,
    },
}

/// A part of a process as its `/readyz` reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthPart {
    Database {
        reachable: bool,
    },
    /// The gateway's journal: entries not yet published to the broker.
    Journal(JournalLag),
    /// A consumer of the service's event queue.
    Consumer {
        consuming: bool,
        queue: Option<QueueDepths>,
    },
    /// A request/reply server (licensing's seat reservations).
    RequestServer {
        queue: String,
        consuming: bool,
    },
    /// The relay of an outbox (licensing's `subscription.changed`).
    OutboxRelay {
        running: bool,
        lease_held: bool,
        failure: Option<String>,
    },
    /// A part this console does not know, with its report as text.
    Other {
        name: String,
        report: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLag {
    pub unpublished: u64,
    pub oldest_unpublished_at: Option<DateTime<Utc>>,
    /// Whether this process's relay holds the journal's lease (`None`: not
    /// said).
    pub relay_held: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepths {
    pub name: String,
    pub ready: u64,
    pub retrying: u64,
    pub dead: u64,
    pub consumers: u64,
}
