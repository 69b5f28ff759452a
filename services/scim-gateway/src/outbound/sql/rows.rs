//! What every port's statements share: database errors as `StoreError`,
//! timestamps as microseconds, a user or group row as a `StoredResource`,
//! the select of such rows, and deleting one at the version a use case read.

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, IntoIden, Query, SelectStatement};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, QueryResult, SqlErr,
};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::models::{OrgId, ResourceId, ResourceMeta, StoredResource};
use crate::domain::ports::StoreError;

/// Rows per multi-row INSERT / ids per `IN (…)`: well under SQLite's and
/// PostgreSQL's bound-parameter limits.
pub(super) const CHUNK: usize = 1000;

pub(super) fn to_anyhow(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Unavailable(e) => e,
        other => anyhow!(other),
    }
}

pub(super) fn db_error(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Duplicate,
        _ => StoreError::Unavailable(anyhow!(e)),
    }
}

/// A column that could not be read as the expected type.
pub(super) fn unreadable(e: DbErr) -> StoreError {
    StoreError::Unavailable(anyhow!(e))
}

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn from_micros(v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| StoreError::Unavailable(anyhow!("timestamp out of range: {v}")))
}

pub(super) fn document_text(doc: &Value) -> Result<String, StoreError> {
    serde_json::to_string(doc).map_err(|e| StoreError::Unavailable(anyhow!(e)))
}

pub(super) fn text<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.get(key).and_then(Value::as_str)
}

pub(super) fn folded(value: Option<&str>) -> Option<String> {
    value.map(str::to_lowercase)
}

/// A JSON error without serde's message, which can quote the stored text
/// (personal values): its kind and position only.
pub(super) fn unquoted(error: &serde_json::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "{:?} error at line {} column {}",
        error.classify(),
        error.line(),
        error.column()
    )
}

pub(super) fn resource_from_row(row: &QueryResult) -> Result<StoredResource, StoreError> {
    let id: Uuid = row.try_get("", "id").map_err(unreadable)?;
    let document: String = row.try_get("", "document").map_err(unreadable)?;
    let document: Value = serde_json::from_str(&document)
        .map_err(|e| unquoted(&e))
        .with_context(|| format!("stored document of {id} is not JSON"))?;
    Ok(StoredResource {
        id: ResourceId(id),
        document,
        meta: ResourceMeta {
            created: from_micros(row.try_get("", "created_at").map_err(unreadable)?)?,
            last_modified: from_micros(row.try_get("", "last_modified").map_err(unreadable)?)?,
            version: row.try_get("", "version").map_err(unreadable)?,
        },
        event_version: row.try_get("", "event_version").map_err(unreadable)?,
    })
}

/// The columns [`resource_from_row`] reads, of `table`'s rows of `org`.
pub(super) fn resource_select<T, C>(table: T, org_col: C, org: OrgId) -> SelectStatement
where
    T: IntoIden + Copy + 'static,
    C: IntoIden + Copy + 'static,
{
    Query::select()
        .columns(
            [
                "id",
                "document",
                "version",
                "event_version",
                "created_at",
                "last_modified",
            ]
            .map(|c| {
                (
                    table.into_iden(),
                    sea_orm::sea_query::Alias::new(c).into_iden(),
                )
            }),
        )
        .from(table)
        .and_where(Expr::col((table, org_col)).eq(org.0))
        .to_owned()
}

/// Deletes a user or group row at the version the use case read. Done first
/// in its transaction: a lost race rolls back before anything else changed.
pub(super) async fn delete_at_version<T: IntoIden>(
    txn: &DatabaseTransaction,
    table: T,
    org: OrgId,
    id: ResourceId,
    expected_version: i64,
) -> Result<(), StoreError> {
    // Users and groups share these column names.
    let column = |name: &str| Expr::col(sea_orm::sea_query::Alias::new(name));
    let deleted = txn
        .execute(
            Query::delete()
                .from_table(table)
                .and_where(column("org_id").eq(org.0))
                .and_where(column("id").eq(id.0))
                .and_where(column("version").eq(expected_version)),
        )
        .await
        .map_err(db_error)?
        .rows_affected();
    if deleted == 0 {
        return Err(StoreError::VersionConflict);
    }
    Ok(())
}

/// How many rows `filtered` (a select of the matching rows) matches.
pub(super) async fn count_matches(
    db: &DatabaseConnection,
    mut filtered: SelectStatement,
) -> Result<u64, StoreError> {
    filtered.clear_selects();
    filtered.expr_as(Expr::cust("COUNT(*)"), "total");
    let total: i64 = db
        .query_one(&filtered)
        .await
        .map_err(db_error)?
        .map(|row| row.try_get("", "total"))
        .transpose()
        .map_err(|e| StoreError::Unavailable(anyhow!(e)))?
        .unwrap_or(0);
    Ok(u64::try_from(total).unwrap_or(0))
}
