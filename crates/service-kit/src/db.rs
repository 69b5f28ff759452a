//! Database connections: PostgreSQL in the distributed deployment, SQLite
//! files in the embedded one, from the same code.
//!
//! Every SQLite connection runs with `secure_delete`: a deleted row's bytes
//! are overwritten with zeros in its page rather than left in free space
//! until the page is reused. At a graceful stop the process empties each
//! file's write-ahead log ([`checkpoint_and_close`]), so no copy of a page
//! from before a delete stays in a `-wal` file.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sea_orm::sea_query::SelectStatement;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

/// Opens a pool on `url` (`postgres://…` or `sqlite://path`), creating the
/// SQLite file and its folder when missing. `purpose` names the database in
/// errors ("the identity database").
pub async fn connect(
    url: &str,
    max_connections: u32,
    purpose: &str,
) -> anyhow::Result<DatabaseConnection> {
    let sqlite = sqlite_path(url).is_some() || url.starts_with("sqlite:");
    // SQLite: one writing connection. It writes one transaction at a time
    // anyway; with several connections, a transaction that read before
    // writing fails with SQLITE_BUSY_SNAPSHOT when another committed in
    // between, and waiting writers sleep in SQLite's busy handler. Reads that
    // need no transaction can go beside it (`connect_readers`).
    let mut options = pool_options(url, if sqlite { 1 } else { max_connections });
    if let Some(path) = sqlite_path(url) {
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating database folder {}", dir.display()))?;
        }
        options.map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // PostgreSQL's LIKE is case-sensitive; make SQLite's agree.
                .pragma("case_sensitive_like", "ON")
                .pragma("secure_delete", "ON")
                // Checkpoints run beside the writer (`spawn_checkpoints`).
                .pragma("wal_autocheckpoint", "0")
        });
    }
    if !sqlite && plans_every_execution(url).await? {
        options.map_sqlx_postgres_opts(|o| o.options([("plan_cache_mode", "force_custom_plan")]));
    }
    let db = Database::connect(options)
        .await
        .with_context(|| format!("connecting to {purpose}"))?;
    if sqlite_path(url).is_some() {
        spawn_checkpoints(url, purpose, db.clone()).await?;
    }
    Ok(db)
}

/// How often a SQLite file's write-ahead log is copied into the file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Frames (pages) in the log above which it is truncated: 64 MiB of 4 KiB
/// pages.
const TRUNCATE_LOG_ABOVE_FRAMES: i64 = 16_384;

/// Checkpoints a SQLite file's WAL on a connection of its own, every
/// [`CHECKPOINT_EVERY`], until `writer`'s pool is closed
/// ([`checkpoint_and_close`]).
///
/// SQLite's automatic checkpoint runs inside the commit that pushes the WAL
/// past 1,000 pages: that commit copies the pages and waits for the file's
/// fsync, and so does every request queued behind it (one member add in ~70
/// took 18 ms instead of 1.3 ms, measured: docs/benchmarks.md). Here a
/// PASSIVE checkpoint copies the log beside the writer without blocking it.
/// But a log that writers keep appending to is never wholly copied, so
/// never restarted: it grew to 1.2 GB in a minute of creates. Once it holds
/// more than [`TRUNCATE_LOG_ABOVE_FRAMES`], a TRUNCATE checkpoint empties
/// it — on `writer`, the pool's one connection, so between the process's
/// own transactions: from another connection it restarted the log under a
/// transaction that had read and was about to write, which then failed
/// (`SQLITE_BUSY_SNAPSHOT`). One short wait per 64 MiB written instead of
/// one per 4 MiB.
///
/// The task is spawned here, by [`connect`], so every SQLite pool has one
/// (scimctl's rebuild and the tests included) without its caller carrying a
/// handle; it ends when the writer's pool closes, which is what the process's
/// graceful stop does after its last TRUNCATE: the pool every caller already
/// holds is the handle.
async fn spawn_checkpoints(
    url: &str,
    purpose: &str,
    writer: DatabaseConnection,
) -> anyhow::Result<()> {
    let mut options = pool_options(url, 1);
    options.map_sqlx_sqlite_opts(|o| {
        o.busy_timeout(Duration::from_secs(10))
            .pragma("secure_delete", "ON")
    });
    let checkpointer = Database::connect(options)
        .await
        .with_context(|| format!("connecting to {purpose} (checkpoints)"))?;
    let purpose = purpose.to_owned();
    tokio::spawn(async move {
        let closed = writer.get_sqlite_connection_pool().close_event();
        let mut closed = std::pin::pin!(closed);
        let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                () = &mut closed => break,
                _ = ticks.tick() => {}
            }
            match checkpoint(&checkpointer, &writer).await {
                Ok(()) => failing = false,
                // Closed while checkpointing: the stop's TRUNCATE ran.
                Err(_) if writer.get_sqlite_connection_pool().is_closed() => break,
                // Once per run of failures: the log grows until one succeeds.
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, database = %purpose, "checkpointing the write-ahead log failed");
                }
                Err(_) => {}
            }
        }
        checkpointer.close().await.ok();
    });
    Ok(())
}

