//! The group use cases: create, read, replace, patch, delete, and the
//! membership changes they make (members live in their own table).

use provisioning_events::{Event, EventBody};
use scim_protocol::{
    ProtocolError,
    patch::{self, MemberChange, PatchRequest},
    resource::{check_immutable, normalize_for_write},
    schema::GROUP_RESOURCE,
};
use serde_json::Value;

use super::super::errors::ScimViewError;
use super::super::models::{
    MemberRef, MembershipChange, OrgId, ResourceId, ResourceKind, StoredResource, Tenant,
};
use super::super::ports::{Clock, CredentialStore, GroupStore, UserStore};
use super::super::rules;
use super::{GroupWithMembers, Precondition, ScimView, parse_id, written_or_retry};

impl<S, C> ScimView<S, C>
where
    S: UserStore + GroupStore + CredentialStore,
    C: Clock,
{
    pub async fn create_group(
        &self,
        tenant: &Tenant,
        body: Value,
    ) -> Result<GroupWithMembers, ScimViewError> {
        let mut document = normalize_for_write(body, &GROUP_RESOURCE)?;
        let member_ids = take_member_ids(&mut document)?;
        self.limits.writes.check_document(&document)?;
        let members = self.resolve_members(tenant.org, &member_ids).await?;
        let bodies = rules::group_created(&document, &members);
        let (group, events) = self.first_version(tenant, ResourceKind::Group, document, bodies);
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
        self.limits.writes.check_document(&replacement)?;
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
        self.limits.writes.check_patch(&request)?;
        let (document_ops, member_changes) = patch::split_members(request.operations)?;
        let membership = self.membership_changes(tenant.org, member_changes).await?;
        self.modify_group(
            tenant,
            id,
            precondition,
            async |current: &StoredResource| {
                let mut document = current.document.clone();
                patch::apply(&mut document, &document_ops, &GROUP_RESOURCE)?;
                let document = normalize_for_write(document, &GROUP_RESOURCE)?;
                self.limits.writes.check_document(&document)?;
                Ok((document, membership.clone()))
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
            let bodies = rules::group_changed(&current.document, &document, &added, &removed);
            let (updated, events) =
                self.next_version(tenant, ResourceKind::Group, &current, document, bodies);
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
            async |deletion, events: &[Event]| {
                self.store.delete_group(tenant.org, deletion, events).await
            },
        )
        .await
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
