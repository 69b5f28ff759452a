//! Outbox relays several replicas share, on PostgreSQL: a session-level
//! advisory lock held on a connection of its own names the one replica that
//! publishes. The lock goes with its session, so a holder that is killed or
//! cut off releases it as soon as PostgreSQL sees its connection close, and
//! another replica acquires it on its next attempt. The gateway's journal
//! and licensing's outbox are relayed this way ([`run_relay`]).
//!
//! A SQLite file has one process (the embedded one): its relay needs no
//! lease ([`messaging::relay::Unshared`]).

use std::future::Future;
use std::time::Duration;

use messaging::EventPublisher;
use messaging::relay::{self, LeaseStatus, Outbox, OutboxError, Pacing, Relay, RelayLease, Wakeup};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
};

/// The advisory lock's key, (`classid`, `objid`) in `pg_locks`: any pair
/// unused by other clients of the database. Advisory locks are scoped to
/// one database, so the gateway's and licensing's never meet.
const LOCK_NAMESPACE: i32 = 0x5C1A;
const OUTBOX_RELAY: i32 = 1;

pub struct PgRelayLease {
    /// A pool of one connection: the lock lives on it. If it is replaced
    /// (closed by the server or the network), the new session does not hold
    /// the lock and [`RelayLease::still_held`] says so.
    session: DatabaseConnection,
}

impl PgRelayLease {
    /// A lease on `url`'s database; connects on first use.
    pub async fn connect(url: &str) -> Result<Self, DbErr> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(true)
            .sqlx_logging(false);
        Ok(Self {
            session: Database::connect(options).await?,
        })
    }

    async fn ask(&self, sql: &str) -> Result<bool, OutboxError> {
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [LOCK_NAMESPACE.into(), OUTBOX_RELAY.into()],
        );
        let row = self
            .session
            .query_one_raw(statement)
            .await
            .map_err(lease_error)?
            .ok_or_else(|| OutboxError("the lease query returned no row".to_owned()))?;
        row.try_get("", "held").map_err(lease_error)
    }
}

fn lease_error(e: DbErr) -> OutboxError {
    OutboxError(format!("relay lease: {e}"))
}

impl RelayLease for PgRelayLease {
    async fn try_acquire(&self) -> Result<bool, OutboxError> {
        self.ask("SELECT pg_try_advisory_lock($1, $2) AS held")
            .await
    }

    async fn still_held(&self) -> Result<bool, OutboxError> {
        // A two-key advisory lock shows in `pg_locks` as objsubid 2.
        self.ask(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
             AND pid = pg_backend_pid() AND granted AND objsubid = 2 \
             AND classid::int8 = $1 AND objid::int8 = $2) AS held",
        )
        .await
    }
}

/// Whether `database_url` names a database several processes share.
pub fn is_shared(database_url: &str) -> bool {
    database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")
}

/// Drives `relay` until `shutdown`: on PostgreSQL only while this process
/// holds the outbox's lease (tried every `lease_retry`), on SQLite always.
/// `status` tells readiness whether this process publishes.
pub async fn run_relay<O: Outbox, P: EventPublisher>(
    relay: Relay<O, P>,
    pacing: Pacing,
    wakeup: Wakeup,
    database_url: String,
    lease_retry: Duration,
    status: LeaseStatus,
    shutdown: impl Future<Output = ()>,
) {
    {
        if !is_shared(&database_url) {
            let leasing = relay::Leasing {
                lease: relay::Unshared,
                retry: lease_retry,
                status,
            };
            return relay::run_leased(relay, pacing, wakeup, leasing, shutdown).await;
        }
        match PgRelayLease::connect(&database_url).await {
            Ok(lease) => {
                let leasing = relay::Leasing {
                    lease,
                    retry: lease_retry,
                    status,
                };
                relay::run_leased(relay, pacing, wakeup, leasing, shutdown).await;
            }
            // Lazy: only options it cannot read fail here (not logged: the
            // URL carries the password).
            Err(_) => {
                tracing::error!("an outbox relay's lease cannot connect: the relay does not run")
            }
        }
    }
}
