//! The gateway's journal (`/admin/v1/events`) and each consuming service's
//! replay and dead letters (`/admin/v1/services/{service}/…`), on the same
//! client as [`AdminApis`]. An event's profile arrives sealed or erased (the
//! APIs never open it); it is read here only as which of the two, and the
//! payload's other fields only from a list that names no person.

use chrono::{DateTime, Utc};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::admin_api::{AdminApis, GATEWAY};
use crate::domain::journal::{
    Consumer, DeadLetter, EventId, JournalEvent, JournalFilter, OriginalEvent, Outcome,
    PersonalValues, ReplayOutcome, RequeueReport,
};
use crate::domain::models::{OrgId, Page};
use crate::domain::ports::{DeadLetters, EventJournal, PlatformError, Replay};

#[derive(Deserialize)]
struct EntryJson {
    seq: i64,
    published_at: Option<DateTime<Utc>>,
    traceparent: Option<String>,
    event: Value,
}

#[derive(Deserialize)]
struct EventsJson {
    items: Vec<EntryJson>,
    next_after_seq: Option<i64>,
}

#[derive(Deserialize)]
struct AggregateJson {
    kind: String,
    id: String,
    version: i64,
}

/// The envelope's fields (the payload is read field by field).
#[derive(Deserialize)]
struct EnvelopeJson {
    id: Uuid,
    #[serde(rename = "type")]
    event_type: String,
    schema_version: u64,
    org_id: Uuid,
    aggregate: AggregateJson,
    occurred_at: DateTime<Utc>,
}

/// The payload's fields shown, with their labels: none names a person (a
/// user's names and e-mail are in its profile; `seat_key` is a keyed hash
/// of the userName, left out too).
const SHOWN: [(&str, &str); 7] = [
    ("account_id", "Account id"),
    ("default_role", "Default role"),
    ("display_name", "Team name"),
    ("external_id", "External id"),
    ("members", "Members"),
    ("seat_quota", "Seats"),
    ("scim_included", "SCIM included"),
];

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Object(member) => format!(
                    "{} {}",
                    member
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("member"),
                    member.get("id").and_then(Value::as_str).unwrap_or("?")
                ),
                other => text(other),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        other => other.to_string(),
    }
}

fn personal(profile: &Value) -> PersonalValues {
    if profile.get("sealed").is_some_and(Value::is_string) {
        PersonalValues::Sealed
    } else if profile.get("erased").is_some() {
        PersonalValues::Erased
    } else {
        PersonalValues::Withheld
    }
}

fn journal_event(
    seq: i64,
    published_at: Option<DateTime<Utc>>,
    traceparent: Option<String>,
    event: Value,
) -> Result<JournalEvent, serde_json::Error> {
    let envelope: EnvelopeJson = serde_json::from_value(event.clone())?;
    let payload = event.get("payload");
    let facts = SHOWN
        .iter()
        .filter_map(|(field, label)| {
            let value = payload?.get(*field)?;
            Some(((*label).to_owned(), text(value)))
        })
        .collect();
    Ok(JournalEvent {
        seq,
        id: EventId(envelope.id),
        event_type: envelope.event_type,
        schema_version: envelope.schema_version,
        org: OrgId(envelope.org_id),
        aggregate_kind: envelope.aggregate.kind,
        aggregate_id: envelope.aggregate.id,
        version: envelope.aggregate.version,
        occurred_at: envelope.occurred_at,
        published_at,
        traceparent,
        facts,
        personal: payload.and_then(|p| p.get("profile")).map(personal),
        original: OriginalEvent(event),
    })
}

fn entry(e: EntryJson) -> Result<JournalEvent, serde_json::Error> {
    journal_event(e.seq, e.published_at, e.traceparent, e.event)
}

fn unexpected(service: &'static str, what: &str, e: serde_json::Error) -> PlatformError {
    PlatformError::Unavailable {
        service,
        source: anyhow::anyhow!("{what}: unexpected answer: {e}"),
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl AdminApis {
    fn service_url(&self, service: Consumer, rest: &str) -> String {
        let base = match service {
            Consumer::Identity => &self.urls.identity,
            Consumer::Team => &self.urls.team,
            Consumer::Licensing => &self.urls.licensing,
        };
        format!("{base}/admin/v1/services/{}/{rest}", service.name())
    }
}

impl EventJournal for AdminApis {
    async fn events(
        &self,
        org: OrgId,
        filter: &JournalFilter,
        after_seq: Option<i64>,
        limit: u64,
    ) -> Result<Page<JournalEvent, i64>, PlatformError> {
        let mut params = vec![("org", org.0.to_string()), ("limit", limit.to_string())];
        let optional = [
            ("type", filter.event_type.clone()),
            ("aggregate", filter.person.clone()),
            ("since", filter.since.map(rfc3339)),
            ("until", filter.until.map(rfc3339)),
            ("after_seq", after_seq.map(|s| s.to_string())),
        ];
        params.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| Some((name, value?))),
        );
        let url =
            Url::parse_with_params(&format!("{}/admin/v1/events", self.urls.gateway), &params)
                .map_err(|e| PlatformError::Unavailable {
                    service: GATEWAY,
                    source: anyhow::anyhow!("the gateway's URL: {e}"),
                })?;
        let page: EventsJson = self
            .call(GATEWAY, Method::GET, url.to_string(), None)
            .await?;
        let items = page
            .items
            .into_iter()
            .map(entry)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unexpected(GATEWAY, "GET /admin/v1/events", e))?;
        Ok(Page {
            items,
            next_after: page.next_after_seq,
        })
    }

    async fn event(&self, id: EventId) -> Result<JournalEvent, PlatformError> {
        let url = format!("{}/admin/v1/events/{}", self.urls.gateway, id.0);
        let found: EntryJson = self.call(GATEWAY, Method::GET, url, None).await?;
        entry(found).map_err(|e| unexpected(GATEWAY, "GET /admin/v1/events/{id}", e))
    }
}

