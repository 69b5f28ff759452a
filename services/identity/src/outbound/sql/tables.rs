//! Table and column names of the identity database.

use sea_orm::DeriveIden;

#[derive(DeriveIden, Clone, Copy)]
pub enum Accounts {
    Table,
    Id,
    OrgId,
    WorkspaceId,
    ScimUserId,
    Status,
    Label,
    UserName,
    ExternalId,
    Email,
    GivenName,
    FamilyName,
    DisplayName,
    Role,
    /// JSON array of permission names.
    Permissions,
    CreatedAt,
    UpdatedAt,
    AnonymizedAt,
    DeletedAt,
}

#[derive(DeriveIden, Clone, Copy)]
pub enum AccessChanges {
    Table,
    Id,
    OrgId,
    AccountId,
    ChangedBy,
    ChangedAt,
    RoleBefore,
    RoleAfter,
    PermissionsBefore,
    PermissionsAfter,
}
