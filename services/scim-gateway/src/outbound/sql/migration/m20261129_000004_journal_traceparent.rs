use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::Journal;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Journal::Table)
                    .add_column(ColumnDef::new(Journal::Traceparent).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Journal::Table)
                    .drop_column(Journal::Traceparent)
                    .to_owned(),
            )
            .await
    }
}
