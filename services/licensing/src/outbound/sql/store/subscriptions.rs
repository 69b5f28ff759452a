//! Subscriptions: what an organization's subscription grants, written with
//! its version and the `subscription.changed` event announcing it in one
//! transaction, with the hour's usage record of the new quota.

use chrono::{DateTime, Utc};
use provisioning_events::Event;
use sea_orm::sea_query::{Expr, ExprTrait, IntoIden, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use super::events::append_to_outbox;
use super::ledger::{count, db_error, lock_organization, micros, seat_totals};
use super::usage::record_quota;
use crate::domain::models::{OrgId, Subscription};
use crate::domain::ports::StoreError;
use crate::outbound::sql::tables::{SubscriptionVersion, Subscriptions};

/// `org`'s own subscription; `None` when it has none yet.
pub(super) async fn subscription<C: ConnectionTrait>(
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

pub(super) async fn set_subscription<F>(
    db: &DatabaseConnection,
    org: OrgId,
    subscription: Subscription,
    now: DateTime<Utc>,
    announce: F,
) -> Result<(), StoreError>
where
    F: FnOnce(i64) -> Event,
{
    let txn = db.begin().await.map_err(db_error)?;
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
                micros(now).into(),
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
        .ok_or_else(|| StoreError::Unavailable(anyhow::anyhow!("the subscription vanished")))?;
    let version: i64 = row.try_get("", "version").map_err(db_error)?;
    append_to_outbox(&txn, &announce(version)).await?;
    let held = seat_totals(&txn, org).await?;
    let used = i64::from(held.confirmed) + i64::from(held.reserved);
    record_quota(&txn, org, subscription.seat_quota, used, now).await?;
    txn.commit().await.map_err(db_error)
}
