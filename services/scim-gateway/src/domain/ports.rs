//! What the SCIM view's use cases need from the outside world.

use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use provisioning_events::sealing::DataKey;
use provisioning_events::{Event, PersonRef};

use super::models::{
    BearerToken, GroupRef, LimitOverride, ListQuery, MemberDeletion, MemberRef, MembershipChange,
    MembershipEffect, OrgId, Organization, Page, ResourceId, StoredResource, TokenGrant, TokenHash,
    TokenInfo, UserWithGroups,
};

/// Failures a store reports; the use cases decide what they mean to the client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule of the view was violated (userName per organization).
    #[error("a resource with the same unique attribute exists")]
    Duplicate,
    /// The row changed since it was read (optimistic concurrency).
    #[error("the resource changed concurrently")]
    VersionConflict,
    #[error("the resource does not exist")]
    NotFound,
    /// A valid request this store cannot answer (e.g. a filter on an attribute
    /// it keeps no column for). The client gets the protocol error as is.
    #[error(transparent)]
    UnsupportedQuery(scim_protocol::ProtocolError),
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

pub trait Clock: Clone + Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Waits a random time of at most `up_to`: a retry's back-off, jittered
    /// so that writers who lost a race together do not meet again.
    fn pause(&self, up_to: std::time::Duration) -> impl Future<Output = ()> + Send;
}

/// Bearer tokens as authentication reads them (hashes only).
pub trait CredentialStore: Clone + Send + Sync + 'static {
    /// The token with this hash and the tenant it names, revoked and expired
    /// ones too: the domain decides whether it authenticates.
    fn token_grant(
        &self,
        token: &TokenHash,
    ) -> impl Future<Output = Result<Option<TokenGrant>, StoreError>> + Send;

    /// Records that a token authenticated a request at `at`. Best effort and
    /// coarse (`TokenInfo::last_used_at` is to the minute): a failure to
    /// record is the adapter's to log, never the request's.
    fn record_token_use(&self, token: Uuid, at: DateTime<Utc>) -> impl Future<Output = ()> + Send;
}

