//! The user use cases: create, read, replace, patch, delete.

use provisioning_events::{Event, EventBody, seats};
use scim_protocol::{
    patch::{self, PatchRequest},
    resource::{check_immutable, normalize_for_write},
    schema::USER_RESOURCE,
};
use serde_json::Value;
use std::collections::HashMap;

use super::super::errors::ScimViewError;
use super::super::models::{
    GroupRef, OrgId, ResourceId, ResourceKind, StoredResource, Tenant, UserWithGroups,
};
use super::super::ports::{Clock, CredentialStore, GroupStore, UserStore};
use super::super::rules;
use super::{Precondition, ScimView, parse_id, written_or_retry};

impl<S, C> ScimView<S, C>
where
    S: UserStore + GroupStore + CredentialStore,
    C: Clock,
{
    pub async fn create_user(
        &self,
        tenant: &Tenant,
        body: Value,
    ) -> Result<StoredResource, ScimViewError> {
        let document = self.user_to_create(body)?;
        self.create_user_document(tenant, document).await
    }

    /// A create's body as it would be stored, or why it cannot be.
    pub(super) fn user_to_create(&self, body: Value) -> Result<Value, ScimViewError> {
        let document = rules::storable(normalize_for_write(body, &USER_RESOURCE)?, &USER_RESOURCE);
        self.limits.writes.check_document(&document)?;
        Ok(document)
    }

    /// Creates a user from its checked document ([`Self::user_to_create`]).
    pub(super) async fn create_user_document(
        &self,
        tenant: &Tenant,
        document: Value,
    ) -> Result<StoredResource, ScimViewError> {
        let mut seat_key = None;
        // An active user takes a seat: asked for before anything is written.
        // A taken userName (an IdP retrying a create that did commit) is a
        // 409 first: it must not be refused for want of a second seat.
        if rules::is_active(&document) {
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
            let key = seats::new_user_key(&self.seat_keys, tenant.org.0, user_name);
            self.reserve_seat(tenant.org, &key).await?;
            seat_key = Some(key);
        }
        let bodies = rules::user_created(tenant, &document, seat_key);
        let (user, events) = self.first_version(tenant, ResourceKind::User, document, bodies);
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

    pub async fn replace_user(
        &self,
        tenant: &Tenant,
        id: &str,
        body: Value,
        precondition: &Precondition,
    ) -> Result<StoredResource, ScimViewError> {
        let id = parse_id(id, ResourceKind::User)?;
        let replacement =
            rules::storable(normalize_for_write(body, &USER_RESOURCE)?, &USER_RESOURCE);
        self.limits.writes.check_document(&replacement)?;
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
        self.limits.writes.check_patch(&request)?;
        self.modify_user(tenant, id, precondition, |current| {
            let mut document = current.document.clone();
            patch::apply(&mut document, &request.operations, &USER_RESOURCE)?;
            let document = rules::storable(
                normalize_for_write(document, &USER_RESOURCE)?,
                &USER_RESOURCE,
            );
            self.limits.writes.check_document(&document)?;
            Ok(document)
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
            (ResourceKind::User, id),
            precondition,
            EventBody::UserDeleted {},
            async || self.load_user(tenant.org, id).await,
            async |deletion, events: &[Event]| {
                self.store.delete_user(tenant.org, deletion, events).await
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

    /// Read-modify-write of one user, its turn taken in this process (so a
    /// version conflict takes a writer of another process). `change`
    /// returns the new canonical document; an identical document is no
    /// change (no new version).
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
        let _turn = self.locks.lock(tenant.org, id).await;
        self.until_written(async || {
            let current = self.load_user(tenant.org, id).await?;
            precondition.check(&current.meta)?;
            let document = change(&current)?;
            if document == current.document {
                return Ok(Some(current));
            }
            // Re-enabling takes a seat (the same one again if this retries).
            if !rules::is_active(&current.document) && rules::is_active(&document) {
                self.reserve_seat(tenant.org, &seats::reactivation_key(&id.to_string()))
                    .await?;
            }
            let bodies = rules::user_changed(tenant, &current.document, &document);
            let (updated, events) =
                self.next_version(tenant, ResourceKind::User, &current, document, bodies);
            let written = self
                .store
                .update_user(tenant.org, &current, &updated, &events)
                .await;
            Ok(written_or_retry(written, precondition, ResourceKind::User)?.then_some(updated))
        })
        .await
    }
}
