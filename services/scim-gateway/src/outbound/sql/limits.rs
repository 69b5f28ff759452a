//! `LimitStore`: organizations' own request limits (`organization_limits`).
//! A change brackets the tenant cache (`TenantCache::change`): the limits
//! travel with a token's grant (`credentials.rs` reads them in its join), so
//! the organization's next request on this process is admitted under them.

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::rows::{db_error, micros, unreadable};
use super::tables::OrganizationLimits as Limits;
use super::view::SqlScimView;
use crate::domain::models::{LimitOverride, OrgId};
use crate::domain::ports::{LimitStore, StoreError};

/// The override in a row read with [`override_columns`] (all null: none).
pub(super) fn override_from(row: &QueryResult) -> Result<LimitOverride, DbErr> {
    let count = |column: &str| -> Result<Option<u32>, DbErr> {
        let value: Option<i64> = row.try_get("", column)?;
        Ok(value.map(|v| u32::try_from(Ord::max(v, 0)).unwrap_or(u32::MAX)))
    };
    Ok(LimitOverride {
        max_in_flight: count("limit_max_in_flight")?,
        rate_per_second: row.try_get("", "limit_rate_per_second")?,
        burst: count("limit_burst")?,
    })
}

/// Adds the override's columns (aliased `limit_*`) to `select`, which must
/// join or select from `organization_limits`.
pub(super) fn override_columns(select: &mut SelectStatement) -> &mut SelectStatement {
    select
        .expr_as(
            Expr::col((Limits::Table, Limits::MaxInFlight)),
            "limit_max_in_flight",
        )
        .expr_as(
            Expr::col((Limits::Table, Limits::RatePerSecond)),
            "limit_rate_per_second",
        )
        .expr_as(Expr::col((Limits::Table, Limits::Burst)), "limit_burst")
}

impl LimitStore for SqlScimView {
    async fn limit_override(&self, org: OrgId) -> Result<Option<LimitOverride>, StoreError> {
        let mut select = Query::select();
        override_columns(&mut select)
            .from(Limits::Table)
            .and_where(Expr::col((Limits::Table, Limits::OrgId)).eq(org.0));
        let row = self.db.query_one(&select).await.map_err(db_error)?;
        row.map(|r| override_from(&r).map_err(unreadable))
            .transpose()
    }

    async fn set_limit_override(
        &self,
        org: OrgId,
        limits: &LimitOverride,
    ) -> Result<(), StoreError> {
        // Held until this function returns, after the statement's commit.
        let _change = self.tenants.change();
        if limits.is_empty() {
            self.db
                .execute(
                    Query::delete()
                        .from_table(Limits::Table)
                        .and_where(Expr::col(Limits::OrgId).eq(org.0)),
                )
                .await
                .map_err(db_error)?;
            return Ok(());
        }
        self.db
            .execute(
                Query::insert()
                    .into_table(Limits::Table)
                    .columns([
                        Limits::OrgId,
                        Limits::MaxInFlight,
                        Limits::RatePerSecond,
                        Limits::Burst,
                        Limits::UpdatedAt,
                    ])
                    .values_panic([
                        org.0.into(),
                        limits.max_in_flight.map(i64::from).into(),
                        limits.rate_per_second.into(),
                        limits.burst.map(i64::from).into(),
                        micros(self.now()).into(),
                    ])
                    .on_conflict(
                        OnConflict::column(Limits::OrgId)
                            .update_columns([
                                Limits::MaxInFlight,
                                Limits::RatePerSecond,
                                Limits::Burst,
                                Limits::UpdatedAt,
                            ])
                            .to_owned(),
                    ),
            )
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn limit_overrides(&self) -> Result<Vec<(OrgId, LimitOverride)>, StoreError> {
        let mut select = Query::select();
        override_columns(&mut select)
            .column((Limits::Table, Limits::OrgId))
            .from(Limits::Table)
            .order_by((Limits::Table, Limits::OrgId), sea_orm::Order::Asc);
        let rows = self.db.query_all(&select).await.map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    OrgId(r.try_get("", "org_id").map_err(unreadable)?),
                    override_from(r).map_err(unreadable)?,
                ))
            })
            .collect()
    }
}
