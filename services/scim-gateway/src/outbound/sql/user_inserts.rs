//! Group commit of user creates: the creates that arrive while one batch is
//! being committed are written together, in one transaction with multi-row
//! INSERTs (users with their data keys, their e-mails, their journal
//! entries), instead of a
//! transaction each. A caller is answered only after its batch committed, so
//! a 201 still means the user and its events are durable.
//!
//! A batch that breaks a uniqueness rule (a userName taken by a concurrent
//! create) is written again one create at a time, so each caller gets its
//! own answer (409 for the taken name, 201 for the others); any other
//! failure is every caller's answer at once (the database is unavailable).

use std::collections::HashMap;

use messaging::relay::Wakeup;
use provisioning_events::Event;
use sea_orm::{DatabaseConnection, TransactionTrait};
use service_kit::batching::Batcher;

use super::group_commit::{
    batches_at_once, together_then_alone, with_request_trace, writer_stopped,
};
use super::journal_rows::append_journal_entries;
use super::person_keys::{KeyHolder, new_user_key};
use super::rows::db_error;
use super::user_rows::{UserColumns, insert_user_rows, write_emails_of};
use crate::domain::models::{OrgId, StoredResource};
use crate::domain::ports::StoreError;

/// Creates written in one transaction at most.
const MAX_BATCH: usize = 64;

/// Batches written at the same time on PostgreSQL. One writer made its round
/// trips the path every create waited on: on a busy machine each waits for
/// the CPU, and 500 creates/s offered got 330/s through with 5 s waits (16
/// transactions at once, before batching, had got 499/s through). On SQLite
/// see [`batches_at_once`].
const POSTGRES_WRITERS: usize = 4;

struct PendingCreate {
    org: OrgId,
    user: StoredResource,
    columns: UserColumns,
    events: Vec<Event>,
}

/// Creates of a Bulk wave written in one transaction at most.
const MAX_WAVE_TRANSACTION: usize = 256;

pub(super) struct UserInserts {
    batcher: Batcher<PendingCreate, Result<(), StoreError>>,
    db: DatabaseConnection,
    journal_written: Wakeup,
    keys: KeyHolder,
}

impl UserInserts {
    pub(super) fn new(db: DatabaseConnection, journal_written: Wakeup, keys: KeyHolder) -> Self {
        let writers = batches_at_once(&db, POSTGRES_WRITERS);
        let shared = (db.clone(), journal_written.clone(), keys.clone());
        let batcher = Batcher::new(MAX_BATCH, writers, move |batch: Vec<PendingCreate>| {
            let (db, journal_written, keys) = shared.clone();
            async move {
                together_then_alone(&batch, &journal_written, |some| {
                    write_creates(&db, &keys, some)
                })
                .await
            }
        });
        Self {
            batcher,
            db,
            journal_written,
            keys,
        }
    }

    /// Writes a Bulk wave's new users of `org`, up to
    /// [`MAX_WAVE_TRANSACTION`] a transaction, without going through the
    /// batcher (the wave is the batch): each one's answer, in order, as
    /// [`Self::insert`] would have given it.
    pub(super) async fn insert_all(
        &self,
        org: OrgId,
        users: &[(StoredResource, Vec<Event>)],
    ) -> Vec<Result<(), StoreError>> {
        let pending: Vec<PendingCreate> = users
            .iter()
            .map(|(user, events)| PendingCreate {
                org,
                columns: UserColumns::of(&user.document),
                user: user.clone(),
                events: with_request_trace(events),
            })
            .collect();
        let mut results = Vec::with_capacity(pending.len());
        for part in pending.chunks(MAX_WAVE_TRANSACTION) {
            let written = together_then_alone(part, &self.journal_written, |some| {
                write_creates(&self.db, &self.keys, some)
            })
            .await;
            results.extend(written);
        }
        results
    }

    /// Writes `user` and its `events`; returns once they are committed.
    pub(super) async fn insert(
        &self,
        org: OrgId,
        user: &StoredResource,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let pending = PendingCreate {
            org,
            columns: UserColumns::of(&user.document),
            user: user.clone(),
            events: with_request_trace(events),
        };
        self.batcher
            .submit(pending)
            .await
            .unwrap_or_else(|| Err(writer_stopped()))
    }
}

/// Writes the batch in one transaction: every create's answer, or `Err`
/// when the transaction failed.
async fn write_creates(
    db: &DatabaseConnection,
    keys: &KeyHolder,
    batch: &[PendingCreate],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    // Each new user's data key is made here and written in its row: the
    // events below are sealed with it, no statement of its own.
    let mut new_keys = HashMap::with_capacity(batch.len());
    let mut stored_keys = Vec::with_capacity(batch.len());
    for pending in batch {
        let person = (pending.org.0, pending.user.id.0);
        let (key, stored) = new_user_key(keys, person)?;
        new_keys.insert(person, key);
        stored_keys.push(stored);
    }
    let txn = db.begin().await.map_err(db_error)?;
    let users: Vec<_> = batch
        .iter()
        .zip(&stored_keys)
        .map(|(p, key)| (p.org, &p.user, &p.columns, key))
        .collect();
    insert_user_rows(&txn, &users).await?;
    let emails: Vec<_> = batch
        .iter()
        .map(|p| (p.org, p.user.id, &p.columns))
        .collect();
    write_emails_of(&txn, &emails).await?;
    let entries: Vec<_> = batch
        .iter()
        .flat_map(|p| p.events.iter().map(move |event| (p.org, event)))
        .collect();
    let sealed_with = append_journal_entries(&txn, keys, &entries, new_keys).await?;
    txn.commit().await.map_err(db_error)?;
    keys.hand_off(sealed_with);
    Ok(batch.iter().map(|_| Ok(())).collect())
}
