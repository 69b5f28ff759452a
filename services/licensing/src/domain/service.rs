//! The licensing use cases: answer seat reservations, follow user events,
//! let admins set subscriptions and read usage.

use chrono::{DateTime, Duration, Utc};
use messaging::{HandleError, Handled, batch_outcomes};
use provisioning_events::Event;

use super::models::{
    OrgId, Reservation, SeatKey, Subscription, Usage, UsagePeriod, UsagePeriodError, UsagePoint,
};
use super::ports::{Clock, LicensingStore, StoreError, UsageHistory};
use super::rules;

/// Settings of the seat rules.
#[derive(Debug, Clone, Copy)]
pub struct SeatPolicy {
    /// The subscription of an organization that has none of its own.
    pub default_subscription: Subscription,
    /// How long a reservation waits for its `user.provisioned` /
    /// `user.reactivated` before its seat is free again.
    pub hold_for: Duration,
}

pub struct Licensing<S, C> {
    store: S,
    clock: C,
    policy: SeatPolicy,
}

impl<S: LicensingStore, C: Clock> Licensing<S, C> {
    pub fn new(store: S, clock: C, policy: SeatPolicy) -> Self {
        Self {
            store,
            clock,
            policy,
        }
    }

    /// Grants a seat while the quota allows, atomically per organization.
    pub async fn reserve(&self, org: OrgId, key: &SeatKey) -> Result<Reservation, StoreError> {
        let mut decided = self.reserve_all(&[(org, key.clone())]).await?;
        decided.pop().ok_or_else(|| {
            StoreError::Unavailable(anyhow::anyhow!("no decision for the reservation"))
        })
    }

    /// [`Self::reserve`] for several requests at once, decided in order in
    /// one transaction: what a burst of concurrent creates costs is one
    /// commit, not one each.
    pub async fn reserve_all(
        &self,
        requests: &[(OrgId, SeatKey)],
    ) -> Result<Vec<Reservation>, StoreError> {
        let now = self.clock.now();
        let policy = self.policy;
        self.store
            .reserve_all(requests, now, |key, ledger| {
                rules::decide_reservation(
                    ledger,
                    policy.default_subscription,
                    key,
                    now,
                    policy.hold_for,
                )
            })
            .await
    }

    /// Applies a batch of events in one transaction (see
    /// [`LicensingStore::apply_events`]): what a rebuild uses.
    pub async fn handle_events(&self, events: &[Event]) -> Vec<Result<Handled, HandleError>> {
        let changes = events.iter().map(rules::changes_for).collect();
        let admissions = self
            .store
            .apply_events(events, changes, self.clock.now(), rules::confirmation)
            .await;
        batch_outcomes(events, admissions)
    }

    /// Applies one provisioning event exactly once, in aggregate order.
    pub async fn handle_event(&self, event: &Event) -> Result<Handled, HandleError> {
        let admission = self
            .store
            .apply_event(
                event,
                rules::changes_for(event),
                self.clock.now(),
                rules::confirmation,
            )
            .await
            .map_err(|e| HandleError::Failed(e.to_string()))?;
        admission.outcome(event)
    }

    /// Takes effect at once: the next reservation sees it; the gateway learns
    /// of it from the `subscription.changed` event.
    pub async fn set_subscription(
        &self,
        org: OrgId,
        subscription: Subscription,
    ) -> Result<Usage, StoreError> {
        let now = self.clock.now();
        self.store
            .set_subscription(org, subscription, now, |version| {
                rules::subscription_changed(org, subscription, version, now)
            })
            .await?;
        self.usage(org).await
    }

    pub async fn usage(&self, org: OrgId) -> Result<Usage, StoreError> {
        let counts = self.store.seat_counts(org, self.clock.now()).await?;
        let subscription = counts
            .subscription
            .unwrap_or(self.policy.default_subscription);
        Ok(Usage {
            confirmed: counts.confirmed,
            reserved: counts.reserved,
            quota: subscription.seat_quota,
            scim_included: subscription.scim_included,
        })
    }

    pub async fn release_expired(&self) -> Result<u64, StoreError> {
        self.store.release_expired(self.clock.now()).await
    }
}

/// Why usage history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UsageHistoryError {
    #[error(transparent)]
    Period(#[from] UsagePeriodError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<S: LicensingStore + UsageHistory, C: Clock> Licensing<S, C> {
    /// `org`'s seat usage from `since` to `until` (default: the last 30
    /// days), an hour a point, hours without a change left out; a quota
    /// not set is the default subscription's.
    pub async fn usage_history(
        &self,
        org: OrgId,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<(UsagePeriod, Vec<UsagePoint>), UsageHistoryError> {
        let period = UsagePeriod::new(since, until, self.clock.now())?;
        let hours = self
            .store
            .usage_hours(org, period.since(), period.until())
            .await?;
        let default_quota = self.policy.default_subscription.seat_quota;
        let points = hours
            .into_iter()
            .map(|h| UsagePoint {
                hour: h.hour,
                last: h.last,
                peak: h.peak,
                quota: h.quota.unwrap_or(default_quota),
            })
            .collect();
        Ok((period, points))
    }

    /// Deletes usage history older than [`UsagePeriod::LONGEST`].
    pub async fn forget_old_usage(&self) -> Result<u64, StoreError> {
        let before = self.clock.now() - UsagePeriod::LONGEST;
        self.store.forget_usage_before(before).await
    }
}
