//! The SCIM view in SQL (sea-orm): PostgreSQL in the distributed deployment,
//! SQLite in the embedded one, from the same code.

mod filter_sql;
pub mod migration;
mod store;
mod tables;
mod tenant_cache;
mod user_inserts;
mod user_name_checks;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

pub use filter_sql::{FilterMapping, GroupFilterMapping, UserFilterMapping, translate};
pub use store::{EmbeddedDeadLetters, SqlScimView};

/// Opens a pool on `url` (`postgres://…` or `sqlite://path`).
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    service_kit::db::connect(url, max_connections, "the gateway database").await
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    migration::Migrator::up(db, None)
        .await
        .context("migrating the gateway database")
}
