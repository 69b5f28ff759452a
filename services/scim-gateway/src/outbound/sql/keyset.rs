//! Keyset reads for cursor paging (RFC 9865): the rows strictly after (or
//! before) a position in the list's order — the sort expression with
//! missing values last, then the id — instead of an OFFSET, so a walk sees
//! every row that exists throughout exactly once while others come and go,
//! and a page costs the same deep in the list as at its start. Any sort
//! expression the list can SELECT works: its value is read along with each
//! row, typed as the database returns it, and compared back as that type.
//! Streamed and bounded by the page's byte budget like an index page
//! ([`super::listing`]).

use futures_util::TryStreamExt;
use sea_orm::sea_query::{Alias, DynIden, Expr, ExprTrait, Func, Order, SelectStatement, Value};
use sea_orm::{DatabaseConnection, QueryResult, StreamTrait};
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
    let id = Expr::col((table.clone(), Alias::new("id")));
    let mut base = filtered.clone();
    if let Some((expr, _)) = &sort {
        base.expr_as(expr.clone(), SORT_VALUE);
    }
    base.expr_as(
        Func::cast_as(
            Func::cust(Alias::new("LENGTH")).arg(Expr::col((table, Alias::new("document")))),
            Alias::new("BIGINT"),
        ),
        "document_length",
    );
    let mut items = Vec::new();
    let mut keys = Vec::new();
    let mut cut_by_size = false;
    let mut length = 0u64;
    for segment in segments(sort.as_ref(), &id, keyset)? {
        let wanted = query.count.saturating_sub(items.len() as u64);
        if wanted == 0 || cut_by_size {
            break;
        }
        let mut page = base.clone();
        if let Some(condition) = segment.condition {
            page.and_where(condition);
        }
        for (expr, order) in segment.order {
            page.order_by_expr(expr, order);
        }
        let page = service_kit::db::limited(db.get_database_backend(), page, wanted, 0);
        let mut rows = db.stream_raw(page).await.map_err(db_error)?;
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
        super::rows::count_matches(db, filtered).await?
    };
    Ok(Page {
        total_results: total,
        items,
        cut_by_size,
        keys,
    })
}

/// One part of a keyset read: the rows matching `condition`, in `order`.
struct Segment {
    condition: Option<Expr>,
    order: Vec<(Expr, Order)>,
}

