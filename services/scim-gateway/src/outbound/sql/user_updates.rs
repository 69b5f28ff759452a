//! Group commit of user updates (PATCH, PUT): the updates that arrive while
//! one batch is being committed are written together, in one transaction —
//! one UPDATE per user at the version its caller read, one multi-row INSERT
//! of their journal entries — instead of a transaction each. A caller is
//! answered only after its batch committed, so a 200 still means the change
//! and its events are durable.
//!
//! An update whose row moved on (another write won) leaves its UPDATE
//! without a row and gets `VersionConflict` (its caller starts over from a
//! fresh read), while the others of the batch commit. A batch that breaks a
//! uniqueness rule (a userName changed to a taken one), which aborts the
//! transaction on PostgreSQL, is written again one update at a time, so each
//! caller gets its own answer; any other failure is every caller's answer
//! at once (the database is unavailable).

use std::collections::HashMap;

use messaging::relay::Wakeup;
use provisioning_events::Event;
use sea_orm::{DatabaseConnection, TransactionTrait};
use service_kit::batching::Batcher;

use super::group_commit::{
    batches_at_once, together_then_alone, with_request_trace, writer_stopped,
};
use super::journal_rows::append_journal_entries;
use super::person_keys::{KeyHolder, unwrap_row};
use super::rows::db_error;
use super::user_rows::{UserColumns, emails_changed, update_user_row};
use crate::domain::models::{OrgId, StoredResource};
use crate::domain::ports::StoreError;

/// Updates written in one transaction at most.
const MAX_BATCH: usize = 64;

/// Batches written at the same time on PostgreSQL (as for creates,
/// `user_inserts`); one on SQLite ([`batches_at_once`]).
const POSTGRES_WRITERS: usize = 4;

struct PendingUpdate {
    org: OrgId,
    expected_version: i64,
    user: StoredResource,
    columns: UserColumns,
    emails_changed: bool,
    events: Vec<Event>,
}

pub(super) struct UserUpdates {
    batcher: Batcher<PendingUpdate, Result<(), StoreError>>,
}

impl UserUpdates {
    pub(super) fn new(db: DatabaseConnection, journal_written: Wakeup, keys: KeyHolder) -> Self {
        let writers = batches_at_once(&db, POSTGRES_WRITERS);
        let batcher = Batcher::new(MAX_BATCH, writers, move |batch: Vec<PendingUpdate>| {
            let (db, journal_written, keys) = (db.clone(), journal_written.clone(), keys.clone());
            async move {
                together_then_alone(&batch, &journal_written, |some| {
                    write_updates(&db, &keys, some)
                })
                .await
            }
        });
        Self { batcher }
    }

    /// Writes `user` over `current` (the version its caller read) with its
    /// `events`; returns once they are committed.
    pub(super) async fn update(
        &self,
        org: OrgId,
        current: &StoredResource,
        user: &StoredResource,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let columns = UserColumns::of(&user.document);
        let pending = PendingUpdate {
            org,
            expected_version: current.meta.version,
            emails_changed: emails_changed(&current.document, &columns),
            columns,
            user: user.clone(),
            events: with_request_trace(events),
        };
        self.batcher
            .submit(pending)
            .await
            .unwrap_or_else(|| Err(writer_stopped()))
    }
}

/// Writes the batch in one transaction: `Ok` with each update's own answer
/// (written, or `VersionConflict`), `Err` when the transaction failed.
async fn write_updates(
    db: &DatabaseConnection,
    keys: &KeyHolder,
    batch: &[PendingUpdate],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let txn = db.begin().await.map_err(db_error)?;
    let mut results = Vec::with_capacity(batch.len());
    let mut entries = Vec::new();
    let mut known_keys = HashMap::new();
    for pending in batch {
        let written = update_user_row(
            &txn,
            pending.org,
            pending.expected_version,
            &pending.user,
            &pending.columns,
            pending.emails_changed,
        )
        .await?;
        if let Some(stored) = written {
            // The key the row stores seals the update's events: no read of
            // its own. A row without one (written before keys) gets one
            // when the events are sealed.
            if let Some((kek, wrapped)) = stored {
                let person = (pending.org.0, pending.user.id.0);
                known_keys.insert(person, unwrap_row(keys.ring()?, person, &kek, &wrapped)?);
            }
            entries.extend(pending.events.iter().map(|event| (pending.org, event)));
            results.push(Ok(()));
        } else {
            results.push(Err(StoreError::VersionConflict));
        }
    }
    if !results.iter().any(Result::is_ok) {
        // Nothing was written: nothing to commit.
        txn.rollback().await.map_err(db_error)?;
        return Ok(results);
    }
    let sealed_with = append_journal_entries(&txn, keys, &entries, known_keys).await?;
    txn.commit().await.map_err(db_error)?;
    keys.hand_off(sealed_with);
    Ok(results)
}
