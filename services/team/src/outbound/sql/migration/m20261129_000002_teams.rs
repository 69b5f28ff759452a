use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::{TeamMembers, Teams, UserAccounts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Teams::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Teams::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Teams::OrgId).uuid().not_null())
                    .col(ColumnDef::new(Teams::WorkspaceId).uuid().not_null())
                    .col(ColumnDef::new(Teams::GroupId).string().not_null())
                    .col(ColumnDef::new(Teams::Name).string().not_null())
                    .col(ColumnDef::new(Teams::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Teams::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_teams_group")
                    .table(Teams::Table)
                    .col(Teams::OrgId)
                    .col(Teams::GroupId)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TeamMembers::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(TeamMembers::TeamId).uuid().not_null())
                    .col(ColumnDef::new(TeamMembers::OrgId).uuid().not_null())
                    .col(ColumnDef::new(TeamMembers::ScimUserId).string().not_null())
                    .primary_key(
                        Index::create()
                            .col(TeamMembers::TeamId)
                            .col(TeamMembers::ScimUserId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_team_members_user")
                    .table(TeamMembers::Table)
                    .col(TeamMembers::OrgId)
                    .col(TeamMembers::ScimUserId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserAccounts::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(UserAccounts::OrgId).uuid().not_null())
                    .col(ColumnDef::new(UserAccounts::ScimUserId).string().not_null())
                    .col(ColumnDef::new(UserAccounts::AccountId).uuid().null())
                    .col(ColumnDef::new(UserAccounts::State).string().not_null())
                    .primary_key(
                        Index::create()
                            .col(UserAccounts::OrgId)
                            .col(UserAccounts::ScimUserId),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            UserAccounts::Table.into_iden(),
            TeamMembers::Table.into_iden(),
            Teams::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