/// The parts a read goes through, in turn, until it has its rows: the
/// resources with a sort value and those without (which come last in the
/// list's order) are read apart, so that each part's condition is a range
/// an index on the sort expression can start at (`s >= v AND (s > v OR
/// id > x)`), where one condition with `OR s IS NULL` would make the
/// database scan from the start of the list on every page.
fn segments(
    sort: Option<&(Expr, SortOrder)>,
    id: &Expr,
    keyset: &Keyset,
) -> Result<Vec<Segment>, StoreError> {
    let forward = keyset.direction == Direction::Forward;
    let id_order = if forward { Order::Asc } else { Order::Desc };
    let id_beyond = |x: &ResourceId| {
        if forward {
            id.clone().gt(x.0)
        } else {
            id.clone().lt(x.0)
        }
    };
    let Some((s, list_order)) = sort else {
        return Ok(vec![Segment {
            condition: keyset.from.as_ref().map(|from| id_beyond(&from.id)),
            order: vec![(id.clone(), id_order)],
        }]);
    };
    // The read's order of the sort values: the list's, or its reverse.
    let ascending = (*list_order == SortOrder::Ascending) == forward;
    let values = |condition: Expr| Segment {
        condition: Some(condition),
        order: vec![
            (s.clone(), if ascending { Order::Asc } else { Order::Desc }),
            (id.clone(), id_order.clone()),
        ],
    };
    let missing = |condition: Option<Expr>| Segment {
        condition: Some(match condition {
            Some(condition) => s.clone().is_null().and(condition),
            None => s.clone().is_null(),
        }),
        order: vec![(id.clone(), id_order.clone())],
    };
    let from = match &keyset.from {
        None => {
            let present = values(s.clone().is_not_null());
            let absent = missing(None);
            return Ok(if forward {
                vec![present, absent]
            } else {
                vec![absent, present]
            });
        }
        Some(from) => from,
    };
    let value = match &from.sort {
        // A cursor of an unsorted list used on a sorted one: the binding
        // of cursors to their query prevents it.
        None => {
            return Err(StoreError::UnsupportedQuery(ProtocolError::new(
                ErrorKind::InvalidCursor,
                "the cursor belongs to another sort",
            )));
        }
        Some(value) => bound_value(value),
    };
    Ok(match value {
        Some(v) => {
            let (at_or_past, past) = if ascending {
                (s.clone().gte(v.clone()), s.clone().gt(v.clone()))
            } else {
                (s.clone().lte(v.clone()), s.clone().lt(v.clone()))
            };
            let after = values(at_or_past.and(past.or(id_beyond(&from.id))));
            if forward {
                // Every resource without a value comes after this one.
                vec![after, missing(None)]
            } else {
                vec![after]
            }
        }
        None => {
            let among_missing = missing(Some(id_beyond(&from.id)));
            if forward {
                vec![among_missing]
            } else {
                vec![among_missing, values(s.clone().is_not_null())]
            }
        }
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

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{PostgresQueryBuilder, Query};

    use super::*;

    /// The SQL of each part of a read from `from`, on PostgreSQL.
    fn parts(direction: Direction, from: Option<SortValue>) -> Vec<String> {
        let sort = (Expr::col(Alias::new("s")), SortOrder::Ascending);
        let id = Expr::col(Alias::new("id"));
        let keyset = Keyset {
            direction,
            from: from.map(|value| SortKey {
                sort: Some(value),
                id: ResourceId(Uuid::nil()),
            }),
        };
        segments(Some(&sort), &id, &keyset)
            .unwrap()
            .into_iter()
            .map(|segment| {
                let mut select = Query::select();
                select.column(Alias::new("id")).from(Alias::new("t"));
                if let Some(condition) = segment.condition {
                    select.and_where(condition);
                }
                for (expr, order) in segment.order {
                    select.order_by_expr(expr, order);
                }
                select.to_string(PostgresQueryBuilder)
            })
            .collect()
    }

    #[test]
    fn each_part_starts_at_an_index_range() {
        // Values from the position on, then every missing value: no part
        // has `OR … IS NULL`, which would make every page scan from the start.
        let forward = parts(Direction::Forward, Some(SortValue::Text("m".into())));
        assert_eq!(forward.len(), 2);
        assert!(
            forward[0].contains(r#""s" >= 'm' AND ("s" > 'm' OR "id" > "#),
            "{}",
            forward[0]
        );
        assert!(
            forward[0].contains(r#"ORDER BY "s" ASC, "id" ASC"#),
            "{}",
            forward[0]
        );
        assert!(!forward[0].contains("NULL"), "{}", forward[0]);
        assert!(
            forward[1].contains(r#"WHERE "s" IS NULL ORDER BY "id" ASC"#),
            "{}",
            forward[1]
        );

        let backward = parts(Direction::Backward, Some(SortValue::Integer(7)));
        assert_eq!(backward.len(), 1, "nothing missing comes before a value");
        assert!(
            backward[0].contains(r#""s" <= 7 AND ("s" < 7 OR "id" < "#),
            "{}",
            backward[0]
        );
        assert!(
            backward[0].contains(r#"ORDER BY "s" DESC, "id" DESC"#),
            "{}",
            backward[0]
        );

        let among_missing = parts(Direction::Backward, Some(SortValue::Null));
        assert!(
            among_missing[0].contains(r#""s" IS NULL AND "id" < "#),
            "{}",
            among_missing[0]
        );
        assert!(
            among_missing[1].contains(r#""s" IS NOT NULL ORDER BY "s" DESC"#),
            "{}",
            among_missing[1]
        );
        assert_eq!(parts(Direction::Forward, Some(SortValue::Null)).len(), 1);
        assert_eq!(parts(Direction::Forward, None).len(), 2);
    }
}
