//! Events in and out of the ledger: user events applied as the rules
//! decided (the inbox claim, the holder's seats read in the same
//! transaction, the decided confirmation or release written), and the
//! outbox of `subscription.changed` events relayed like the gateway's
//! journal.

use chrono::{DateTime, Utc};
use messaging::Admission;
use messaging::relay::OutboxError;
use provisioning_events::Event;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use service_kit::inbox::{self, InboxError};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use super::ledger::{
    NewSeat, ReservationTaken, confirm_reservation, confirm_reservations, db_error,
    holders_with_seats, holds_seat, insert_seats, live_reservations, lock_organization, micros,
    release_holder,
};
use super::totals::TotalsDelta;
use crate::domain::models::{Confirmation, HolderSeats, OrgId, SeatChange, SeatKey};
use crate::domain::ports::StoreError;
use crate::outbound::sql::tables::Outbox;

fn inbox_error(e: InboxError) -> StoreError {
    match e {
        InboxError::Contended(what) => StoreError::Conflict(what),
        e @ InboxError::BatchContended => StoreError::Conflict(e.to_string()),
        InboxError::Database(e) => db_error(e),
    }
}

/// A confirmation to write: `holder`'s seat, reserved under `key`, kept
/// under `kept_as` (see [`SeatChange::Confirm`]).
struct Confirming {
    key: SeatKey,
    kept_as: SeatKey,
    holder: String,
}

/// Writes the confirmation that `confirm` decides from the holder's seats,
/// read here.
async fn confirm_holder<C, F>(
    db: &C,
    org: OrgId,
    Confirming {
        key,
        kept_as,
        holder,
    }: Confirming,
    now: DateTime<Utc>,
    confirm: &F,
    totals: &mut TotalsDelta,
) -> Result<(), StoreError>
where
    C: ConnectionTrait,
    F: Fn(&HolderSeats) -> Confirmation,
{
    let mut seats = HolderSeats {
        holds_seat: holds_seat(db, org, &holder).await?,
        live_reservation: live_reservations(db, org, &[key.0.as_str()], now)
            .await?
            .remove(&key.0),
    };
    // Twice at most: a reservation swept between the read and the write is
    // decided again without it.
    for _ in 0..2 {
        match confirm(&seats) {
            Confirmation::AlreadyHeld => return Ok(()),
            Confirmation::TakeReservation(reservation) => {
                if confirm_reservation(db, reservation, &holder, &kept_as).await? {
                    totals.add(org.0, 1, -1);
                    return Ok(());
                }
                seats.live_reservation = None;
            }
            Confirmation::NewSeat => {
                // One more held seat: only under the organization's lock
                // (taken already on the per-event path; a batch may get here
                // when the reservation it saw expired meanwhile).
                lock_organization(db, org).await?;
                totals.add(org.0, 1, 0);
                tracing::warn!(
                    org_id = %org.0,
                    holder = %holder,
                    "a user was provisioned without a live reservation; it holds a seat anyway"
                );
                let seat = NewSeat::confirmed(org.0, kept_as.0, holder);
                return insert_seats(db, std::slice::from_ref(&seat), now).await;
            }
        }
    }
    Err(StoreError::Unavailable(anyhow::anyhow!(
        "a confirmation kept asking for a reservation that is gone"
    )))
}

async fn release<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
    holder: &str,
    totals: &mut TotalsDelta,
) -> Result<(), StoreError> {
    let released = release_holder(db, org, holder).await?;
    totals.add(org.0, -released, 0);
    Ok(())
}

pub(super) async fn apply_event<F>(
    db: &DatabaseConnection,
    event: &Event,
    changes: Vec<SeatChange>,
    now: DateTime<Utc>,
    confirm: F,
) -> Result<Admission, StoreError>
where
    F: Fn(&HolderSeats) -> Confirmation,
{
    let org = OrgId(event.org_id);
    let txn = db.begin().await.map_err(db_error)?;
    lock_organization(&txn, org).await?;
    let admission = inbox::claim(&txn, event, now).await.map_err(inbox_error)?;
    if admission != Admission::Apply {
        txn.rollback().await.map_err(db_error)?;
        return Ok(admission);
    }
    let mut totals = TotalsDelta::default();
    for change in changes {
        match change {
            SeatChange::Confirm {
                key,
                holder,
                kept_as,
            } => {
                let confirming = Confirming {
                    key,
                    kept_as,
                    holder,
                };
                confirm_holder(&txn, org, confirming, now, &confirm, &mut totals).await?;
            }
            SeatChange::Release { holder } => release(&txn, org, &holder, &mut totals).await?,
        }
    }
    totals.write(&txn, now).await?;
    txn.commit().await.map_err(db_error)?;
    Ok(Admission::Apply)
}

