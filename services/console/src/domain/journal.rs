//! The event journal as the console knows it: an organization's events
//! and their filter, one event's delivery status at each consuming service,
//! what a replay or a requeue did, the services' dead letters (the use
//! cases are `journal_service.rs`). Personal values are never opened here:
//! an event's profile is only ever known as sealed, erased or withheld.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use uuid::Uuid;

use super::models::{OrgId, Organization};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId(pub Uuid);

/// The services that consume the journal's events, each with its inbox,
/// replay endpoint and dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Consumer {
    Identity,
    Team,
    Licensing,
}

impl Consumer {
    pub const ALL: [Consumer; 3] = [Consumer::Identity, Consumer::Team, Consumer::Licensing];

    /// The name in the services' URLs (`/admin/v1/services/{name}/…`).
    pub fn name(self) -> &'static str {
        match self {
            Consumer::Identity => "identity",
            Consumer::Team => "team",
            Consumer::Licensing => "licensing",
        }
    }

    pub fn from_name(name: &str) -> Option<Consumer> {
        Consumer::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Which events a journal page shows; every part given narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalFilter {
    /// An event type (`user.provisioned`) or a kind's (`user.*`).
    pub event_type: Option<String>,
    /// One person's events: the SCIM user id, the events' aggregate.
    pub person: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The filter's fields as the operator typed them (times as a
/// `datetime-local` input gives them, read as UTC).
#[derive(Debug, Clone, Default)]
pub struct JournalQuery {
    pub event_type: String,
    pub person: String,
    pub since: String,
    pub until: String,
}

/// A filter the journal cannot apply, in words of what to change.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidFilter(pub String);

/// The event types the filter offers: every kind's, then every type.
pub fn event_types() -> Vec<&'static str> {
    let mut types = vec!["user.*", "group.*", "subscription.*"];
    types.extend(provisioning_events::EventBody::TYPES);
    types
}

impl JournalQuery {
    /// The filter, or what to change in words.
    pub fn filter(&self) -> Result<JournalFilter, InvalidFilter> {
        let given = |v: &str| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
        let event_type = given(&self.event_type);
        if let Some(t) = &event_type
            && !event_types().contains(&t.as_str())
        {
            return Err(InvalidFilter(format!(
                "There is no event type {t:?}; choose one from the list."
            )));
        }
        let since = instant("From", &self.since)?;
        let until = instant("Until", &self.until)?;
        if let (Some(since), Some(until)) = (since, until)
            && since > until
        {
            return Err(InvalidFilter(
                "\"From\" is after \"Until\": nothing can match.".to_owned(),
            ));
        }
        Ok(JournalFilter {
            event_type,
            person: given(&self.person),
            since,
            until,
        })
    }
}

/// A `datetime-local` value (`2026-12-05T09:30`, seconds optional) read as UTC.
fn instant(label: &str, text: &str) -> Result<Option<DateTime<Utc>>, InvalidFilter> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .map(|t| Some(t.and_utc()))
    .ok_or_else(|| {
        InvalidFilter(format!(
            "{label}: enter a date and time such as 2026-12-05T09:30 (UTC)."
        ))
    })
}

/// What an event says of its person's personal values: never the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalValues {
    /// Sealed under the person's data key, as the journal keeps them.
    Sealed,
    /// The person's data key is gone: unrecoverable.
    Erased,
    /// Stored readable (an event of the first schema): not shown here.
    Withheld,
}

/// One journal entry as the console shows it.
#[derive(Debug, Clone)]
pub struct JournalEvent {
    pub seq: i64,
    pub id: EventId,
    pub event_type: String,
    pub schema_version: u64,
    pub org: OrgId,
    pub aggregate_kind: String,
    pub aggregate_id: String,
    pub version: i64,
    pub occurred_at: DateTime<Utc>,
    /// When the relay handed it to the bus; `None`: not yet.
    pub published_at: Option<DateTime<Utc>>,
    pub traceparent: Option<String>,
    /// The payload's fields that name no person (ids, roles, a team's name,
    /// members' SCIM ids, seats), as text.
    pub facts: Vec<(String, String)>,
    pub personal: Option<PersonalValues>,
    /// The event as the journal gave it, for a replay: sent back to a
    /// service as is, never shown.
    pub original: OriginalEvent,
}