/// A graceful stop's last step for a database, once nothing else writes to
/// it: on a SQLite pool, a TRUNCATE checkpoint on `writer` (the pool's one
/// connection, as in [`checkpoint`]) copies the whole log into the file and
/// empties the `-wal` file, then the pool is closed, which ends its
/// checkpoint task ([`spawn_checkpoints`]). PostgreSQL: nothing (its pool
/// closes with the process).
///
/// A process that stops without it (SIGKILL, a crash) leaves the log as it
/// was; the next start replays it.
pub async fn checkpoint_and_close(writer: &DatabaseConnection) -> anyhow::Result<()> {
    if writer.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    let row = writer
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA wal_checkpoint(TRUNCATE)",
        ))
        .await
        .context("checkpointing the write-ahead log (TRUNCATE)");
    // Closed even when the checkpoint failed: the stop goes on, the log
    // stays for the next start.
    writer.close_by_ref().await.ok();
    // (busy, frames in the log, frames copied); busy: a reader kept part of
    // the log in use past the busy timeout.
    let busy: i64 = match row? {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    anyhow::ensure!(
        busy == 0,
        "the write-ahead log was in use: not emptied (TRUNCATE)"
    );
    Ok(())
}

async fn checkpoint(
    checkpointer: &DatabaseConnection,
    writer: &DatabaseConnection,
) -> Result<(), sea_orm::DbErr> {
    let passive = checkpointer
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA wal_checkpoint(PASSIVE)",
        ))
        .await?;
    // (busy, frames in the log, frames copied)
    let frames: i64 = match passive {
        Some(row) => row.try_get_by_index(1)?,
        None => 0,
    };
    if frames > TRUNCATE_LOG_ABOVE_FRAMES {
        writer
            .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await?;
    }
    Ok(())
}

/// Read-only connections beside a SQLite file's one writer (None for
/// PostgreSQL, whose pool reads in parallel already, and for in-memory
/// databases, which a second connection would not share).
///
/// In WAL mode readers do not block the writer nor each other, and each
/// statement outside a transaction reads what was committed before it
/// began; a read on the writer's connection queued behind every write and
/// ran on that connection's one thread.
pub async fn connect_readers(
    url: &str,
    connections: u32,
    purpose: &str,
) -> anyhow::Result<Option<DatabaseConnection>> {
    if sqlite_path(url).is_none() {
        return Ok(None);
    }
    let mut options = pool_options(url, connections.max(1));
    options.map_sqlx_sqlite_opts(|o| {
        o.busy_timeout(Duration::from_secs(10))
            .pragma("case_sensitive_like", "ON")
            .pragma("secure_delete", "ON")
            .pragma("query_only", "ON")
            // 512 KiB of pages each instead of SQLite's 2 MiB: the file's
            // pages are in the OS cache anyway; eight full caches grew the
            // embedded process by ~25 MiB for no measurable speed.
            .pragma("cache_size", "-512")
    });
    let db = Database::connect(options)
        .await
        .with_context(|| format!("connecting to {purpose} (readers)"))?;
    Ok(Some(db))
}

/// A pool of at most `max` connections to `url`, with the services' waits
/// (10 s to connect or to get a connection) and without statement logging.
fn pool_options(url: &str, max: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    options
}

/// Whether this service's PostgreSQL connections must plan every execution.
///
/// PostgreSQL switches a prepared statement to a generic plan after five runs
/// and keeps it until the tables' statistics change. Where autovacuum runs,
/// they do; where it is off, a plan made while a table was nearly empty (a
/// new database) stays a sequential scan as the table grows (identity's
/// accounts read did exactly that: docs/benchmarks.md, "Rebuild"). So on a
/// server without autovacuum every execution is planned with its parameters
/// (`plan_cache_mode=force_custom_plan`, which doubles PostgreSQL's work for
/// the short lookups: docs/benchmarks.md); elsewhere the server's own setting
/// stands. A `plan_cache_mode` in the URL's `options` is the operator's
/// choice and always wins.
async fn plans_every_execution(url: &str) -> anyhow::Result<bool> {
    if url.contains("plan_cache_mode") {
        return Ok(false);
    }
    let mut probe = ConnectOptions::new(url.to_owned());
    probe
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    let db = Database::connect(probe)
        .await
        .context("connecting to PostgreSQL to read its autovacuum setting")?;
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_setting('autovacuum') = 'on' AND current_setting('track_counts') = 'on' AS maintained",
        ))
        .await
        .context("reading PostgreSQL's autovacuum setting")?;
    let maintained: bool = match row {
        Some(row) => row.try_get("", "maintained")?,
        None => false,
    };
    db.close().await.ok();
    if !maintained {
        tracing::info!(
            "PostgreSQL runs without autovacuum: every statement is planned per execution \
             (plan_cache_mode=force_custom_plan)"
        );
    }
    Ok(!maintained)
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then_some(path)
}

