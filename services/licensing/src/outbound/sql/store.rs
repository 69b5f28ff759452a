//! `SqlLicensingStore`: the seat ledger on sea-orm. Reservations of one
//! organization are serialized: on PostgreSQL by a transaction-scoped
//! advisory lock on the organization (it holds even when the organization has
//! no subscription row yet, and across licensing instances), on SQLite by its
//! single connection. Organizations do not wait for each other. A decision
//! reads the organization's running count of confirmed seats (`seat_totals`)
//! and counts only its live reservations, whatever the organization's size;
//! a batch of reservations is decided in one transaction.
//!
//! Seat rows are looked up by their key (`ix_seats_key`) or their holder
//! (`ix_seats_holder`, and only a confirmed seat has a holder), never by an
//! organization and a status: whatever a planner knows of the table, such a
//! lookup reads the key's or the holder's rows, not the organization's.

use chrono::{DateTime, Utc};
use messaging::Admission;
use messaging::relay::OutboxError;
use provisioning_events::Event;
use sea_orm::sea_query::{Cond, Expr, ExprTrait, IntoIden, OnConflict, Order, Query};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, TransactionTrait,
};
use service_kit::inbox::{self, InboxError};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use super::tables::{Outbox, SeatTotals, Seats, SubscriptionVersion, Subscriptions};
use crate::domain::models::{
    Ledger, NewReservation, OrgId, Reservation, SeatChange, SeatCounts, SeatKey, Subscription,
};
use crate::domain::ports::{LicensingStore, StoreError};

const RESERVED: &str = "reserved";
const CONFIRMED: &str = "confirmed";

/// Decisions of one organization are serialized by its lock
/// ([`lock_organization`]) on PostgreSQL, and by the single connection of a
/// SQLite database (`service_kit::db::connect`).
#[derive(Clone)]
pub struct SqlLicensingStore {
    db: DatabaseConnection,
}

impl SqlLicensingStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(db_error)
    }
}

