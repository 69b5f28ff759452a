//! `person_keys`: one data key per SCIM user, wrapped by the key-encryption
//! key (crypto-shredding, docs/privacy.md). The index on `kek_id` serves the
//! rewrap of a key rotation (`kek_id <> current`) and its count at start.

use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::PersonKeys;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PersonKeys::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(PersonKeys::OrgId).uuid().not_null())
                    .col(ColumnDef::new(PersonKeys::UserId).uuid().not_null())
                    .col(ColumnDef::new(PersonKeys::KekId).string().not_null())
                    .col(ColumnDef::new(PersonKeys::WrappedKey).text().not_null())
                    .col(
                        ColumnDef::new(PersonKeys::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(PersonKeys::OrgId)
                            .col(PersonKeys::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_person_keys_kek_id")
                    .table(PersonKeys::Table)
                    .col(PersonKeys::KekId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PersonKeys::Table).to_owned())
            .await
    }
}
