//! Table and column names of the gateway database.

use sea_orm::DeriveIden;

#[derive(DeriveIden, Clone, Copy)]
pub enum Organizations {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
pub enum ApiTokens {
    Table,
    Id,
    OrgId,
    TokenHash,
    Prefix,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
pub enum ScimUsers {
    Table,
    OrgId,
    Id,
    UserName,
    /// `userName` lowercased: the case-insensitive unique key and filter column.
    UserNameKey,
    ExternalId,
    DisplayNameKey,
    GivenNameKey,
    FamilyNameKey,
    Active,
    Document,
    Version,
    CreatedAt,
    LastModified,
}

/// One row per e-mail of a user, so `emails[type eq "work"].value eq "…"`
/// (Entra's matching lookup) is an index probe, not a JSON scan.
#[derive(DeriveIden, Clone, Copy)]
pub enum ScimUserEmails {
    Table,
    OrgId,
    UserId,
    Position,
    TypeKey,
    ValueKey,
    IsPrimary,
}

#[derive(DeriveIden, Clone, Copy)]
pub enum ScimGroups {
    Table,
    OrgId,
    Id,
    DisplayName,
    DisplayNameKey,
    ExternalId,
    Document,
    Version,
    CreatedAt,
    LastModified,
}

#[derive(DeriveIden, Clone, Copy)]
pub enum ScimGroupMembers {
    Table,
    OrgId,
    GroupId,
    MemberId,
    MemberKind,
}
