//! How the services' connections behave: PostgreSQL plans per execution
//! where the server keeps no statistics (autovacuum off), its own way
//! elsewhere, and always as a `plan_cache_mode` in the URL says; SQLite files
//! read beside their writer and checkpoint off the commit path, overwrite
//! what they delete and keep no log after a graceful stop; pages read the
//! same rows on both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait,
};

async fn setting(db: &DatabaseConnection, sql: &str) -> String {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "value").unwrap()
}

#[tokio::test]
async fn statements_are_planned_per_execution_only_where_autovacuum_is_off() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    let plain = Database::connect(&url).await.unwrap();
    let autovacuum = setting(&plain, "SELECT current_setting('autovacuum') AS value").await;
    let server_default =
        setting(&plain, "SELECT current_setting('plan_cache_mode') AS value").await;
    plain.close().await.unwrap();

    let db = service_kit::db::connect(&url, 2, "the test database")
        .await
        .unwrap();
    let mode = setting(&db, "SELECT current_setting('plan_cache_mode') AS value").await;
    if autovacuum == "on" {
        assert_eq!(mode, server_default, "the server's own setting stands");
    } else {
        assert_eq!(
            mode, "force_custom_plan",
            "no statistics: plan every execution"
        );
    }
    db.close().await.unwrap();

    let chosen = format!("{url}?options=-c%20plan_cache_mode%3Dforce_generic_plan");
    let db = service_kit::db::connect(&chosen, 2, "the test database")
        .await
        .unwrap();
    let mode = setting(&db, "SELECT current_setting('plan_cache_mode') AS value").await;
    assert_eq!(mode, "force_generic_plan", "the URL's choice wins");
}

fn sqlite(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Sqlite, sql)
}

async fn count(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(sqlite("SELECT count(*) AS value FROM notes"))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "value").unwrap()
}

/// A new SQLite file with a `notes` table, opened as the services open
/// theirs; returns its folder, URL and pool.
async fn notes_file(file: &str) -> (std::path::PathBuf, String, DatabaseConnection) {
    let dir = test_support::temp_dir("db-sqlite");
    let url = test_support::sqlite_url(&dir, file);
    let writer = service_kit::db::connect(&url, 8, "the test database")
        .await
        .unwrap();
    writer
        .execute_raw(sqlite("CREATE TABLE notes (body TEXT NOT NULL)"))
        .await
        .unwrap();
    (dir, url, writer)
}

#[tokio::test]
async fn sqlite_readers_read_beside_an_open_write_and_never_write() {
    let (_dir, url, writer) = notes_file("readers.db").await;
    let readers = service_kit::db::connect_readers(&url, 2, "the test database")
        .await
        .unwrap()
        .expect("a SQLite file has readers");

    // The writer's one connection is held by an open transaction: a read
    // queued on it would wait for the commit; a reader answers at once, from
    // what was committed.
    let txn = writer.begin().await.unwrap();
    txn.execute_raw(sqlite("INSERT INTO notes (body) VALUES ('pending')"))
        .await
        .unwrap();
    let during = tokio::time::timeout(std::time::Duration::from_secs(5), count(&readers))
        .await
        .expect("a reader does not wait for the writer's transaction");
    assert_eq!(during, 0, "nothing uncommitted is read");
    txn.commit().await.unwrap();
    assert_eq!(count(&readers).await, 1, "a read after the commit sees it");

    let refused = readers
        .execute_raw(sqlite("INSERT INTO notes (body) VALUES ('from a reader')"))
        .await;
    assert!(refused.is_err(), "readers are read-only");
    assert_eq!(count(&writer).await, 1);

    assert!(
        service_kit::db::connect_readers("postgres://u@h/db", 2, "x")
            .await
            .unwrap()
            .is_none(),
        "PostgreSQL's pool reads in parallel already"
    );
    assert!(
        service_kit::db::connect_readers("sqlite::memory:", 2, "x")
            .await
            .unwrap()
            .is_none(),
        "an in-memory database is not shared between connections"
    );
}

#[tokio::test]
async fn a_sqlite_files_log_is_checkpointed_beside_the_writer() {
    let (dir, _url, writer) = notes_file("checkpoints.db").await;
    let row = writer
        .query_one_raw(sqlite("PRAGMA wal_autocheckpoint"))
        .await
        .unwrap()
        .unwrap();
    let pages: i64 = row.try_get_by_index(0).unwrap();
    assert_eq!(pages, 0, "commits never checkpoint themselves");

    let file = dir.join("checkpoints.db");
    let before = std::fs::metadata(&file).unwrap().len();
    for _ in 0..20 {
        writer
            .execute_raw(sqlite(
                "INSERT INTO notes (body) SELECT hex(randomblob(500)) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3)",
            ))
            .await
            .unwrap();
    }
    // Far fewer pages than SQLite's own 1,000-page trigger: only the
    // background checkpoint brings them into the file.
    let grown = async {
        while std::fs::metadata(&file).unwrap().len() <= before {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), grown)
        .await
        .expect("the log reached the file without a commit checkpointing it");
    assert_eq!(count(&writer).await, 60);
}