/// Holders (organization, holder) that hold a confirmed seat.
type Held = HashSet<(Uuid, String)>;

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
            if let SeatChange::Confirm { key, holder, .. } = change {
                let (holders, keys) = wanted.entry(*org).or_default();
                holders.push(holder.clone());
                keys.push(key.0.clone());
            }
        }
    }
    let (mut holding, mut reserved) = (Held::new(), LiveReservations::new());
    for (org, (holders, keys)) in wanted {
        for holder in holders_with_seats(db, org, &holders).await? {
            holding.insert((org, holder));
        }
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        for (key, id) in live_reservations(db, OrgId(org), &keys, now).await? {
            reserved.insert((org, key), id);
        }
    }
    Ok((holding, reserved))
}

/// What the batch knows of a confirmation's holder and key.
fn seats_in_batch(
    holding: &Held,
    reserved: &LiveReservations,
    org: Uuid,
    key: &SeatKey,
    holder: &str,
) -> HolderSeats {
    HolderSeats {
        holds_seat: holding.contains(&(org, holder.to_owned())),
        live_reservation: reserved.get(&(org, key.0.clone())).copied(),
    }
}

/// Confirmed seats waiting for one multi-row INSERT, written (with their
/// totals) before anything that could read them.
async fn flush_new_seats<C: ConnectionTrait>(
    db: &C,
    seats: &mut Vec<NewSeat>,
    now: DateTime<Utc>,
    totals: &mut TotalsDelta,
) -> Result<(), StoreError> {
    insert_seats(db, seats, now).await?;
    for seat in seats.drain(..) {
        totals.add(seat.org, 1, 0);
    }
    Ok(())
}

/// A reservation the batch takes for a holder, written with the others
/// ([`flush_writes`]).
struct Taking {
    reservation: Uuid,
    org: Uuid,
    confirming: Confirming,
}

/// Writes what the batch decided so far: the new seats, then the taken
/// reservations in a few statements for the lot. A reservation swept since
/// the batch read it goes the single path (the holder's seats read again),
/// in the batch's order.
async fn flush_writes<C, F>(
    db: &C,
    new_seats: &mut Vec<NewSeat>,
    taking: &mut Vec<Taking>,
    now: DateTime<Utc>,
    confirm: &F,
    totals: &mut TotalsDelta,
) -> Result<(), StoreError>
where
    C: ConnectionTrait,
    F: Fn(&HolderSeats) -> Confirmation,
{
    flush_new_seats(db, new_seats, now, totals).await?;
    if taking.is_empty() {
        return Ok(());
    }
    let pending = std::mem::take(taking);
    let taken: Vec<ReservationTaken<'_>> = pending
        .iter()
        .map(|t| ReservationTaken {
            id: t.reservation,
            holder: &t.confirming.holder,
            kept_as: &t.confirming.kept_as.0,
        })
        .collect();
    let confirmed = confirm_reservations(db, &taken).await?;
    drop(taken);
    for t in pending {
        if confirmed.contains(&t.reservation) {
            totals.add(t.org, 1, -1);
        } else {
            confirm_holder(db, OrgId(t.org), t.confirming, now, confirm, totals).await?;
        }
    }
    Ok(())
}

