//! A page of users or groups: the list query's filter translated to SQL, its
//! sort, the page read — streamed, and ended early once its documents reach
//! the query's byte budget, so a page of large resources never sits whole
//! in memory — and the total (from the page itself when it ends the result
//! set, else a COUNT). Cursor pages read from a position instead
//! ([`super::keyset`]).

use futures_util::TryStreamExt;
use sea_orm::sea_query::{
    Alias, DynIden, Expr, Func, IntoIden, NullOrdering, Order, SelectStatement,
};
use sea_orm::{DatabaseConnection, QueryResult, StreamTrait};

use scim_protocol::messages::SortOrder;

use super::filter_sql::{Context, FilterMapping, sort_column, translate};
use super::filter_targets::UserFilterMapping;
use super::rows::{db_error, unreadable};
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
    let backend = db.get_database_backend();
    let mut filtered = base;
    if let Some(filter) = &query.filter {
        let context = Context {
            backend,
            base_url: &query.base_url,
        };
        let condition =
            translate(filter, mapping, context).map_err(StoreError::UnsupportedQuery)?;
        filtered.and_where(condition);
    }
    if let Some(keyset) = &query.keyset {
        let sort = query
            .sort
            .as_ref()
            .map(|sort| (sort_column(&sort.path, mapping, backend), sort.order));
        return super::keyset::list(db, filtered, sort, table, query, keyset, item_from_row).await;
    }
    let count = filtered.clone();
    let mut page = filtered;
    if let Some(sort) = &query.sort {
        let order = match sort.order {
            SortOrder::Ascending => Order::Asc,
            SortOrder::Descending => Order::Desc,
        };
        let column = sort_column(&sort.path, mapping, backend);
        page.order_by_expr_with_nulls(column, order, NullOrdering::Last);
    }
    page.order_by((table.clone(), Alias::new("id")), Order::Asc);
    // Characters, not bytes (SQLite and PostgreSQL agree on LENGTH): a
    // bound, not an exact size.
    // (PostgreSQL's LENGTH is an int4: cast for one reading on both.)
    page.expr_as(
        Func::cast_as(
            Func::cust(Alias::new("LENGTH")).arg(Expr::col((table, Alias::new("document")))),
            Alias::new("BIGINT"),
        ),
        "document_length",
    );
    // No OFFSET on the first page (every IdP lookup): with an OFFSET
    // parameter PostgreSQL costs its generic plan above a custom one and so
    // plans every execution (measured with pg_prepared_statements: 0 generic
    // of 12; without it, generic from the sixth on).
    let page = service_kit::db::limited(
        backend,
        page,
        query.count,
        query.start_index.saturating_sub(1),
    );
    let mut items = Vec::new();
    let mut cut_by_size = false;
    if query.count > 0 {
        let mut rows = db.stream_raw(page).await.map_err(db_error)?;
        let mut length = 0u64;
        while let Some(row) = rows.try_next().await.map_err(db_error)? {
            let document_length: i64 = row.try_get("", "document_length").map_err(unreadable)?;
            length = length.saturating_add(u64::try_from(document_length).unwrap_or(0));
            if !items.is_empty() && length > query.max_bytes {
                cut_by_size = true;
                break;
            }
            items.push(item_from_row(&row)?);
        }
    }
    let fetched = items.len() as u64;
    // A short page that starts at the beginning, or holds rows, ends the result
    // set: its size gives the total without a COUNT (the usual IdP lookup).
    let ended = !cut_by_size && fetched < query.count;
    let total = if ended && (fetched > 0 || query.start_index == 1) {
        query.start_index - 1 + fetched
    } else {
        super::rows::count_matches(db, count).await?
    };
    Ok(Page {
        total_results: total,
        items,
        cut_by_size,
        keys: Vec::new(),
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
