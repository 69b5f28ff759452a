//! Seat usage over time (`seat_usage`): a row per organization per hour,
//! upserted in the transaction of the change it records. A change of held
//! seats sets the hour's `last` and raises its `peak`; a quota change sets
//! its `quota`. Neither overwrites what the other owns, so the two never
//! undo each other's values when they run concurrently (a quota change does
//! not hold the lock of the running totals that event batches take).

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};

use super::ledger::{count, db_error, micros};
use crate::domain::models::{OrgId, UsageHour};
use crate::domain::ports::StoreError;
use crate::outbound::sql::tables::{SeatUsage, Subscriptions};

const HOUR_MICROS: i64 = 3_600_000_000;

/// The start of `now`'s hour, in microseconds.
fn hour_of(now: DateTime<Utc>) -> i64 {
    let t = micros(now);
    t - t.rem_euclid(HOUR_MICROS)
}

fn excluded(column: SeatUsage) -> Expr {
    Expr::col((Alias::new("excluded"), column))
}

/// `org` held `before` seats and holds `used` after a change at `now`: the
/// hour's last value, and its peak when higher. A new hour's row starts
/// with the higher of the two as its peak (the seats held as the hour
/// began count) and the organization's quota as it stands (NULL without a
/// subscription).
pub(super) async fn record_seats<C: ConnectionTrait>(
    db: &C,
    org: uuid::Uuid,
    before: i64,
    used: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let quota = Query::select()
        .column(Subscriptions::SeatQuota)
        .from(Subscriptions::Table)
        .and_where(Expr::col(Subscriptions::OrgId).eq(org))
        .to_owned();
    let peak = Expr::case(
        Expr::col((SeatUsage::Table, SeatUsage::PeakUsed)).gt(excluded(SeatUsage::PeakUsed)),
        Expr::col((SeatUsage::Table, SeatUsage::PeakUsed)),
    )
    .finally(excluded(SeatUsage::PeakUsed));
    db.execute(
        &Query::insert()
            .into_table(SeatUsage::Table)
            .columns([
                SeatUsage::OrgId,
                SeatUsage::Hour,
                SeatUsage::LastUsed,
                SeatUsage::PeakUsed,
                SeatUsage::Quota,
            ])
            .values_panic([
                org.into(),
                hour_of(now).into(),
                used.into(),
                std::cmp::max(before, used).into(),
                Expr::SubQuery(None, Box::new(quota.into())),
            ])
            .on_conflict(
                OnConflict::columns([SeatUsage::OrgId, SeatUsage::Hour])
                    .update_column(SeatUsage::LastUsed)
                    .value(SeatUsage::PeakUsed, peak)
                    .to_owned(),
            )
            .to_owned(),
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

/// `org`'s quota became `quota` at `now`, while it held `used` seats (what
/// a new hour's row starts with).
pub(super) async fn record_quota<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
    quota: u32,
    used: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(SeatUsage::Table)
            .columns([
                SeatUsage::OrgId,
                SeatUsage::Hour,
                SeatUsage::LastUsed,
                SeatUsage::PeakUsed,
                SeatUsage::Quota,
            ])
            .values_panic([
                org.0.into(),
                hour_of(now).into(),
                used.into(),
                used.into(),
                i64::from(quota).into(),
            ])
            .on_conflict(
                OnConflict::columns([SeatUsage::OrgId, SeatUsage::Hour])
                    .update_column(SeatUsage::Quota)
                    .to_owned(),
            )
            .to_owned(),
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(super) async fn usage_hours<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<UsageHour>, StoreError> {
    // The hour that contains `since` counts: it started before, but its
    // values are of the period.
    let rows = db
        .query_all(
            &Query::select()
                .columns([
                    SeatUsage::Hour,
                    SeatUsage::LastUsed,
                    SeatUsage::PeakUsed,
                    SeatUsage::Quota,
                ])
                .from(SeatUsage::Table)
                .and_where(Expr::col(SeatUsage::OrgId).eq(org.0))
                .and_where(Expr::col(SeatUsage::Hour).gte(hour_of(since)))
                .and_where(Expr::col(SeatUsage::Hour).lt(micros(until)))
                .order_by(SeatUsage::Hour, sea_orm::Order::Asc)
                .to_owned(),
        )
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            let hour: i64 = row.try_get("", "hour").map_err(db_error)?;
            let last: i64 = row.try_get("", "last_used").map_err(db_error)?;
            let peak: i64 = row.try_get("", "peak_used").map_err(db_error)?;
            let quota: Option<i64> = row.try_get("", "quota").map_err(db_error)?;
            let hour = Utc.timestamp_micros(hour).single().ok_or_else(|| {
                StoreError::Unavailable(anyhow::anyhow!("a usage hour out of range"))
            })?;
            Ok(UsageHour {
                hour,
                last: count(last),
                peak: count(peak),
                quota: quota.map(count),
            })
        })
        .collect()
}

pub(super) async fn forget_before<C: ConnectionTrait>(
    db: &C,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let deleted = db
        .execute(
            &Query::delete()
                .from_table(SeatUsage::Table)
                .and_where(Expr::col(SeatUsage::Hour).lt(hour_of(before)))
                .to_owned(),
        )
        .await
        .map_err(db_error)?;
    Ok(deleted.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_falls_in_the_hour_that_contains_it() {
        let t = Utc.with_ymd_and_hms(2026, 12, 5, 13, 59, 59).unwrap();
        let start = Utc.with_ymd_and_hms(2026, 12, 5, 13, 0, 0).unwrap();
        assert_eq!(hour_of(t), micros(start));
        assert_eq!(hour_of(start), micros(start));
        let before_epoch = Utc.with_ymd_and_hms(1969, 12, 31, 23, 30, 0).unwrap();
        let its_hour = Utc.with_ymd_and_hms(1969, 12, 31, 23, 0, 0).unwrap();
        assert_eq!(hour_of(before_epoch), micros(its_hour));
    }
}
