//! SQL over the `search` column (`search_document.rs`), per backend:
//! PostgreSQL's jsonb operators, SQLite's JSON functions. Every text read is
//! compared in byte order (`COLLATE "C"` on PostgreSQL, SQLite's BINARY),
//! as the evaluator compares. Keys are the schema's names lowercased (static
//! text, never a client's): they are written into the SQL, which lets the
//! planner match the expression indexes.

use sea_orm::DbBackend;
use sea_orm::sea_query::{Alias, Expr, Func, Query, SelectStatement};

use super::filter_sql::ColumnKind;

/// The expression index of the enterprise `employeeNumber`.
pub const EMPLOYEE_NUMBER_INDEX: &str = "scim_users_employee_number";

/// The search key of the enterprise `employeeNumber`.
pub const EMPLOYEE_NUMBER_KEY: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:employeenumber";

/// `CREATE INDEX` of the enterprise `employeeNumber` per organization: the
/// expression is [`member`]'s, so the filter's leaf uses it.
pub fn employee_number_index(backend: DbBackend) -> String {
    let expression = member(
        backend,
        "search",
        EMPLOYEE_NUMBER_KEY,
        ColumnKind::ExactText,
    );
    format!(
        "CREATE INDEX IF NOT EXISTS {EMPLOYEE_NUMBER_INDEX} ON scim_users (org_id, ({expression}))"
    )
}

fn checked(key: &str) -> &str {
    // Schema names: letters, digits, ':', '.', '$'. Anything else would be
    // a programming error, never input.
    debug_assert!(
        key.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '$' | '_'))
    );
    key
}

/// A member of the JSON object `container` (SQL text), typed by `kind`.
pub fn member(backend: DbBackend, container: &str, key: &str, kind: ColumnKind) -> String {
    let key = checked(key);
    match backend {
        DbBackend::Postgres => match kind {
            ColumnKind::Boolean => format!("CAST({container} -> '{key}' AS boolean)"),
            ColumnKind::Instant => format!("CAST({container} -> '{key}' AS bigint)"),
            ColumnKind::Number => format!("CAST({container} -> '{key}' AS numeric)"),
            _ => format!("(({container} ->> '{key}') COLLATE \"C\")"),
        },
        _ => format!("json_extract({container}, '$.\"{key}\"')"),
    }
}

/// The element of a row of [`elements`] itself (a multi-valued simple
/// attribute's value), typed by `kind`.
pub fn element(backend: DbBackend, kind: ColumnKind) -> String {
    match backend {
        DbBackend::Postgres => match kind {
            ColumnKind::Boolean => "CAST(\"e\".\"value\" AS boolean)".to_owned(),
            ColumnKind::Instant => "CAST(\"e\".\"value\" AS bigint)".to_owned(),
            ColumnKind::Number => "CAST(\"e\".\"value\" AS numeric)".to_owned(),
            _ => "((\"e\".\"value\" #>> '{}') COLLATE \"C\")".to_owned(),
        },
        _ => "\"e\".\"value\"".to_owned(),
    }
}

/// The element rows (alias `e`, column `value`) of the array at `key` of
/// `container`: none when it is missing.
pub fn elements(backend: DbBackend, container: &str, key: &str) -> SelectStatement {
    let key = checked(key);
    let function = match backend {
        DbBackend::Postgres => Func::cust(Alias::new("jsonb_array_elements"))
            .arg(Expr::cust(format!("{container} -> '{key}'"))),
        _ => Func::cust(Alias::new("json_each"))
            .arg(Expr::cust(container.to_owned()))
            .arg(Expr::cust(format!("'$.\"{key}\"'"))),
    };
    Query::select()
        .expr(Expr::cust("1"))
        .from_function(function, Alias::new("e"))
        .to_owned()
}

/// The value of the first element of the array at `key` — the one whose
/// `primary` is true when `by_primary` and there is one —, read by `read`
/// (an expression over `"e"."value"`): RFC 7644 §3.4.2.3's sort value.
pub fn first_element(
    backend: DbBackend,
    container: &str,
    key: &str,
    read: &str,
    by_primary: bool,
) -> String {
    let key = checked(key);
    match backend {
        DbBackend::Postgres => {
            let primary = if by_primary {
                "COALESCE(\"e\".\"value\" -> 'primary' = 'true'::jsonb, false) DESC, "
            } else {
                ""
            };
            format!(
                "(SELECT {read} FROM jsonb_array_elements({container} -> '{key}') \
                 WITH ORDINALITY AS \"e\"(\"value\", \"n\") ORDER BY {primary}\"e\".\"n\" LIMIT 1)"
            )
        }
        _ => {
            let primary = if by_primary {
                "COALESCE(json_extract(\"e\".\"value\", '$.primary'), 0) DESC, "
            } else {
                ""
            };
            format!(
                "(SELECT {read} FROM json_each({container}, '$.\"{key}\"') AS \"e\" \
                 ORDER BY {primary}\"e\".\"key\" LIMIT 1)"
            )
        }
    }
}

/// A UUID column as its canonical text (lowercase, hyphenated): SQLite
/// keeps UUIDs as 16-byte blobs.
pub fn uuid_text(backend: DbBackend, column: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("(CAST({column} AS text) COLLATE \"C\")"),
        _ => {
            let h = format!("hex({column})");
            format!(
                "lower(substr({h}, 1, 8) || '-' || substr({h}, 9, 4) || '-' || \
                 substr({h}, 13, 4) || '-' || substr({h}, 17, 4) || '-' || substr({h}, 21))"
            )
        }
    }
}
