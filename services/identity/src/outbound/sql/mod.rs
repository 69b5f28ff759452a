//! The identity database in SQL (sea-orm): PostgreSQL in the distributed
//! deployment, SQLite in the embedded one.

pub mod migration;
mod store;
mod tables;

use anyhow::Context;
use sea_orm::DatabaseConnection;

pub use store::SqlAccountStore;

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    service_kit::db::connect(url, max_connections, "the identity database").await
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    service_kit::migrations::migrate::<migration::Migrator>(db)
        .await
        .context("migrating the identity database")
}

/// The tables the consumer builds from events, for `scimctl diff`. Roles and
/// permissions are managed locally (never from SCIM) and the access-change
/// history is the admins', so neither is compared.
pub const COMPARED_TABLES: &[service_kit::compared_tables::ComparedTable] =
    &[service_kit::compared_tables::ComparedTable {
        name: "accounts",
        key: &["id"],
        columns: &[
            "org_id",
            "workspace_id",
            "scim_user_id",
            "status",
            "label",
            "user_name",
            "external_id",
            "email",
            "given_name",
            "family_name",
            "display_name",
        ],
        instants: &["created_at", "updated_at", "anonymized_at", "deleted_at"],
        org_column: "org_id",
    }];
