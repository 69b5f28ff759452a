//! A service's compared tables — the tables its consumer builds from
//! events — described so that a rebuilt copy can be compared with the live
//! database (`scimctl rebuild` / `scimctl diff`). Each service lists its tables; what
//! is not built from the journal (locally managed roles, subscriptions, the
//! inbox) is left out, and instants the service takes from its clock when it
//! applies an event are compared by presence only.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{DatabaseConnection, DbErr, FromQueryResult, JsonValue};
use serde_json::{Map, Value};
use uuid::Uuid;

/// One table a rebuilt copy is compared on.
#[derive(Debug, Clone, Copy)]
pub struct ComparedTable {
    pub name: &'static str,
    /// The columns that identify a row (the same in a rebuilt copy: ids the
    /// events carry or derive).
    pub key: &'static [&'static str],
    /// Compared by value.
    pub columns: &'static [&'static str],
    /// Compared by presence (NULL or not): set from the clock at apply time.
    pub instants: &'static [&'static str],
    /// The organization column, for a comparison limited to one.
    pub org_column: &'static str,
}

/// A row that is not the same in both databases.
#[derive(Debug, Clone, PartialEq)]
pub struct RowDifference {
    pub table: &'static str,
    pub key: Map<String, Value>,
    /// The row in the live database (None: missing there).
    pub live: Option<Map<String, Value>>,
    /// The row in the rebuilt database (None: missing there).
    pub rebuilt: Option<Map<String, Value>>,
    /// The compared columns whose values differ (empty when a row is missing).
    pub columns: Vec<String>,
}

impl RowDifference {
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "table": self.table,
            "key": self.key,
            "live": self.live,
            "rebuilt": self.rebuilt,
            "columns": self.columns,
        })
    }
}

fn select(table: &ComparedTable, org: Option<Uuid>) -> SelectStatement {
    let mut select = Query::select();
    select.from(Alias::new(table.name));
    for column in table.key.iter().chain(table.columns).chain(table.instants) {
        select.column(Alias::new(*column));
    }
    for column in table.key {
        select.order_by(Alias::new(*column), Order::Asc);
    }
    if let Some(org) = org {
        select.and_where(Expr::col(Alias::new(table.org_column)).eq(org));
    }
    select.to_owned()
}

/// The rows of `table`, keyed, instants reduced to whether they are set.
async fn rows(
    db: &DatabaseConnection,
    table: &ComparedTable,
    org: Option<Uuid>,
) -> Result<BTreeMap<String, Map<String, Value>>, DbErr> {
    let statement = db.get_database_backend().build(&select(table, org));
    let found = JsonValue::find_by_statement(statement).all(db).await?;
    let mut keyed = BTreeMap::new();
    for row in found {
        let Value::Object(mut row) = row else {
            continue;
        };
        for instant in table.instants {
            let set = row.get(*instant).is_some_and(|v| !v.is_null());
            row.insert((*instant).to_owned(), Value::Bool(set));
        }
        let key = table
            .key
            .iter()
            .map(|k| row.get(*k).map(Value::to_string).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("|");
        keyed.insert(key, row);
    }
    Ok(keyed)
}

/// Whether every table is empty (a rebuild needs a fresh database).
pub async fn first_non_empty(
    db: &DatabaseConnection,
    tables: &[ComparedTable],
) -> Result<Option<(&'static str, usize)>, DbErr> {
    for table in tables {
        let n = rows(db, table, None).await?.len();
        if n > 0 {
            return Ok(Some((table.name, n)));
        }
    }
    Ok(None)
}

/// The rows that differ between `live` and `rebuilt` (both the same kind of
/// database), table by table, in key order.
pub async fn diff(
    live: &DatabaseConnection,
    rebuilt: &DatabaseConnection,
    tables: &[ComparedTable],
    org: Option<Uuid>,
) -> Result<Vec<RowDifference>, DbErr> {
    let mut differences = Vec::new();
    for table in tables {
        let mut live_rows = rows(live, table, org).await?;
        let rebuilt_rows = rows(rebuilt, table, org).await?;
        let key_of = |row: &Map<String, Value>| {
            table
                .key
                .iter()
                .filter_map(|k| row.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                .collect::<Map<_, _>>()
        };
        for (key, rebuilt_row) in rebuilt_rows {
            match live_rows.remove(&key) {
                None => differences.push(RowDifference {
                    table: table.name,
                    key: key_of(&rebuilt_row),
                    live: None,
                    rebuilt: Some(rebuilt_row),
                    columns: Vec::new(),
                }),
                Some(live_row) => {
                    let columns: Vec<String> = table
                        .columns
                        .iter()
                        .chain(table.instants)
                        .filter(|c| live_row.get(**c) != rebuilt_row.get(**c))
                        .map(|c| (*c).to_owned())
                        .collect();
                    if !columns.is_empty() {
                        differences.push(RowDifference {
                            table: table.name,
                            key: key_of(&live_row),
                            live: Some(live_row),
                            rebuilt: Some(rebuilt_row),
                            columns,
                        });
                    }
                }
            }
        }
        for (_, live_row) in live_rows {
            differences.push(RowDifference {
                table: table.name,
                key: key_of(&live_row),
                live: Some(live_row),
                rebuilt: None,
                columns: Vec::new(),
            });
        }
    }
    Ok(differences)
}
