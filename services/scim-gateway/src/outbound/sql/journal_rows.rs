//! The `journal` rows: appending a write's events inside its transaction
//! (their profiles sealed first: the journal never holds an open one), and
//! reading an entry back as its event.

use anyhow::{Context, anyhow};
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult};

use provisioning_events::{AggregateKind, Event};

use std::collections::HashMap;

use provisioning_events::sealing::DataKey;

use super::person_keys::{KeyHolder, Person, seal_entries};
use super::rows::{db_error, from_micros, micros, unquoted, unreadable};
use super::tables::Journal;
use crate::domain::models::OrgId;
use crate::domain::ports::{JournalEntry, StoreError};

/// Appends events to the journal inside the caller's transaction: the events
/// commit with the change they describe, or not at all.
pub(super) async fn append_journal(
    txn: &DatabaseTransaction,
    keys: &KeyHolder,
    org: OrgId,
    events: &[Event],
) -> Result<SealedWith, StoreError> {
    let entries: Vec<_> = events.iter().map(|event| (org, event)).collect();
    append_journal_entries(txn, keys, &entries, HashMap::new()).await
}

/// The data keys a write's events were sealed with: handed to
/// `KeyHolder::hand_off` once the write has committed.
pub(super) type SealedWith = HashMap<Person, DataKey>;

/// Appends events of any organizations, in order, in multi-row INSERTs. An
/// event without a `traceparent` gets the current span's. Every open profile
/// is first sealed under its person's data key (`known`: the keys the write
/// already holds; the others are read from the users' rows), in the same
/// transaction; without a key ring a profile is an error, never written in
/// clear.
pub(super) async fn append_journal_entries(
    txn: &DatabaseTransaction,
    keys: &KeyHolder,
    entries: &[(OrgId, &Event)],
    known: SealedWith,
) -> Result<SealedWith, StoreError> {
    let (entries, sealed_with) = seal_entries(txn, keys, entries, known).await?;
    for chunk in service_kit::db::pow2_chunks(&entries) {
        let mut insert = Query::insert();
        insert.into_table(Journal::Table).columns([
            Journal::EventId,
            Journal::OrgId,
            Journal::EventType,
            Journal::AggregateKind,
            Journal::AggregateId,
            Journal::AggregateVersion,
            Journal::OccurredAt,
            Journal::Event,
            Journal::Traceparent,
        ]);
        for (org, event) in chunk {
            let kind = match event.aggregate.kind {
                AggregateKind::User => "user",
                AggregateKind::Group => "group",
                AggregateKind::Subscription => "subscription",
            };
            insert.values_panic([
                event.id.into(),
                org.0.into(),
                event.routing_key().into(),
                kind.into(),
                event.aggregate.id.clone().into(),
                event.aggregate.version.into(),
                micros(event.occurred_at).into(),
                serde_json::to_string(event.as_ref())
                    .map_err(|e| StoreError::Unavailable(anyhow!(e)))?
                    .into(),
                // The request's trace goes with its events to every consumer.
                event
                    .traceparent
                    .clone()
                    .or_else(trace_context::current_traceparent)
                    .into(),
            ]);
        }
        txn.execute(&insert).await.map_err(db_error)?;
    }
    Ok(sealed_with)
}

/// A journal row (`seq`, `event`, `traceparent`) as the event it records.
pub(super) fn journal_event(row: &QueryResult) -> Result<Event, StoreError> {
    let seq: i64 = row.try_get("", "seq").map_err(unreadable)?;
    let text: String = row.try_get("", "event").map_err(unreadable)?;
    let mut event: Event = serde_json::from_str(&text)
        .map_err(|e| unquoted(&e))
        .with_context(|| format!("journal entry {seq} is not an event"))?;
    event.seq = seq;
    event.traceparent = row.try_get("", "traceparent").map_err(unreadable)?;
    Ok(event)
}

/// The columns [`journal_entry`] reads.
pub(super) fn journal_entries() -> SelectStatement {
    Query::select()
        .columns([
            Journal::Seq,
            Journal::Event,
            Journal::Traceparent,
            Journal::PublishedAt,
        ])
        .from(Journal::Table)
        .to_owned()
}

pub(super) fn journal_entry(row: &QueryResult) -> Result<JournalEntry, StoreError> {
    let published_at: Option<i64> = row.try_get("", "published_at").map_err(unreadable)?;
    Ok(JournalEntry {
        event: journal_event(row)?,
        published_at: published_at.map(from_micros).transpose()?,
    })
}
