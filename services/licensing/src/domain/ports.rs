//! What the licensing domain needs from the outside.

use std::future::Future;

use chrono::{DateTime, Utc};
use messaging::Admission;
use provisioning_events::Event;

use super::models::{
    Ledger, NewReservation, OrgId, Reservation, SeatChange, SeatCounts, SeatKey, Subscription,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("concurrent change: {0}")]
    Conflict(String),
    #[error("the licensing database is unavailable: {0}")]
    Unavailable(String),
}

pub trait LicensingStore: Send + Sync + 'static {
    /// Decides `requests` (organization, key) in one transaction, in order,
    /// atomically per organization (no other reservation of a requested
    /// organization in between): for each, reads the ledger as of `now` —
    /// counting what the requests before it were granted — asks
    /// `decide(key, ledger)`, and writes the reservation it grants; returns one
    /// reservation per request. A store may first ask with `held` counted
    /// from running totals (which may still include expired reservations,
    /// so never too low) and ask again with the exact count only when that
    /// first answer is a refusal.
    fn reserve_all<F>(
        &self,
        requests: &[(OrgId, SeatKey)],
        now: DateTime<Utc>,
        decide: F,
    ) -> impl Future<Output = Result<Vec<Reservation>, StoreError>> + Send
    where
        F: Fn(&SeatKey, &Ledger) -> (Reservation, Option<NewReservation>) + Send;

    /// In one transaction: claims `event` in the inbox and, when it may be
    /// applied, writes `changes`.
    fn apply_event(
        &self,
        event: &Event,
        changes: Vec<SeatChange>,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send;

    /// [`Self::apply_event`] for a batch (`changes[i]` for `events[i]`), in
    /// one transaction, in order (organizations locked as in `reserve`).
    fn apply_events(
        &self,
        events: &[Event],
        changes: Vec<Vec<SeatChange>>,
    ) -> impl Future<Output = Result<Vec<Admission>, StoreError>> + Send;

    /// Writes the subscription, moves its version on, and appends the event
    /// `announce` makes of that version to the outbox, in one transaction.
    fn set_subscription<F>(
        &self,
        org: OrgId,
        subscription: Subscription,
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

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}
