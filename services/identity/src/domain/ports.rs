//! What the identity domain needs from the outside.

use std::future::Future;

use chrono::{DateTime, Utc};
use messaging::Admission;
use provisioning_events::sealing::DataKey;
use provisioning_events::{Event, PersonRef};

use super::models::{
    AccessChange, Account, AccountChange, AccountId, AccountPage, AccountQuery, OrgId,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("account not found")]
    NotFound,
    /// Another writer got there first; the caller may try again.
    #[error("concurrent change: {0}")]
    Conflict(String),
    #[error("the identity database is unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
}

/// The accounts, with the consumer inbox in the same database.
pub trait AccountStore: Send + Sync + 'static {
    /// In one transaction: claims `event` in the inbox and, when it may be
    /// applied, reads the accounts of `scim_user_id`, asks `decide` what to
    /// change and writes that. Returns what the inbox decided.
    fn apply_event<F>(
        &self,
        event: &Event,
        scim_user_id: &str,
        applied_at: DateTime<Utc>,
        decide: F,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send
    where
        F: FnOnce(&[Account]) -> Vec<AccountChange> + Send;

    /// [`Self::apply_event`] for a batch, in one transaction, in order:
    /// `decide` sees each user's accounts as the batch's earlier events left
    /// them. Competing consumers cannot apply one user's events at once: the
    /// inbox fails such a batch (`service_kit::inbox::claim_batch`).
    fn apply_events<F>(
        &self,
        events: &[Event],
        applied_at: DateTime<Utc>,
        decide: F,
    ) -> impl Future<Output = Result<Vec<Admission>, StoreError>> + Send
    where
        F: Fn(&Event, &[Account]) -> Vec<AccountChange> + Send + Sync;

    fn account(
        &self,
        org: OrgId,
        id: AccountId,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    fn accounts(
        &self,
        org: OrgId,
        query: &AccountQuery,
    ) -> impl Future<Output = Result<AccountPage, StoreError>> + Send;

    /// Writes the new access if the account still has `change.before`
    /// (otherwise `Conflict`), and records the change.
    fn change_access(
        &self,
        org: OrgId,
        change: &AccessChange,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn access_changes(
        &self,
        org: OrgId,
        id: AccountId,
    ) -> impl Future<Output = Result<Vec<AccessChange>, StoreError>> + Send;
}

/// The gateway could not hand out data keys (it or its key table is down):
/// the event is to be retried.
#[derive(Debug, thiserror::Error)]
#[error("data keys unavailable: {0}")]
pub struct KeysUnavailable(pub String);

/// Where the data keys that open sealed profiles come from (the gateway
/// keeps them). One entry per person, in order: `None` when the person's key
/// is gone — the person was deleted and their values are erased.
pub trait DataKeys: Send + Sync + 'static {
    fn data_keys(
        &self,
        persons: &[PersonRef],
    ) -> impl Future<Output = Result<Vec<Option<DataKey>>, KeysUnavailable>> + Send;
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}
