//! How far a queue's consumer has caught up, kept in the service's own
//! database (`catch_up`, one row per queue): whether a catch-up is pending
//! or done, the `seq` it has applied through and the journal head it reads
//! to. Also the lock that lets one replica at a time catch up (PostgreSQL).

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, Statement,
    TransactionTrait,
};
use sea_orm_migration::prelude::*;
use sha2::{Digest, Sha256};

#[derive(Iden)]
enum CatchUp {
    Table,
    Queue,
    State,
    ThroughSeq,
    TargetSeq,
    UpdatedAt,
}

const PENDING: &str = "pending";
const DONE: &str = "done";

/// A queue's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    /// False while a catch-up is pending (or under way).
    pub done: bool,
    /// Every journal entry of the queue's types up to this `seq` was applied.
    pub through_seq: i64,
    /// The journal head the pending catch-up reads to, once learned.
    pub target_seq: Option<i64>,
}

pub async fn read(db: &DatabaseConnection, queue: &str) -> Result<Option<Watermark>, DbErr> {
    let select = Query::select()
        .columns([CatchUp::State, CatchUp::ThroughSeq, CatchUp::TargetSeq])
        .from(CatchUp::Table)
        .and_where(Expr::col(CatchUp::Queue).eq(queue))
        .to_owned();
    let Some(row) = db.query_one(&select).await? else {
        return Ok(None);
    };
    Ok(Some(Watermark {
        done: row.try_get::<String>("", "state")? == DONE,
        through_seq: row.try_get("", "through_seq")?,
        target_seq: row.try_get("", "target_seq")?,
    }))
}

/// The queue is new: everything routed before it was declared must be
/// caught up on, from the start of the journal (where it was deleted and
/// declared again, when is not known).
pub async fn mark_pending(db: &DatabaseConnection, queue: &str, now: i64) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(CatchUp::Table)
        .columns([
            CatchUp::Queue,
            CatchUp::State,
            CatchUp::ThroughSeq,
            CatchUp::UpdatedAt,
        ])
        .values_panic([queue.into(), PENDING.into(), 0i64.into(), now.into()])
        .on_conflict(
            OnConflict::column(CatchUp::Queue)
                .values([
                    (CatchUp::State, PENDING.into()),
                    (CatchUp::ThroughSeq, 0i64.into()),
                    (CatchUp::TargetSeq, Option::<i64>::None.into()),
                    (CatchUp::UpdatedAt, now.into()),
                ])
                .to_owned(),
        )
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// The queue existed before this service first looked (it kept every event
/// routed since it was declared): nothing to catch up on.
pub async fn record_existing(db: &DatabaseConnection, queue: &str, now: i64) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(CatchUp::Table)
        .columns([
            CatchUp::Queue,
            CatchUp::State,
            CatchUp::ThroughSeq,
            CatchUp::UpdatedAt,
        ])
        .values_panic([queue.into(), DONE.into(), 0i64.into(), now.into()])
        .on_conflict(OnConflict::column(CatchUp::Queue).do_nothing().to_owned())
        .to_owned();
    match db.execute(&insert).await {
        Ok(_) => Ok(()),
        // SQLite reports a conflict ignored by DO NOTHING as no row: fine.
        Err(DbErr::RecordNotInserted) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn update(
    db: &DatabaseConnection,
    queue: &str,
    values: Vec<(CatchUp, sea_orm::Value)>,
) -> Result<(), DbErr> {
    let mut update = Query::update();
    update
        .table(CatchUp::Table)
        .and_where(Expr::col(CatchUp::Queue).eq(queue));
    for (column, value) in values {
        update.value(column, value);
    }
    db.execute(&update).await.map(|_| ())
}

pub async fn set_target(
    db: &DatabaseConnection,
    queue: &str,
    target: i64,
    now: i64,
) -> Result<(), DbErr> {
    let values = vec![
        (CatchUp::TargetSeq, target.into()),
        (CatchUp::UpdatedAt, now.into()),
    ];
    update(db, queue, values).await
}

pub async fn advance(
    db: &DatabaseConnection,
    queue: &str,
    through: i64,
    now: i64,
) -> Result<(), DbErr> {
    let values = vec![
        (CatchUp::ThroughSeq, through.into()),
        (CatchUp::UpdatedAt, now.into()),
    ];
    update(db, queue, values).await
}

pub async fn complete(
    db: &DatabaseConnection,
    queue: &str,
    through: i64,
    now: i64,
) -> Result<(), DbErr> {
    let values = vec![
        (CatchUp::State, DONE.into()),
        (CatchUp::ThroughSeq, through.into()),
        (CatchUp::UpdatedAt, now.into()),
    ];
    update(db, queue, values).await
}

/// Held while one replica catches a queue up: on PostgreSQL a transaction
/// holding `pg_advisory_xact_lock` of the queue (released by PostgreSQL when
/// the holder ends it or its connection closes: a killed replica releases it
/// too); a SQLite database has one process, which needs none.
pub struct CatchUpLock(Option<DatabaseTransaction>);

impl CatchUpLock {
    /// Waits until no other replica catches `queue` up.
    pub async fn acquire(db: &DatabaseConnection, queue: &str) -> Result<Self, DbErr> {
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(Self(None));
        }
        let transaction = db.begin().await?;
        transaction
            .execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [lock_key(queue).into()],
            ))
            .await?;
        Ok(Self(Some(transaction)))
    }

    pub async fn release(self) {
        if let Some(transaction) = self.0 {
            let _ = transaction.rollback().await;
        }
    }
}

/// The advisory lock's key: stable across processes and releases.
fn lock_key(queue: &str) -> i64 {
    let digest = Sha256::digest(format!("scim catch-up {queue}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The `catch_up` table; every consuming service lists this migration.
pub struct CatchUpMigration;

impl MigrationName for CatchUpMigration {
    fn name(&self) -> &str {
        "m20261204_000001_catch_up"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CatchUpMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CatchUp::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(CatchUp::Queue)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CatchUp::State).string().not_null())
                    .col(ColumnDef::new(CatchUp::ThroughSeq).big_integer().not_null())
                    .col(ColumnDef::new(CatchUp::TargetSeq).big_integer().null())
                    .col(ColumnDef::new(CatchUp::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CatchUp::Table).to_owned())
            .await
    }
}
