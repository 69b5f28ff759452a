use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::{Seats, Subscriptions};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Subscriptions::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Subscriptions::OrgId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Subscriptions::SeatQuota)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Subscriptions::ScimIncluded)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Subscriptions::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Seats::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Seats::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Seats::OrgId).uuid().not_null())
                    .col(ColumnDef::new(Seats::SeatKey).string().not_null())
                    .col(ColumnDef::new(Seats::Status).string().not_null())
                    .col(ColumnDef::new(Seats::Holder).string().null())
                    .col(ColumnDef::new(Seats::ExpiresAt).big_integer().null())
                    .col(ColumnDef::new(Seats::CreatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("ix_seats_key", [Seats::OrgId, Seats::SeatKey]),
            ("ix_seats_holder", [Seats::OrgId, Seats::Holder]),
            ("ix_seats_status", [Seats::OrgId, Seats::Status]),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Seats::Table)
                        .col(columns[0])
                        .col(columns[1])
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Seats::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Subscriptions::Table).to_owned())
            .await
    }
}