impl JournalEvent {
    /// The trace id of the request that caused the event.
    pub fn trace_id(&self) -> Option<&str> {
        self.traceparent.as_deref().and_then(trace_id)
    }
}

/// A W3C `traceparent`'s trace id (`00-<32 hex>-<16 hex>-<2 hex>`).
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (_version, trace) = (parts.next()?, parts.next()?);
    let valid = trace.len() == 32
        && trace.bytes().all(|b| b.is_ascii_hexdigit())
        && trace.bytes().any(|b| b != b'0');
    valid.then_some(trace)
}

/// An event's wire form, opaque to the console (its profile stays sealed).
#[derive(Clone)]
pub struct OriginalEvent(pub serde_json::Value);

impl std::fmt::Debug for OriginalEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginalEvent(…)")
    }
}

/// What a service did, or would do, with one replayed event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Applied,
    /// Applied before; when, if the service still keeps it.
    AlreadyApplied,
    Stale,
    OutOfOrder,
    Failed,
    NotConsumed,
    WouldApply,
    /// An outcome this console does not know (a newer service).
    Other(String),
}

impl Outcome {
    pub fn from_name(name: &str) -> Outcome {
        match name {
            "applied" => Outcome::Applied,
            "already_applied" => Outcome::AlreadyApplied,
            "stale" => Outcome::Stale,
            "out_of_order" => Outcome::OutOfOrder,
            "failed" => Outcome::Failed,
            "not_consumed" => Outcome::NotConsumed,
            "would_apply" => Outcome::WouldApply,
            other => Outcome::Other(other.to_owned()),
        }
    }

