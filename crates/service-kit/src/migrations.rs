//! A service's schema migrations, run by whichever replica starts first.
//!
//! sea-orm-migration runs each migration in a transaction of its own and
//! takes no lock across processes: two replicas starting on a fresh
//! PostgreSQL database race on the same `CREATE TABLE`, and one of them
//! fails (PostgreSQL reports the duplicate in `pg_type`). [`migrate`] holds a
//! session advisory lock while migrating, so the second replica waits, then
//! finds nothing left to do.

use anyhow::Context;
use sea_orm::sqlx::{self, ConnectOptions as _};
use sea_orm::{DatabaseConnection, DbBackend};
use sea_orm_migration::MigratorTrait;

use crate::relay_lease::{LOCK_NAMESPACE, MIGRATIONS_LOCK};

/// Applies `M`'s pending migrations to `db`. On PostgreSQL, one process at
/// a time: the lock lives on a connection of its own, outside `db`'s pool,
/// and goes with it if this process dies mid-way.
pub async fn migrate<M: MigratorTrait>(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        return M::up(db, None).await.context("database migrations failed");
    }
    let options = db.get_postgres_connection_pool().connect_options();
    let mut session = options
        .connect()
        .await
        .context("the migration lock's connection failed")?;
    sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(LOCK_NAMESPACE)
        .bind(MIGRATIONS_LOCK)
        .execute(&mut session)
        .await
        .context("the migration lock was not granted")?;
    let migrated = M::up(db, None).await.context("database migrations failed");
    // Closing the session releases the lock whatever happened above.
    let _ = sqlx::Connection::close(session).await;
    migrated
}
