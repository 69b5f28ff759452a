//! The journal's use cases: a page of an organization's events, one event
//! with its delivery status at each consumer (a dry-run replay of it to
//! each), one person's events replayed to one service in batches, the
//! consumers' dead letters and their requeue.

use super::journal::{
    Consumer, Delivery, EventDetail, EventId, JournalEvent, JournalFilter, JournalQuery, Outcome,
    ReplayReport, RequeueReport, ServiceLetters,
};
use super::models::{OrgId, Organization, Page};
use super::ports::{
    DeadLetters, EventJournal, OrganizationDirectory, PlatformError, Ports, Replay,
};
use super::service::{Console, ConsoleError};

/// Events on one page of the journal.
pub const EVENTS_PER_PAGE: u64 = 50;
/// Events per replay request (the services take at most 1,000).
pub const REPLAY_BATCH: u64 = 1000;
/// Dead letters listed per service.
pub const DEAD_LETTERS_LISTED: u64 = 100;

/// Problems listed on a replay's result page, at most.
const PROBLEMS_LISTED: usize = 20;

impl<A: Ports> Console<A> {
    /// The organization and a page of its journal, oldest first.
    pub async fn journal(
        &self,
        org: OrgId,
        query: &JournalQuery,
        after_seq: Option<i64>,
    ) -> Result<(Organization, JournalFilter, Page<JournalEvent, i64>), ConsoleError> {
        let filter = query.filter().map_err(|e| ConsoleError::Invalid(e.0))?;
        let organization = self.platform().organization(org).await?;
        let page = self
            .platform()
            .events(org, &filter, after_seq, EVENTS_PER_PAGE)
            .await?;
        Ok((organization, filter, page))
    }

    /// One event of the organization, and where it stands at each consumer
    /// (a dry-run replay of it to each; one that does not answer is
    /// `Delivery::Unknown`, the page says so).
    pub async fn event(&self, org: OrgId, id: EventId) -> Result<EventDetail, ConsoleError> {
        let organization = self.platform().organization(org).await?;
        let event = self.platform().event(id).await?;
        if event.org != org {
            return Err(PlatformError::NotFound.into());
        }
        let mut deliveries = Vec::with_capacity(Consumer::ALL.len());
        for service in Consumer::ALL {
            let answer = self
                .platform()
                .replay(service, std::slice::from_ref(&event), true)
                .await;
            let outcome = match answer {
                Ok(outcomes) => outcomes.into_iter().find(|o| o.event == id),
                Err(e) => {
                    tracing::warn!(service = service.name(), error = %e, "delivery status unknown");
                    None
                }
            };
            deliveries.push((service, Delivery::of(outcome)));
        }
        Ok(EventDetail {
            organization,
            event,
            deliveries,
        })
    }

    /// Every event of one person (the SCIM user id) in the organization,
    /// replayed to `service` in journal order, a batch at a time.
    pub async fn replay_person(
        &self,
        org: OrgId,
        person: &str,
        service: &str,
    ) -> Result<(Organization, Consumer, ReplayReport), ConsoleError> {
        let service = Consumer::from_name(service).ok_or_else(|| {
            ConsoleError::Invalid(
                "Choose the service to replay to: identity, team or licensing.".to_owned(),
            )
        })?;
        let person = person.trim();
        if person.is_empty() {
            return Err(ConsoleError::Invalid(
                "Choose the person whose events to replay.".to_owned(),
            ));
        }
        let organization = self.platform().organization(org).await?;
        let filter = JournalFilter {
            person: Some(person.to_owned()),
            ..JournalFilter::default()
        };
        let mut report = ReplayReport::default();
        let mut after = None;
        loop {
            let page = self
                .platform()
                .events(org, &filter, after, REPLAY_BATCH)
                .await?;
            if page.items.is_empty() {
                break;
            }
            let outcomes = self.platform().replay(service, &page.items, false).await?;
            report.events += page.items.len() as u64;
            for o in outcomes {
                if matches!(o.outcome, Outcome::Failed | Outcome::OutOfOrder)
                    && report.problems.len() < PROBLEMS_LISTED
                {
                    report
                        .problems
                        .push((o.event, o.detail.clone().unwrap_or_default()));
                }
                *report.counts.entry(o.outcome).or_default() += 1;
            }
            match page.next_after {
                Some(next) if after != Some(next) => after = Some(next),
                _ => break,
            }
        }
        Ok((organization, service, report))
    }

    /// Each consumer's dead letters; a service that does not answer is
    /// listed as such rather than failing the page.
    pub async fn dead_letters(&self) -> Vec<ServiceLetters> {
        let mut all = Vec::with_capacity(Consumer::ALL.len());
        for service in Consumer::ALL {
            let letters = match self
                .platform()
                .dead_letters(service, DEAD_LETTERS_LISTED)
                .await
            {
                Ok(letters) => Some(letters),
                Err(e) => {
                    tracing::warn!(service = service.name(), error = %e, "dead letters unavailable");
                    None
                }
            };
            all.push(ServiceLetters { service, letters });
        }
        all
    }

    /// Applies one of `service`'s dead letters (`event`), or all of them,
    /// through its consumer again.
    pub async fn requeue(
        &self,
        service: &str,
        event: Option<EventId>,
    ) -> Result<(Consumer, RequeueReport), ConsoleError> {
        let service = Consumer::from_name(service)
            .ok_or_else(|| ConsoleError::Invalid("There is no such service.".to_owned()))?;
        let report = self.platform().requeue(service, event).await?;
        Ok((service, report))
    }
}
