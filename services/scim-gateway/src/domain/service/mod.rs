//! The SCIM view's use cases: what the IdP can do to users and groups.
//!
//! Writes use optimistic concurrency: read, apply, write back at the version
//! read; a concurrent writer makes the store report `VersionConflict` and the
//! use case starts over from a fresh read (bounded). With `If-Match` the client
//! asked for one exact version, so a conflict is a 412 instead of a retry.
//!
//! `users`, `groups` and `query` (lists, searches and their paging) each add
//! their use cases to `ScimView`; this module holds the view itself and what
//! they share: limits, `If-Match`, versions, deletion, the retry rule.

mod groups;
pub mod query;
mod users;

use provisioning_events::sealing::HashSecret;
use provisioning_events::{Event, EventBody};
use scim_protocol::limits::WriteLimits;
use serde_json::Value;
use std::sync::Arc;

use super::credentials::authenticated_tenant;
use super::errors::{AuthError, ScimViewError};
use super::models::{
    BearerToken, MemberDeletion, MemberRef, OrgId, ResourceId, ResourceKind, ResourceMeta,
    StoredResource, Tenant,
};
use super::ports::{
    Clock, CredentialStore, GroupStore, SeatAuthority, SeatDecision, StoreError, UserStore,
};
use super::rules;

/// Limits the view enforces on list requests and write retries.
#[derive(Debug, Clone, Copy)]
pub struct ViewLimits {
    /// Largest page a client can ask for (`count` above is clamped).
    pub max_results: u64,
    /// Page size when the client gives no `count`.
    pub default_count: u64,
    /// How often a write is retried after losing an optimistic-concurrency race.
    pub write_attempts: u32,
    /// Bounds on string values, resource size and PATCH operation values.
    pub writes: WriteLimits,
}

impl Default for ViewLimits {
    fn default() -> Self {
        Self {
            max_results: 1000,
            default_count: 100,
            write_attempts: 8,
            writes: WriteLimits::default(),
        }
    }
}

/// `If-Match` (and `If-None-Match`) of a write as the client sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// `If-Match: *`, or no header: any current version.
    Any,
    /// The listed versions; anything else is 412.
    Versions(Vec<i64>),
    /// Any version but these (`If-None-Match` on a write); one of them is 412.
    Except(Vec<i64>),
}

impl Precondition {
    fn check(&self, meta: &ResourceMeta) -> Result<(), ScimViewError> {
        match self {
            Precondition::Any => Ok(()),
            Precondition::Versions(v) if v.contains(&meta.version) => Ok(()),
            Precondition::Versions(_) => Err(ScimViewError::PreconditionFailed),
            Precondition::Except(v) if v.contains(&meta.version) => {
                Err(ScimViewError::PreconditionFailed)
            }
            Precondition::Except(_) => Ok(()),
        }
    }

    fn is_exact(&self) -> bool {
        matches!(self, Precondition::Versions(_))
    }
}

/// A group together with its members, when they were asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupWithMembers {
    pub group: StoredResource,
    pub members: Option<Vec<MemberRef>>,
}

#[derive(Clone)]
pub struct ScimView<S, C> {
    store: S,
    clock: C,
    limits: ViewLimits,
    seats: Arc<dyn SeatAuthority>,
    /// Keys new users' seat reservations by a keyed hash of their userName.
    seat_keys: HashSecret,
}

impl<S, C> ScimView<S, C> {
    pub fn new(
        store: S,
        clock: C,
        limits: ViewLimits,
        seats: Arc<dyn SeatAuthority>,
        seat_keys: HashSecret,
    ) -> Self {
        Self {
            store,
            clock,
            limits,
            seats,
            seat_keys,
        }
    }

    /// A seat for `key`, or the error that refuses the request: nothing has
    /// been written yet when this fails.
    async fn reserve_seat(&self, org: OrgId, key: &str) -> Result<(), ScimViewError> {
        match self.seats.reserve(org, key).await {
            Ok(SeatDecision::Granted) => Ok(()),
            Ok(SeatDecision::Denied { used, quota }) => {
                Err(ScimViewError::SeatQuotaReached { used, quota })
            }
            Ok(SeatDecision::NotIncluded) => Err(ScimViewError::ScimNotIncluded),
            Err(e) => Err(ScimViewError::LicensingUnavailable(e)),
        }
    }

