//! Seat lookups that cost the same in an organization of a million seats as
//! in one of ten, whatever the planner knows of the table.
//!
//! Measured on a table filled faster than autovacuum analyzes it (or never
//! analyzed), each of these walked every seat of the organization:
//! - `ix_seats_status` (organization, status) matched the equality on
//!   `org_id` and `status` of the key and holder lookups and was taken over
//!   their own indexes. It is replaced by a partial index of reservations,
//!   which serves what it was for: counting live reservations, the sweeper.
//! - The key and holder indexes led with the organization, so a lookup of
//!   many keys (`org_id = $1 AND seat_key IN (...)`) could use the index for
//!   the organization alone and filter the keys. They now lead with the key
//!   and the holder.

use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::Seats;

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn drop_index(manager: &SchemaManager<'_>, name: &str) -> Result<(), DbErr> {
    manager
        .drop_index(
            Index::drop()
                .name(name)
                .table(Seats::Table)
                .if_exists()
                .to_owned(),
        )
        .await
}

async fn create_index(
    manager: &SchemaManager<'_>,
    name: &str,
    first: Seats,
    second: Seats,
) -> Result<(), DbErr> {
    manager
        .create_index(
            Index::create()
                .name(name)
                .table(Seats::Table)
                .col(first)
                .col(second)
                .if_not_exists()
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["ix_seats_status", "ix_seats_key", "ix_seats_holder"] {
            drop_index(manager, name).await?;
        }
        create_index(manager, "ix_seats_key", Seats::SeatKey, Seats::OrgId).await?;
        create_index(manager, "ix_seats_holder", Seats::Holder, Seats::OrgId).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_seats_reserved")
                    .table(Seats::Table)
                    .col(Seats::OrgId)
                    .col(Seats::ExpiresAt)
                    .and_where(Expr::col(Seats::Status).eq("reserved"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["ix_seats_reserved", "ix_seats_key", "ix_seats_holder"] {
            drop_index(manager, name).await?;
        }
        create_index(manager, "ix_seats_key", Seats::OrgId, Seats::SeatKey).await?;
        create_index(manager, "ix_seats_holder", Seats::OrgId, Seats::Holder).await?;
        create_index(manager, "ix_seats_status", Seats::OrgId, Seats::Status).await
    }
}
