//! The running totals of each organization's seats (`seat_totals`), changed
//! by a transaction's ledger writes just before it commits; where the seats
//! held change, the hour's usage record with them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use uuid::Uuid;

use super::ledger::db_error;
use super::usage::record_seats;
use crate::domain::ports::StoreError;
use crate::outbound::sql::tables::SeatTotals;

/// Changes the running totals of `org`'s confirmed seats and reservations,
/// in the transaction that adds or removes those seats; returns the seats
/// it holds after the change (confirmed + reserved).
async fn add_totals<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    confirmed: i64,
    reserved: i64,
) -> Result<i64, StoreError> {
    let row = db
        .query_one(
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
                                Expr::col((SeatTotals::Table, SeatTotals::Confirmed))
                                    .add(confirmed),
                            ),
                            (
                                SeatTotals::Reserved,
                                Expr::col((SeatTotals::Table, SeatTotals::Reserved)).add(reserved),
                            ),
                        ])
                        .to_owned(),
                )
                .returning(
                    Query::returning().columns([SeatTotals::Confirmed, SeatTotals::Reserved]),
                )
                .to_owned(),
        )
        .await
        .map_err(db_error)?
        .ok_or_else(|| StoreError::Unavailable(anyhow::anyhow!("the running totals vanished")))?;
    let confirmed: i64 = row.try_get("", "confirmed").map_err(db_error)?;
    let reserved: i64 = row.try_get("", "reserved").map_err(db_error)?;
    Ok(confirmed + reserved)
}

/// Changes to the running totals made by a transaction's ledger writes,
/// written together just before it commits (organizations in order): a
/// totals row stays locked for as short a time as possible, and every
/// transaction locks rows in the same order. Where the seats held change,
/// the hour's usage is recorded right after the totals row (whose lock
/// orders the records of one organization).
#[derive(Default)]
pub(super) struct TotalsDelta(BTreeMap<Uuid, (i64, i64)>);

impl TotalsDelta {
    pub(super) fn add(&mut self, org: Uuid, confirmed: i64, reserved: i64) {
        let entry = self.0.entry(org).or_default();
        entry.0 += confirmed;
        entry.1 += reserved;
    }

    pub(super) async fn write<C: ConnectionTrait>(
        self,
        db: &C,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for (org, (confirmed, reserved)) in self.0 {
            if confirmed == 0 && reserved == 0 {
                continue;
            }
            let used = add_totals(db, org, confirmed, reserved).await?;
            // A confirmation moves a seat from reserved to confirmed: the
            // seats held do not change, and nothing is recorded.
            let change = confirmed + reserved;
            if change != 0 {
                record_seats(db, org, used - change, used, now).await?;
            }
        }
        Ok(())
    }
}