    /// The outcome of a replay, in words.
    pub fn words(&self) -> String {
        match self {
            Outcome::Applied => "applied now".to_owned(),
            Outcome::AlreadyApplied => "already applied (skipped)".to_owned(),
            Outcome::Stale => "superseded by a later version (skipped)".to_owned(),
            Outcome::OutOfOrder => "not applied: an earlier version is missing".to_owned(),
            Outcome::Failed => "failed".to_owned(),
            Outcome::NotConsumed => "not consumed by this service".to_owned(),
            Outcome::WouldApply => "would be applied".to_owned(),
            Outcome::Other(name) => name.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReplayOutcome {
    pub event: EventId,
    pub outcome: Outcome,
    /// When it was applied (a dry run's `already_applied`), or why it failed.
    pub detail: Option<String>,
}

/// Where one event stands at one consuming service, from a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Applied, at this time (as the service gave it).
    AppliedAt(String),
    /// Applied or superseded by a later version; the service no longer
    /// keeps which, nor when.
    AppliedOrSuperseded,
    NotYet,
    Superseded,
    NotConsumed,
    Failed(String),
    /// The service did not answer.
    Unknown,
}

impl Delivery {
    pub fn of(outcome: Option<ReplayOutcome>) -> Delivery {
        let Some(o) = outcome else {
            return Delivery::Unknown;
        };
        match (o.outcome, o.detail) {
            (Outcome::AlreadyApplied | Outcome::Applied, Some(at)) => Delivery::AppliedAt(at),
            (Outcome::AlreadyApplied | Outcome::Applied, None) => Delivery::AppliedOrSuperseded,
            (Outcome::WouldApply, _) => Delivery::NotYet,
            (Outcome::Stale, _) => Delivery::Superseded,
            (Outcome::NotConsumed, _) => Delivery::NotConsumed,
            (Outcome::Failed | Outcome::OutOfOrder, detail) => {
                Delivery::Failed(detail.unwrap_or_default())
            }
            (Outcome::Other(name), _) => Delivery::Failed(name),
        }
    }
}

/// One event's page: the event and its delivery at each consumer.
#[derive(Debug, Clone)]
pub struct EventDetail {
    pub organization: Organization,
    pub event: JournalEvent,
    pub deliveries: Vec<(Consumer, Delivery)>,
}

/// The counts of one replay, per outcome, and the problems met.
#[derive(Debug, Clone, Default)]
pub struct ReplayReport {
    pub events: u64,
    pub counts: BTreeMap<Outcome, u64>,
    /// Failed or out-of-order events and why (the first ones).
    pub problems: Vec<(EventId, String)>,
}

/// A letter a service could not apply, as listed: ids, type, error,
/// attempts — never the event's personal values.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub event: EventId,
    pub seq: i64,
    pub event_type: String,
    pub org: Option<OrgId>,
    pub aggregate_id: String,
    pub version: i64,
    pub error: String,
    pub attempts: u64,
}

/// What a requeue did.
#[derive(Debug, Clone, Default)]
pub struct RequeueReport {
    pub applied: u64,
    pub already_applied: u64,
    /// Letters of deleted persons, handed over without personal values and
    /// removed.
    pub erased: u64,
    pub still_failing: Vec<(EventId, String)>,
}

/// One service's dead letters, or that it did not answer.
#[derive(Debug, Clone)]
pub struct ServiceLetters {
    pub service: Consumer,
    pub letters: Option<Vec<DeadLetter>>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_traceparent_gives_its_trace_id() {
        assert_eq!(
            trace_id("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(
            trace_id("00-00000000000000000000000000000000-b7ad6b7169203331-01"),
            None
        );
        assert_eq!(trace_id("nonsense"), None);
        assert_eq!(trace_id("00-<script>-x-01"), None);
    }

    #[test]
    fn times_are_read_as_utc_and_refused_in_words() {
        let query = JournalQuery {
            since: "2026-12-05T09:30".to_owned(),
            until: "2026-12-05T10:00:15".to_owned(),
            ..JournalQuery::default()
        };
        let filter = query.filter().unwrap();
        assert_eq!(
            filter.since.unwrap().to_rfc3339(),
            "2026-12-05T09:30:00+00:00"
        );
        assert_eq!(
            filter.until.unwrap().to_rfc3339(),
            "2026-12-05T10:00:15+00:00"
        );
        let backwards = JournalQuery {
            since: "2026-12-06T00:00".to_owned(),
            until: "2026-12-05T00:00".to_owned(),
            ..JournalQuery::default()
        };
        assert!(matches!(backwards.filter(), Err(InvalidFilter(_))));
        let garbage = JournalQuery {
            since: "yesterday".to_owned(),
            ..JournalQuery::default()
        };
        let Err(InvalidFilter(words)) = garbage.filter() else {
            panic!("refused");
        };
        assert!(words.starts_with("From: "), "{words}");
        let unknown = JournalQuery {
            event_type: "user.exploded".to_owned(),
            ..JournalQuery::default()
        };
        assert!(matches!(unknown.filter(), Err(InvalidFilter(_))));
    }

    #[test]
    fn a_dry_run_outcome_is_a_delivery_status() {
        let of = |outcome: &str, detail: Option<&str>| {
            Delivery::of(Some(ReplayOutcome {
                event: EventId(Uuid::nil()),
                outcome: Outcome::from_name(outcome),
                detail: detail.map(str::to_owned),
            }))
        };
        assert_eq!(
            of("already_applied", Some("2026-12-05T09:30:00Z")),
            Delivery::AppliedAt("2026-12-05T09:30:00Z".to_owned())
        );
        assert_eq!(of("already_applied", None), Delivery::AppliedOrSuperseded);
        assert_eq!(of("would_apply", None), Delivery::NotYet);
        assert_eq!(of("not_consumed", None), Delivery::NotConsumed);
        assert_eq!(of("stale", None), Delivery::Superseded);
        assert_eq!(
            of("failed", Some("boom")),
            Delivery::Failed("boom".to_owned())
        );
        assert_eq!(Delivery::of(None), Delivery::Unknown);
    }
}
