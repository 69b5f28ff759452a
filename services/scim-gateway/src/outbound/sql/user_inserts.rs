//! Group commit of user creates: the creates that arrive while one batch is
//! being committed are written together, in one transaction with multi-row
//! INSERTs (users, their e-mails, their journal entries), instead of a
//! transaction each. A caller is answered only after its batch committed, so
//! a 201 still means the user and its events are durable.
//!
//! A batch that breaks a uniqueness rule (a userName taken by a concurrent
//! create) is written again one create at a time, so each caller gets its
//! own answer (409 for the taken name, 201 for the others); any other
//! failure is every caller's answer at once (the database is unavailable).

use std::sync::{Arc, Mutex, PoisonError};

use messaging::relay::Wakeup;
use provisioning_events::Event;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use super::store::{
    UserColumns, append_journal_entries, db_error, insert_user_rows, write_emails_of,
};
use crate::domain::models::{OrgId, StoredResource};
use crate::domain::ports::StoreError;

/// Creates written in one transaction at most.
const MAX_BATCH: usize = 64;

/// Batches written at the same time. One writer made its round trips the
/// path every create waited on: on a busy machine each waits for the CPU, and
/// 500 creates/s offered got 330/s through with 5 s waits (16 transactions at
/// once, before batching, had got 499/s through).
const WRITERS: usize = 4;

struct PendingCreate {
    org: OrgId,
    user: StoredResource,
    columns: UserColumns,
    events: Vec<Event>,
    written: oneshot::Sender<Result<(), StoreError>>,
}

pub(super) struct UserInserts {
    queue: mpsc::Sender<PendingCreate>,
    /// Taken by the first create, which starts the writer: the store may be
    /// built outside a Tokio runtime.
    writer: Mutex<Option<Writer>>,
}

struct Writer {
    incoming: Arc<tokio::sync::Mutex<mpsc::Receiver<PendingCreate>>>,
    db: DatabaseConnection,
    journal_written: Wakeup,
}

impl UserInserts {
    pub(super) fn new(db: DatabaseConnection, journal_written: Wakeup) -> Self {
        let (queue, incoming) = mpsc::channel(MAX_BATCH * 4);
        Self {
            queue,
            writer: Mutex::new(Some(Writer {
                incoming: Arc::new(tokio::sync::Mutex::new(incoming)),
                db,
                journal_written,
            })),
        }
    }

    /// Writes `user` and its `events`; returns once they are committed.
    pub(super) async fn insert(
        &self,
        org: OrgId,
        user: &StoredResource,
        events: &[Event],
    ) -> Result<(), StoreError> {
        self.start_writer();
        // The trace is the request's: taken here, not in the writer's task.
        let events = events
            .iter()
            .map(|event| Event {
                traceparent: event
                    .traceparent
                    .clone()
                    .or_else(trace_context::current_traceparent),
                ..event.clone()
            })
            .collect();
        let (written, answer) = oneshot::channel();
        let pending = PendingCreate {
            org,
            user: user.clone(),
            columns: UserColumns::of(&user.document),
            events,
            written,
        };
        let stopped = || StoreError::Unavailable(anyhow::anyhow!("the user writer stopped"));
        self.queue.send(pending).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    fn start_writer(&self) {
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(writer) = writer {
            for _ in 0..WRITERS {
                tokio::spawn(writer.clone().run());
            }
        }
    }
}

impl Writer {
    fn clone(&self) -> Self {
        Self {
            incoming: Arc::clone(&self.incoming),
            db: self.db.clone(),
            journal_written: self.journal_written.clone(),
        }
    }

    /// Takes what waits (one writer at a time), writes it (side by side with
    /// the other writers).
    async fn run(self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let taken = self
                .incoming
                .lock()
                .await
                .recv_many(&mut batch, MAX_BATCH)
                .await;
            if taken == 0 {
                return;
            }
            self.write(std::mem::take(&mut batch)).await;
        }
    }

    async fn write(&self, batch: Vec<PendingCreate>) {
        if batch.len() > 1 {
            match write_creates(&self.db, &batch).await {
                Ok(()) => {
                    self.journal_written.notify();
                    for pending in batch {
                        let _ = pending.written.send(Ok(()));
                    }
                    return;
                }
                // Some create of the batch takes a taken name: written one
                // at a time below, each gets its own answer.
                Err(StoreError::Duplicate) => {}
                // The database itself failed: one at a time would fail the
                // same way, each after its own wait.
                Err(e) => {
                    let reason = e.to_string();
                    for pending in batch {
                        let _ = pending
                            .written
                            .send(Err(StoreError::Unavailable(anyhow::anyhow!("{reason}"))));
                    }
                    return;
                }
            }
        }
        for pending in batch {
            let written = write_creates(&self.db, std::slice::from_ref(&pending)).await;
            if written.is_ok() {
                self.journal_written.notify();
            }
            let _ = pending.written.send(written);
        }
    }
}

async fn write_creates(db: &DatabaseConnection, batch: &[PendingCreate]) -> Result<(), StoreError> {
    let txn = db.begin().await.map_err(db_error)?;
    let users: Vec<_> = batch.iter().map(|p| (p.org, &p.user, &p.columns)).collect();
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
    append_journal_entries(&txn, &entries).await?;
    txn.commit().await.map_err(db_error)
}
