//! Confirmed seats and reservations per organization, kept as running
//! totals: deciding a reservation reads one row instead of counting the
//! organization's seats.

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
                    .col(
                        ColumnDef::new(SeatTotals::Reserved)
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
                "INSERT INTO seat_totals (org_id, confirmed, reserved) \
                 SELECT org_id, \
                        SUM(CASE WHEN status = 'confirmed' THEN 1 ELSE 0 END), \
                        SUM(CASE WHEN status = 'reserved' THEN 1 ELSE 0 END) \
                 FROM seats GROUP BY org_id",
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