fn db_error(e: DbErr) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn inbox_error(e: InboxError) -> StoreError {
    match e {
        InboxError::Contended(what) => StoreError::Conflict(what),
        InboxError::Database(e) => db_error(e),
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Reservations that still hold a seat at `now` (with the confirmed seats,
/// what counts against the quota).
fn reserved_at(now: DateTime<Utc>) -> Cond {
    Cond::all()
        .add(Expr::col(Seats::Status).eq(RESERVED))
        .add(Expr::col(Seats::ExpiresAt).gt(micros(now)))
}

/// Running totals of `org`'s seats.
struct SeatTotalsRow {
    confirmed: u32,
    /// Reservations written and not yet confirmed or swept: expired ones
    /// included.
    reserved: u32,
}

async fn seat_totals<C: ConnectionTrait>(db: &C, org: OrgId) -> Result<SeatTotalsRow, StoreError> {
    let row = db
        .query_one(
            &Query::select()
                .columns([SeatTotals::Confirmed, SeatTotals::Reserved])
                .from(SeatTotals::Table)
                .and_where(Expr::col(SeatTotals::OrgId).eq(org.0))
                .to_owned(),
        )
        .await
        .map_err(db_error)?;
    let Some(row) = row else {
        return Ok(SeatTotalsRow {
            confirmed: 0,
            reserved: 0,
        });
    };
    let confirmed: i64 = row.try_get("", "confirmed").map_err(db_error)?;
    let reserved: i64 = row.try_get("", "reserved").map_err(db_error)?;
    Ok(SeatTotalsRow {
        confirmed: count(confirmed),
        reserved: count(reserved),
    })
}

/// Changes the running totals of `org`'s confirmed seats and reservations,
/// in the transaction that adds or removes those seats.
async fn add_totals<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    confirmed: i64,
    reserved: i64,
) -> Result<(), StoreError> {
    if confirmed == 0 && reserved == 0 {
        return Ok(());
    }
    db.execute(
        &Query::insert()
            .into_table(SeatTotals::Table)
            .columns([
                SeatTotals::OrgId,
                SeatTotals::Confirmed,
                SeatTotals::Reserved,
            ])
            .values_panic([org.into(), confirmed.into(), reserved.into()])
            .on_conflict(
                OnConflict::column(SeatTotals::OrgId)
                    .values([
                        (
                            SeatTotals::Confirmed,
                            Expr::col((SeatTotals::Table, SeatTotals::Confirmed)).add(confirmed),
                        ),
                        (
                            SeatTotals::Reserved,
                            Expr::col((SeatTotals::Table, SeatTotals::Reserved)).add(reserved),
                        ),
                    ])
                    .to_owned(),
            )
            .to_owned(),
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Changes to the running totals made by a transaction's ledger writes,
/// written together just before it commits (organizations in order): a
/// totals row stays locked for as short a time as possible, and every
/// transaction locks rows in the same order.
#[derive(Default)]
struct TotalsDelta(BTreeMap<Uuid, (i64, i64)>);

impl TotalsDelta {
    fn add(&mut self, org: Uuid, confirmed: i64, reserved: i64) {
        let entry = self.0.entry(org).or_default();
        entry.0 += confirmed;
        entry.1 += reserved;
    }

    async fn write<C: ConnectionTrait>(self, db: &C) -> Result<(), StoreError> {
        for (org, (confirmed, reserved)) in self.0 {
            add_totals(db, org, confirmed, reserved).await?;
        }
        Ok(())
    }
}

/// On PostgreSQL, holds the organization's reservation lock until the
/// transaction ends.
async fn lock_organization<C: ConnectionTrait>(db: &C, org: OrgId) -> Result<(), StoreError> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let (high, _) = org.0.as_u64_pair();
    let key = i64::from_ne_bytes(high.to_ne_bytes());
    db.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [key.into()],
    ))
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn subscription<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
) -> Result<Option<Subscription>, StoreError> {
    let mut select = Query::select();
    select
        .columns([Subscriptions::SeatQuota, Subscriptions::ScimIncluded])
        .from(Subscriptions::Table)
        .and_where(Expr::col(Subscriptions::OrgId).eq(org.0));
    let Some(row) = db.query_one(&select).await.map_err(db_error)? else {
        return Ok(None);
    };
    let quota: i64 = row.try_get("", "seat_quota").map_err(db_error)?;
    Ok(Some(Subscription {
        seat_quota: count(quota),
        scim_included: row.try_get("", "scim_included").map_err(db_error)?,
    }))
}

async fn count_seats<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
    condition: Cond,
) -> Result<u32, StoreError> {
    let row = db
        .query_one(
            &Query::select()
                .expr_as(Expr::col(Seats::Id).count(), "n")
                .from(Seats::Table)
                .and_where(Expr::col(Seats::OrgId).eq(org.0))
                .cond_where(condition)
                .to_owned(),
        )
        .await
        .map_err(db_error)?;
    let n: i64 = match row {
        Some(row) => row.try_get("", "n").map_err(db_error)?,
        None => 0,
    };
    Ok(count(n))
}

/// `org`'s confirmed seats and live reservations at `now`, read in one
/// statement so that a confirmation committing meanwhile is seen whole or
/// not at all (two statements could see the seat in both counts: a refusal
/// below the quota).
async fn confirmed_and_live<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
    now: DateTime<Utc>,
) -> Result<u32, StoreError> {
    let confirmed = Query::select()
        .column(SeatTotals::Confirmed)
        .from(SeatTotals::Table)
        .and_where(Expr::col(SeatTotals::OrgId).eq(org.0))
        .to_owned();
    let live = Query::select()
        .expr(Expr::col(Seats::Id).count())
        .from(Seats::Table)
        .and_where(Expr::col(Seats::OrgId).eq(org.0))
        .cond_where(reserved_at(now))
        .to_owned();
    let both = Query::select()
        .expr_as(
            Expr::SubQuery(None, Box::new(confirmed.into())),
            "confirmed",
        )
        .expr_as(Expr::SubQuery(None, Box::new(live.into())), "live")
        .to_owned();
    let Some(row) = db.query_one(&both).await.map_err(db_error)? else {
        return Ok(0);
    };
    let confirmed: Option<i64> = row.try_get("", "confirmed").map_err(db_error)?;
    let live: i64 = row.try_get("", "live").map_err(db_error)?;
    Ok(count(confirmed.unwrap_or(0)).saturating_add(count(live)))
}

