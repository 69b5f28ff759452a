//! The SCIM view in SQL (sea-orm): PostgreSQL in the distributed deployment,
//! SQLite in the embedded one, from the same code.

mod credentials;
mod data_keys;
mod dead_letters;
mod filter_sql;
mod filter_targets;
mod group_changes;
mod group_commit;
mod groups;
mod journal;
mod journal_rows;
mod key_upkeep;
mod keyset;
mod limits;
mod listing;
pub mod migration;
mod organizations;
mod person_keys;
mod relay_scan;
mod rows;
pub mod search_document;
mod search_sql;
mod tables;
mod tenant_cache;
mod user_inserts;
mod user_name_checks;
mod user_rows;
mod user_updates;
mod users;
mod view;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

pub use dead_letters::EmbeddedDeadLetters;
pub use filter_sql::{FilterMapping, sort_column, translate};
pub use filter_targets::{GroupFilterMapping, UserFilterMapping};
pub use key_upkeep::PlainProfiles;
pub use view::SqlScimView;

/// Opens a pool on `url` (`postgres://…` or `sqlite://path`).
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    service_kit::db::connect(url, max_connections, "the gateway database").await
}

/// Read-only connections for a SQLite file's lookups (None on PostgreSQL):
/// eight (beside the writer: measured against two and four, GET and filter
/// faster with each step, docs/benchmarks.md); reads no longer queue behind
/// the writer nor each other on one connection's thread.
pub async fn connect_reads(url: &str) -> anyhow::Result<Option<DatabaseConnection>> {
    service_kit::db::connect_readers(url, SQLITE_READERS, "the gateway database").await
}

const SQLITE_READERS: u32 = 8;

/// A small pool for the relay's "published" marks whose commits do not wait
/// for the disk (`synchronous_commit=off`; PostgreSQL only, None on SQLite,
/// which does not sync each commit in WAL mode anyway). A mark lost in a
/// crash only has its entry published again, which consumers drop as a
/// duplicate; every other write still waits for its commit. Each mark was a
/// commit that waited for a WAL flush, beside the creates' and updates'.
pub async fn connect_publication_marks(url: &str) -> anyhow::Result<Option<DatabaseConnection>> {
    let Some(url) = publication_marks_url(url) else {
        return Ok(None);
    };
    let db = service_kit::db::connect(&url, 2, "the gateway database (relay marks)").await?;
    Ok(Some(db))
}

fn publication_marks_url(url: &str) -> Option<String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return None;
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{separator}options[synchronous_commit]=off"))
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    migration::Migrator::up(db, None)
        .await
        .context("migrating the gateway database")
}

#[cfg(test)]
mod tests {
    use super::publication_marks_url;

    #[test]
    fn publication_marks_connect_with_asynchronous_commits_on_postgresql_only() {
        assert_eq!(
            publication_marks_url("postgres://u@h:5432/gateway").as_deref(),
            Some("postgres://u@h:5432/gateway?options[synchronous_commit]=off")
        );
        assert_eq!(
            publication_marks_url("postgresql://h/gateway?sslmode=disable").as_deref(),
            Some("postgresql://h/gateway?sslmode=disable&options[synchronous_commit]=off")
        );
        assert_eq!(publication_marks_url("sqlite://./data/gateway.db"), None);
    }
}
