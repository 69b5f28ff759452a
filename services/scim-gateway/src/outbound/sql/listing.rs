//! A page of users or groups: the list query's filter translated to SQL, its
//! sort, the page read, and the total (from the page itself when it ends the
//! result set, else a COUNT).

use anyhow::anyhow;
use sea_orm::sea_query::{DynIden, Expr, IntoIden, NullOrdering, Order, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult};

use scim_protocol::messages::SortOrder;

use super::filter_sql::{FilterMapping, UserFilterMapping, sort_column, translate};
use super::rows::db_error;
use super::tables::ScimUsers;
use crate::domain::models::{ListQuery, Page};
use crate::domain::ports::StoreError;

/// A page of the rows of `base` (a select of `table`, ordered last by its
/// `id`) matching the query.
pub(super) async fn list<T>(
    db: &DatabaseConnection,
    base: SelectStatement,
    mapping: &dyn FilterMapping,
    table: DynIden,
    query: &ListQuery,
    item_from_row: impl Fn(&QueryResult) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    let mut filtered = base;
    if let Some(filter) = &query.filter {
        let condition = translate(filter, mapping).map_err(StoreError::UnsupportedQuery)?;
        filtered.and_where(condition);
    }
    let mut count = filtered.clone();
    let mut page = filtered;
    if let Some(sort) = &query.sort
        && let Some(column) = sort_column(&sort.path, mapping)
    {
        let order = match sort.order {
            SortOrder::Ascending => Order::Asc,
            SortOrder::Descending => Order::Desc,
        };
        page.order_by_expr_with_nulls(column, order, NullOrdering::Last);
    }
    page.order_by((table, sea_orm::sea_query::Alias::new("id")), Order::Asc);
    // No OFFSET on the first page (every IdP lookup): with an OFFSET
    // parameter PostgreSQL costs its generic plan above a custom one and so
    // plans every execution (measured with pg_prepared_statements: 0 generic
    // of 12; without it, generic from the sixth on).
    let page = service_kit::db::limited(
        db.get_database_backend(),
        page,
        query.count,
        query.start_index.saturating_sub(1),
    );
    let rows = if query.count == 0 {
        Vec::new()
    } else {
        db.query_all_raw(page).await.map_err(db_error)?
    };
    let fetched = rows.len() as u64;
    // A short page that starts at the beginning, or holds rows, ends the result
    // set: its size gives the total without a COUNT (the usual IdP lookup).
    let total = if fetched < query.count && (fetched > 0 || query.start_index == 1) {
        query.start_index - 1 + fetched
    } else {
        count.clear_selects();
        count.expr_as(Expr::cust("COUNT(*)"), "total");
        let total: i64 = db
            .query_one(&count)
            .await
            .map_err(db_error)?
            .map(|row| row.try_get("", "total"))
            .transpose()
            .map_err(|e| StoreError::Unavailable(anyhow!(e)))?
            .unwrap_or(0);
        u64::try_from(total).unwrap_or(0)
    };
    Ok(Page {
        total_results: total,
        items: rows.iter().map(item_from_row).collect::<Result<_, _>>()?,
    })
}

/// A page of `scim_users` rows of `base` matching the query's filter.
pub(super) async fn list_user_rows<T>(
    db: &DatabaseConnection,
    base: SelectStatement,
    query: &ListQuery,
    item_from_row: impl Fn(&QueryResult) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    list(
        db,
        base,
        &UserFilterMapping,
        ScimUsers::Table.into_iden(),
        query,
        item_from_row,
    )
    .await
}
