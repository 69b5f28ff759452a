//! Seat usage over time (`seat_usage`): a row per organization per hour with
//! a change, keyed by both; `ix_seat_usage_hour` serves the retention's
//! delete of old hours across organizations. History starts with this
//! migration: nothing before it is known.

use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::SeatUsage;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SeatUsage::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(SeatUsage::OrgId).uuid().not_null())
                    .col(ColumnDef::new(SeatUsage::Hour).big_integer().not_null())
                    .col(ColumnDef::new(SeatUsage::LastUsed).big_integer().not_null())
                    .col(ColumnDef::new(SeatUsage::PeakUsed).big_integer().not_null())
                    .col(ColumnDef::new(SeatUsage::Quota).big_integer().null())
                    .primary_key(Index::create().col(SeatUsage::OrgId).col(SeatUsage::Hour))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_seat_usage_hour")
                    .table(SeatUsage::Table)
                    .col(SeatUsage::Hour)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SeatUsage::Table).to_owned())
            .await
    }
}
