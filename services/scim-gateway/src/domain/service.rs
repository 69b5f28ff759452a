//! The SCIM view's use cases: what the IdP can do to users and groups.
//!
//! Writes use optimistic concurrency: read, apply, write back at the version
//! read; a concurrent writer makes the store report `VersionConflict` and the
//! use case starts over from a fresh read (bounded). With `If-Match` the client
//! asked for one exact version, so a conflict is a 412 instead of a retry.

use scim_protocol::{
    ProtocolError,
    filter::parse_bound_filter,
    messages::{SearchRequest, SortOrder, effective_paging},
    patch::{self, MemberChange, PatchRequest},
    resource::{check_immutable, normalize_for_write},
    schema::{GROUP_RESOURCE, ResourceType, USER_RESOURCE},
};
use std::collections::HashMap;

use provisioning_events::{Event, EventBody, seats};
use serde_json::Value;
use std::sync::Arc;

use super::errors::{AuthError, ScimViewError};
use super::events;

use super::models::{
    BearerToken, GroupRef, ListQuery, MemberRef, MembershipChange, OrgId, Page, ResourceId,
    ResourceKind, ResourceMeta, SortSpec, StoredResource, Tenant, UserWithGroups,
};
use super::ports::{
    Clock, CredentialStore, GroupStore, SeatAuthority, SeatDecision, StoreError, UserStore,
};

/// Limits the view enforces on list requests and write retries.
#[derive(Debug, Clone, Copy)]
pub struct ViewLimits {
    /// Largest page a client can ask for (`count` above is clamped).
    pub max_results: u64,
    /// Page size when the client gives no `count`.
    pub default_count: u64,
    /// How often a write is retried after losing an optimistic-concurrency race.
    pub write_attempts: u32,
}

impl Default for ViewLimits {
    fn default() -> Self {
        Self {
            max_results: 1000,
            default_count: 100,
            write_attempts: 8,
        }
    }
}

/// `If-Match` as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// `If-Match: *`, or no header: any current version.
    Any,
    /// The listed versions; anything else is 412.
    Versions(Vec<i64>),
}

impl Precondition {
    fn check(&self, meta: &ResourceMeta) -> Result<(), ScimViewError> {
        match self {
            Precondition::Any => Ok(()),
            Precondition::Versions(v) if v.contains(&meta.version) => Ok(()),
            Precondition::Versions(_) => Err(ScimViewError::PreconditionFailed),
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
}

impl<S, C> ScimView<S, C> {
    pub fn new(store: S, clock: C, limits: ViewLimits, seats: Arc<dyn SeatAuthority>) -> Self {
        Self {
            store,
            clock,
            limits,
            seats,
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
        match self.store.tenant_for_token(&token.hash()).await {
            Ok(Some(tenant)) if !tenant.scim_included => Err(AuthError::ScimNotIncluded),
            Ok(Some(tenant)) => Ok(tenant),
            Ok(None) => Err(AuthError::InvalidToken),
            Err(e) => Err(AuthError::Unavailable(e.into_anyhow())),
        }
    }

    // ----- users -------------------------------------------------------------

    pub async fn create_user(
        &self,
        tenant: &Tenant,
        body: Value,
    ) -> Result<StoredResource, ScimViewError> {
        let document = normalize_for_write(body, &USER_RESOURCE)?;
        // An active user takes a seat: asked for before anything is written.
        // A taken userName (an IdP retrying a create that did commit) is a
        // 409 first: it must not be refused for want of a second seat.
        if events::is_active(&document) {
            let user_name = document
                .get("userName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if self
                .store
                .user_name_taken(tenant.org, user_name)
                .await
                .map_err(|e| ScimViewError::from_store(ResourceKind::User, e))?
            {
                return Err(ScimViewError::UserNameTaken);
            }
            self.reserve_seat(tenant.org, &seats::new_user_key(user_name))
                .await?;
        }
        let now = self.clock.now();
        let mut user = StoredResource {
            id: ResourceId::generate(),
            document,
            meta: ResourceMeta {
                created: now,
                last_modified: now,
                version: 1,
            },
            event_version: 0,
        };
        let bodies = events::user_created(tenant, &user.document);
        let (events, event_version) =
            events::envelop(tenant, ResourceKind::User, &user, bodies, now);
        user.event_version = event_version;
        self.store
            .insert_user(tenant.org, &user, &events)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::User, e))?;
        Ok(user)
    }

    pub async fn get_user(&self, org: OrgId, id: &str) -> Result<StoredResource, ScimViewError> {
        let id = parse_id(id, ResourceKind::User)?;
        self.load_user(org, id).await
    }

    /// A user with its groups (the read-only `groups` attribute), in one read.
    pub async fn get_user_with_groups(
        &self,
        org: OrgId,
        id: &str,
    ) -> Result<UserWithGroups, ScimViewError> {
        let id = parse_id(id, ResourceKind::User)?;
        self.store
            .find_user_with_groups(org, id)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::User, e))?
            .ok_or(ScimViewError::NotFound(ResourceKind::User))
    }

