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
    MemberRef, MembershipChange, MembershipEffect, OrgId, ResourceId, ResourceKind, StoredResource,
    Tenant,
};
use super::super::ports::{Clock, CredentialStore, GroupStore, GroupWrite, StoreError, UserStore};
use super::super::rules;
use super::{GroupWithMembers, Precondition, ScimView, parse_id};

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
        let membership = [MembershipChange::Exactly(wanted)];
        self.change_group(tenant, id, precondition, &membership, |current| {
            check_immutable(&current.document, &replacement, &GROUP_RESOURCE)?;
            Ok(replacement)
        })
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
        self.change_group(tenant, id, precondition, &membership, |current| {
            if document_ops.is_empty() {
                return Ok(current.document.clone());
            }
            let mut document = current.document.clone();
            patch::apply(&mut document, &document_ops, &GROUP_RESOURCE)?;
            let document = normalize_for_write(document, &GROUP_RESOURCE)?;
            self.limits.writes.check_document(&document)?;
            Ok(document)
        })
        .await
    }

    /// One change of a group, in one store transaction under the group's row
    /// lock (and its turn in this process): the membership changes as set
    /// operations, then `document_of` computes the new document from the
    /// group as locked. No read-modify-write race, so no retry: concurrent
    /// changes wait for each other. Only the members that actually came or
    /// went are journaled; nothing changed is no new version.
    async fn change_group(
        &self,
        tenant: &Tenant,
        id: ResourceId,
        precondition: &Precondition,
        membership: &[MembershipChange],
        document_of: impl FnOnce(&StoredResource) -> Result<Value, ScimViewError> + Send,
    ) -> Result<StoredResource, ScimViewError> {
        let expected = match precondition {
            Precondition::Any | Precondition::Except(_) => None,
            Precondition::Versions(versions) => Some(versions.as_slice()),
        };
        let _turn = self.locks.lock(tenant.org, id).await;
        let decide = |current: &StoredResource, effects: &[MembershipEffect]| {
            // `If-None-Match`, checked against the group as locked (an
            // `If-Match` already is, by the store's version-checked UPDATE).
            precondition.check(&current.meta)?;
            let document = document_of(current)?;
            let (added, removed) = net_membership(effects);
            if document == current.document && added.is_empty() && removed.is_empty() {
                return Ok(None);
            }
            let bodies = rules::group_changed(&current.document, &document, &added, &removed);
            Ok(Some(self.next_version(
                tenant,
                ResourceKind::Group,
                current,
                document,
                bodies,
            )))
        };
        match self
            .store
            .change_group(tenant.org, id, expected, membership, decide)
            .await
        {
            Ok(Ok(GroupWrite::Written(group) | GroupWrite::Unchanged(group))) => Ok(group),
            Ok(Err(refused)) => Err(refused),
            // Only an expected version can conflict: the client's is stale.
            Err(StoreError::VersionConflict) => Err(ScimViewError::PreconditionFailed),
            Err(e) => Err(ScimViewError::from_store(ResourceKind::Group, e)),
        }
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
            (ResourceKind::Group, id),
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
                    out.push(MembershipChange::Exactly(members));
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

/// The net change of a group's membership from what each of its changes
/// did, in order: a member whose first effect added it was absent before,
/// one whose first effect removed it was present; its last effect says
/// whether it is now. Added then removed in one request is no change.
fn net_membership(effects: &[MembershipEffect]) -> (Vec<MemberRef>, Vec<ResourceId>) {
    use std::collections::HashMap;
    struct Touched {
        before: bool,
        after: Option<MemberRef>,
    }
    let mut order = Vec::new();
    let mut touched: HashMap<ResourceId, Touched> = HashMap::new();
    for effect in effects {
        match effect {
            MembershipEffect::Added(members) => {
                for member in members {
                    touched
                        .entry(member.id)
                        .or_insert_with(|| {
                            order.push(member.id);
                            Touched {
                                before: false,
                                after: None,
                            }
                        })
                        .after = Some(*member);
                }
            }
            MembershipEffect::Removed(ids) => {
                for id in ids {
                    touched
                        .entry(*id)
                        .or_insert_with(|| {
                            order.push(*id);
                            Touched {
                                before: true,
                                after: None,
                            }
                        })
                        .after = None;
                }
            }
        }
    }
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for id in order {
        match &touched[&id] {
            Touched {
                before: false,
                after: Some(member),
            } => added.push(*member),
            Touched {
                before: true,
                after: None,
            } => removed.push(id),
            _ => {}
        }
    }
    (added, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> MemberRef {
        MemberRef {
            id: ResourceId::generate(),
            kind: ResourceKind::User,
        }
    }

    #[test]
    fn the_net_membership_change_is_what_differs_before_and_after() {
        let (a, b, c) = (user(), user(), user());
        let effects = [
            MembershipEffect::Added(vec![a, b]),
            // b added then removed: never a member, no change.
            MembershipEffect::Removed(vec![b.id, c.id]),
            // c removed then added back: a member all along, no change.
            MembershipEffect::Added(vec![c]),
        ];
        assert_eq!(net_membership(&effects), (vec![a], vec![]));
        let effects = [
            MembershipEffect::Removed(vec![a.id]),
            MembershipEffect::Added(vec![b]),
        ];
        assert_eq!(net_membership(&effects), (vec![b], vec![a.id]));
        assert_eq!(net_membership(&[]), (vec![], vec![]));
    }
}
