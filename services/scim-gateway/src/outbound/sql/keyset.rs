//! Keyset reads for cursor paging (RFC 9865): the rows strictly after (or
//! before) a position in the list's order — the sort expression with
//! missing values last, then the id — instead of an OFFSET, so a walk sees
//! every row that exists throughout exactly once while others come and go.
//! Any sort expression the list can SELECT works: its value is read along
//! with each row, typed as the database returns it, and compared back as
//! that type. Streamed and bounded by the page's byte budget like an index
//! page ([`super::listing`]).

use anyhow::anyhow;
use futures_util::TryStreamExt;
use sea_orm::sea_query::{
    Alias, DynIden, Expr, ExprTrait, Func, NullOrdering, Order, SelectStatement, Value,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult, StreamTrait};
use uuid::Uuid;

use scim_protocol::{ErrorKind, ProtocolError, messages::SortOrder};

use super::rows::{db_error, unreadable};
use crate::domain::models::{Direction, Keyset, ListQuery, Page, ResourceId, SortKey, SortValue};
use crate::domain::ports::StoreError;

/// The alias the sort expression is read under.
const SORT_VALUE: &str = "cursor_sort_value";

/// A page of the rows of `filtered` (a select of `table`, its filter
/// applied) from `keyset`'s position, with each row's position; the total
/// counts every row of `filtered`.
pub(super) async fn list<T>(
    db: &DatabaseConnection,
    filtered: SelectStatement,
    sort: Option<(Expr, SortOrder)>,
    table: DynIden,
    query: &ListQuery,
    keyset: &Keyset,
    item_from_row: impl Fn(&QueryResult) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    let mut count = filtered.clone();
    let mut page = filtered;
    let id = Expr::col((table.clone(), Alias::new("id")));
    let forward = keyset.direction == Direction::Forward;
    if let Some(from) = &keyset.from {
        page.and_where(beyond(sort.as_ref(), &id, from, forward)?);
    }
    if let Some((expr, order)) = &sort {
        // Backward reads run the order in reverse: missing values first.
        let (order, nulls) = match (order, forward) {
            (SortOrder::Ascending, true) => (Order::Asc, NullOrdering::Last),
            (SortOrder::Descending, true) => (Order::Desc, NullOrdering::Last),
            (SortOrder::Ascending, false) => (Order::Desc, NullOrdering::First),
            (SortOrder::Descending, false) => (Order::Asc, NullOrdering::First),
        };
        page.order_by_expr_with_nulls(expr.clone(), order, nulls);
        page.expr_as(expr.clone(), SORT_VALUE);
    }
    page.order_by_expr(id, if forward { Order::Asc } else { Order::Desc });
    page.expr_as(
        Func::cast_as(
            Func::cust(Alias::new("LENGTH")).arg(Expr::col((table, Alias::new("document")))),
            Alias::new("BIGINT"),
        ),
        "document_length",
    );
    let page = service_kit::db::limited(db.get_database_backend(), page, query.count, 0);
    let mut items = Vec::new();
    let mut keys = Vec::new();
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
            let id: Uuid = row.try_get("", "id").map_err(unreadable)?;
            keys.push(SortKey {
                sort: sort.as_ref().map(|_| sort_value(&row)).transpose()?,
                id: ResourceId(id),
            });
            items.push(item_from_row(&row)?);
        }
    }
    let fetched = items.len() as u64;
    // A short read from the start or the end holds the whole result set.
    let total = if keyset.from.is_none() && !cut_by_size && fetched < query.count {
        fetched
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
        items,
        cut_by_size,
        keys,
    })
}

/// The rows strictly beyond `from` in the read's direction: forward, those
/// after it in the list's order (missing sort values come last, after every
/// present one); backward, those before it.
fn beyond(
    sort: Option<&(Expr, SortOrder)>,
    id: &Expr,
    from: &SortKey,
    forward: bool,
) -> Result<Expr, StoreError> {
    let id_beyond = if forward {
        id.clone().gt(from.id.0)
    } else {
        id.clone().lt(from.id.0)
    };
    let Some((expr, order)) = sort else {
        return Ok(id_beyond);
    };
    let s = expr.clone();
    let value = match &from.sort {
        None => {
            // A cursor of an unsorted list used on a sorted one: the binding
            // of cursors to their query prevents it.
            return Err(StoreError::UnsupportedQuery(ProtocolError::new(
                ErrorKind::InvalidCursor,
                "the cursor belongs to another sort",
            )));
        }
        Some(value) => bound_value(value),
    };
    Ok(match (value, forward) {
        (Some(v), _) => {
            let past = if (*order == SortOrder::Ascending) == forward {
                s.clone().gt(v.clone())
            } else {
                s.clone().lt(v.clone())
            };
            let tie = s.clone().eq(v).and(id_beyond);
            if forward {
                past.or(tie).or(s.is_null())
            } else {
                past.or(tie)
            }
        }
        (None, true) => s.is_null().and(id_beyond),
        (None, false) => s.clone().is_not_null().or(s.is_null().and(id_beyond)),
    })
}

/// The value to compare with (None: the resource had none).
fn bound_value(value: &SortValue) -> Option<Value> {
    Some(match value {
        SortValue::Null => return None,
        SortValue::Integer(v) => Value::from(*v),
        SortValue::Real(v) => Value::from(*v),
        SortValue::Boolean(v) => Value::from(*v),
        SortValue::Text(v) => Value::from(v.clone()),
        SortValue::Uuid(v) => Value::from(*v),
    })
}

/// The row's sort value, as the first type the database's value reads as.
fn sort_value(row: &QueryResult) -> Result<SortValue, StoreError> {
    fn read<T: sea_orm::TryGetable>(row: &QueryResult) -> Option<Option<T>> {
        row.try_get::<Option<T>>("", SORT_VALUE).ok()
    }
    let value = if let Some(v) = read::<i64>(row) {
        v.map(SortValue::Integer)
    } else if let Some(v) = read::<i32>(row) {
        v.map(|v| SortValue::Integer(v.into()))
    } else if let Some(v) = read::<i16>(row) {
        v.map(|v| SortValue::Integer(v.into()))
    } else if let Some(v) = read::<f64>(row) {
        v.map(SortValue::Real)
    } else if let Some(v) = read::<f32>(row) {
        v.map(|v| SortValue::Real(v.into()))
    } else if let Some(v) = read::<bool>(row) {
        v.map(SortValue::Boolean)
    } else if let Some(v) = read::<String>(row) {
        v.map(SortValue::Text)
    } else if let Some(v) = read::<Uuid>(row) {
        v.map(SortValue::Uuid)
    } else {
        return Err(StoreError::UnsupportedQuery(ProtocolError::invalid_value(
            "cursor paging cannot sort by this attribute; use index paging (startIndex)",
        )));
    };
    Ok(value.unwrap_or(SortValue::Null))
}
