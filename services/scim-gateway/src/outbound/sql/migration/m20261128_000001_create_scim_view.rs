use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::{
    ApiTokens, Organizations, ScimGroupMembers, ScimGroups, ScimUserEmails, ScimUsers,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A lowercased key column. On PostgreSQL it uses the "C" collation so that
/// comparisons, `ORDER BY` and the indexes serving them follow byte order,
/// exactly as SQLite (and the in-memory evaluator) do.
fn key_column<T: IntoIden>(name: T, backend: DbBackend) -> ColumnDef {
    let mut column = ColumnDef::new(name);
    column.string();
    if backend == DbBackend::Postgres {
        column.extra("COLLATE \"C\"");
    }
    column
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();

        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(
                        ColumnDef::new(Organizations::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Organizations::Name).string().not_null())
                    .col(
                        ColumnDef::new(Organizations::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(
                        ColumnDef::new(ApiTokens::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ApiTokens::OrgId).uuid().not_null())
                    .col(ColumnDef::new(ApiTokens::TokenHash).string().not_null())
                    .col(ColumnDef::new(ApiTokens::Prefix).string().not_null())
                    .col(
                        ColumnDef::new(ApiTokens::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ApiTokens::RevokedAt).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiTokens::Table, ApiTokens::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_api_tokens_hash")
                    .table(ApiTokens::Table)
                    .col(ApiTokens::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ScimUsers::Table)
                    .col(ColumnDef::new(ScimUsers::OrgId).uuid().not_null())
                    .col(ColumnDef::new(ScimUsers::Id).uuid().not_null())
                    .col(ColumnDef::new(ScimUsers::UserName).string().not_null())
                    .col(key_column(ScimUsers::UserNameKey, backend).not_null())
                    .col(key_column(ScimUsers::ExternalId, backend).null())
                    .col(key_column(ScimUsers::DisplayNameKey, backend).null())
                    .col(key_column(ScimUsers::GivenNameKey, backend).null())
                    .col(key_column(ScimUsers::FamilyNameKey, backend).null())
                    .col(ColumnDef::new(ScimUsers::Active).boolean().null())
                    .col(ColumnDef::new(ScimUsers::Document).text().not_null())
                    .col(ColumnDef::new(ScimUsers::Version).big_integer().not_null())
                    .col(
                        ColumnDef::new(ScimUsers::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ScimUsers::LastModified)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(Index::create().col(ScimUsers::OrgId).col(ScimUsers::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ScimUsers::Table, ScimUsers::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column, unique) in [
            ("ux_scim_users_user_name", ScimUsers::UserNameKey, true),
            ("ix_scim_users_external_id", ScimUsers::ExternalId, false),
            (
                "ix_scim_users_display_name",
                ScimUsers::DisplayNameKey,
                false,
            ),
        ] {
            let mut index = Index::create();
            index
                .name(name)
                .table(ScimUsers::Table)
                .col(ScimUsers::OrgId)
                .col(column);
            if unique {
                index.unique();
            }
            manager.create_index(index).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ScimUserEmails::Table)
                    .col(ColumnDef::new(ScimUserEmails::OrgId).uuid().not_null())
                    .col(ColumnDef::new(ScimUserEmails::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(ScimUserEmails::Position)
                            .integer()
                            .not_null(),
                    )
                    .col(key_column(ScimUserEmails::TypeKey, backend).null())
                    .col(key_column(ScimUserEmails::ValueKey, backend).null())
                    .col(
                        ColumnDef::new(ScimUserEmails::IsPrimary)
                            .boolean()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ScimUserEmails::OrgId)
                            .col(ScimUserEmails::UserId)
                            .col(ScimUserEmails::Position),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(ScimUserEmails::Table)
                            .from_col(ScimUserEmails::OrgId)
                            .from_col(ScimUserEmails::UserId)
                            .to_tbl(ScimUsers::Table)
                            .to_col(ScimUsers::OrgId)
                            .to_col(ScimUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_scim_user_emails_value")
                    .table(ScimUserEmails::Table)
                    .col(ScimUserEmails::OrgId)
                    .col(ScimUserEmails::ValueKey)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ScimGroups::Table)
                    .col(ColumnDef::new(ScimGroups::OrgId).uuid().not_null())
                    .col(ColumnDef::new(ScimGroups::Id).uuid().not_null())
                    .col(ColumnDef::new(ScimGroups::DisplayName).string().not_null())
                    .col(key_column(ScimGroups::DisplayNameKey, backend).not_null())
                    .col(key_column(ScimGroups::ExternalId, backend).null())
                    .col(ColumnDef::new(ScimGroups::Document).text().not_null())
                    .col(ColumnDef::new(ScimGroups::Version).big_integer().not_null())
                    .col(
                        ColumnDef::new(ScimGroups::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ScimGroups::LastModified)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(Index::create().col(ScimGroups::OrgId).col(ScimGroups::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ScimGroups::Table, ScimGroups::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("ix_scim_groups_display_name", ScimGroups::DisplayNameKey),
            ("ix_scim_groups_external_id", ScimGroups::ExternalId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ScimGroups::Table)
                        .col(ScimGroups::OrgId)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }

        // No foreign key from member_id: a member is a user or a group. Deleting a
        // user or group removes its membership rows explicitly (indexed below).
        manager
            .create_table(
                Table::create()
                    .table(ScimGroupMembers::Table)
                    .col(ColumnDef::new(ScimGroupMembers::OrgId).uuid().not_null())
                    .col(ColumnDef::new(ScimGroupMembers::GroupId).uuid().not_null())
                    .col(ColumnDef::new(ScimGroupMembers::MemberId).uuid().not_null())
                    .col(
                        ColumnDef::new(ScimGroupMembers::MemberKind)
                            .string()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ScimGroupMembers::OrgId)
                            .col(ScimGroupMembers::GroupId)
                            .col(ScimGroupMembers::MemberId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(ScimGroupMembers::Table)
                            .from_col(ScimGroupMembers::OrgId)
                            .from_col(ScimGroupMembers::GroupId)
                            .to_tbl(ScimGroups::Table)
                            .to_col(ScimGroups::OrgId)
                            .to_col(ScimGroups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_scim_group_members_member")
                    .table(ScimGroupMembers::Table)
                    .col(ScimGroupMembers::OrgId)
                    .col(ScimGroupMembers::MemberId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
