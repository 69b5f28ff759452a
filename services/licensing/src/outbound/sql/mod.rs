//! The licensing database in SQL (sea-orm): PostgreSQL in the distributed
//! deployment, SQLite in the embedded one.

pub mod migration;
mod store;
mod tables;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

pub use store::SqlLicensingStore;

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    service_kit::db::connect(url, max_connections, "the licensing database").await
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    migration::Migrator::up(db, None)
        .await
        .context("migrating the licensing database")
}