type Held = std::collections::HashSet<(Uuid, String)>;

/// Live reservations by (organization, key): their ids.
type LiveReservations = HashMap<(Uuid, String), Uuid>;

/// For a batch's confirmations: the holders among them that hold a
/// confirmed seat, and the live reservations (at `now`) of their keys.
async fn seats_of_batch<C: ConnectionTrait>(
    db: &C,
    batch: &[(Uuid, Vec<SeatChange>)],
    now: DateTime<Utc>,
) -> Result<(Held, LiveReservations), StoreError> {
    let mut wanted: HashMap<Uuid, (Vec<String>, Vec<String>)> = HashMap::new();
    for (org, changes) in batch {
        for change in changes {
            if let SeatChange::Confirm { key, holder } = change {
                let (holders, keys) = wanted.entry(*org).or_default();
                holders.push(holder.clone());
                keys.push(key.0.clone());
            }
        }
    }
    let (mut holding, mut reserved) = (Held::new(), LiveReservations::new());
    for (org, (holders, keys)) in wanted {
        // Only a confirmed seat has a holder.
        for chunk in holders.chunks(service_kit::db::MAX_IN_LIST) {
            let rows = db
                .query_all(
                    &Query::select()
                        .column(Seats::Holder)
                        .from(Seats::Table)
                        .and_where(Expr::col(Seats::OrgId).eq(org))
                        .and_where(Expr::col(Seats::Holder).is_in(service_kit::db::in_list(chunk)))
                        .to_owned(),
                )
                .await
                .map_err(db_error)?;
            for row in rows {
                holding.insert((org, row.try_get("", "holder").map_err(db_error)?));
            }
        }
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        for (key, id) in live_reservations(db, OrgId(org), &keys, now).await? {
            reserved.insert((org, key), id);
        }
    }
    Ok((holding, reserved))
}

/// Confirmed seats (organization, key, holder) with no reservation before
/// them, in multi-row INSERTs.
async fn insert_confirmed<C: ConnectionTrait>(
    db: &C,
    seats: &[(Uuid, String, String)],
    now: DateTime<Utc>,
    totals: &mut TotalsDelta,
) -> Result<(), StoreError> {
    let rows: Vec<NewSeat> = seats
        .iter()
        .map(|(org, key, holder)| NewSeat {
            id: Uuid::now_v7(),
            org: *org,
            key: key.clone(),
            status: CONFIRMED,
            holder: Some(holder.clone()),
            expires_at: None,
        })
        .collect();
    insert_seats(db, &rows, now).await?;
    for (org, _, _) in seats {
        totals.add(*org, 1, 0);
    }
    Ok(())
}

/// A seat row to insert: a reservation (expiry, no holder) or a confirmed
/// seat (holder, no expiry).
struct NewSeat {
    id: Uuid,
    org: Uuid,
    key: String,
    status: &'static str,
    holder: Option<String>,
    /// Microseconds.
    expires_at: Option<i64>,
}

impl NewSeat {
    fn reservation(id: Uuid, org: Uuid, key: String, expires_at: DateTime<Utc>) -> Self {
        Self {
            id,
            org,
            key,
            status: RESERVED,
            holder: None,
            expires_at: Some(micros(expires_at)),
        }
    }
}

async fn insert_seats<C: ConnectionTrait>(
    db: &C,
    seats: &[NewSeat],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for chunk in service_kit::db::pow2_chunks(seats) {
        let mut insert = Query::insert();
        insert.into_table(Seats::Table).columns([
            Seats::Id,
            Seats::OrgId,
            Seats::SeatKey,
            Seats::Status,
            Seats::Holder,
            Seats::ExpiresAt,
            Seats::CreatedAt,
        ]);
        for seat in chunk {
            insert.values_panic([
                seat.id.into(),
                seat.org.into(),
                seat.key.clone().into(),
                seat.status.into(),
                seat.holder.clone().into(),
                seat.expires_at.into(),
                micros(now).into(),
            ]);
        }
        db.execute(&insert).await.map_err(db_error)?;
    }
    Ok(())
}

