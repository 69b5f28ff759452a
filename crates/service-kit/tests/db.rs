//! How PostgreSQL plans the services' statements: per execution where the
//! server keeps no statistics (autovacuum off), its own way elsewhere, and
//! always as a `plan_cache_mode` in the URL says.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

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
