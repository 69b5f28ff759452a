//! The databases: a scan of every row for markers, and identity made to
//! lose a person as a restore from an old backup would.

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseBackend, Statement};

/// identity loses every row of one person: accounts, access history, inbox.
pub(super) async fn forget_in_identity(url: &str, scim_user_id: &str) {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).min_connections(1);
    let db = Database::connect(options)
        .await
        .expect("identity's database");
    let backend = db.get_database_backend();
    if backend == DatabaseBackend::Sqlite {
        // As the services' own connections: deleted rows are overwritten.
        db.execute_unprepared("PRAGMA secure_delete = ON")
            .await
            .expect("secure_delete");
    }
    let param = if backend == DatabaseBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    for sql in [
        "DELETE FROM access_changes WHERE account_id IN (SELECT id FROM accounts WHERE scim_user_id = {})",
        "DELETE FROM accounts WHERE scim_user_id = {}",
        "DELETE FROM inbox_events WHERE aggregate_id = {}",
        "DELETE FROM inbox_aggregates WHERE aggregate_id = {}",
    ] {
        let sql = sql.replace("{}", param);
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            &sql,
            [scim_user_id.into()],
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let _ = db.close().await;
}

/// Rows of any table of the database at `url` holding one of `needles`
/// (as text, or as bytes in a blob), as `table: excerpt`.
pub async fn rows_containing(url: &str, needles: &[&str]) -> Vec<String> {
    let read_only = if url.starts_with("sqlite:") {
        format!("{url}?mode=ro")
    } else {
        url.to_owned()
    };
    let db = Database::connect(read_only.as_str())
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let backend = db.get_database_backend();
    let tables_sql = match backend {
        DatabaseBackend::Postgres => {
            "SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables \
             WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        }
        _ => "SELECT format('\"%w\"', name) AS t FROM sqlite_master WHERE type = 'table'",
    };
    let tables: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, tables_sql))
        .await
        .expect("tables")
        .iter()
        .map(|r| r.try_get("", "t").expect("table name"))
        .collect();
    assert!(!tables.is_empty(), "{url} has no tables");
    let mut found = Vec::new();
    for table in tables {
        // Every column of every row as text; blobs as hex (SQLite's hex(),
        // PostgreSQL's bytea output), searched both ways.
        let sql = match backend {
            DatabaseBackend::Postgres => format!("SELECT t::text AS v FROM {table} t"),
            _ => {
                let columns: Vec<String> = db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!(
                            "SELECT name FROM pragma_table_info('{}')",
                            table.trim_matches('"')
                        ),
                    ))
                    .await
                    .expect("columns")
                    .iter()
                    .map(|r| {
                        format!(
                            "hex(\"{}\")",
                            r.try_get::<String>("", "name").expect("column")
                        )
                    })
                    .collect();
                format!("SELECT {} AS v FROM {table}", columns.join(" || ' ' || "))
            }
        };
        for row in db
            .query_all_raw(Statement::from_string(backend, &sql))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
        {
            let text: String = row
                .try_get::<Option<String>>("", "v")
                .ok()
                .flatten()
                .unwrap_or_default();
            let plain = match backend {
                DatabaseBackend::Postgres => text.to_ascii_lowercase(),
                _ => String::from_utf8_lossy(&unhex(&text)).to_ascii_lowercase(),
            };
            for needle in needles {
                let hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
                if plain.contains(needle) || plain.contains(&hex) {
                    found.push(format!("{table}: {}", &plain[..plain.len().min(400)]));
                }
            }
        }
    }
    let _ = db.close().await;
    found
}

/// SQLite's hex() of the columns, separated by spaces, back to bytes (a
/// space between columns).
fn unhex(text: &str) -> Vec<u8> {
    text.split(' ')
        .flat_map(|column| {
            let bytes: Vec<u8> = (0..column.len() / 2)
                .filter_map(|i| u8::from_str_radix(&column[2 * i..2 * i + 2], 16).ok())
                .collect();
            bytes.into_iter().chain(std::iter::once(b' '))
        })
        .collect()
}
