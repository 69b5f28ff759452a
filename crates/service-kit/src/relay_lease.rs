//! The lease of an outbox relay on PostgreSQL: a session-level advisory lock
//! held on a connection of its own. Replicas on one database (gateways on
//! their journal, licensing instances on their outbox) each run a relay;
//! only the lock's holder publishes. The lock goes with its session, so a
//! holder that is killed or cut off releases it as soon as PostgreSQL sees
//! its connection close, and another replica acquires it on its next
//! attempt.
//!
//! A SQLite file has one process (the embedded one): its relay needs no
//! lease ([`messaging::relay::Unshared`]). [`run_relay`] chooses.

use std::future::Future;
use std::time::Duration;

use messaging::EventPublisher;
use messaging::relay::{
    self, Leasing, OutboxError, Pacing, Relay, RelayLease, RelayStatus, Unshared, Wakeup,
};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
};

/// The session-level advisory locks the services take are (`classid`,
/// `objid`) pairs in `pg_locks`, all in this namespace; every `objid` is
/// listed here — [`LeasedOutbox`] and [`MIGRATIONS_LOCK`] — so that no lock
/// ever waits on another by sharing its key.
pub(crate) const LOCK_NAMESPACE: i32 = 0x5C1A;

/// The `objid` of the lock a service migrates under (`crate::migrations`).
pub(crate) const MIGRATIONS_LOCK: i32 = 3;

/// Which outbox a lease is for (the lock's `objid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeasedOutbox {
    /// The gateway's journal.
    GatewayJournal = 1,
    /// Licensing's outbox (`subscription.changed`).
    LicensingOutbox = 2,
}

pub struct PgRelayLease {
    /// A pool of one connection: the lock lives on it. If it is replaced
    /// (closed by the server or the network), the new session does not hold
    /// the lock and [`RelayLease::still_held`] says so.
    session: DatabaseConnection,
    outbox: LeasedOutbox,
}

impl PgRelayLease {
    /// A lease of `outbox` on `url`'s database; connects on first use.
    pub async fn connect(url: &str, outbox: LeasedOutbox) -> Result<Self, DbErr> {
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
            outbox,
        })
    }

    async fn ask(&self, sql: &str) -> Result<bool, OutboxError> {
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [LOCK_NAMESPACE.into(), (self.outbox as i32).into()],
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

/// Where an outbox is and how its relay waits for the lease.
pub struct LeaseSettings {
    /// The outbox's database: PostgreSQL (shared by replicas: leased) or a
    /// SQLite file (one process: [`Unshared`]).
    pub database_url: String,
    pub outbox: LeasedOutbox,
    /// Pause between attempts to acquire the lease while another holds it.
    pub retry: Duration,
    pub status: RelayStatus,
}

/// Runs `relay` until `shutdown`, leased when its outbox is on PostgreSQL
/// (see [`relay::run_leased`]). `status` tells whether it runs, publishes
/// (holds the lease) and why it fails.
pub async fn run_relay<O, P>(
    relay: Relay<O, P>,
    pacing: Pacing,
    wakeup: Wakeup,
    settings: LeaseSettings,
    shutdown: impl Future<Output = ()>,
) where
    O: relay::Outbox,
    P: EventPublisher,
{
    let LeaseSettings {
        database_url: url,
        outbox,
        retry,
        status,
    } = settings;
    let shared = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !shared {
        let leasing = Leasing {
            lease: Unshared,
            retry,
            status,
        };
        return relay::run_leased(relay, pacing, wakeup, leasing, shutdown).await;
    }
    match PgRelayLease::connect(&url, outbox).await {
        Ok(lease) => {
            let leasing = Leasing {
                lease,
                retry,
                status,
            };
            relay::run_leased(relay, pacing, wakeup, leasing, shutdown).await;
        }
        // Lazy: only options it cannot read fail here (not logged: the URL
        // carries the password).
        Err(_) => tracing::error!(
            outbox = ?outbox,
            "the relay's lease cannot connect: the relay does not run"
        ),
    }
}
