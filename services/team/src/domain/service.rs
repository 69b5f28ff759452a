//! The team use cases: apply group (and user) events, and let admins read
//! teams and their members.

use messaging::{Admission, HandleError, Handled};
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

    /// Applies one provisioning event exactly once, in aggregate order.
    /// Applies a batch of events in one transaction (see
    /// [`TeamStore::apply_events`]): what a rebuild uses.
    pub async fn handle_events(&self, events: &[Event]) -> Vec<Result<Handled, HandleError>> {
        let now = self.clock.now();
        let teams: Vec<_> = events.iter().map(rules::team_of).collect();
        match self
            .store
            .apply_events(events, &teams, |event, team| {
                rules::changes_for(event, team, now)
            })
            .await
        {
            Ok(admissions) => admissions
                .into_iter()
                .zip(events)
                .map(|(admission, event)| match admission {
                    Admission::Apply => Ok(Handled::Applied),
                    Admission::Duplicate => Ok(Handled::Duplicate),
                    Admission::Stale => Ok(Handled::Stale),
                    Admission::OutOfOrder { expected } => Err(HandleError::OutOfOrder {
                        expected,
                        got: event.aggregate.version,
                    }),
                })
                .collect(),
            Err(e) => events
                .iter()
                .map(|_| Err(HandleError::Failed(e.to_string())))
                .collect(),
        }
    }

    pub async fn handle_event(&self, event: &Event) -> Result<Handled, HandleError> {
        let now = self.clock.now();
        let admission = self
            .store
            .apply_event(event, rules::team_of(event), |team| {
                rules::changes_for(event, team, now)
            })
            .await
            .map_err(|e| HandleError::Failed(e.to_string()))?;
        match admission {
            Admission::Apply => Ok(Handled::Applied),
            Admission::Duplicate => Ok(Handled::Duplicate),
            Admission::Stale => Ok(Handled::Stale),
            Admission::OutOfOrder { expected } => Err(HandleError::OutOfOrder {
                expected,
                got: event.aggregate.version,
            }),
        }
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
