//! The consumer inbox: what makes a service's event handling idempotent and
//! ordered per aggregate. Two tables in the service's own database:
//!
//! - `inbox_events`: one row per applied event id (primary key). Inserting it
//!   in the transaction of the effect makes "applied" and "recorded" the same
//!   fact; a redelivery finds the row and is skipped.
//! - `inbox_aggregates`: the last applied version per aggregate. The next event
//!   of an aggregate must carry exactly that version + 1 (see
//!   [`messaging::admit`]); the update is conditional on the version read, so
//!   two competing consumers cannot both apply the same version.
//!
//! Use: open a transaction, call [`claim`]; on [`Admission::Apply`] write the
//! effect in the same transaction and commit; otherwise roll back.
//!
//! Retention: [`prune`] deletes `inbox_events` rows applied before a horizon
//! (`crate::inbox_retention` runs it), never `inbox_aggregates`. Ordering and
//! idempotency rest on the version kept per aggregate: a pruned event has a
//! version at or below its aggregate's last applied one, so a redelivery of
//! it is [`Admission::Stale`] — skipped, never applied again. What pruning
//! loses is only the telling of a duplicate (its own id seen) from a stale
//! event (an older version) for those ids, and when they were applied.

use chrono::{DateTime, Utc};
use messaging::{Admission, admit};
use provisioning_events::{AggregateKind, Event};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr, SqlErr};

use crate::db::{in_list, pow2_chunks};
use sea_orm_migration::prelude::*;

#[derive(DeriveIden, Clone, Copy)]
enum InboxEvents {
    Table,
    EventId,
    EventType,
    AggregateKind,
    AggregateId,
    AggregateVersion,
    Seq,
    AppliedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum InboxAggregates {
    Table,
    AggregateKind,
    AggregateId,
    Version,
}

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("the inbox is unavailable: {0}")]
    Database(#[from] DbErr),
    /// Another consumer applied this aggregate's version between our read and
    /// our write: the event is retried and will then be a duplicate or stale.
    #[error("aggregate {0} was changed concurrently")]
    Contended(String),
    /// Another consumer applied an event of this batch between the batch's
    /// read and its write (competing replicas): the batch fails whole, and
    /// its events are then claimed one at a time.
    #[error("an event of the batch was applied by another consumer meanwhile")]
    BatchContended,
}

fn kind_name(kind: AggregateKind) -> &'static str {
    match kind {
        AggregateKind::User => "user",
        AggregateKind::Group => "group",
        AggregateKind::Subscription => "subscription",
    }
}

/// The last applied version of each aggregate of `events` (at most
/// [`crate::db::MAX_IN_LIST`] of them), added to `last` under (kind, id):
/// one query per aggregate kind, the key's order.
async fn read_last_versions<'e, C: ConnectionTrait>(
    conn: &C,
    events: impl Iterator<Item = &'e Event> + Clone,
    last: &mut std::collections::HashMap<(&'static str, String), i64>,
) -> Result<(), DbErr> {
    for kind in [
        AggregateKind::User,
        AggregateKind::Group,
        AggregateKind::Subscription,
    ] {
        let ids: Vec<String> = events
            .clone()
            .filter(|e| e.aggregate.kind == kind)
            .map(|e| e.aggregate.id.clone())
            .collect();
        if ids.is_empty() {
            continue;
        }
        let rows = conn
            .query_all(
                &Query::select()
                    .columns([InboxAggregates::AggregateId, InboxAggregates::Version])
                    .from(InboxAggregates::Table)
                    .and_where(Expr::col(InboxAggregates::AggregateKind).eq(kind_name(kind)))
                    .and_where(Expr::col(InboxAggregates::AggregateId).is_in(in_list(&ids)))
                    .to_owned(),
            )
            .await?;
        for row in rows {
            last.insert(
                (kind_name(kind), row.try_get("", "aggregate_id")?),
                row.try_get("", "version")?,
            );
        }
    }
    Ok(())
}

