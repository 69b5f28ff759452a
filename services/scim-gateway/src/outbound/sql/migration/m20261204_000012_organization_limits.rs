//! `organization_limits`: an organization's own request limits (issue 22,
//! fairness); a null column follows the gateway's `limits.*` setting. Read
//! with the token's grant (a left join), so it needs no index of its own.

use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::OrganizationLimits;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OrganizationLimits::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OrganizationLimits::OrgId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OrganizationLimits::MaxInFlight).big_integer())
                    .col(ColumnDef::new(OrganizationLimits::RatePerSecond).double())
                    .col(ColumnDef::new(OrganizationLimits::Burst).big_integer())
                    .col(
                        ColumnDef::new(OrganizationLimits::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OrganizationLimits::Table).to_owned())
            .await
    }
}
