//! What the licensing domain needs from the outside.

use std::future::Future;

use chrono::{DateTime, Utc};
use messaging::Admission;
use provisioning_events::Event;

use super::models::{
    Confirmation, HolderSeats, Ledger, OrgId, Reservation, ReservationDecision, SeatChange,
    SeatCounts, SeatKey, Subscription, UsageHour,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("concurrent change: {0}")]
    Conflict(String),
    #[error("the licensing database is unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
}

/// The ledger. Every write that changes an organization's held seats
/// (confirmed + reserved, as the running totals count them) or its quota
/// also records that hour's [`UsageHour`] in the same transaction (read
/// through [`UsageHistory`]).
pub trait LicensingStore: Send + Sync + 'static {
    /// Decides `requests` (organization, key) in one transaction, in order,
    /// atomically per organization (no other reservation of a requested
    /// organization in between): for each, reads the ledger as of `now` —
    /// counting what the requests before it were granted — asks
    /// `decide(key, ledger)`, and writes the reservation it grants; returns one
    /// reservation per request. A store may first ask with `held` counted
    /// from running totals (`held_exact` false); when the answer is
    /// [`ReservationDecision::CountExactly`] it asks again with the exact
    /// count.
    fn reserve_all<F>(
        &self,
        requests: &[(OrgId, SeatKey)],
        now: DateTime<Utc>,
        decide: F,
    ) -> impl Future<Output = Result<Vec<Reservation>, StoreError>> + Send
    where
        F: Fn(&SeatKey, &Ledger) -> ReservationDecision + Send;

    /// In one transaction: claims `event` in the inbox and, when it may be
    /// applied, writes `changes` as of `now`: a release as it is, a
    /// confirmation as `confirm` decides from the holder's seats read in
    /// the transaction (a confirmation whose reservation went meanwhile is
    /// asked again without it).
    fn apply_event<F>(
        &self,
        event: &Event,
        changes: Vec<SeatChange>,
        now: DateTime<Utc>,
        confirm: F,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send
    where
        F: Fn(&HolderSeats) -> Confirmation + Send + Sync;

    /// [`Self::apply_event`] for a batch (`changes[i]` for `events[i]`), in
    /// one transaction, in order (organizations locked as in `reserve`):
    /// `confirm` sees the holder's seats as the batch's earlier changes left
    /// them.
    fn apply_events<F>(
        &self,
        events: &[Event],
        changes: Vec<Vec<SeatChange>>,
        now: DateTime<Utc>,
        confirm: F,
    ) -> impl Future<Output = Result<Vec<Admission>, StoreError>> + Send
    where
        F: Fn(&HolderSeats) -> Confirmation + Send + Sync;

    /// Writes the subscription (changed at `now`), moves its version on,
    /// and appends the event `announce` makes of that version to the
    /// outbox, in one transaction.
    fn set_subscription<F>(
        &self,
        org: OrgId,
        subscription: Subscription,
        now: DateTime<Utc>,
        announce: F,
    ) -> impl Future<Output = Result<(), StoreError>> + Send
    where
        F: FnOnce(i64) -> Event + Send;

    fn seat_counts(
        &self,
        org: OrgId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<SeatCounts, StoreError>> + Send;

    /// Deletes reservations that expired before `now`; returns how many.
    fn release_expired(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// An organization's seat usage over time, an hour a row.
pub trait UsageHistory: Send + Sync + 'static {
    /// `org`'s hours that start in `since..until`, oldest first.
    fn usage_hours(
        &self,
        org: OrgId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<UsageHour>, StoreError>> + Send;

    /// Deletes the hours (of every organization) that start before
    /// `before`; returns how many.
    fn forget_usage_before(
        &self,
        before: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}
