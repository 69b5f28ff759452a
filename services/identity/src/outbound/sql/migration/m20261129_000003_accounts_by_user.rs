//! The accounts of one SCIM user are read in `id` order on every event. With
//! an index on (org, user) alone, a plan cached while the table was small can
//! walk the primary key for the order and filter every row — seen as a
//! rebuild slowing to 300 events/s. An index that also gives the order leaves
//! the planner nothing to get wrong.

use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::Accounts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_accounts_scim_user_id")
                    .table(Accounts::Table)
                    .col(Accounts::OrgId)
                    .col(Accounts::ScimUserId)
                    .col(Accounts::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_accounts_scim_user")
                    .table(Accounts::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
