//! Reservations: a batch of requests decided in one transaction, each
//! organization under its lock, from its running totals first and its exact
//! count when the rules ask for it; and the sweep of expired reservations.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, TransactionTrait};
use std::collections::BTreeMap;
use uuid::Uuid;

use super::ledger::{
    NewSeat, confirmed_and_live, db_error, delete_expired, insert_seats, live_reservations,
    lock_organization, seat_totals,
};
use super::subscriptions::subscription;
use super::totals::TotalsDelta;
use crate::domain::models::{
    Ledger, NewReservation, OrgId, Reservation, ReservationDecision, SeatKey,
};
use crate::domain::ports::StoreError;

pub(super) async fn reserve_all<F>(
    db: &DatabaseConnection,
    requests: &[(OrgId, SeatKey)],
    now: DateTime<Utc>,
    decide: F,
) -> Result<Vec<Reservation>, StoreError>
where
    F: Fn(&SeatKey, &Ledger) -> ReservationDecision,
{
    // Requests by organization, each organization's in arrival order;
    // organizations locked in one order by every transaction.
    let mut by_org: BTreeMap<Uuid, Vec<usize>> = BTreeMap::new();
    for (i, (org, _)) in requests.iter().enumerate() {
        by_org.entry(org.0).or_default().push(i);
    }
    let txn = db.begin().await.map_err(db_error)?;
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
        // The running totals count reservations until the sweeper removes
        // them, expired or not: exact only when there are none.
        let mut held = stored.confirmed.saturating_add(stored.reserved);
        let mut held_exact = stored.reserved == 0;
        let mut granted_here = 0u32;
        for &i in indices {
            let key = &requests[i].1;
            let mut ledger = Ledger {
                subscription,
                held,
                held_exact,
                existing: existing.get(&key.0).copied(),
            };
            let mut decision = decide(key, &ledger);
            if decision == ReservationDecision::CountExactly && !held_exact {
                // Event batches confirm reservations without this
                // organization's lock, moving a seat from reserved to
                // confirmed in one transaction: counted in one statement
                // (one snapshot), it is counted once, before or after.
                // What this transaction granted is not written yet: added
                // to the count.
                held = confirmed_and_live(&txn, org, now)
                    .await?
                    .saturating_add(granted_here);
                held_exact = true;
                ledger.held = held;
                ledger.held_exact = true;
                decision = decide(key, &ledger);
            }
            let ReservationDecision::Decided { reservation, new } = decision else {
                return Err(StoreError::Unavailable(anyhow::anyhow!(
                    "an exact count was asked for twice"
                )));
            };
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
    totals.write(&txn, now).await?;
    txn.commit().await.map_err(db_error)?;
    decided
        .into_iter()
        .map(|d| {
            d.ok_or_else(|| StoreError::Unavailable(anyhow::anyhow!("a request was not decided")))
        })
        .collect()
}

/// Deletes the reservations that expired before `now`; returns how many.
pub(super) async fn release_expired(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let txn = db.begin().await.map_err(db_error)?;
    let released = delete_expired(&txn, now).await?;
    let mut totals = TotalsDelta::default();
    for org in &released {
        totals.add(*org, 0, -1);
    }
    totals.write(&txn, now).await?;
    txn.commit().await.map_err(db_error)?;
    Ok(released.len() as u64)
}
