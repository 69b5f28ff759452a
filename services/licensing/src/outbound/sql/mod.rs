//! The licensing database in SQL (sea-orm): PostgreSQL in the distributed
//! deployment, SQLite in the embedded one.

pub mod migration;
mod store;
mod tables;

use anyhow::Context;
use sea_orm::DatabaseConnection;

pub use store::SqlLicensingStore;

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    service_kit::db::connect(url, max_connections, "the licensing database").await
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    service_kit::migrations::migrate::<migration::Migrator>(db)
        .await
        .context("migrating the licensing database")
}

/// The tables the consumer builds from events, for `scimctl diff`:
/// confirmed and released seats. Subscriptions are set through the admin
/// API, not the journal; reservations not yet confirmed come from the
/// gateway's requests, so a live database may show them while a rebuilt one
/// cannot.
pub const COMPARED_TABLES: &[service_kit::compared_tables::ComparedTable] = &[
    service_kit::compared_tables::ComparedTable {
        name: "seats",
        key: &["org_id", "seat_key"],
        columns: &["status", "holder"],
        instants: &["created_at", "expires_at"],
        org_column: "org_id",
    },
    service_kit::compared_tables::ComparedTable {
        name: "seat_totals",
        key: &["org_id"],
        columns: &["confirmed"],
        instants: &[],
        org_column: "org_id",
    },
];
