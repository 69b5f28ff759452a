use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::{AccessChanges, Accounts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let text = |c: Accounts| ColumnDef::new(c).string().null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Accounts::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Accounts::OrgId).uuid().not_null())
                    .col(ColumnDef::new(Accounts::WorkspaceId).uuid().not_null())
                    .col(ColumnDef::new(Accounts::ScimUserId).string().not_null())
                    .col(ColumnDef::new(Accounts::Status).string().not_null())
                    .col(ColumnDef::new(Accounts::Label).string().not_null())
                    .col(text(Accounts::UserName))
                    .col(text(Accounts::ExternalId))
                    .col(text(Accounts::Email))
                    .col(text(Accounts::GivenName))
                    .col(text(Accounts::FamilyName))
                    .col(text(Accounts::DisplayName))
                    .col(ColumnDef::new(Accounts::Role).string().not_null())
                    .col(ColumnDef::new(Accounts::Permissions).text().not_null())
                    .col(ColumnDef::new(Accounts::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Accounts::UpdatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Accounts::AnonymizedAt).big_integer().null())
                    .col(ColumnDef::new(Accounts::DeletedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_accounts_scim_user")
                    .table(Accounts::Table)
                    .col(Accounts::OrgId)
                    .col(Accounts::ScimUserId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_accounts_org_status")
                    .table(Accounts::Table)
                    .col(Accounts::OrgId)
                    .col(Accounts::Status)
                    .col(Accounts::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccessChanges::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AccessChanges::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AccessChanges::OrgId).uuid().not_null())
                    .col(ColumnDef::new(AccessChanges::AccountId).uuid().not_null())
                    .col(ColumnDef::new(AccessChanges::ChangedBy).string().not_null())
                    .col(
                        ColumnDef::new(AccessChanges::ChangedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AccessChanges::RoleBefore)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AccessChanges::RoleAfter).string().not_null())
                    .col(
                        ColumnDef::new(AccessChanges::PermissionsBefore)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AccessChanges::PermissionsAfter)
                            .text()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AccessChanges::Table, AccessChanges::AccountId)
                            .to(Accounts::Table, Accounts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_access_changes_account")
                    .table(AccessChanges::Table)
                    .col(AccessChanges::AccountId)
                    .col(AccessChanges::ChangedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccessChanges::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Accounts::Table).to_owned())
            .await
    }
}
