//! The team database in SQL (sea-orm): PostgreSQL in the distributed
//! deployment, SQLite in the embedded one.

mod account_writes;
pub mod migration;
mod store;
mod tables;

use anyhow::Context;
use sea_orm::DatabaseConnection;

pub use store::SqlTeamStore;

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    service_kit::db::connect(url, max_connections, "the team database").await
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    service_kit::migrations::migrate::<migration::Migrator>(db)
        .await
        .context("migrating the team database")
}

/// The tables the consumer builds from events, for `scimctl diff` (team ids
/// derive from the organization and group ids, so a rebuild has the same).
pub const COMPARED_TABLES: &[service_kit::compared_tables::ComparedTable] = &[
    service_kit::compared_tables::ComparedTable {
        name: "teams",
        key: &["id"],
        columns: &["org_id", "workspace_id", "group_id", "name"],
        instants: &["created_at", "updated_at"],
        org_column: "org_id",
    },
    service_kit::compared_tables::ComparedTable {
        name: "team_members",
        key: &["team_id", "scim_user_id"],
        columns: &["org_id"],
        instants: &[],
        org_column: "org_id",
    },
    service_kit::compared_tables::ComparedTable {
        name: "user_accounts",
        key: &["org_id", "scim_user_id"],
        columns: &["account_id", "state"],
        instants: &[],
        org_column: "org_id",
    },
];