/// The live reservation (if any) under each of `keys` in `org`, by key.
///
/// Asks by organization and key alone and filters here: a condition on
/// `status` would let a planner without statistics walk the organization's
/// reservations (`ix_seats_reserved`) instead of the key's few rows.
async fn live_reservations<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
    keys: &[&str],
    now: DateTime<Utc>,
) -> Result<HashMap<String, Uuid>, StoreError> {
    let mut live = HashMap::new();
    for chunk in keys.chunks(service_kit::db::MAX_IN_LIST) {
        let rows = db
            .query_all(
                &Query::select()
                    .columns([Seats::Id, Seats::SeatKey, Seats::Status, Seats::ExpiresAt])
                    .from(Seats::Table)
                    .and_where(Expr::col(Seats::OrgId).eq(org.0))
                    .and_where(Expr::col(Seats::SeatKey).is_in(service_kit::db::in_list(chunk)))
                    .to_owned(),
            )
            .await
            .map_err(db_error)?;
        for row in rows {
            let status: String = row.try_get("", "status").map_err(db_error)?;
            let expires_at: Option<i64> = row.try_get("", "expires_at").map_err(db_error)?;
            if status == RESERVED && expires_at.is_some_and(|t| t > micros(now)) {
                live.insert(
                    row.try_get("", "seat_key").map_err(db_error)?,
                    row.try_get("", "id").map_err(db_error)?,
                );
            }
        }
    }
    Ok(live)
}

/// Makes reservation `id` the confirmed seat of `holder`; false when it is
/// gone (swept).
async fn confirm_reservation<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    holder: &str,
) -> Result<bool, StoreError> {
    let updated = db
        .execute(
            &Query::update()
                .table(Seats::Table)
                .value(Seats::Status, CONFIRMED)
                .value(Seats::Holder, holder)
                .value(Seats::ExpiresAt, Option::<i64>::None)
                .and_where(Expr::col(Seats::Id).eq(id))
                .and_where(Expr::col(Seats::Status).eq(RESERVED))
                .to_owned(),
        )
        .await
        .map_err(db_error)?;
    Ok(updated.rows_affected() > 0)
}

async fn write_change<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
    change: SeatChange,
    now: DateTime<Utc>,
    totals: &mut TotalsDelta,
) -> Result<(), StoreError> {
    match change {
        SeatChange::Confirm { key, holder } => {
            // Already holding a seat (a replayed fact): nothing to add.
            let holding = count_seats(
                db,
                org,
                Cond::all().add(Expr::col(Seats::Holder).eq(holder.as_str())),
            )
            .await?;
            if holding > 0 {
                return Ok(());
            }
            // An expired reservation under the same key is the sweeper's;
            // at most one is live (`reserve_all`).
            let reservation = live_reservations(db, org, &[key.0.as_str()], now)
                .await?
                .remove(&key.0);
            let confirmed = match reservation {
                None => false,
                Some(id) => confirm_reservation(db, id, &holder).await?,
            };
            if confirmed {
                totals.add(org.0, 1, -1);
            } else {
                // A new seat: held only under the organization's lock (taken
                // already on the per-event path; a batch may get here when
                // the reservation it saw expired meanwhile).
                lock_organization(db, org).await?;
                totals.add(org.0, 1, 0);
                tracing::warn!(
                    org_id = %org.0,
                    holder = %holder,
                    "a user was provisioned without a live reservation; it holds a seat anyway"
                );
                db.execute(
                    &Query::insert()
                        .into_table(Seats::Table)
                        .columns([
                            Seats::Id,
                            Seats::OrgId,
                            Seats::SeatKey,
                            Seats::Status,
                            Seats::Holder,
                            Seats::CreatedAt,
                        ])
                        .values_panic([
                            Uuid::now_v7().into(),
                            org.0.into(),
                            key.0.into(),
                            CONFIRMED.into(),
                            holder.into(),
                            micros(now).into(),
                        ])
                        .to_owned(),
                )
                .await
                .map_err(db_error)?;
            }
        }
        SeatChange::Release { holder } => {
            let released = db
                .execute(
                    &Query::delete()
                        .from_table(Seats::Table)
                        .and_where(Expr::col(Seats::OrgId).eq(org.0))
                        .and_where(Expr::col(Seats::Holder).eq(holder.as_str()))
                        .to_owned(),
                )
                .await
                .map_err(db_error)?;
            let released = i64::try_from(released.rows_affected()).unwrap_or(i64::MAX);
            totals.add(org.0, -released, 0);
        }
    }
    Ok(())
}

