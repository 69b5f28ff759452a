//! Table and column names of the team database.

use sea_orm::DeriveIden;

#[derive(DeriveIden, Clone, Copy)]
pub enum Teams {
    Table,
    Id,
    OrgId,
    WorkspaceId,
    GroupId,
    Name,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
pub enum TeamMembers {
    Table,
    TeamId,
    OrgId,
    ScimUserId,
}

/// Which account each SCIM user resolves to now (from user events).
#[derive(DeriveIden, Clone, Copy)]
pub enum UserAccounts {
    Table,
    OrgId,
    ScimUserId,
    AccountId,
    State,
}