/// Longest `IN (…)` list of the batch paths. sqlx 0.9 does not set
/// `TCP_NODELAY`: a statement message of more than a few kilobytes leaves in
/// two segments and waits for PostgreSQL's delayed acknowledgement (~40 ms,
/// measured: a licensing rebuild at 2,800 events/s). Small statements don't.
pub const MAX_IN_LIST: usize = 128;
/// Most rows in one multi-row INSERT of the batch paths (same reason).
pub const MAX_INSERT_ROWS: usize = 32;

/// `values` padded (with its last value) to the next power of two: an
/// `IN (…)` list then has one of a few lengths, so the driver's statement
/// cache keeps each query prepared instead of preparing (and evicting) one
/// per length. Repeated values change no result. Callers chunk by
/// [`MAX_IN_LIST`].
pub fn in_list<T: Clone>(values: &[T]) -> Vec<T> {
    let mut padded = values.to_vec();
    if let Some(last) = values.last() {
        let size = values
            .len()
            .next_power_of_two()
            .min(MAX_IN_LIST)
            .max(values.len());
        padded.resize(size, last.clone());
    }
    padded
}

/// `items` in chunks whose lengths are powers of two (at most
/// [`MAX_INSERT_ROWS`]): a multi-row INSERT per chunk then has one of a few
/// shapes, for the same reasons as [`in_list`].
pub fn pow2_chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = 1usize << (usize::BITS - 1 - rest.len().min(MAX_INSERT_ROWS).leading_zeros());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

const MAX_ROWS: u64 = i64::MAX as u64;

/// `select` limited to `limit` rows after skipping `offset`, as a statement
/// for `backend`. On SQLite LIMIT and OFFSET are written into the SQL as
/// integers: SQLite plans with the value of a bound LIMIT or OFFSET and so
/// marks the statement to be prepared again whenever that parameter is bound
/// again (`sqlite3ExprIsInteger`), which a cached statement is at every
/// execution — every page read was parsed and planned anew. PostgreSQL keeps
/// them as parameters (one prepared statement whatever the page size).
pub fn limited(
    backend: DbBackend,
    mut select: SelectStatement,
    limit: u64,
    offset: u64,
) -> Statement {
    // Both databases take 64-bit signed counts; more rows than that is all.
    let (limit, offset) = (limit.min(MAX_ROWS), offset.min(MAX_ROWS));
    if backend != DbBackend::Sqlite {
        select.limit(limit);
        if offset > 0 {
            select.offset(offset);
        }
        return backend.build(&select);
    }
    let mut statement = backend.build(&select);
    // Integers, not text from a request: nothing to escape.
    statement.sql.push_str(&format!(" LIMIT {limit}"));
    if offset > 0 {
        statement.sql.push_str(&format!(" OFFSET {offset}"));
    }
    statement
}

#[cfg(test)]
mod tests {
    use super::{in_list, pow2_chunks};

    #[test]
    fn inserts_come_in_few_shapes() {
        let items: Vec<u32> = (0..85).collect();
        let sizes: Vec<usize> = pow2_chunks(&items).map(<[u32]>::len).collect();
        assert_eq!(sizes, [32, 32, 16, 4, 1]);
        assert_eq!(pow2_chunks::<u8>(&[]).count(), 0);
        assert_eq!(pow2_chunks(&[7]).map(<[u8]>::len).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn in_lists_come_in_few_lengths() {
        assert_eq!(in_list::<u8>(&[]), Vec::<u8>::new());
        assert_eq!(in_list(&[1]), vec![1]);
        assert_eq!(in_list(&[1, 2, 3]), vec![1, 2, 3, 3]);
        assert_eq!(in_list(&(0..100).collect::<Vec<_>>()).len(), 128);
        assert_eq!(in_list(&(0..600).collect::<Vec<_>>()).len(), 600);
    }
}
