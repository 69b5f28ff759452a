//! The seat ledger's rows: seats (reservations and confirmed seats), the
//! running totals per organization as read (`totals` writes them), the
//! organization's reservation lock, and the reads and writes the other
//! store modules build on.
//!
//! Seat rows are looked up by their key (`ix_seats_key`) or their holder
//! (`ix_seats_holder`, and only a confirmed seat has a holder), never by an
//! organization and a status: whatever a planner knows of the table, such a
//! lookup reads the key's or the holder's rows, not the organization's.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{CaseStatement, Cond, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use crate::domain::models::{OrgId, SeatKey};
use crate::domain::ports::StoreError;
use crate::outbound::sql::tables::{SeatTotals, Seats};

const RESERVED: &str = "reserved";
const CONFIRMED: &str = "confirmed";

pub(super) fn db_error(e: DbErr) -> StoreError {
    StoreError::Unavailable(e.into())
}

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Reservations that still hold a seat at `now` (with the confirmed seats,
/// what counts against the quota).
pub(super) fn reserved_at(now: DateTime<Utc>) -> Cond {
    Cond::all()
        .add(Expr::col(Seats::Status).eq(RESERVED))
        .add(Expr::col(Seats::ExpiresAt).gt(micros(now)))
}

/// Running totals of `org`'s seats.
pub(super) struct SeatTotalsRow {
    pub(super) confirmed: u32,
    /// Reservations written and not yet confirmed or swept: expired ones
    /// included.
    pub(super) reserved: u32,
}

pub(super) async fn seat_totals<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
) -> Result<SeatTotalsRow, StoreError> {
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

/// On PostgreSQL, holds the organization's reservation lock until the
/// transaction ends.
pub(super) async fn lock_organization<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
) -> Result<(), StoreError> {
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

pub(super) async fn count_seats<C: ConnectionTrait>(
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

/// Whether `holder` holds a confirmed seat in `org`.
pub(super) async fn holds_seat<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
    holder: &str,
) -> Result<bool, StoreError> {
    let held = count_seats(
        db,
        org,
        Cond::all().add(Expr::col(Seats::Holder).eq(holder)),
    )
    .await?;
    Ok(held > 0)
}

/// The holders among `holders` that hold a confirmed seat in `org`.
pub(super) async fn holders_with_seats<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    holders: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut holding = Vec::new();
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
            holding.push(row.try_get("", "holder").map_err(db_error)?);
        }
    }
    Ok(holding)
}

/// `org`'s confirmed seats and live reservations at `now`, read in one
/// statement so that a confirmation committing meanwhile is seen whole or
/// not at all (two statements could see the seat in both counts: a refusal
/// below the quota).
pub(super) async fn confirmed_and_live<C: ConnectionTrait>(
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

/// A seat row to insert: a reservation (expiry, no holder) or a confirmed
/// seat (holder, no expiry).
pub(super) struct NewSeat {
    id: Uuid,
    pub(super) org: Uuid,
    key: String,
    status: &'static str,
    holder: Option<String>,
    /// Microseconds.
    expires_at: Option<i64>,
}

impl NewSeat {
    pub(super) fn reservation(id: Uuid, org: Uuid, key: String, expires_at: DateTime<Utc>) -> Self {
        Self {
            id,
            org,
            key,
            status: RESERVED,
            holder: None,
            expires_at: Some(micros(expires_at)),
        }
    }

    /// A confirmed seat with no reservation before it.
    pub(super) fn confirmed(org: Uuid, key: String, holder: String) -> Self {
        Self {
            id: Uuid::now_v7(),
            org,
            key,
            status: CONFIRMED,
            holder: Some(holder),
            expires_at: None,
        }
    }
}

/// `seats` in multi-row INSERTs. The running totals are the caller's.
pub(super) async fn insert_seats<C: ConnectionTrait>(
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
pub(super) async fn live_reservations<C: ConnectionTrait>(
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
pub(super) async fn confirm_reservation<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    holder: &str,
    kept_as: &SeatKey,
) -> Result<bool, StoreError> {
    let updated = db
        .execute(
            &Query::update()
                .table(Seats::Table)
                .value(Seats::Status, CONFIRMED)
                .value(Seats::Holder, holder)
                .value(Seats::SeatKey, kept_as.0.as_str())
                .value(Seats::ExpiresAt, Option::<i64>::None)
                .and_where(Expr::col(Seats::Id).eq(id))
                .and_where(Expr::col(Seats::Status).eq(RESERVED))
                .to_owned(),
        )
        .await
        .map_err(db_error)?;
    Ok(updated.rows_affected() > 0)
}

/// A reservation to make a confirmed seat: its id, the holder, the key it
/// is kept under.
pub(super) struct ReservationTaken<'a> {
    pub id: Uuid,
    pub holder: &'a str,
    pub kept_as: &'a str,
}

/// [`confirm_reservation`] for many reservations, a few statements for the
/// lot (one UPDATE per chunk, the holder and key of each row chosen by its
/// id); returns the ids confirmed. A reservation swept meanwhile is not
/// among them.
pub(super) async fn confirm_reservations<C: ConnectionTrait>(
    db: &C,
    taken: &[ReservationTaken<'_>],
) -> Result<HashSet<Uuid>, StoreError> {
    let mut confirmed = HashSet::with_capacity(taken.len());
    for chunk in service_kit::db::pow2_chunks(taken) {
        let by_id = |holder: bool| {
            let mut case = CaseStatement::new();
            for t in chunk {
                let value = if holder { t.holder } else { t.kept_as };
                case = case.case(Expr::col(Seats::Id).eq(t.id), value);
            }
            case
        };
        let rows = db
            .query_all(
                &Query::update()
                    .table(Seats::Table)
                    .value(Seats::Status, CONFIRMED)
                    .value(Seats::Holder, by_id(true))
                    .value(Seats::SeatKey, by_id(false))
                    .value(Seats::ExpiresAt, Option::<i64>::None)
                    .and_where(Expr::col(Seats::Id).is_in(chunk.iter().map(|t| t.id)))
                    .and_where(Expr::col(Seats::Status).eq(RESERVED))
                    .returning_col(Seats::Id)
                    .to_owned(),
            )
            .await
            .map_err(db_error)?;
        for row in rows {
            confirmed.insert(row.try_get("", "id").map_err(db_error)?);
        }
    }
    Ok(confirmed)
}

/// Deletes `holder`'s seats in `org`; returns how many.
pub(super) async fn release_holder<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
    holder: &str,
) -> Result<i64, StoreError> {
    let released = db
        .execute(
            &Query::delete()
                .from_table(Seats::Table)
                .and_where(Expr::col(Seats::OrgId).eq(org.0))
                .and_where(Expr::col(Seats::Holder).eq(holder))
                .to_owned(),
        )
        .await
        .map_err(db_error)?;
    Ok(i64::try_from(released.rows_affected()).unwrap_or(i64::MAX))
}

/// Deletes the reservations expired at `now`; returns their organizations,
/// one entry per reservation.
pub(super) async fn delete_expired<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let released = db
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
    released
        .iter()
        .map(|row| row.try_get("", "org_id").map_err(db_error))
        .collect()
}
