//! The SCIM view's domain types: organizations, resources and their metadata,
//! list queries. Documents are the canonical SCIM JSON produced by the
//! protocol crate's normalizer (no `id`, no `meta`).

use std::fmt;

use chrono::{DateTime, Utc};
use scim_protocol::{AttrPath, Filter, messages::SortOrder};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The organization a bearer token belongs to; every query is scoped by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrgId(pub Uuid);

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The `id` the gateway assigns to a SCIM resource: a UUIDv7, so ids sort by
/// creation time and keep B-tree inserts local.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(pub Uuid);

impl ResourceId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// Ids in URLs and member references come from clients: anything that is not
    /// a UUID cannot name a resource of ours, so it is simply "not found".
    pub fn parse(raw: &str) -> Option<Self> {
        Uuid::try_parse(raw).ok().map(Self)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `meta` of a stored resource. `version` increases by one on every change and
/// is what ETags and `If-Match` compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceMeta {
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub version: i64,
}

impl ResourceMeta {
    /// The weak ETag of this version (RFC 7644 §3.14).
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub id: ResourceId,
    pub document: Value,
    pub meta: ResourceMeta,
    /// How many provisioning events this resource has produced: the aggregate
    /// version of its latest event. Only changes that emit an event bump it,
    /// so consumers see versions without gaps.
    pub event_version: i64,
}

/// The organization a token authenticated, with what its events carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub org: OrgId,
    /// The organization's one synchronized workspace.
    pub workspace: Uuid,
    /// The role new accounts get; roles are never changed by SCIM afterwards.
    pub default_role: String,
    /// The gateway's copy of licensing's "SCIM included" (from
    /// `subscription.changed`): without it every SCIM request is refused.
    pub scim_included: bool,
    /// The organization's own request limits, over the settings' defaults.
    pub limits: LimitOverride,
}

/// An organization and its SCIM connection, as the admin API manages it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    /// The one workspace SCIM synchronizes into.
    pub workspace_id: Uuid,
    pub workspace_name: Option<String>,
    /// The role new accounts get.
    pub default_role: String,
    /// Licensing's "SCIM included", as last announced.
    pub scim_included: bool,
    pub created_at: DateTime<Utc>,
}

/// A bearer token as kept: its hash aside, only a short prefix in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: Uuid,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Set when the token was rotated: it works until then.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it last authenticated a request (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl TokenInfo {
    /// Whether the token still authenticates requests at `now`.
    pub fn usable_at(&self, now: DateTime<Utc>) -> bool {
        token_usable(self.revoked_at, self.expires_at, now)
    }
}

/// A token as the credential store keeps it, with the tenant it names,
/// whatever its state: whether it authenticates is the domain's decision
/// ([`TokenGrant::authenticates_at`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub token_id: Uuid,
    pub tenant: Tenant,
    pub revoked_at: Option<DateTime<Utc>>,
    /// A rotated token's end of overlap.
    pub expires_at: Option<DateTime<Utc>>,
}

impl TokenGrant {
    pub fn authenticates_at(&self, now: DateTime<Utc>) -> bool {
        token_usable(self.revoked_at, self.expires_at, now)
    }
}

/// A token works until it is revoked and, once rotated, until its overlap
/// ends (its expiry, from which instant on it is refused).
fn token_usable(
    revoked_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    revoked_at.is_none() && expires_at.is_none_or(|end| end > now)
}

/// What deleting a user or group does to the groups that contain it, as the
/// use case decides it ("a deleted member bumps its groups' versions"): the
/// member leaves them and each moves to its next version, modified at
/// `modified_at`, so their ETags change. No event: consumers learn of it
/// from the member's own deletion event. The store executes it set-based in
/// the deletion's transaction, after deleting the member at
/// `expected_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberDeletion {
    pub member: ResourceId,
    pub expected_version: i64,
    pub containing_groups_modified_at: DateTime<Utc>,
}

impl MemberDeletion {
    /// The deletion of `current` (as read) decided at `now`.
    pub fn of(current: &StoredResource, now: DateTime<Utc>) -> Self {
        Self {
            member: current.id,
            expected_version: current.meta.version,
            containing_groups_modified_at: now,
        }
    }
}

/// A member of a group, as stored in the membership table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemberRef {
    pub id: ResourceId,
    pub kind: ResourceKind,
}

/// A group a user belongs to, for the user's read-only `groups` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub id: ResourceId,
    pub display_name: String,
}

