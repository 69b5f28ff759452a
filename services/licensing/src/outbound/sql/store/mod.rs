//! `SqlLicensingStore`: the seat ledger on sea-orm. Reservations of one
//! organization are serialized: on PostgreSQL by a transaction-scoped
//! advisory lock on the organization (it holds even when the organization has
//! no subscription row yet, and across licensing instances), on SQLite by its
//! single connection. Organizations do not wait for each other. A decision
//! reads the organization's running count of confirmed seats (`seat_totals`)
//! and counts only its live reservations, whatever the organization's size;
//! a batch of reservations is decided in one transaction.
//!
//! The store decides nothing: the rules it is handed decide from what it
//! reads in the transaction, and it writes what they decided.
//!
//! - `ledger`: seat rows, running totals, the organization lock.
//! - `reservations`: deciding a batch of reservation requests; the sweep.
//! - `events`: user events applied to the ledger; the outbox.
//! - `subscriptions`: an organization's subscription and its announcement.
//! - `totals`: the running totals, written with the usage record of a change.
//! - `usage`: seat usage over time, an hour a row, recorded by the writes above.

mod events;
mod ledger;
mod reservations;
mod subscriptions;
mod totals;
mod usage;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use messaging::Admission;
use messaging::relay::OutboxError;
use provisioning_events::Event;
use sea_orm::DatabaseConnection;

use crate::domain::models::{
    Confirmation, HolderSeats, Ledger, OrgId, Reservation, ReservationDecision, SeatChange,
    SeatCounts, SeatKey, Subscription, UsageHour,
};
use crate::domain::ports::{Clock, LicensingStore, StoreError, UsageHistory};
use crate::outbound::clock::SystemClock;

/// Decisions of one organization are serialized by its lock on PostgreSQL,
/// and by the single connection of a SQLite database
/// (`service_kit::db::connect`).
#[derive(Clone)]
pub struct SqlLicensingStore {
    db: DatabaseConnection,
    /// When outbox entries are marked published (the relay asks without a
    /// time); every other time comes from the caller.
    clock: Arc<dyn Clock>,
}

impl SqlLicensingStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same store, reading the time from `clock`.
    pub fn with_clock(self, clock: impl Clock) -> Self {
        Self {
            clock: Arc::new(clock),
            ..self
        }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(ledger::db_error)
    }
}

impl LicensingStore for SqlLicensingStore {
    async fn reserve_all<F>(
        &self,
        requests: &[(OrgId, SeatKey)],
        now: DateTime<Utc>,
        decide: F,
    ) -> Result<Vec<Reservation>, StoreError>
    where
        F: Fn(&SeatKey, &Ledger) -> ReservationDecision + Send,
    {
        reservations::reserve_all(&self.db, requests, now, decide).await
    }

    async fn apply_event<F>(
        &self,
        event: &Event,
        changes: Vec<SeatChange>,
        now: DateTime<Utc>,
        confirm: F,
    ) -> Result<Admission, StoreError>
    where
        F: Fn(&HolderSeats) -> Confirmation + Send + Sync,
    {
        events::apply_event(&self.db, event, changes, now, confirm).await
    }

    async fn apply_events<F>(
        &self,
        events: &[Event],
        changes: Vec<Vec<SeatChange>>,
        now: DateTime<Utc>,
        confirm: F,
    ) -> Result<Vec<Admission>, StoreError>
    where
        F: Fn(&HolderSeats) -> Confirmation + Send + Sync,
    {
        events::apply_events(&self.db, events, changes, now, confirm).await
    }

    async fn set_subscription<F>(
        &self,
        org: OrgId,
        subscription: Subscription,
        now: DateTime<Utc>,
        announce: F,
    ) -> Result<(), StoreError>
    where
        F: FnOnce(i64) -> Event + Send,
    {
        subscriptions::set_subscription(&self.db, org, subscription, now, announce).await
    }

    async fn seat_counts(&self, org: OrgId, now: DateTime<Utc>) -> Result<SeatCounts, StoreError> {
        Ok(SeatCounts {
            subscription: subscriptions::subscription(&self.db, org).await?,
            confirmed: ledger::seat_totals(&self.db, org).await?.confirmed,
            reserved: ledger::count_seats(&self.db, org, ledger::reserved_at(now)).await?,
        })
    }

    async fn release_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        reservations::release_expired(&self.db, now).await
    }
}

impl UsageHistory for SqlLicensingStore {
    async fn usage_hours(
        &self,
        org: OrgId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<UsageHour>, StoreError> {
        usage::usage_hours(&self.db, org, since, until).await
    }

    async fn forget_usage_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        usage::forget_before(&self.db, before).await
    }
}

/// Licensing's outbox, relayed like the gateway's journal.
impl messaging::relay::Outbox for SqlLicensingStore {
    async fn unpublished(&self, limit: u64) -> Result<Vec<Event>, OutboxError> {
        events::unpublished(&self.db, limit).await
    }

    async fn mark_published(&self, seqs: &[i64]) -> Result<(), OutboxError> {
        events::mark_published(&self.db, seqs, self.clock.now()).await
    }
}
