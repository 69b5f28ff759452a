//! The groups of a user read from one index whatever the planner knows.
//!
//! `ix_scim_group_members_member` (organization, member) lacked the group, so
//! the groups-of-users read (`org_id = $1 AND member_id IN (…)`, which also
//! needs `group_id`) could not be answered from it alone. Without statistics
//! (a new database, or a server without autovacuum) the planner preferred an
//! index-only scan of the primary key (organization, group, member) — every
//! membership of the organization read for each user shown. With the group
//! in this index the read is an index-only scan of exactly the user's rows.

use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::ScimGroupMembers;

const NAME: &str = "ix_scim_group_members_member";

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn replace_index(
    manager: &SchemaManager<'_>,
    columns: &[ScimGroupMembers],
) -> Result<(), DbErr> {
    manager
        .drop_index(
            Index::drop()
                .name(NAME)
                .table(ScimGroupMembers::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
    let mut index = Index::create();
    index.name(NAME).table(ScimGroupMembers::Table);
    for column in columns {
        index.col(*column);
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_index(
            manager,
            &[
                ScimGroupMembers::OrgId,
                ScimGroupMembers::MemberId,
                ScimGroupMembers::GroupId,
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_index(
            manager,
            &[ScimGroupMembers::OrgId, ScimGroupMembers::MemberId],
        )
        .await
    }
}