#[derive(Deserialize)]
struct OutcomeJson {
    event_id: Uuid,
    outcome: String,
    detail: Option<String>,
}

#[derive(Deserialize)]
struct ReplayJson {
    outcomes: Vec<OutcomeJson>,
}

impl Replay for AdminApis {
    async fn replay(
        &self,
        service: Consumer,
        events: &[JournalEvent],
        dry_run: bool,
    ) -> Result<Vec<ReplayOutcome>, PlatformError> {
        let originals: Vec<&Value> = events.iter().map(|e| &e.original.0).collect();
        let body = json!({"events": originals, "dry_run": dry_run});
        let url = self.service_url(service, "replay");
        let answer: ReplayJson = self
            .call(service.name(), Method::POST, url, Some(body))
            .await?;
        Ok(answer
            .outcomes
            .into_iter()
            .map(|o| ReplayOutcome {
                event: EventId(o.event_id),
                outcome: Outcome::from_name(&o.outcome),
                detail: o.detail,
            })
            .collect())
    }
}

#[derive(Deserialize)]
struct LetterJson {
    event_id: Uuid,
    seq: i64,
    #[serde(rename = "type")]
    event_type: String,
    aggregate_id: String,
    version: i64,
    error: String,
    attempts: u64,
    event: Value,
}

#[derive(Deserialize)]
struct LettersJson {
    items: Vec<LetterJson>,
}

#[derive(Deserialize)]
struct FailingJson {
    event_id: Uuid,
    error: String,
}

#[derive(Deserialize)]
struct RequeueJson {
    applied: u64,
    already_applied: u64,
    #[serde(default)]
    erased: Vec<Uuid>,
    #[serde(default)]
    still_failing: Vec<FailingJson>,
}

impl DeadLetters for AdminApis {
    async fn dead_letters(
        &self,
        service: Consumer,
        limit: u64,
    ) -> Result<Vec<DeadLetter>, PlatformError> {
        let url = self.service_url(service, &format!("dead-letters?limit={limit}"));
        let letters: LettersJson = self.call(service.name(), Method::GET, url, None).await?;
        Ok(letters
            .items
            .into_iter()
            .map(|l| DeadLetter {
                event: EventId(l.event_id),
                seq: l.seq,
                event_type: l.event_type,
                org: l
                    .event
                    .get("org_id")
                    .and_then(Value::as_str)
                    .and_then(|id| Uuid::parse_str(id).ok())
                    .map(OrgId),
                aggregate_id: l.aggregate_id,
                version: l.version,
                error: l.error,
                attempts: l.attempts,
            })
            .collect())
    }

    async fn requeue(
        &self,
        service: Consumer,
        event: Option<EventId>,
    ) -> Result<RequeueReport, PlatformError> {
        let body = match event {
            Some(id) => json!({"event_ids": [id.0]}),
            None => json!({}),
        };
        let url = self.service_url(service, "dead-letters/requeue");
        let answer: RequeueJson = self
            .call(service.name(), Method::POST, url, Some(body))
            .await?;
        Ok(RequeueReport {
            applied: answer.applied,
            already_applied: answer.already_applied,
            erased: answer.erased.len() as u64,
            still_failing: answer
                .still_failing
                .into_iter()
                .map(|f| (EventId(f.event_id), f.error))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_profile_is_only_ever_known_as_sealed_erased_or_withheld() {
        let event = |profile: Value| {
            json!({
                "id": Uuid::nil(), "seq": 4, "type": "user.provisioned", "schema_version": 1,
                "org_id": Uuid::nil(), "workspace_id": Uuid::nil(),
                "aggregate": {"kind": "user", "id": "u-1", "version": 1},
                "occurred_at": "2026-12-05T09:30:00Z",
                "payload": {"account_id": Uuid::nil(), "default_role": "member",
                            "seat_key": "k", "profile": profile}
            })
        };
        let open = journal_event(
            4,
            None,
            None,
            event(json!({"user_name": "ann@example.com", "given_name": "Ann"})),
        )
        .unwrap();
        assert_eq!(open.personal, Some(PersonalValues::Withheld));
        let shown = format!("{:?}", (&open.facts, &open.original));
        assert!(!shown.contains("ann@example.com") && !shown.contains("Ann"));
        assert!(!shown.contains("seat_key"));
        assert!(
            open.facts
                .contains(&("Default role".to_owned(), "member".to_owned()))
        );
        let sealed = journal_event(4, None, None, event(json!({"sealed": "AAAA"}))).unwrap();
        assert_eq!(sealed.personal, Some(PersonalValues::Sealed));
        let erased = journal_event(4, None, None, event(json!({"erased": true}))).unwrap();
        assert_eq!(erased.personal, Some(PersonalValues::Erased));
    }
}
