//! Confirmed seats per organization, kept as a running count: deciding a
//! reservation reads one row instead of counting the organization's seats.

use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::SeatTotals;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SeatTotals::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SeatTotals::OrgId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SeatTotals::Confirmed)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO seat_totals (org_id, confirmed) \
                 SELECT org_id, COUNT(*) FROM seats WHERE status = 'confirmed' GROUP BY org_id",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SeatTotals::Table).to_owned())
            .await
    }
}
