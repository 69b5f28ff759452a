//! The team use cases: apply group (and user) events, and let admins read
//! teams and their members.

use messaging::{HandleError, Handled, batch_outcomes};
use provisioning_events::Event;

use super::models::{Member, OrgId, Page, Paged, Team, TeamId};
use super::ports::{Clock, StoreError, TeamStore};
use super::rules;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("team not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub const MAX_PAGE_SIZE: u64 = 1000;
pub const DEFAULT_PAGE_SIZE: u64 = 100;

pub struct Teams<S, C> {
    store: S,
    clock: C,
}

fn clamp(mut page: Page) -> Page {
    page.limit = match page.limit {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    };
    page
}

impl<S: TeamStore, C: Clock> Teams<S, C> {
    pub fn new(store: S, clock: C) -> Self {
        Self { store, clock }
    }

    /// Applies a batch of events in one transaction (see
    /// [`TeamStore::apply_events`]): what a rebuild uses.
    pub async fn handle_events(&self, events: &[Event]) -> Vec<Result<Handled, HandleError>> {
        let now = self.clock.now();
        let reads: Vec<_> = events.iter().map(rules::reads_for).collect();
        let admissions = self
            .store
            .apply_events(events, &reads, now, |event, team, accounts| {
                rules::changes_for(event, team, accounts, now)
            })
            .await;
        batch_outcomes(events, admissions)
    }

    /// Applies one provisioning event exactly once, in aggregate order.
    pub async fn handle_event(&self, event: &Event) -> Result<Handled, HandleError> {
        let now = self.clock.now();
        let admission = self
            .store
            .apply_event(event, &rules::reads_for(event), now, |team, accounts| {
                rules::changes_for(event, team, accounts, now)
            })
            .await
            .map_err(|e| HandleError::Failed(e.to_string()))?;
        admission.outcome(event)
    }

    pub async fn teams(&self, org: OrgId, page: Page) -> Result<Paged<Team>, AdminError> {
        Ok(self.store.teams(org, &clamp(page)).await?)
    }

    pub async fn team(&self, org: OrgId, id: TeamId) -> Result<(Team, u64), AdminError> {
        let team = self
            .store
            .team(org, id)
            .await?
            .ok_or(AdminError::NotFound)?;
        let members = self.store.member_count(org, id).await?;
        Ok((team, members))
    }

    pub async fn members(
        &self,
        org: OrgId,
        id: TeamId,
        page: Page,
    ) -> Result<Paged<Member>, AdminError> {
        self.store
            .team(org, id)
            .await?
            .ok_or(AdminError::NotFound)?;
        Ok(self.store.members(org, id, &clamp(page)).await?)
    }
}