impl LicensingStore for SqlLicensingStore {
    async fn reserve_all<F>(
        &self,
        requests: &[(OrgId, SeatKey)],
        now: DateTime<Utc>,
        decide: F,
    ) -> Result<Vec<Reservation>, StoreError>
    where
        F: Fn(&SeatKey, &Ledger) -> (Reservation, Option<NewReservation>) + Send,
    {
        // Requests by organization, each organization's in arrival order;
        // organizations locked in one order by every transaction.
        let mut by_org: BTreeMap<Uuid, Vec<usize>> = BTreeMap::new();
        for (i, (org, _)) in requests.iter().enumerate() {
            by_org.entry(org.0).or_default().push(i);
        }
        let txn = self.db.begin().await.map_err(db_error)?;
        for org in by_org.keys() {
            lock_organization(&txn, OrgId(*org)).await?;
        }
        let mut decided: Vec<Option<Reservation>> = vec![None; requests.len()];
        let mut new_reservations: Vec<NewSeat> = Vec::new();
        let mut totals = TotalsDelta::default();
        for (org, indices) in &by_org {
            let org = OrgId(*org);
            let subscription = subscription(&txn, org).await?;
            let stored = seat_totals(&txn, org).await?;
            let keys: Vec<&str> = indices.iter().map(|&i| requests[i].1.0.as_str()).collect();
            let mut existing = live_reservations(&txn, org, &keys, now).await?;
            // The running totals count reservations until the sweeper
            // removes them, expired or not: enough to grant, not to refuse.
            let mut held = stored.confirmed.saturating_add(stored.reserved);
            let mut exact = stored.reserved == 0;
            let mut granted_here = 0u32;
            for &i in indices {
                let key = &requests[i].1;
                let mut ledger = Ledger {
                    subscription,
                    held,
                    existing: existing.get(&key.0).copied(),
                };
                let (mut reservation, mut new) = decide(key, &ledger);
                if matches!(reservation, Reservation::Denied { .. }) && !exact {
                    // Event batches confirm reservations without this
                    // organization's lock, moving a seat from reserved to
                    // confirmed in one transaction: counted in one statement
                    // (one snapshot), it is counted once, before or after.
                    // What this transaction granted is not written yet:
                    // added to the count.
                    held = confirmed_and_live(&txn, org, now)
                        .await?
                        .saturating_add(granted_here);
                    exact = true;
                    ledger.held = held;
                    (reservation, new) = decide(key, &ledger);
                }
                if let Some(NewReservation {
                    id,
                    key,
                    expires_at,
                }) = new
                {
                    existing.insert(key.0.clone(), id);
                    held = held.saturating_add(1);
                    granted_here = granted_here.saturating_add(1);
                    totals.add(org.0, 0, 1);
                    new_reservations.push(NewSeat::reservation(id, org.0, key.0, expires_at));
                }
                decided[i] = Some(reservation);
            }
        }
        insert_seats(&txn, &new_reservations, now).await?;
        totals.write(&txn).await?;
        txn.commit().await.map_err(db_error)?;
        decided
            .into_iter()
            .map(|d| d.ok_or_else(|| StoreError::Unavailable("a request was not decided".into())))
            .collect()
    }

    async fn apply_event(
        &self,
        event: &Event,
        changes: Vec<SeatChange>,
    ) -> Result<Admission, StoreError> {
        let org = OrgId(event.org_id);
        let txn = self.db.begin().await.map_err(db_error)?;
        lock_organization(&txn, org).await?;
        let admission = inbox::claim(&txn, event).await.map_err(inbox_error)?;
        if admission != Admission::Apply {
            txn.rollback().await.map_err(db_error)?;
            return Ok(admission);
        }
        let now = Utc::now();
        let mut totals = TotalsDelta::default();
        for change in changes {
            write_change(&txn, org, change, now, &mut totals).await?;
        }
        totals.write(&txn).await?;
        txn.commit().await.map_err(db_error)?;
        Ok(Admission::Apply)
    }