    pub fn limits(&self) -> ViewLimits {
        self.limits
    }
}

impl<S, C> ScimView<S, C>
where
    S: UserStore + GroupStore + CredentialStore,
    C: Clock,
{
    pub async fn authenticate(&self, token: Option<&BearerToken>) -> Result<Tenant, AuthError> {
        let token = token.ok_or(AuthError::MissingToken)?;
        match authenticated_tenant(&self.store, token, self.clock.now()).await {
            Ok(Some(tenant)) if !tenant.scim_included => Err(AuthError::ScimNotIncluded),
            Ok(Some(tenant)) => Ok(tenant),
            Ok(None) => Err(AuthError::InvalidToken),
            Err(e) => Err(AuthError::Unavailable(e.into_anyhow())),
        }
    }

    /// Deletes at the version read, journaling `deleted`; a concurrent change
    /// makes it start over (or 412 under an exact `If-Match`).
    async fn delete_resource(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        precondition: &Precondition,
        deleted: EventBody,
        load: impl AsyncFn() -> Result<StoredResource, ScimViewError>,
        delete: impl AsyncFn(&MemberDeletion, &[Event]) -> Result<(), StoreError>,
    ) -> Result<(), ScimViewError> {
        for _ in 0..self.limits.write_attempts {
            let mut current = load().await?;
            precondition.check(&current.meta)?;
            let now = self.clock.now();
            let events =
                rules::stamp_events(tenant, kind, &mut current, vec![deleted.clone()], now);
            if written_or_retry(
                delete(&MemberDeletion::of(&current, now), &events).await,
                precondition,
                kind,
            )? {
                return Ok(());
            }
        }
        Err(ScimViewError::ConcurrentModification)
    }

    /// A new resource at version 1 and the events its creation emits.
    fn first_version(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        document: Value,
        bodies: Vec<EventBody>,
    ) -> (StoredResource, Vec<Event>) {
        let now = self.clock.now();
        let mut created = StoredResource {
            id: ResourceId::generate(),
            document,
            meta: ResourceMeta {
                created: now,
                last_modified: now,
                version: 1,
            },
            event_version: 0,
        };
        let events = rules::stamp_events(tenant, kind, &mut created, bodies, now);
        (created, events)
    }

    /// `current` at its next version with `document`, and the events the
    /// change emits. `lastModified` never goes back, even if the clock does.
    fn next_version(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        current: &StoredResource,
        document: Value,
        bodies: Vec<EventBody>,
    ) -> (StoredResource, Vec<Event>) {
        let last_modified = self.clock.now().max(current.meta.last_modified);
        let mut updated = StoredResource {
            id: current.id,
            document,
            meta: ResourceMeta {
                created: current.meta.created,
                last_modified,
                version: current.meta.version + 1,
            },
            event_version: current.event_version,
        };
        let events = rules::stamp_events(tenant, kind, &mut updated, bodies, last_modified);
        (updated, events)
    }
}

/// The outcome of an optimistic write: true when written, false when a
/// concurrent writer won and the use case should start over. With an exact
/// `If-Match` the client asked for the version it read, so losing is a 412.
fn written_or_retry(
    result: Result<(), StoreError>,
    precondition: &Precondition,
    kind: ResourceKind,
) -> Result<bool, ScimViewError> {
    match result {
        Ok(()) => Ok(true),
        Err(StoreError::VersionConflict) if precondition.is_exact() => {
            Err(ScimViewError::PreconditionFailed)
        }
        Err(StoreError::VersionConflict) => Ok(false),
        Err(e) => Err(ScimViewError::from_store(kind, e)),
    }
}

fn parse_id(raw: &str, kind: ResourceKind) -> Result<ResourceId, ScimViewError> {
    ResourceId::parse(raw).ok_or(ScimViewError::NotFound(kind))
}

impl StoreError {
    fn into_anyhow(self) -> anyhow::Error {
        match self {
            StoreError::Unavailable(e) => e,
            other => anyhow::Error::new(other),
        }
    }
}