/// A user with the groups it is a direct member of (its read-only `groups`),
/// sorted by display name.
#[derive(Debug, Clone, PartialEq)]
pub struct UserWithGroups {
    pub user: StoredResource,
    pub groups: Vec<GroupRef>,
}

/// A change to a group's membership, in member ids already checked to exist.
/// Set operations: adding a member twice or removing an absent one changes
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipChange {
    Add(Vec<MemberRef>),
    Remove(Vec<ResourceId>),
    RemoveAll,
    /// Exactly these members (PUT): the difference to the stored ones.
    Exactly(Vec<MemberRef>),
}

/// What the store actually changed for a `MembershipChange`: the members
/// that were not there and now are, or were there and now are not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipEffect {
    Added(Vec<MemberRef>),
    Removed(Vec<ResourceId>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortSpec {
    pub path: AttrPath,
    pub order: SortOrder,
}

/// A list request after validation: a bound filter, 1-based `start_index`,
/// `count` already clamped to the server's maximum.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort: Option<SortSpec>,
    pub start_index: u64,
    pub count: u64,
    /// The page ends early once its stored documents reach this many
    /// characters (at least one item is always returned): a page of large
    /// resources is bounded in memory, not only in items.
    pub max_bytes: u64,
    /// Cursor paging: a keyset read from a position instead of
    /// `start_index` (which is then ignored).
    pub keyset: Option<Keyset>,
    /// The URL the request came in on (`…/scim/v2`): what `meta.location`
    /// and `groups.$ref` / `members.$ref` start with, for filters on them.
    pub base_url: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub total_results: u64,
    pub items: Vec<T>,
    /// The page holds fewer than `count` items because their documents
    /// reached `max_bytes`, not because the result set ended.
    pub cut_by_size: bool,
    /// Each item's position in the list's order, for a keyset read (empty
    /// for an index read).
    pub keys: Vec<SortKey>,
}

/// Which way a keyset read goes from its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// On in the list's order.
    Forward,
    /// Back against it: the rows come nearest first.
    Backward,
}

/// A value of a list's sort expression as the store read it, typed so that
/// a later read compares with it as the database does.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    /// The resource has no value (missing values sort last).
    Null,
    Integer(i64),
    Real(f64),
    Boolean(bool),
    Text(String),
    Uuid(Uuid),
}

/// Where a resource stands in a list's order: (sort value, id), or the id
/// alone when the list is not sorted (`sort` None).
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub sort: Option<SortValue>,
    pub id: ResourceId,
}

/// A keyset read: the rows strictly after `from` in `direction` — from the
/// start (forward) or the end (backward) when `from` is None.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyset {
    pub direction: Direction,
    pub from: Option<SortKey>,
}

/// A bearer token as presented by a client. Never logged, never stored.
pub struct BearerToken(String);

impl BearerToken {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the token. Tokens carry at least 256 random bits, so a fast
    /// hash is enough: there is nothing to brute-force.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The limits one organization's requests are admitted under; 0 is "no
/// limit" for `max_in_flight` and `rate_per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestLimits {
    /// SCIM requests of the organization being answered at once.
    pub max_in_flight: u32,
    /// Requests a second, on average.
    pub rate_per_second: f64,
    /// Requests admitted at once after a quiet time (the bucket's size).
    pub burst: u32,
}

/// An organization's own limits; a field left `None` follows the default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LimitOverride {
    pub max_in_flight: Option<u32>,
    pub rate_per_second: Option<f64>,
    pub burst: Option<u32>,
}

/// Rates are finite (validated before they are stored), so equality is one.
impl Eq for LimitOverride {}

impl LimitOverride {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The limits in force: this override's fields over `defaults`.
    pub fn over(&self, defaults: &RequestLimits) -> RequestLimits {
        RequestLimits {
            max_in_flight: self.max_in_flight.unwrap_or(defaults.max_in_flight),
            rate_per_second: self.rate_per_second.unwrap_or(defaults.rate_per_second),
            burst: self.burst.unwrap_or(defaults.burst),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_deletion_is_decided_at_the_version_read_and_touches_the_containing_groups_at_its_instant()
    {
        let created = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        let member = StoredResource {
            id: ResourceId::generate(),
            document: serde_json::json!({"userName": "u"}),
            meta: ResourceMeta {
                created,
                last_modified: created,
                version: 4,
            },
            event_version: 2,
        };
        assert_eq!(
            MemberDeletion::of(&member, now),
            MemberDeletion {
                member: member.id,
                expected_version: 4,
                containing_groups_modified_at: now,
            }
        );
    }
}