    async fn apply_events(
        &self,
        events: &[Event],
        changes: Vec<Vec<SeatChange>>,
    ) -> Result<Vec<Admission>, StoreError> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let admissions = inbox::claim_batch(&txn, events)
            .await
            .map_err(inbox_error)?;
        let now = Utc::now();
        let admitted: Vec<(Uuid, Vec<SeatChange>)> = events
            .iter()
            .zip(changes)
            .zip(&admissions)
            .filter(|(_, admission)| **admission == Admission::Apply)
            .map(|((event, changes), _)| (event.org_id, changes))
            .collect();
        // What the batch's confirmations need to know, read once: who holds
        // a seat, which keys are reserved. Kept up to date as the batch goes.
        let (mut holding, mut reserved) = seats_of_batch(&txn, &admitted, now).await?;
        // Only a seat confirmed without its reservation adds to what the
        // organization holds: those organizations are locked against their
        // reservations (in order, before any write). Confirming a reservation
        // or releasing a seat never raises the count a decision reads, so
        // the other organizations' reservations go on meanwhile.
        let mut growing: Vec<Uuid> = admitted
            .iter()
            .filter(|(org, changes)| {
                changes.iter().any(|change| {
                    matches!(change, SeatChange::Confirm { key, holder }
                        if !reserved.contains_key(&(*org, key.0.clone()))
                            && !holding.contains(&(*org, holder.clone())))
                })
            })
            .map(|(org, _)| *org)
            .collect();
        growing.sort_unstable();
        growing.dedup();
        for org in growing {
            lock_organization(&txn, OrgId(org)).await?;
        }
        // Seats confirmed without a reservation (every one, in a rebuild)
        // wait here for one multi-row INSERT, written before anything else.
        let mut new_seats: Vec<(Uuid, String, String)> = Vec::new();
        let mut totals = TotalsDelta::default();
        for (org, changes) in admitted {
            for change in changes {
                match change {
                    SeatChange::Confirm { key, holder } => {
                        if holding.contains(&(org, holder.clone())) {
                            continue;
                        }
                        holding.insert((org, holder.clone()));
                        if let Some(reservation) = reserved.remove(&(org, key.0.clone())) {
                            insert_confirmed(&txn, &new_seats, now, &mut totals).await?;
                            new_seats.clear();
                            if confirm_reservation(&txn, reservation, &holder).await? {
                                totals.add(org, 1, -1);
                            } else {
                                // Swept since it was read: the single path
                                // gives the holder a seat of its own.
                                write_change(
                                    &txn,
                                    OrgId(org),
                                    SeatChange::Confirm { key, holder },
                                    now,
                                    &mut totals,
                                )
                                .await?;
                            }
                        } else {
                            new_seats.push((org, key.0, holder));
                        }
                    }
                    SeatChange::Release { holder } => {
                        holding.remove(&(org, holder.clone()));
                        insert_confirmed(&txn, &new_seats, now, &mut totals).await?;
                        new_seats.clear();
                        write_change(
                            &txn,
                            OrgId(org),
                            SeatChange::Release { holder },
                            now,
                            &mut totals,
                        )
                        .await?;
                    }
                }
            }
        }
        insert_confirmed(&txn, &new_seats, now, &mut totals).await?;
        totals.write(&txn).await?;
        txn.commit().await.map_err(db_error)?;
        Ok(admissions)
    }

    async fn set_subscription<F>(
        &self,
        org: OrgId,
        subscription: Subscription,
        announce: F,
    ) -> Result<(), StoreError>
    where
        F: FnOnce(i64) -> Event + Send,
    {
        let txn = self.db.begin().await.map_err(db_error)?;
        lock_organization(&txn, org).await?;
        txn.execute(
            &Query::insert()
                .into_table(Subscriptions::Table)
                .columns([
                    Subscriptions::OrgId.into_iden(),
                    Subscriptions::SeatQuota.into_iden(),
                    Subscriptions::ScimIncluded.into_iden(),
                    Subscriptions::UpdatedAt.into_iden(),
                    SubscriptionVersion::Version.into_iden(),
                ])
                .values_panic([
                    org.0.into(),
                    i64::from(subscription.seat_quota).into(),
                    subscription.scim_included.into(),
                    micros(Utc::now()).into(),
                    1i64.into(),
                ])
                .on_conflict(
                    OnConflict::column(Subscriptions::OrgId)
                        .update_columns([
                            Subscriptions::SeatQuota,
                            Subscriptions::ScimIncluded,
                            Subscriptions::UpdatedAt,
                        ])
                        .value(
                            SubscriptionVersion::Version,
                            Expr::col((Subscriptions::Table, SubscriptionVersion::Version)).add(1),
                        )
                        .to_owned(),
                )
                .to_owned(),
        )
        .await
        .map_err(db_error)?;
        let row = txn
            .query_one(
                &Query::select()
                    .column(SubscriptionVersion::Version)
                    .from(Subscriptions::Table)
                    .and_where(Expr::col(Subscriptions::OrgId).eq(org.0))
                    .to_owned(),
            )
            .await
            .map_err(db_error)?
            .ok_or_else(|| StoreError::Unavailable("the subscription vanished".into()))?;
        let version: i64 = row.try_get("", "version").map_err(db_error)?;
        let event = announce(version);
        let text =
            serde_json::to_string(&event).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        txn.execute(
            &Query::insert()
                .into_table(Outbox::Table)
                .columns([Outbox::EventId, Outbox::Event])
                .values_panic([event.id.into(), text.into()])
                .to_owned(),
        )
        .await
        .map_err(db_error)?;
        txn.commit().await.map_err(db_error)
    }

    async fn seat_counts(&self, org: OrgId, now: DateTime<Utc>) -> Result<SeatCounts, StoreError> {
        Ok(SeatCounts {
            subscription: subscription(&self.db, org).await?,
            confirmed: seat_totals(&self.db, org).await?.confirmed,
            reserved: count_seats(&self.db, org, reserved_at(now)).await?,
        })
    }

    async fn release_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let released = txn
            .query_all(
                &Query::delete()
                    .from_table(Seats::Table)
                    .and_where(Expr::col(Seats::Status).eq(RESERVED))
                    .and_where(Expr::col(Seats::ExpiresAt).lte(micros(now)))
                    .returning_col(Seats::OrgId)
                    .to_owned(),
            )
            .await
            .map_err(db_error)?;
        let mut totals = TotalsDelta::default();
        for row in &released {
            totals.add(row.try_get("", "org_id").map_err(db_error)?, 0, -1);
        }
        totals.write(&txn).await?;
        txn.commit().await.map_err(db_error)?;
        Ok(released.len() as u64)
    }
}

