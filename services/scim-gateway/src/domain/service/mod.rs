//! The SCIM view's use cases: what the IdP can do to users and groups.
//!
//! Writes to one resource never fail because another request changed it
//! (docs/architecture.md, "Writes to one resource"): inside this process
//! they take turns ([`ResourceLocks`]); a group change runs under its row's
//! lock in the store; a user write or a deletion is optimistic — read,
//! apply, write back at the version read — and a concurrent writer another
//! process let through makes the store report `VersionConflict`: the use
//! case starts over from a fresh read after a jittered pause, until it
//! writes or `write_deadline` passes. With `If-Match` the client asked for
//! exact versions, so a conflict is a 412 instead of a retry.
//!
//! `users`, `groups`, `query` (lists, searches and their index paging),
//! `cursor_search` (their cursor paging) and `bulk` (RFC 7644 §3.7, through
//! the others) each add their use cases to `ScimView`; this module holds the
//! view itself and what they share: limits, `If-Match`, versions, deletion,
//! the retry rule.

pub mod bulk;
pub mod cursor_search;
mod groups;
pub mod query;
mod users;

use provisioning_events::sealing::HashSecret;
use provisioning_events::{Event, EventBody};
use scim_protocol::limits::WriteLimits;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

use super::credentials::authenticated_tenant;
use super::errors::{AuthError, ScimViewError};
use super::models::{
    BearerToken, MemberDeletion, MemberRef, OrgId, ResourceId, ResourceKind, ResourceMeta,
    StoredResource, Tenant,
};
use super::ports::{
    Clock, CredentialStore, CursorSeal, GroupStore, SeatAuthority, SeatDecision, SeatError,
    StoreError, UserStore,
};
use super::resource_locks::ResourceLocks;
use super::rules;

/// Limits the view enforces on list requests and write retries.
#[derive(Debug, Clone, Copy)]
pub struct ViewLimits {
    /// Largest page a client can ask for (`count` above is clamped).
    pub max_results: u64,
    /// Page size when the client gives no `count`.
    pub default_count: u64,
    /// A list page ends early once its resources' stored documents reach
    /// this many characters (`itemsPerPage` says how many it holds).
    pub max_page_bytes: u64,
    /// How long a write keeps retrying after losing optimistic-concurrency
    /// races (to a writer of another process) before it answers 409.
    pub write_deadline: Duration,
    /// Bounds on string values, resource size and PATCH operation values.
    pub writes: WriteLimits,
    /// How long a list cursor stays valid after it was issued (RFC 9865
    /// `cursorTimeout`).
    pub cursor_timeout: Duration,
    /// Most operations one Bulk request may carry (413 above).
    pub bulk_max_operations: usize,
    /// Creates of one Bulk request run at once at most.
    pub bulk_concurrency: usize,
}

impl Default for ViewLimits {
    fn default() -> Self {
        Self {
            max_results: 1000,
            default_count: 100,
            max_page_bytes: 2 * 1024 * 1024,
            write_deadline: Duration::from_secs(10),
            writes: WriteLimits::default(),
            cursor_timeout: Duration::from_secs(3600),
            bulk_max_operations: 1000,
            bulk_concurrency: 128,
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
    /// One write at a time per resource in this process.
    locks: ResourceLocks,
    /// Seals list cursors; without one, cursor paging is refused.
    cursors: Option<Arc<dyn CursorSeal>>,
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
            locks: ResourceLocks::default(),
            cursors: None,
        }
    }

    /// Cursor paging (RFC 9865), its cursors sealed by `seal`.
    pub fn with_cursor_seal(mut self, seal: Arc<dyn CursorSeal>) -> Self {
        self.cursors = Some(seal);
        self
    }

    /// A seat for `key`, or the error that refuses the request: nothing has
    /// been written yet when this fails.
    async fn reserve_seat(&self, org: OrgId, key: &str) -> Result<(), ScimViewError> {
        seat_granted(self.seats.reserve(org, key).await)
    }

    /// Seats for `keys`, decided in their order: one answer per key.
    async fn reserve_seats(&self, org: OrgId, keys: &[String]) -> Vec<Result<(), ScimViewError>> {
        let mut decisions = self.seats.reserve_all(org, keys).await;
        // An adapter that answers fewer keys than asked leaves the rest
        // undecided: no seat for them.
        decisions.resize_with(keys.len(), || {
            Err(SeatError::Unavailable("no decision for the seat".into()))
        });
        decisions.truncate(keys.len());
        decisions.into_iter().map(seat_granted).collect()
    }

    pub fn limits(&self) -> ViewLimits {
        self.limits
    }

    /// The per-resource locks (how many are in use: bounded memory).
    pub fn resource_locks(&self) -> &ResourceLocks {
        &self.locks
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
        (kind, id): (ResourceKind, ResourceId),
        precondition: &Precondition,
        deleted: EventBody,
        load: impl AsyncFn() -> Result<StoredResource, ScimViewError>,
        delete: impl AsyncFn(&MemberDeletion, &[Event]) -> Result<(), StoreError>,
    ) -> Result<(), ScimViewError> {
        let _turn = self.locks.lock(tenant.org, id).await;
        self.until_written(async || {
            let mut current = load().await?;
            precondition.check(&current.meta)?;
            let now = self.clock.now();
            let events =
                rules::stamp_events(tenant, kind, &mut current, vec![deleted.clone()], now);
            let written = delete(&MemberDeletion::of(&current, now), &events).await;
            Ok(written_or_retry(written, precondition, kind)?.then_some(()))
        })
        .await
    }

    /// Runs `attempt` until it writes (`Some`); `None` means another writer
    /// won the race and the attempt starts over from a fresh read, after a
    /// jittered pause that grows with each loss. Only `write_deadline`
    /// bounds the attempts: the writer that wins a race has made progress,
    /// so retries end, and losing every race until the deadline takes
    /// writers of other processes hammering one resource.
    async fn until_written<T>(
        &self,
        mut attempt: impl AsyncFnMut() -> Result<Option<T>, ScimViewError>,
    ) -> Result<T, ScimViewError> {
        const FIRST_PAUSE: Duration = Duration::from_millis(2);
        const LONGEST_PAUSE: Duration = Duration::from_millis(200);
        let deadline = chrono::TimeDelta::from_std(self.limits.write_deadline)
            .ok()
            .and_then(|d| self.clock.now().checked_add_signed(d));
        let mut pause = FIRST_PAUSE;
        loop {
            if let Some(written) = attempt().await? {
                return Ok(written);
            }
            if deadline.is_some_and(|deadline| self.clock.now() >= deadline) {
                return Err(ScimViewError::ConcurrentModification);
            }
            self.clock.pause(pause).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
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

/// What a seat decision means for a create.
fn seat_granted(decision: Result<SeatDecision, SeatError>) -> Result<(), ScimViewError> {
    match decision {
        Ok(SeatDecision::Granted) => Ok(()),
        Ok(SeatDecision::Denied { used, quota }) => {
            Err(ScimViewError::SeatQuotaReached { used, quota })
        }
        Ok(SeatDecision::NotIncluded) => Err(ScimViewError::ScimNotIncluded),
        Err(e) => Err(ScimViewError::LicensingUnavailable(e)),
    }
}
