//! What the team domain needs from the outside.

use std::future::Future;

use chrono::{DateTime, Utc};
use messaging::Admission;
use provisioning_events::Event;

use super::models::{
    AccountStates, EventReads, Member, OrgId, Page, Paged, Team, TeamChange, TeamId,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("concurrent change: {0}")]
    Conflict(String),
    #[error("the team database is unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
}

/// Teams, memberships and the account map, with the consumer inbox in the
/// same database.
pub trait TeamStore: Send + Sync + 'static {
    /// In one transaction: claims `event` in the inbox and, when it may be
    /// applied, reads what `reads` names (the team, when given and existing;
    /// the account states of the listed users), asks `decide` what to change
    /// and writes that. A user's deletion and an add naming the user, applied
    /// at once, never overlap (see [`EventReads::deletes_user`]).
    fn apply_event<F>(
        &self,
        event: &Event,
        reads: &EventReads,
        applied_at: DateTime<Utc>,
        decide: F,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send
    where
        F: FnOnce(Option<&Team>, &AccountStates) -> Vec<TeamChange> + Send;

    /// [`Self::apply_event`] for a batch, in one transaction, in order
    /// (`reads[i]` is what `events[i]` needs read; each event reads after the
    /// writes of the ones before it). Competing consumers cannot apply one
    /// aggregate's events at once: the inbox fails such a batch
    /// (`service_kit::inbox::claim_batch`).
    fn apply_events<F>(
        &self,
        events: &[Event],
        reads: &[EventReads],
        applied_at: DateTime<Utc>,
        decide: F,
    ) -> impl Future<Output = Result<Vec<Admission>, StoreError>> + Send
    where
        F: Fn(&Event, Option<&Team>, &AccountStates) -> Vec<TeamChange> + Send + Sync;

    fn team(
        &self,
        org: OrgId,
        id: TeamId,
    ) -> impl Future<Output = Result<Option<Team>, StoreError>> + Send;

    fn teams(
        &self,
        org: OrgId,
        page: &Page,
    ) -> impl Future<Output = Result<Paged<Team>, StoreError>> + Send;

    /// Members in SCIM user id order, each resolved to its current account.
    fn members(
        &self,
        org: OrgId,
        id: TeamId,
        page: &Page,
    ) -> impl Future<Output = Result<Paged<Member>, StoreError>> + Send;

    fn member_count(
        &self,
        org: OrgId,
        id: TeamId,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}