fn outbox_error(e: DbErr) -> OutboxError {
    OutboxError(e.to_string())
}

/// Licensing's outbox, relayed like the gateway's journal.
impl messaging::relay::Outbox for SqlLicensingStore {
    async fn unpublished(&self, limit: u64) -> Result<Vec<Event>, OutboxError> {
        let select = Query::select()
            .columns([Outbox::Seq, Outbox::Event])
            .from(Outbox::Table)
            .and_where(Expr::col(Outbox::PublishedAt).is_null())
            .order_by(Outbox::Seq, Order::Asc)
            .to_owned();
        let select = service_kit::db::limited(self.db.get_database_backend(), select, limit, 0);
        let rows = self.db.query_all_raw(select).await.map_err(outbox_error)?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get("", "seq").map_err(outbox_error)?;
                let text: String = row.try_get("", "event").map_err(outbox_error)?;
                let mut event: Event = serde_json::from_str(&text)
                    .map_err(|e| OutboxError(format!("outbox entry {seq}: {e}")))?;
                event.seq = seq;
                Ok(event)
            })
            .collect()
    }

    async fn mark_published(&self, seqs: &[i64]) -> Result<(), OutboxError> {
        self.db
            .execute(
                &Query::update()
                    .table(Outbox::Table)
                    .value(Outbox::PublishedAt, micros(Utc::now()))
                    .and_where(Expr::col(Outbox::Seq).is_in(seqs.iter().copied()))
                    .to_owned(),
            )
            .await
            .map_err(outbox_error)?;
        Ok(())
    }
}