/// Decides whether `event` may be applied in transaction `txn` and, when it
/// may, records it there as applied at `applied_at` (the service's clock).
pub async fn claim<C: ConnectionTrait>(
    txn: &C,
    event: &Event,
    applied_at: DateTime<Utc>,
) -> Result<Admission, InboxError> {
    let kind = kind_name(event.aggregate.kind);
    let recorded = txn
        .query_one(
            &Query::select()
                .column(InboxEvents::EventId)
                .from(InboxEvents::Table)
                .and_where(Expr::col(InboxEvents::EventId).eq(event.id))
                .to_owned(),
        )
        .await?
        .is_some();
    let last_applied: Option<i64> = match txn
        .query_one(
            &Query::select()
                .column(InboxAggregates::Version)
                .from(InboxAggregates::Table)
                .and_where(Expr::col(InboxAggregates::AggregateKind).eq(kind))
                .and_where(Expr::col(InboxAggregates::AggregateId).eq(event.aggregate.id.as_str()))
                .to_owned(),
        )
        .await?
    {
        Some(row) => Some(row.try_get("", "version")?),
        None => None,
    };
    let admission = admit(recorded, last_applied, event.aggregate.version);
    if admission != Admission::Apply {
        return Ok(admission);
    }

    txn.execute(
        &Query::insert()
            .into_table(InboxEvents::Table)
            .columns([
                InboxEvents::EventId,
                InboxEvents::EventType,
                InboxEvents::AggregateKind,
                InboxEvents::AggregateId,
                InboxEvents::AggregateVersion,
                InboxEvents::Seq,
                InboxEvents::AppliedAt,
            ])
            .values_panic([
                event.id.into(),
                event.routing_key().into(),
                kind.into(),
                event.aggregate.id.clone().into(),
                event.aggregate.version.into(),
                event.seq.into(),
                applied_at.timestamp_micros().into(),
            ])
            .to_owned(),
    )
    .await?;
    let moved = match last_applied {
        None => {
            txn.execute(
                &Query::insert()
                    .into_table(InboxAggregates::Table)
                    .columns([
                        InboxAggregates::AggregateKind,
                        InboxAggregates::AggregateId,
                        InboxAggregates::Version,
                    ])
                    .values_panic([
                        kind.into(),
                        event.aggregate.id.clone().into(),
                        event.aggregate.version.into(),
                    ])
                    .to_owned(),
            )
            .await?
        }
        Some(last) => {
            txn.execute(
                &Query::update()
                    .table(InboxAggregates::Table)
                    .value(InboxAggregates::Version, event.aggregate.version)
                    .and_where(Expr::col(InboxAggregates::AggregateKind).eq(kind))
                    .and_where(
                        Expr::col(InboxAggregates::AggregateId).eq(event.aggregate.id.as_str()),
                    )
                    .and_where(Expr::col(InboxAggregates::Version).eq(last))
                    .to_owned(),
            )
            .await?
        }
    };
    if moved.rows_affected() != 1 {
        return Err(InboxError::Contended(event.aggregate.id.clone()));
    }
    Ok(Admission::Apply)
}