/// The users of the SCIM view. Every method is scoped by organization. Writes
/// append their provisioning `events` to the journal in the same transaction.
pub trait UserStore: Clone + Send + Sync + 'static {
    fn insert_user(
        &self,
        org: OrgId,
        user: &StoredResource,
        events: &[Event],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn find_user(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> impl Future<Output = Result<Option<StoredResource>, StoreError>> + Send;

    /// A user and its groups, in one read.
    fn find_user_with_groups(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> impl Future<Output = Result<Option<UserWithGroups>, StoreError>> + Send;

    /// Whether a user of the organization has this userName (compared
    /// case-insensitively).
    fn user_name_taken(
        &self,
        org: OrgId,
        user_name: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// For each userName, whether a user of the organization has it
    /// (case-insensitively), in order: a Bulk wave's names, read together.
    fn user_names_taken(
        &self,
        org: OrgId,
        user_names: &[String],
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send;

    /// Writes many new users with their events together (a Bulk wave): each
    /// one's answer, in order, as [`Self::insert_user`] would have given it.
    fn insert_users(
        &self,
        org: OrgId,
        users: &[(StoredResource, Vec<Event>)],
    ) -> impl Future<Output = Vec<Result<(), StoreError>>> + Send;

    /// Replaces `current` (the user as read, at its version) by `user`; the
    /// stored version becomes `user.meta.version`. A version other than
    /// `current`'s in the store is a `VersionConflict`.
    fn update_user(
        &self,
        org: OrgId,
        current: &StoredResource,
        user: &StoredResource,
        events: &[Event],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the user as decided (at its expected version; the groups
    /// containing it touched, see [`MemberDeletion`]), its e-mail rows and
    /// its group memberships, in one transaction.
    fn delete_user(
        &self,
        org: OrgId,
        deletion: &MemberDeletion,
        events: &[Event],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn list_users(
        &self,
        org: OrgId,
        query: &ListQuery,
    ) -> impl Future<Output = Result<Page<StoredResource>, StoreError>> + Send;

    /// A page of users with their groups, in one read.
    fn list_users_with_groups(
        &self,
        org: OrgId,
        query: &ListQuery,
    ) -> impl Future<Output = Result<Page<UserWithGroups>, StoreError>> + Send;

    /// The groups each of these users is a direct member of, as (user, group)
    /// pairs: one query for a whole page of users.
    fn groups_of_users(
        &self,
        org: OrgId,
        ids: &[ResourceId],
    ) -> impl Future<Output = Result<Vec<(ResourceId, GroupRef)>, StoreError>> + Send;
}

/// The groups of the SCIM view and their memberships. Memberships live apart
/// from the group document, so a change costs O(changed members).
pub trait GroupStore: Clone + Send + Sync + 'static {
    fn insert_group(
        &self,
        org: OrgId,
        group: &StoredResource,
        members: &[MemberRef],
        events: &[Event],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn find_group(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> impl Future<Output = Result<Option<StoredResource>, StoreError>> + Send;

    fn group_members(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> impl Future<Output = Result<Vec<MemberRef>, StoreError>> + Send;

    /// The members of each of these groups, as (group, member) pairs in
    /// `group_members`' order within a group: one read for a page of groups.
    fn members_of_groups(
        &self,
        org: OrgId,
        ids: &[ResourceId],
    ) -> impl Future<Output = Result<Vec<(ResourceId, MemberRef)>, StoreError>> + Send;

    /// Changes one group in one transaction, its row locked first, so that
    /// concurrent changes of the group wait for each other instead of
    /// failing. With `expected`, the stored version must be one of those
    /// (`VersionConflict` otherwise, checked under the lock); a missing
    /// group is `NotFound`. The membership changes are applied in order, as
    /// set operations, touching only the members they name; then `decide`
    /// gets the group as it was and what the changes actually did, and
    /// returns the group's next version and its events, or `None` when
    /// nothing changed (nothing is written then, the version stays), or its
    /// own error (nothing is written either).
    fn change_group<F, E>(
        &self,
        org: OrgId,
        id: ResourceId,
        expected: Option<&[i64]>,
        membership: &[MembershipChange],
        decide: F,
    ) -> impl Future<Output = Result<Result<GroupWrite, E>, StoreError>> + Send
    where
        F: FnOnce(&StoredResource, &[MembershipEffect]) -> GroupDecision<E> + Send,
        E: Send;

    /// Deletes the group as decided (at its expected version; the groups
    /// containing it touched, see [`MemberDeletion`]), its memberships, and
    /// its membership in other groups, in one transaction.
    fn delete_group(
        &self,
        org: OrgId,
        deletion: &MemberDeletion,
        events: &[Event],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn list_groups(
        &self,
        org: OrgId,
        query: &ListQuery,
    ) -> impl Future<Output = Result<Page<StoredResource>, StoreError>> + Send;

    /// Which of these ids name an existing user or group of the organization.
    fn existing_members(
        &self,
        org: OrgId,
        ids: &[ResourceId],
    ) -> impl Future<Output = Result<Vec<MemberRef>, StoreError>> + Send;
}

/// What a group change's `decide` returns: the new version and its events,
/// `None` for no change, or why the change is refused.
pub type GroupDecision<E> = Result<Option<(StoredResource, Vec<Event>)>, E>;

/// A group change's outcome: the group as it is now.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupWrite {
    Written(StoredResource),
    Unchanged(StoredResource),
}

/// Whether the view's storage can serve requests (`/readyz`).
pub trait ViewHealth: Clone + Send + Sync + 'static {
    fn check(&self) -> impl Future<Output = Result<OutboxLag, StoreError>> + Send;

    /// Whether this process's relay holds the journal's lease (publishes it).
    fn relay_held(&self) -> bool;
}

/// How far the relay is behind: unpublished journal entries and the time the
/// oldest of them was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLag {
    pub unpublished: u64,
    pub oldest_unpublished_at: Option<DateTime<Utc>>,
}

/// What licensing answered to a seat reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatDecision {
    Granted,
    Denied {
        used: u32,
        quota: u32,
    },
    /// The organization's subscription does not include SCIM provisioning.
    NotIncluded,
}

#[derive(Debug, thiserror::Error)]
pub enum SeatError {
    /// Licensing did not answer (down, unreachable, too slow).
    #[error("licensing is unavailable: {0}")]
    Unavailable(String),
}

pub type SeatFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<SeatDecision, SeatError>> + Send + 'a>>;

pub type SeatsFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = Vec<Result<SeatDecision, SeatError>>> + Send + 'a>>;

/// Licensing as the gateway needs it: a seat, asked for before a user is
/// created or re-enabled. `key` names the request (`user:<userName>` or
/// `reactivate:<id>`), so asking again for the same key is the same seat.
/// Object-safe: the gateway holds whichever adapter the deployment wires
/// (request/reply over RabbitMQ, or licensing in the same process).
pub trait SeatAuthority: Send + Sync + 'static {
    fn reserve<'a>(&'a self, org: OrgId, key: &'a str) -> SeatFuture<'a>;

    /// Seats for several keys of one organization, decided in their order
    /// as if each were asked alone, one after the other (a bulk's creates):
    /// one decision per key. An adapter decides them in as few round trips
    /// and transactions as it can; this default asks one at a time.
    fn reserve_all<'a>(&'a self, org: OrgId, keys: &'a [String]) -> SeatsFuture<'a> {
        Box::pin(async move {
            let mut decisions = Vec::with_capacity(keys.len());
            for key in keys {
                decisions.push(self.reserve(org, key).await);
            }
            decisions
        })
    }
}

/// The gateway's copy of what licensing says an organization may do, kept
/// from `subscription.changed` events.
pub trait EntitlementStore: Send + Sync + 'static {
    /// In one transaction: claims `event` in the gateway's inbox and, when it
    /// may be applied, records whether SCIM is included for its organization.
    fn set_scim_included(
        &self,
        event: &Event,
        included: bool,
    ) -> impl Future<Output = Result<messaging::Admission, StoreError>> + Send;
}

/// Organizations' own request limits (`limits::LimitOverride`). A change
/// applies to the organization's next request: the limits travel with its
/// tenant (`CredentialStore::token_grant`).
pub trait LimitStore: Send + Sync + 'static {
    fn limit_override(
        &self,
        org: OrgId,
    ) -> impl Future<Output = Result<Option<LimitOverride>, StoreError>> + Send;

    /// Stores the override; an empty one removes it.
    fn set_limit_override(
        &self,
        org: OrgId,
        limits: &LimitOverride,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn limit_overrides(
        &self,
    ) -> impl Future<Output = Result<Vec<(OrgId, LimitOverride)>, StoreError>> + Send;
}

/// Organizations, their SCIM connection and their tokens (hashes only).
pub trait OrganizationStore: Send + Sync + 'static {
    fn create_organization(
        &self,
        organization: &Organization,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates the organization and its first token in one transaction.
    fn create_organization_with_token(
        &self,
        organization: &Organization,
        token: &TokenInfo,
        hash: &TokenHash,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether any organization exists (a first start has none).
    fn has_organizations(&self) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn organization(
        &self,
        org: OrgId,
    ) -> impl Future<Output = Result<Option<Organization>, StoreError>> + Send;

    /// Up to `limit` organizations in id order (their creation order: ids
    /// are UUIDv7) after `after`.
    fn organizations(
        &self,
        after: Option<OrgId>,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<Organization>, StoreError>> + Send;

    /// Writes workspace and default role; false when the organization is gone.
    fn update_connection(
        &self,
        organization: &Organization,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn add_token(
        &self,
        org: OrgId,
        token: &TokenInfo,
        hash: &TokenHash,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn tokens(&self, org: OrgId)
    -> impl Future<Output = Result<Vec<TokenInfo>, StoreError>> + Send;

    /// Sets when a token stops working; false when the organization has no
    /// such token.
    fn expire_token(
        &self,
        org: OrgId,
        token: Uuid,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// False when the organization has no such token.
    fn revoke_token(
        &self,
        org: OrgId,
        token: Uuid,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// New bearer tokens (randomness is I/O for the domain).
pub trait TokenSource: Send + Sync + 'static {
    fn new_token(&self) -> BearerToken;
}

/// Which journal entries an operator asks for (every condition optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalFilter {
    pub org: Option<OrgId>,
    /// An event type (`user.provisioned`) or a topic pattern (`user.*`).
    pub event_type: Option<String>,
    /// Entries whose type matches any of these (types or `kind.*`
    /// patterns); no condition when empty.
    pub any_of_types: Vec<String>,
    /// A SCIM user or group id.
    pub aggregate_id: Option<String>,
    /// Entries with a `seq` above this one (keyset paging).
    pub after_seq: Option<i64>,
    /// Entries with a `seq` up to this one.
    pub until_seq: Option<i64>,
    /// Entries that occurred at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Entries that occurred before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// A journal entry: the event and when the relay had it confirmed by the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    pub event: provisioning_events::Event,
    pub published_at: Option<DateTime<Utc>>,
}

/// The journal as operators read it (the event log behind `scimctl events`
/// and `scimctl replay`).
pub trait JournalReader: Send + Sync + 'static {
    /// Entries matching `filter` in `seq` order, at most `limit`.
    fn entries(
        &self,
        filter: &JournalFilter,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, StoreError>> + Send;

    fn entry(
        &self,
        event_id: Uuid,
    ) -> impl Future<Output = Result<Option<JournalEntry>, StoreError>> + Send;

    /// The highest `seq` committed in the journal (0 when it is empty),
    /// read from the primary database: what a consumer catching up reads to.
    fn head(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
}

/// The persons' data keys (crypto-shredding, docs/privacy.md): what opens
/// the sealed profiles of their events. A deleted person has none.
pub trait DataKeyStore: Send + Sync + 'static {
    /// One entry per person, in order: `None` when the person has no key
    /// (deleted — its values are erased — or never provisioned).
    fn data_keys(
        &self,
        persons: &[PersonRef],
    ) -> impl Future<Output = Result<Vec<Option<DataKey>>, StoreError>> + Send;

    /// Whether each person still has a key, in order (no key is read out).
    fn has_data_keys(
        &self,
        persons: &[PersonRef],
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send;
}

/// Seals list cursors (RFC 9865): a cursor lands in access logs and may hold
/// a sort value such as a userName, so a client can neither read nor forge
/// one. A cursor opens only for the organization and the query `binding` it
/// was sealed for.
pub trait CursorSeal: Send + Sync + 'static {
    /// `plain` sealed as URL-safe text (RFC 3986 unreserved characters).
    fn seal(&self, org: OrgId, binding: &str, plain: &[u8]) -> Result<String, anyhow::Error>;

    /// What `sealed` holds; None when it is no cursor this server sealed for
    /// `org` and `binding` (garbage, altered, another query's or
    /// organization's, or sealed under a key no longer held).
    fn open(&self, org: OrgId, binding: &str, sealed: &str) -> Option<Vec<u8>>;
}
