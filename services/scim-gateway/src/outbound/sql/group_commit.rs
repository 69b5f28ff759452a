//! What the group-commit writers of users (`user_inserts`, `user_updates`)
//! share: how a batch is written together and, when one of its writes breaks
//! a uniqueness rule, one write at a time; the request's trace on its
//! events; the answer when the writer is gone; and how many batches of a
//! batched path (these and `user_name_checks`) run at once.

use std::future::Future;

use messaging::relay::Wakeup;
use provisioning_events::Event;
use sea_orm::DatabaseConnection;

use crate::domain::ports::StoreError;

/// Each write's answer, in order. `write` writes the writes it is given in
/// one transaction: `Ok` with each one's own answer, `Err` when the
/// transaction failed. A batch that fails with `Duplicate` (a userName taken
/// by a concurrent write) is written again one write at a time, so each
/// caller gets its own answer; any other failure is every caller's answer
/// at once (the database is unavailable: one at a time would fail the same
/// way, each after its own wait). The relay is woken once something was
/// written.
pub(super) async fn together_then_alone<'a, P, F, Fut>(
    batch: &'a [P],
    journal_written: &Wakeup,
    write: F,
) -> Vec<Result<(), StoreError>>
where
    F: Fn(&'a [P]) -> Fut,
    Fut: Future<Output = Result<Vec<Result<(), StoreError>>, StoreError>>,
{
    if batch.len() > 1 {
        match write(batch).await {
            Ok(results) => {
                if results.iter().any(Result::is_ok) {
                    journal_written.notify();
                }
                return results;
            }
            Err(StoreError::Duplicate) => {}
            Err(e) => {
                let reason = e.to_string();
                return batch
                    .iter()
                    .map(|_| Err(StoreError::Unavailable(anyhow::anyhow!("{reason}"))))
                    .collect();
            }
        }
    }
    let mut results = Vec::with_capacity(batch.len());
    for one in batch {
        let result = match write(std::slice::from_ref(one)).await {
            Ok(mut answers) => answers.pop().unwrap_or_else(|| Err(writer_stopped())),
            Err(e) => Err(e),
        };
        if result.is_ok() {
            journal_written.notify();
        }
        results.push(result);
    }
    results
}

/// `events` with the current request's trace where they have none: taken in
/// the request's task, not in the writer's, so every consumer continues it.
pub(super) fn with_request_trace(events: &[Event]) -> Vec<Event> {
    let mut events = events.to_vec();
    for event in &mut events {
        if event.traceparent.is_none() {
            event.traceparent = trace_context::current_traceparent();
        }
    }
    events
}

/// The answer to a write whose writer stopped before answering.
pub(super) fn writer_stopped() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("the user writer stopped"))
}

/// How many batches of a group-commit path (`service_kit::batching`) run at
/// once: `on_postgres`, or one on SQLite, whose one connection
/// (`service_kit::db`) would only queue more, each with a smaller batch and
/// so more statements per request.
pub(super) fn batches_at_once(db: &DatabaseConnection, on_postgres: usize) -> usize {
    match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => 1,
        _ => on_postgres,
    }
}
