use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::{Journal, Organizations, ScimGroups, ScimUsers};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(ColumnDef::new(Organizations::WorkspaceId).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(
                        ColumnDef::new(Organizations::DefaultRole)
                            .string()
                            .not_null()
                            .default("member"),
                    )
                    .to_owned(),
            )
            .await?;
        // Organizations created before workspaces existed synchronize into a
        // workspace that carries the organization's id.
        manager
            .exec_stmt(
                Query::update()
                    .table(Organizations::Table)
                    .value(Organizations::WorkspaceId, Expr::col(Organizations::Id))
                    .and_where(Expr::col(Organizations::WorkspaceId).is_null())
                    .to_owned(),
            )
            .await?;
        for table in [ScimUsers::Table.into_iden(), ScimGroups::Table.into_iden()] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(
                            ColumnDef::new(ScimUsers::EventVersion)
                                .big_integer()
                                .not_null()
                                .default(0),
                        )
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Journal::Table)
                    .col(
                        ColumnDef::new(Journal::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Journal::EventId)
                            .uuid()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Journal::OrgId).uuid().not_null())
                    .col(ColumnDef::new(Journal::EventType).string().not_null())
                    .col(ColumnDef::new(Journal::AggregateKind).string().not_null())
                    .col(ColumnDef::new(Journal::AggregateId).string().not_null())
                    .col(
                        ColumnDef::new(Journal::AggregateVersion)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Journal::OccurredAt).big_integer().not_null())
                    .col(ColumnDef::new(Journal::Event).text().not_null())
                    .col(ColumnDef::new(Journal::PublishedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_journal_org_seq")
                    .table(Journal::Table)
                    .col(Journal::OrgId)
                    .col(Journal::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_journal_aggregate")
                    .table(Journal::Table)
                    .col(Journal::OrgId)
                    .col(Journal::AggregateId)
                    .col(Journal::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_journal_unpublished")
                    .table(Journal::Table)
                    .col(Journal::PublishedAt)
                    .col(Journal::Seq)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