/// [`claim`] for a batch of events in one transaction, with set-based
/// statements: two reads and two multi-row writes for the whole batch.
/// Versions of one aggregate inside the batch are admitted in order.
///
/// Competing consumers (several replicas on one queue) stay safe, though not
/// the way [`claim`] makes them: an event is admitted only right after the
/// version its batch read, so two transactions can apply the same aggregate
/// at once only by applying the same event, and the second of those fails on
/// `inbox_events`' primary key (on PostgreSQL it waits for the first to
/// commit), failing its whole batch with [`InboxError::BatchContended`]. The
/// consumer then handles that batch's events one by one through [`claim`].
pub async fn claim_batch<C: ConnectionTrait>(
    txn: &C,
    events: &[Event],
    applied_at: DateTime<Utc>,
) -> Result<Vec<Admission>, InboxError> {
    use std::collections::{HashMap, HashSet};
    let mut recorded: HashSet<uuid::Uuid> = HashSet::new();
    let mut last: HashMap<(&'static str, String), i64> = HashMap::new();
    for chunk in events.chunks(crate::db::MAX_IN_LIST) {
        let rows = txn
            .query_all(
                &Query::select()
                    .column(InboxEvents::EventId)
                    .from(InboxEvents::Table)
                    .and_where(
                        Expr::col(InboxEvents::EventId)
                            .is_in(in_list(&chunk.iter().map(|e| e.id).collect::<Vec<_>>())),
                    )
                    .to_owned(),
            )
            .await?;
        for row in rows {
            recorded.insert(row.try_get("", "event_id")?);
        }
        read_last_versions(txn, chunk.iter(), &mut last).await?;
    }
    let mut admissions = Vec::with_capacity(events.len());
    let mut admitted = Vec::new();
    let mut versions: HashMap<(&'static str, String), i64> = HashMap::new();
    for event in events {
        let key = (kind_name(event.aggregate.kind), event.aggregate.id.clone());
        let current = versions.get(&key).or_else(|| last.get(&key)).copied();
        let admission = admit(
            recorded.contains(&event.id),
            current,
            event.aggregate.version,
        );
        if admission == Admission::Apply {
            recorded.insert(event.id);
            versions.insert(key, event.aggregate.version);
            admitted.push(event);
        }
        admissions.push(admission);
    }
    let now = applied_at.timestamp_micros();
    for chunk in pow2_chunks(&admitted) {
        let mut insert = Query::insert();
        insert.into_table(InboxEvents::Table).columns([
            InboxEvents::EventId,
            InboxEvents::EventType,
            InboxEvents::AggregateKind,
            InboxEvents::AggregateId,
            InboxEvents::AggregateVersion,
            InboxEvents::Seq,
            InboxEvents::AppliedAt,
        ]);
        for event in chunk {
            insert.values_panic([
                event.id.into(),
                event.routing_key().into(),
                kind_name(event.aggregate.kind).into(),
                event.aggregate.id.clone().into(),
                event.aggregate.version.into(),
                event.seq.into(),
                now.into(),
            ]);
        }
        txn.execute(&insert).await.map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => InboxError::BatchContended,
            _ => InboxError::Database(e),
        })?;
    }
    let versions: Vec<_> = versions.into_iter().collect();
    for chunk in pow2_chunks(&versions) {
        let mut upsert = Query::insert();
        upsert
            .into_table(InboxAggregates::Table)
            .columns([
                InboxAggregates::AggregateKind,
                InboxAggregates::AggregateId,
                InboxAggregates::Version,
            ])
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([
                    InboxAggregates::AggregateKind,
                    InboxAggregates::AggregateId,
                ])
                .update_column(InboxAggregates::Version)
                .to_owned(),
            );
        for ((kind, id), version) in chunk {
            upsert.values_panic([(*kind).into(), id.clone().into(), (*version).into()]);
        }
        txn.execute(&upsert).await?;
    }
    Ok(admissions)
}

/// What the inbox knows of an event that counts as applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Its row in `inbox_events`: applied at this time (microseconds since
    /// the epoch).
    Recorded { at_micros: i64 },
    /// No row (pruned beyond the retention horizon), but its version is at or
    /// below its aggregate's last applied version: applied, or superseded by
    /// a later version. Either way [`claim`] will not apply it again.
    AppliedOrSuperseded,
}