pub(super) async fn apply_events<F>(
    db: &DatabaseConnection,
    events: &[Event],
    changes: Vec<Vec<SeatChange>>,
    now: DateTime<Utc>,
    confirm: F,
) -> Result<Vec<Admission>, StoreError>
where
    F: Fn(&HolderSeats) -> Confirmation,
{
    let txn = db.begin().await.map_err(db_error)?;
    let admissions = inbox::claim_batch(&txn, events, now)
        .await
        .map_err(inbox_error)?;
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
    // Only a new seat adds to what the organization holds: those
    // organizations are locked against their reservations (in order,
    // before any write). Confirming a reservation or releasing a seat
    // never raises the count a decision reads, so the other organizations'
    // reservations go on meanwhile.
    let mut growing: Vec<Uuid> = admitted
        .iter()
        .filter(|(org, changes)| {
            changes.iter().any(|change| {
                matches!(change, SeatChange::Confirm { key, holder, .. }
                    if confirm(&seats_in_batch(&holding, &reserved, *org, key, holder))
                        == Confirmation::NewSeat)
            })
        })
        .map(|(org, _)| *org)
        .collect();
    growing.sort_unstable();
    growing.dedup();
    for org in growing {
        lock_organization(&txn, OrgId(org)).await?;
    }
    // New seats (every one, in a rebuild) wait here for one multi-row
    // INSERT, and taken reservations for one UPDATE a chunk, written
    // before anything that could read or change them.
    let mut new_seats: Vec<NewSeat> = Vec::new();
    let mut taking: Vec<Taking> = Vec::new();
    let mut totals = TotalsDelta::default();
    for (org, changes) in admitted {
        for change in changes {
            match change {
                SeatChange::Confirm {
                    key,
                    holder,
                    kept_as,
                } => {
                    let seats = seats_in_batch(&holding, &reserved, org, &key, &holder);
                    match confirm(&seats) {
                        Confirmation::AlreadyHeld => {}
                        Confirmation::NewSeat => {
                            holding.insert((org, holder.clone()));
                            new_seats.push(NewSeat::confirmed(org, kept_as.0, holder));
                        }
                        Confirmation::TakeReservation(reservation) => {
                            holding.insert((org, holder.clone()));
                            reserved.remove(&(org, key.0.clone()));
                            taking.push(Taking {
                                reservation,
                                org,
                                confirming: Confirming {
                                    key,
                                    kept_as,
                                    holder,
                                },
                            });
                        }
                    }
                }
                SeatChange::Release { holder } => {
                    holding.remove(&(org, holder.clone()));
                    flush_writes(
                        &txn,
                        &mut new_seats,
                        &mut taking,
                        now,
                        &confirm,
                        &mut totals,
                    )
                    .await?;
                    release(&txn, OrgId(org), &holder, &mut totals).await?;
                }
            }
        }
    }
    flush_writes(
        &txn,
        &mut new_seats,
        &mut taking,
        now,
        &confirm,
        &mut totals,
    )
    .await?;
    totals.write(&txn, now).await?;
    txn.commit().await.map_err(db_error)?;
    Ok(admissions)
}

/// Appends `event` to the outbox, in the caller's transaction.
pub(super) async fn append_to_outbox<C: ConnectionTrait>(
    db: &C,
    event: &Event,
) -> Result<(), StoreError> {
    let text = serde_json::to_string(event).map_err(|e| StoreError::Unavailable(e.into()))?;
    db.execute(
        &Query::insert()
            .into_table(Outbox::Table)
            .columns([Outbox::EventId, Outbox::Event])
            .values_panic([event.id.into(), text.into()])
            .to_owned(),
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

fn outbox_error(e: DbErr) -> OutboxError {
    OutboxError(e.to_string())
}

/// The outbox's first `limit` unpublished events, in order.
pub(super) async fn unpublished(
    db: &DatabaseConnection,
    limit: u64,
) -> Result<Vec<Event>, OutboxError> {
    let select = Query::select()
        .columns([Outbox::Seq, Outbox::Event])
        .from(Outbox::Table)
        .and_where(Expr::col(Outbox::PublishedAt).is_null())
        .order_by(Outbox::Seq, Order::Asc)
        .to_owned();
    let select = service_kit::db::limited(db.get_database_backend(), select, limit, 0);
    let rows = db.query_all_raw(select).await.map_err(outbox_error)?;
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

pub(super) async fn mark_published(
    db: &DatabaseConnection,
    seqs: &[i64],
    now: DateTime<Utc>,
) -> Result<(), OutboxError> {
    db.execute(
        &Query::update()
            .table(Outbox::Table)
            .value(Outbox::PublishedAt, micros(now))
            .and_where(Expr::col(Outbox::Seq).is_in(seqs.iter().copied()))
            .to_owned(),
    )
    .await
    .map_err(outbox_error)?;
    Ok(())
}
