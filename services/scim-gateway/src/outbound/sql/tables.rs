//! Table and column names of the gateway database.

use sea_orm::DeriveIden;

#[derive(DeriveIden, Clone, Copy)]
pub enum Organizations {
    Table,
    Id,
    Name,
    CreatedAt,
    /// The organization's one synchronized workspace.
    WorkspaceId,
    /// The role new accounts get.
    DefaultRole,
    /// Licensing's "SCIM included", kept from `subscription.changed`.
    ScimIncluded,
    /// The synchronized workspace's name, as the admin gave it.
    WorkspaceName,
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
    /// A rotated token's end of overlap: refused from then on.
    ExpiresAt,
    /// When the token last authenticated (to the minute).
    LastUsedAt,
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
    /// Version of the user as an event aggregate: bumped only by changes that
    /// emit an event, so consumers see gap-free aggregate versions.
    EventVersion,
    CreatedAt,
    LastModified,
    /// The id of the key-encryption key that wraps `wrapped_key`.
    KekId,
    /// The person's data key, wrapped (crypto-shredding, docs/privacy.md):
    /// in the user's row, so the create that makes it and the delete that
    /// destroys it need no statement of their own.
    WrappedKey,
    /// The search document: what filters and sorts read beyond the
    /// dedicated columns (`search_document.rs`).
    Search,
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
    EventVersion,
    CreatedAt,
    LastModified,
    /// The search document, as `ScimUsers::Search`.
    Search,
    /// `display_name_key` under the unique (org_id, unique_name_key) index:
    /// set by every create and rename; null only for the groups that
    /// already shared a name when uniqueness came (docs/scim.md).
    UniqueNameKey,
}

#[derive(DeriveIden, Clone, Copy)]
pub enum ScimGroupMembers {
    Table,
    OrgId,
    GroupId,
    MemberId,
    MemberKind,
}

/// The transactional outbox: every provisioning event, appended in the same
/// transaction as the SCIM-view change it describes. Append-only; `seq` is the
/// replay order.
#[derive(DeriveIden, Clone, Copy)]
pub enum Journal {
    Table,
    Seq,
    EventId,
    OrgId,
    EventType,
    AggregateKind,
    AggregateId,
    AggregateVersion,
    OccurredAt,
    Event,
    PublishedAt,
    /// W3C trace context of the request that wrote the entry.
    Traceparent,
}

/// Events a consumer of the embedded process could not apply after its last
/// attempt (the embedded counterpart of the `<service>.dead` queues).
#[derive(DeriveIden, Clone, Copy)]
pub enum DeadLetters {
    Table,
    Id,
    Consumer,
    EventId,
    Seq,
    EventType,
    Error,
    Attempts,
    Event,
    RecordedAt,
}

/// Each SCIM user's data key (crypto-shredding): the key its events'
/// profiles are sealed under, wrapped by the key-encryption key `kek_id`.
/// Deleted with the user: every sealed copy of its values is then erased.
/// Dropped by `m20261204_000011_keys_in_users` (its keys moved into
/// `scim_users`); named by the migrations only.
#[derive(DeriveIden, Clone, Copy)]
pub enum PersonKeys {
    Table,
    OrgId,
    /// The SCIM user id.
    UserId,
    /// The id of the key-encryption key that wraps `wrapped_key`.
    KekId,
    WrappedKey,
    CreatedAt,
}

/// An organization's own request limits (null: the setting's default).
#[derive(DeriveIden, Clone, Copy)]
pub enum OrganizationLimits {
    Table,
    OrgId,
    MaxInFlight,
    RatePerSecond,
    Burst,
    UpdatedAt,
}