/// Which of `events` count as applied, and how the inbox knows: what an
/// operator asks before and after a replay. Events absent from the answer
/// were not applied (their version is above the aggregate's last one).
pub async fn applied<C: ConnectionTrait>(
    conn: &C,
    events: &[Event],
) -> Result<Vec<(uuid::Uuid, Applied)>, DbErr> {
    use std::collections::HashMap;
    let mut found = Vec::with_capacity(events.len());
    let mut recorded = std::collections::HashSet::new();
    for chunk in events.chunks(crate::db::MAX_IN_LIST) {
        let ids: Vec<uuid::Uuid> = chunk.iter().map(|e| e.id).collect();
        let rows = conn
            .query_all(
                &Query::select()
                    .columns([InboxEvents::EventId, InboxEvents::AppliedAt])
                    .from(InboxEvents::Table)
                    .and_where(Expr::col(InboxEvents::EventId).is_in(in_list(&ids)))
                    .to_owned(),
            )
            .await?;
        for row in rows {
            let id: uuid::Uuid = row.try_get("", "event_id")?;
            let at_micros = row.try_get("", "applied_at")?;
            recorded.insert(id);
            found.push((id, Applied::Recorded { at_micros }));
        }
    }
    let unrecorded: Vec<&Event> = events
        .iter()
        .filter(|e| !recorded.contains(&e.id))
        .collect();
    let mut last: HashMap<(&'static str, String), i64> = HashMap::new();
    for chunk in unrecorded.chunks(crate::db::MAX_IN_LIST) {
        read_last_versions(conn, chunk.iter().copied(), &mut last).await?;
    }
    for event in unrecorded {
        let key = (kind_name(event.aggregate.kind), event.aggregate.id.clone());
        if last
            .get(&key)
            .is_some_and(|last| event.aggregate.version <= *last)
        {
            found.push((event.id, Applied::AppliedOrSuperseded));
        }
    }
    Ok(found)
}

/// Deletes at most `batch` rows of `inbox_events` applied before
/// `applied_before` and returns how many it deleted: call it again while
/// that is `batch`. One short statement per call, so the consumer's writes
/// wait for one batch at most; `inbox_aggregates` is never touched.
pub async fn prune<C: ConnectionTrait>(
    db: &C,
    applied_before: DateTime<Utc>,
    batch: u64,
) -> Result<u64, DbErr> {
    let oldest = Query::select()
        .column(InboxEvents::EventId)
        .from(InboxEvents::Table)
        .and_where(Expr::col(InboxEvents::AppliedAt).lt(applied_before.timestamp_micros()))
        .limit(batch)
        .to_owned();
    let deleted = db
        .execute(
            &Query::delete()
                .from_table(InboxEvents::Table)
                .and_where(Expr::col(InboxEvents::EventId).in_subquery(oldest))
                .to_owned(),
        )
        .await?;
    Ok(deleted.rows_affected())
}

/// The inbox tables; every consuming service lists this migration in its
/// migrator.
pub struct InboxMigration;

impl MigrationName for InboxMigration {
    fn name(&self) -> &str {
        "m20261129_000001_consumer_inbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for InboxMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(InboxEvents::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(InboxEvents::EventId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(InboxEvents::EventType).string().not_null())
                    .col(
                        ColumnDef::new(InboxEvents::AggregateKind)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(InboxEvents::AggregateId).string().not_null())
                    .col(
                        ColumnDef::new(InboxEvents::AggregateVersion)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(InboxEvents::Seq).big_integer().not_null())
                    .col(
                        ColumnDef::new(InboxEvents::AppliedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InboxAggregates::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(InboxAggregates::AggregateKind)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(InboxAggregates::AggregateId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(InboxAggregates::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(InboxAggregates::AggregateKind)
                            .col(InboxAggregates::AggregateId),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(InboxAggregates::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(InboxEvents::Table).to_owned())
            .await
    }
}

/// Puts the aggregate id first in `inbox_aggregates`' key on PostgreSQL.
///
/// A batch claim asks for one kind and many ids (`aggregate_kind = $1 AND
/// aggregate_id IN (...)`). Keyed (kind, id), a planner without statistics
/// on the table (filled faster than autovacuum analyzes it, or never
/// analyzed) scanned every aggregate of the kind and filtered the ids: each
/// batch read the whole table. Keyed (id, kind), the ids are the only way in.
/// SQLite's planner looks the ids up either way; its table is left as is.
/// Every consuming service lists this migration after [`InboxMigration`].
pub struct InboxKeyMigration;

impl MigrationName for InboxKeyMigration {
    fn name(&self) -> &str {
        "m20261202_000001_inbox_aggregates_key"
    }
}

/// Re-creates `inbox_aggregates`' primary key over `columns` (PostgreSQL).
async fn key_inbox_aggregates(manager: &SchemaManager<'_>, columns: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "ALTER TABLE inbox_aggregates DROP CONSTRAINT inbox_aggregates_pkey, \
             ADD CONSTRAINT inbox_aggregates_pkey PRIMARY KEY ({columns})"
        ))
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for InboxKeyMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        key_inbox_aggregates(manager, "aggregate_id, aggregate_kind").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        key_inbox_aggregates(manager, "aggregate_kind, aggregate_id").await
    }
}

/// An index on `inbox_events.applied_at`, so that [`prune`] finds the rows
/// beyond the horizon without reading the table. Every consuming service
/// lists this migration after [`InboxKeyMigration`].
pub struct InboxRetentionMigration;

impl MigrationName for InboxRetentionMigration {
    fn name(&self) -> &str {
        "m20261203_000001_inbox_events_applied_at"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for InboxRetentionMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("inbox_events_applied_at")
                    .table(InboxEvents::Table)
                    .col(InboxEvents::AppliedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("inbox_events_applied_at")
                    .table(InboxEvents::Table)
                    .to_owned(),
            )
            .await
    }
}
