//! Replicas starting together on a fresh PostgreSQL database: each migrates
//! at start, and sea-orm's migrations take no lock of their own, so without
//! `service_kit::migrations` one of them failed on a duplicate type.

use scim_gateway::outbound::sql;

#[tokio::test]
async fn replicas_migrating_one_fresh_database_at_once_all_start() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(sql::connect(&url, 4).await.expect("connect"));
    }
    let migrations = replicas.iter().map(sql::migrate);
    for outcome in futures_util::future::join_all(migrations).await {
        outcome.expect("every replica migrates");
    }
    // A replica started later finds nothing left to do.
    sql::migrate(&sql::connect(&url, 4).await.expect("connect"))
        .await
        .expect("a later start migrates nothing");
}
