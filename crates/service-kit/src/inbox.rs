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

use chrono::Utc;
use messaging::{Admission, admit};
use provisioning_events::{AggregateKind, Event};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr};
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
}

fn kind_name(kind: AggregateKind) -> &'static str {
    match kind {
        AggregateKind::User => "user",
        AggregateKind::Group => "group",
        AggregateKind::Subscription => "subscription",
    }
}

/// Decides whether `event` may be applied in transaction `txn` and, when it
/// may, records it there.
pub async fn claim<C: ConnectionTrait>(txn: &C, event: &Event) -> Result<Admission, InboxError> {
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
                Utc::now().timestamp_micros().into(),
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

/// When each of `event_ids` was applied (microseconds since the epoch), for
/// those the inbox recorded: what an operator asks before and after a replay.
pub async fn applied<C: ConnectionTrait>(
    conn: &C,
    event_ids: &[uuid::Uuid],
) -> Result<Vec<(uuid::Uuid, i64)>, DbErr> {
    let mut found = Vec::with_capacity(event_ids.len());
    for chunk in event_ids.chunks(500) {
        let rows = conn
            .query_all(
                &Query::select()
                    .columns([InboxEvents::EventId, InboxEvents::AppliedAt])
                    .from(InboxEvents::Table)
                    .and_where(Expr::col(InboxEvents::EventId).is_in(chunk.iter().copied()))
                    .to_owned(),
            )
            .await?;
        for row in rows {
            found.push((row.try_get("", "event_id")?, row.try_get("", "applied_at")?));
        }
    }
    Ok(found)
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