    /// A page of users with their groups, in one read.
    pub async fn list_users_with_groups(
        &self,
        org: OrgId,
        request: &SearchRequest,
    ) -> Result<Page<UserWithGroups>, ScimViewError> {
        let query = self.list_query(request, &USER_RESOURCE)?;
        self.store
            .list_users_with_groups(org, &query)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::User, e))
    }

    pub async fn list_users(
        &self,
        org: OrgId,
        request: &SearchRequest,
    ) -> Result<Page<StoredResource>, ScimViewError> {
        let query = self.list_query(request, &USER_RESOURCE)?;
        self.store
            .list_users(org, &query)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::User, e))
    }

    pub async fn replace_user(
        &self,
        tenant: &Tenant,
        id: &str,
        body: Value,
        precondition: &Precondition,
    ) -> Result<StoredResource, ScimViewError> {
        let id = parse_id(id, ResourceKind::User)?;
        let replacement = normalize_for_write(body, &USER_RESOURCE)?;
        self.modify_user(tenant, id, precondition, |current| {
            check_immutable(&current.document, &replacement, &USER_RESOURCE)?;
            Ok(replacement.clone())
        })
        .await
    }

    pub async fn patch_user(
        &self,
        tenant: &Tenant,
        id: &str,
        body: Value,
        precondition: &Precondition,
    ) -> Result<StoredResource, ScimViewError> {
        let id = parse_id(id, ResourceKind::User)?;
        let request = PatchRequest::parse(body, &USER_RESOURCE)?;
        self.modify_user(tenant, id, precondition, |current| {
            let mut document = current.document.clone();
            patch::apply(&mut document, &request.operations, &USER_RESOURCE)?;
            Ok(normalize_for_write(document, &USER_RESOURCE)?)
        })
        .await
    }

    pub async fn delete_user(
        &self,
        tenant: &Tenant,
        id: &str,
        precondition: &Precondition,
    ) -> Result<(), ScimViewError> {
        let id = parse_id(id, ResourceKind::User)?;
        self.delete_resource(
            tenant,
            ResourceKind::User,
            precondition,
            EventBody::UserDeleted {},
            async || self.load_user(tenant.org, id).await,
            async |version, events: &[Event]| {
                self.store
                    .delete_user(tenant.org, id, version, events)
                    .await
            },
        )
        .await
    }

    /// The read-only `groups` of each user, keyed by user.
    pub async fn groups_of_users(
        &self,
        org: OrgId,
        ids: &[ResourceId],
    ) -> Result<HashMap<ResourceId, Vec<GroupRef>>, ScimViewError> {
        let pairs = self
            .store
            .groups_of_users(org, ids)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::User, e))?;
        let mut by_user: HashMap<ResourceId, Vec<GroupRef>> = HashMap::new();
        for (user, group) in pairs {
            by_user.entry(user).or_default().push(group);
        }
        Ok(by_user)
    }

    async fn load_user(&self, org: OrgId, id: ResourceId) -> Result<StoredResource, ScimViewError> {
        self.store
            .find_user(org, id)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::User, e))?
            .ok_or(ScimViewError::NotFound(ResourceKind::User))
    }

    /// Read-modify-write of one user. `change` returns the new canonical
    /// document; an identical document is no change (no new version).
    async fn modify_user<F>(
        &self,
        tenant: &Tenant,
        id: ResourceId,
        precondition: &Precondition,
        change: F,
    ) -> Result<StoredResource, ScimViewError>
    where
        F: Fn(&StoredResource) -> Result<Value, ScimViewError>,
    {
        for _ in 0..self.limits.write_attempts {
            let current = self.load_user(tenant.org, id).await?;
            precondition.check(&current.meta)?;
            let document = change(&current)?;
            if document == current.document {
                return Ok(current);
            }
            // Re-enabling takes a seat (the same one again if this loop retries).
            if !events::is_active(&current.document) && events::is_active(&document) {
                self.reserve_seat(tenant.org, &seats::reactivation_key(&id.to_string()))
                    .await?;
            }
            let bodies = events::user_changed(tenant, &current.document, &document);
            let mut updated = self.next_version(&current, document);
            let (events, event_version) = events::envelop(
                tenant,
                ResourceKind::User,
                &current,
                bodies,
                updated.meta.last_modified,
            );
            updated.event_version = event_version;
            let written = self
                .store
                .update_user(tenant.org, &current, &updated, &events)
                .await;
            if written_or_retry(written, precondition, ResourceKind::User)? {
                return Ok(updated);
            }
        }
        Err(ScimViewError::ConcurrentModification)
    }

    // ----- groups ------------------------------------------------------------

    pub async fn create_group(
        &self,
        tenant: &Tenant,
        body: Value,
    ) -> Result<GroupWithMembers, ScimViewError> {
        let mut document = normalize_for_write(body, &GROUP_RESOURCE)?;
        let member_ids = take_member_ids(&mut document)?;
        let members = self.resolve_members(tenant.org, &member_ids).await?;
        let now = self.clock.now();
        let mut group = StoredResource {
            id: ResourceId::generate(),
            document,
            meta: ResourceMeta {
                created: now,
                last_modified: now,
                version: 1,
            },
            event_version: 0,
        };
        let bodies = events::group_created(&group.document, &members);
        let (events, event_version) =
            events::envelop(tenant, ResourceKind::Group, &group, bodies, now);
        group.event_version = event_version;
        self.store
            .insert_group(tenant.org, &group, &members, &events)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::Group, e))?;
        Ok(GroupWithMembers {
            group,
            members: Some(members),
        })
    }

    pub async fn get_group(
        &self,
        org: OrgId,
        id: &str,
        with_members: bool,
    ) -> Result<GroupWithMembers, ScimViewError> {
        let id = parse_id(id, ResourceKind::Group)?;
        let group = self.load_group(org, id).await?;
        let members = if with_members {
            Some(self.members_of(org, id).await?)
        } else {
            None
        };
        Ok(GroupWithMembers { group, members })
    }

    pub async fn list_groups(
        &self,
        org: OrgId,
        request: &SearchRequest,
    ) -> Result<Page<StoredResource>, ScimViewError> {
        let query = self.list_query(request, &GROUP_RESOURCE)?;
        self.store
            .list_groups(org, &query)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::Group, e))
    }

    pub async fn members_of(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> Result<Vec<MemberRef>, ScimViewError> {
        self.store
            .group_members(org, id)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::Group, e))
    }

    /// PUT: the body is the whole group, members included (Okta's way of
    /// syncing). Only the difference to the stored membership is written.
    pub async fn replace_group(
        &self,
        tenant: &Tenant,
        id: &str,
        body: Value,
        precondition: &Precondition,
    ) -> Result<StoredResource, ScimViewError> {
        let id = parse_id(id, ResourceKind::Group)?;
        let mut replacement = normalize_for_write(body, &GROUP_RESOURCE)?;
        let wanted_ids = take_member_ids(&mut replacement)?;
        let wanted = self.resolve_members(tenant.org, &wanted_ids).await?;
        self.modify_group(
            tenant,
            id,
            precondition,
            async |current: &StoredResource| {
                check_immutable(&current.document, &replacement, &GROUP_RESOURCE)?;
                let existing = self.members_of(tenant.org, id).await?;
                Ok((
                    replacement.clone(),
                    membership_difference(&existing, &wanted),
                ))
            },
        )
        .await
    }

    /// PATCH: member operations become membership-table changes (never a
    /// rewrite of the member list); the rest patches the group document.
    pub async fn patch_group(
        &self,
        tenant: &Tenant,
        id: &str,
        body: Value,
        precondition: &Precondition,
    ) -> Result<StoredResource, ScimViewError> {
        let id = parse_id(id, ResourceKind::Group)?;
        let request = PatchRequest::parse(body, &GROUP_RESOURCE)?;
        let (document_ops, member_changes) = patch::split_members(request.operations)?;
        let membership = self.membership_changes(tenant.org, member_changes).await?;
        self.modify_group(
            tenant,
            id,
            precondition,
            async |current: &StoredResource| {
                let mut document = current.document.clone();
                patch::apply(&mut document, &document_ops, &GROUP_RESOURCE)?;
                Ok((
                    normalize_for_write(document, &GROUP_RESOURCE)?,
                    membership.clone(),
                ))
            },
        )
        .await
    }

    /// Read-modify-write of one group: `change` gives the new document and the
    /// membership changes; neither changing means no new version.
    async fn modify_group(
        &self,
        tenant: &Tenant,
        id: ResourceId,
        precondition: &Precondition,
        change: impl AsyncFn(&StoredResource) -> Result<(Value, Vec<MembershipChange>), ScimViewError>,
    ) -> Result<StoredResource, ScimViewError> {
        for _ in 0..self.limits.write_attempts {
            let current = self.load_group(tenant.org, id).await?;
            precondition.check(&current.meta)?;
            let (document, membership) = change(&current).await?;
            let document_changed = document != current.document;
            if !document_changed && membership.is_empty() {
                return Ok(current);
            }
            let (added, removed) = self.membership_delta(tenant.org, id, &membership).await?;
            let bodies = events::group_changed(&current.document, &document, &added, &removed);
            let mut updated = self.next_version(&current, document);
            let (events, event_version) = events::envelop(
                tenant,
                ResourceKind::Group,
                &current,
                bodies,
                updated.meta.last_modified,
            );
            updated.event_version = event_version;
            let written = self
                .store
                .update_group(
                    tenant.org,
                    &updated,
                    current.meta.version,
                    document_changed,
                    &membership,
                    &events,
                )
                .await;
            if written_or_retry(written, precondition, ResourceKind::Group)? {
                return Ok(updated);
            }
        }
        Err(ScimViewError::ConcurrentModification)
    }

    pub async fn delete_group(
        &self,
        tenant: &Tenant,
        id: &str,
        precondition: &Precondition,
    ) -> Result<(), ScimViewError> {
        let id = parse_id(id, ResourceKind::Group)?;
        self.delete_resource(
            tenant,
            ResourceKind::Group,
            precondition,
            EventBody::GroupDeleted {},
            async || self.load_group(tenant.org, id).await,
            async |version, events: &[Event]| {
                self.store
                    .delete_group(tenant.org, id, version, events)
                    .await
            },
        )
        .await
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
        delete: impl AsyncFn(i64, &[Event]) -> Result<(), StoreError>,
    ) -> Result<(), ScimViewError> {
        for _ in 0..self.limits.write_attempts {
            let current = load().await?;
            precondition.check(&current.meta)?;
            let (events, _) = events::envelop(
                tenant,
                kind,
                &current,
                vec![deleted.clone()],
                self.clock.now(),
            );
            if written_or_retry(
                delete(current.meta.version, &events).await,
                precondition,
                kind,
            )? {
                return Ok(());
            }
        }
        Err(ScimViewError::ConcurrentModification)
    }

    async fn load_group(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> Result<StoredResource, ScimViewError> {
        self.store
            .find_group(org, id)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::Group, e))?
            .ok_or(ScimViewError::NotFound(ResourceKind::Group))
    }

    /// Who a membership change adds and removes, for its events. Removing all
    /// members names the current ones: events are self-contained facts. (Read
    /// after the group row, so a concurrent change makes the write retry.)
    async fn membership_delta(
        &self,
        org: OrgId,
        id: ResourceId,
        membership: &[MembershipChange],
    ) -> Result<(Vec<MemberRef>, Vec<ResourceId>), ScimViewError> {
        let mut added = Vec::new();
        let mut removed = Vec::new();
        for change in membership {
            match change {
                MembershipChange::Add(members) => added.extend(members.iter().copied()),
                MembershipChange::Remove(ids) => removed.extend(ids.iter().copied()),
                MembershipChange::RemoveAll => {
                    removed.extend(self.members_of(org, id).await?.into_iter().map(|m| m.id));
                }
            }
        }
        Ok((added, removed))
    }

    /// Checks that every id names a user or group of this organization.
    async fn resolve_members(
        &self,
        org: OrgId,
        raw_ids: &[String],
    ) -> Result<Vec<MemberRef>, ScimViewError> {
        if raw_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::with_capacity(raw_ids.len());
        for raw in raw_ids {
            let id =
                ResourceId::parse(raw).ok_or_else(|| ScimViewError::UnknownMember(raw.clone()))?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let found = self
            .store
            .existing_members(org, &ids)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::Group, e))?;
        if let Some(missing) = ids.iter().find(|id| !found.iter().any(|m| m.id == **id)) {
            return Err(ScimViewError::UnknownMember(missing.to_string()));
        }
        Ok(found)
    }

    async fn membership_changes(
        &self,
        org: OrgId,
        changes: Vec<MemberChange>,
    ) -> Result<Vec<MembershipChange>, ScimViewError> {
        let mut out = Vec::with_capacity(changes.len());
        for change in changes {
            match change {
                MemberChange::Add(ids) => {
                    out.push(MembershipChange::Add(
                        self.resolve_members(org, &ids).await?,
                    ));
                }
                // Removing an id that is not a member (or not even an id) is a no-op.
                MemberChange::Remove(ids) => out.push(MembershipChange::Remove(
                    ids.iter()
                        .filter_map(|raw| ResourceId::parse(raw))
                        .collect(),
                )),
                MemberChange::RemoveAll => out.push(MembershipChange::RemoveAll),
                MemberChange::Replace(ids) => {
                    let members = self.resolve_members(org, &ids).await?;
                    out.push(MembershipChange::RemoveAll);
                    out.push(MembershipChange::Add(members));
                }
            }
        }
        Ok(out)
    }

    // ----- shared ------------------------------------------------------------

    fn next_version(&self, current: &StoredResource, document: Value) -> StoredResource {
        StoredResource {
            id: current.id,
            document,
            meta: ResourceMeta {
                created: current.meta.created,
                last_modified: self.clock.now().max(current.meta.last_modified),
                version: current.meta.version + 1,
            },
            event_version: current.event_version,
        }
    }

    fn list_query(
        &self,
        request: &SearchRequest,
        resource: &ResourceType,
    ) -> Result<ListQuery, ScimViewError> {
        let filter = match request.filter.as_deref() {
            Some(raw) if !raw.trim().is_empty() => Some(parse_bound_filter(raw, resource)?),
            _ => None,
        };
        let sort = match request.sort_by.as_deref() {
            Some(raw) if !raw.trim().is_empty() => {
                let path = scim_protocol::filter::parse_path(raw)
                    .ok()
                    .and_then(|p| {
                        resource
                            .resolve(&p.attr)
                            .map(|r| r.canonical_path(resource))
                    })
                    .ok_or_else(|| {
                        ProtocolError::invalid_value(format!(
                            "sortBy names no attribute of {}",
                            resource.name
                        ))
                    })?;
                Some(SortSpec {
                    path,
                    order: request.sort_order.unwrap_or(SortOrder::Ascending),
                })
            }
            _ => None,
        };
        let (start_index, count) = effective_paging(
            request.start_index,
            request.count,
            self.limits.default_count,
            self.limits.max_results,
        );
        Ok(ListQuery {
            filter,
            sort,
            start_index,
            count,
        })
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

/// Takes `members` out of a normalized group document: members live in their
/// own table, never in the stored document.
fn take_member_ids(document: &mut Value) -> Result<Vec<String>, ScimViewError> {
    let Some(members) = document.as_object_mut().and_then(|o| o.remove("members")) else {
        return Ok(Vec::new());
    };
    let Value::Array(members) = members else {
        return Err(ProtocolError::invalid_value("members must be an array").into());
    };
    members
        .into_iter()
        .map(|m| match m.get("value") {
            Some(Value::String(id)) => Ok(id.clone()),
            _ => Err(ProtocolError::invalid_value("every member needs a string value").into()),
        })
        .collect()
}

fn membership_difference(existing: &[MemberRef], wanted: &[MemberRef]) -> Vec<MembershipChange> {
    use std::collections::HashSet;
    let have: HashSet<_> = existing.iter().map(|m| m.id).collect();
    let want: HashSet<_> = wanted.iter().map(|m| m.id).collect();
    let removed: Vec<_> = existing
        .iter()
        .map(|m| m.id)
        .filter(|id| !want.contains(id))
        .collect();
    let added: Vec<_> = wanted
        .iter()
        .copied()
        .filter(|m| !have.contains(&m.id))
        .collect();
    let mut changes = Vec::new();
    if !removed.is_empty() {
        changes.push(MembershipChange::Remove(removed));
    }
    if !added.is_empty() {
        changes.push(MembershipChange::Add(added));
    }
    changes
}

impl StoreError {
    fn into_anyhow(self) -> anyhow::Error {
        match self {
            StoreError::Unavailable(e) => e,
            other => anyhow::Error::new(other),
        }
    }
}
