use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::DeadLetters;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeadLetters::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DeadLetters::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DeadLetters::Consumer).string().not_null())
                    .col(ColumnDef::new(DeadLetters::EventId).uuid().not_null())
                    .col(ColumnDef::new(DeadLetters::Seq).big_integer().not_null())
                    .col(ColumnDef::new(DeadLetters::EventType).string().not_null())
                    .col(ColumnDef::new(DeadLetters::Error).text().not_null())
                    .col(ColumnDef::new(DeadLetters::Attempts).integer().not_null())
                    .col(ColumnDef::new(DeadLetters::Event).text().not_null())
                    .col(
                        ColumnDef::new(DeadLetters::RecordedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_dead_letters_consumer")
                    .table(DeadLetters::Table)
                    .col(DeadLetters::Consumer)
                    .col(DeadLetters::Seq)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeadLetters::Table).to_owned())
            .await
    }
}