#[tokio::test]
async fn a_sqlite_files_log_is_emptied_once_it_grows_large() {
    let (dir, _url, writer) = notes_file("log.db").await;
    // ~80 MiB of pages through the log, in commits that keep coming while
    // the background checkpoints run: without the truncation the log keeps
    // every page ever written.
    for _ in 0..40 {
        writer
            .execute_raw(sqlite(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) \
                 INSERT INTO notes (body) SELECT hex(randomblob(2000)) FROM n",
            ))
            .await
            .unwrap();
    }
    let log = dir.join("log.db-wal");
    let emptied = async {
        while std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) > 64 * 1024 * 1024 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), emptied)
        .await
        .expect("the log was truncated");
    assert_eq!(count(&writer).await, 20_000);
}

async fn pragma(db: &DatabaseConnection, name: &str) -> i64 {
    let row = db
        .query_one_raw(sqlite(&format!("PRAGMA {name}")))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

#[tokio::test]
async fn sqlite_connections_overwrite_what_they_delete() {
    let (_dir, url, writer) = notes_file("secure.db").await;
    let readers = service_kit::db::connect_readers(&url, 2, "the test database")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pragma(&writer, "secure_delete").await, 1, "the writer");
    assert_eq!(pragma(&readers, "secure_delete").await, 1, "a reader");
}

/// Connections of this process open on `file` (its descriptors).
fn open_connections(file: &std::path::Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target == file)
        .count()
}

#[tokio::test]
async fn a_graceful_stop_leaves_no_deleted_row_in_the_file_or_its_log() {
    const MARKER: &str = "erase-me-7f3c9d";
    let (dir, url, writer) = notes_file("stop.db").await;
    // Open beside the writer during the stop, as the gateway's are: the log
    // is not deleted at the last close, the stop has to empty it.
    let readers = service_kit::db::connect_readers(&url, 2, "the test database")
        .await
        .unwrap()
        .unwrap();
    for body in ["kept one", MARKER, "kept two"] {
        writer
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO notes (body) VALUES (?)",
                [body.into()],
            ))
            .await
            .unwrap();
    }
    // Background checkpoints copy the row into the file meanwhile.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    writer
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "DELETE FROM notes WHERE body = ?",
            [MARKER.into()],
        ))
        .await
        .unwrap();
    assert_eq!(count(&readers).await, 2);

    let mut tasks = service_kit::shutdown::BackgroundTasks::new();
    tasks.spawn("writer", |stop| stop.stopped());
    tasks.close_at_stop("notes", writer.clone());
    tasks
        .stop(std::time::Duration::from_secs(5))
        .await
        .expect("stopped");

    let (file, log) = (dir.join("stop.db"), dir.join("stop.db-wal"));
    let log_len = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    assert_eq!(log_len, 0, "the log is emptied at the stop");
    for path in [&file, &log] {
        let bytes = std::fs::read(path).unwrap_or_default();
        assert!(
            !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
            "{} holds the deleted row",
            path.display()
        );
    }
    assert_eq!(count(&readers).await, 2, "the rows kept are in the file");
    assert!(
        writer.execute_raw(sqlite("SELECT 1")).await.is_err(),
        "the writer is closed"
    );
    readers.close().await.unwrap();
    // The checkpoint task ended: its connection closed with it.
    let file = file.canonicalize().unwrap();
    let closed = async {
        while open_connections(&file) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), closed)
        .await
        .expect("no connection left open on the file");
}

/// Rows 1–5 of a new `pages` table, read a page at a time through
/// `service_kit::db::limited`.
async fn pages(db: &DatabaseConnection) -> Vec<Vec<i64>> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_string(
        backend,
        "CREATE TABLE pages (n BIGINT PRIMARY KEY)",
    ))
    .await
    .unwrap();
    db.execute_raw(Statement::from_string(
        backend,
        "INSERT INTO pages (n) VALUES (1), (2), (3), (4), (5)",
    ))
    .await
    .unwrap();
    let select = Query::select()
        .column(Alias::new("n"))
        .from(Alias::new("pages"))
        .and_where(Expr::col(Alias::new("n")).gt(0))
        .order_by(Alias::new("n"), Order::Asc)
        .to_owned();
    let mut read = Vec::new();
    for (limit, offset) in [(2, 0), (2, 1), (10, 3), (1, 4), (3, 5), (u64::MAX, 4)] {
        let statement = service_kit::db::limited(backend, select.clone(), limit, offset);
        // SQLite prepares a statement again whenever a bound LIMIT or OFFSET
        // is bound again: there they are part of the SQL.
        let bound = if backend == DbBackend::Sqlite {
            1
        } else {
            2 + usize::from(offset > 0)
        };
        assert_eq!(
            statement.values.as_ref().map_or(0, |v| v.0.len()),
            bound,
            "{}",
            statement.sql
        );
        let rows = db.query_all_raw(statement).await.unwrap();
        read.push(
            rows.iter()
                .map(|r| r.try_get::<i64>("", "n").unwrap())
                .collect(),
        );
    }
    read
}

#[tokio::test]
async fn pages_read_the_same_rows_with_limits_in_the_sql_or_bound() {
    let expected: Vec<Vec<i64>> =
        vec![vec![1, 2], vec![2, 3], vec![4, 5], vec![5], vec![], vec![5]];
    let (_dir, _url, sqlite_db) = notes_file("pages.db").await;
    assert_eq!(pages(&sqlite_db).await, expected, "SQLite");
    if let Some(url) = test_support::postgres_database().await {
        let db = service_kit::db::connect(&url, 2, "the test database")
            .await
            .unwrap();
        assert_eq!(pages(&db).await, expected, "PostgreSQL");
    }
}
