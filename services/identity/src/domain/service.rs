//! The identity use cases: apply user events, and let admins read accounts
//! and change their access.

use std::borrow::Cow;

use messaging::{HandleError, Handled, batch_outcomes};
use provisioning_events::Event;

use super::errors::AdminError;
use super::keys::{self, KeyCache, OpenError};
use super::models::{
    AccessChange, Account, AccountId, AccountPage, AccountQuery, AccountStatus, OrgId,
};
use super::ports::{AccountStore, Clock, DataKeys, StoreError};
use super::rules;

/// The roles and permissions an admin may grant (configurable per deployment).
#[derive(Debug, Clone)]
pub struct AccessCatalogue {
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
}

/// An admin's request to change an account's access.
#[derive(Debug, Clone)]
pub struct ChangeAccess {
    pub role: Option<String>,
    pub permissions: Option<Vec<String>>,
    /// Who asks (recorded with the change).
    pub changed_by: String,
}

pub const MAX_PAGE_SIZE: u64 = 500;
pub const DEFAULT_PAGE_SIZE: u64 = 50;
const ACCESS_CHANGE_ATTEMPTS: usize = 3;

pub struct Identity<S, C, K> {
    store: S,
    clock: C,
    keys: K,
    key_cache: KeyCache,
    catalogue: AccessCatalogue,
}

fn failed(e: &impl std::fmt::Display) -> HandleError {
    HandleError::Failed(e.to_string())
}

impl<S: AccountStore, C: Clock, K: DataKeys> Identity<S, C, K> {
    /// `keys` opens sealed profiles; at most `key_cache_capacity` persons'
    /// keys are kept ([`keys::DEFAULT_CACHE_CAPACITY`]).
    pub fn new(
        store: S,
        clock: C,
        keys: K,
        key_cache_capacity: usize,
        catalogue: AccessCatalogue,
    ) -> Self {
        Self {
            store,
            clock,
            keys,
            key_cache: KeyCache::new(key_cache_capacity),
            catalogue,
        }
    }

    pub fn catalogue(&self) -> &AccessCatalogue {
        &self.catalogue
    }

    /// How many persons' data keys are cached.
    pub fn cached_keys(&self) -> usize {
        self.key_cache.len()
    }

    /// Forgets the keys of the persons whose `user.deleted` was handled.
    fn forget_deleted<'a>(&self, handled: impl Iterator<Item = &'a Event>) {
        for person in handled.filter_map(keys::deleted_person) {
            self.key_cache.forget(&person);
        }
    }

    /// Applies a batch of events in one transaction (see
    /// [`AccountStore::apply_events`]): what a rebuild uses. The keys of the
    /// batch's sealed profiles are fetched in one call; an event whose
    /// profile does not open fails alone (a later event of its user then
    /// waits for it: out of order).
    pub async fn handle_events(&self, events: &[Event]) -> Vec<Result<Handled, HandleError>> {
        let opened = match keys::open_events(&self.key_cache, &self.keys, events).await {
            Ok(opened) => opened,
            Err(unavailable) => return events.iter().map(|_| Err(failed(&unavailable))).collect(),
        };
        let mut outcomes: Vec<Option<Result<Handled, HandleError>>> = Vec::new();
        let mut readable = Vec::with_capacity(events.len());
        for event in opened {
            match event {
                Ok(event) => {
                    outcomes.push(None);
                    readable.push(event);
                }
                Err(e) => outcomes.push(Some(Err(failed(&e)))),
            }
        }
        let readable: Cow<'_, [Event]> = if readable.len() == events.len()
            && readable.iter().all(|e| matches!(e, Cow::Borrowed(_)))
        {
            Cow::Borrowed(events)
        } else {
            Cow::Owned(readable.into_iter().map(Cow::into_owned).collect())
        };
        let now = self.clock.now();
        let admissions = self
            .store
            .apply_events(&readable, now, |event, accounts| {
                rules::changes_for(event, accounts, now)
            })
            .await;
        let mut applied = batch_outcomes(&readable, admissions).into_iter();
        self.forget_deleted(events.iter());
        outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| {
                    applied
                        .next()
                        .unwrap_or_else(|| Err(HandleError::Failed("no outcome".into())))
                })
            })
            .collect()
    }

    /// Applies one provisioning event exactly once, in aggregate order, its
    /// profile opened first (fetching its person's key unless cached).
    pub async fn handle_event(&self, event: &Event) -> Result<Handled, HandleError> {
        let opened = keys::open_events(&self.key_cache, &self.keys, std::slice::from_ref(event))
            .await
            .map_err(|e| failed(&e))?
            .pop()
            .unwrap_or(Ok(Cow::Borrowed(event)))
            .map_err(|e: OpenError| failed(&e))?;
        let now = self.clock.now();
        let admission = self
            .store
            .apply_event(&opened, &event.aggregate.id, now, |accounts| {
                rules::changes_for(&opened, accounts, now)
            })
            .await
            .map_err(|e| failed(&e))?;
        self.forget_deleted(std::iter::once(event));
        admission.outcome(event)
    }

    pub async fn account(&self, org: OrgId, id: AccountId) -> Result<Account, AdminError> {
        self.store
            .account(org, id)
            .await?
            .ok_or(AdminError::NotFound)
    }

    pub async fn accounts(
        &self,
        org: OrgId,
        mut query: AccountQuery,
    ) -> Result<AccountPage, AdminError> {
        query.limit = match query.limit {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        Ok(self.store.accounts(org, &query).await?)
    }

    pub async fn access_changes(
        &self,
        org: OrgId,
        id: AccountId,
    ) -> Result<Vec<AccessChange>, AdminError> {
        self.account(org, id).await?;
        Ok(self.store.access_changes(org, id).await?)
    }

    /// Changes role and/or permissions, checked against the catalogue, and
    /// records who did it. SCIM never comes this way.
    pub async fn change_access(
        &self,
        org: OrgId,
        id: AccountId,
        request: ChangeAccess,
    ) -> Result<Account, AdminError> {
        let changed_by = request.changed_by.trim();
        if changed_by.is_empty() {
            return Err(AdminError::Invalid("changed_by is required".into()));
        }
        if let Some(role) = &request.role
            && !self.catalogue.roles.contains(role)
        {
            return Err(AdminError::UnknownRole(
                role.clone(),
                self.catalogue.roles.join(", "),
            ));
        }
        if let Some(permissions) = &request.permissions
            && let Some(unknown) = permissions
                .iter()
                .find(|p| !self.catalogue.permissions.contains(p))
        {
            return Err(AdminError::UnknownPermission(
                unknown.clone(),
                self.catalogue.permissions.join(", "),
            ));
        }
        for _ in 0..ACCESS_CHANGE_ATTEMPTS {
            let account = self.account(org, id).await?;
            if account.status != AccountStatus::Active {
                return Err(AdminError::Erased);
            }
            let mut after = account.access.clone();
            if let Some(role) = &request.role {
                after.role = role.clone();
            }
            if let Some(permissions) = &request.permissions {
                let mut permissions = permissions.clone();
                permissions.sort();
                permissions.dedup();
                after.permissions = permissions;
            }
            if after == account.access {
                return Ok(account);
            }
            let change = AccessChange {
                account: id,
                changed_by: changed_by.to_owned(),
                changed_at: self.clock.now(),
                before: account.access.clone(),
                after,
            };
            match self.store.change_access(org, &change).await {
                Ok(()) => return self.account(org, id).await,
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict("the account kept changing".into()).into())
    }
}
