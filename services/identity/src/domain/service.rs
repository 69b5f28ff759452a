//! The identity use cases: apply user events, and let admins read accounts
//! and change their access.

use messaging::{HandleError, Handled, batch_outcomes};
use provisioning_events::Event;

use super::errors::AdminError;
use super::models::{
    AccessChange, Account, AccountId, AccountPage, AccountQuery, AccountStatus, OrgId,
};
use super::ports::{AccountStore, Clock, StoreError};
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

pub struct Identity<S, C> {
    store: S,
    clock: C,
    catalogue: AccessCatalogue,
}

impl<S: AccountStore, C: Clock> Identity<S, C> {
    pub fn new(store: S, clock: C, catalogue: AccessCatalogue) -> Self {
        Self {
            store,
            clock,
            catalogue,
        }
    }

    pub fn catalogue(&self) -> &AccessCatalogue {
        &self.catalogue
    }

    /// Applies a batch of events in one transaction (see
    /// [`AccountStore::apply_events`]): what a rebuild uses.
    pub async fn handle_events(&self, events: &[Event]) -> Vec<Result<Handled, HandleError>> {
        let now = self.clock.now();
        let admissions = self
            .store
            .apply_events(events, now, |event, accounts| {
                rules::changes_for(event, accounts, now)
            })
            .await;
        batch_outcomes(events, admissions)
    }

    /// Applies one provisioning event exactly once, in aggregate order.
    pub async fn handle_event(&self, event: &Event) -> Result<Handled, HandleError> {
        let now = self.clock.now();
        let admission = self
            .store
            .apply_event(event, &event.aggregate.id, now, |accounts| {
                rules::changes_for(event, accounts, now)
            })
            .await
            .map_err(|e| HandleError::Failed(e.to_string()))?;
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
