//! `SqlScimView`: the SCIM view's ports on sea-orm — the struct, its
//! connections and shared state, and how it is built. Each port's
//! implementation lives in its own module (`users`, `groups`, `credentials`,
//! `organizations`, `journal`, `dead_letters`). Every statement is built
//! with sea-query (parameterized) and scoped by `org_id`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use messaging::relay::{RelayStatus, Wakeup};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::person_keys::KeyHolder;
use super::relay_scan::RelayScan;
use super::tenant_cache::TenantCache;
use super::user_inserts::UserInserts;
use super::user_name_checks::UserNameChecks;
use super::user_updates::UserUpdates;
use crate::domain::ports::Clock;
use crate::outbound::clock::SystemClock;
use provisioning_events::sealing::KeyRing;

#[derive(Clone)]
pub struct SqlScimView {
    pub(super) db: DatabaseConnection,
    /// Told after each commit that appended to the journal: the relay
    /// publishes at once instead of at its next poll.
    pub(super) journal_written: Wakeup,
    pub(super) tenants: Arc<TenantCache>,
    pub(super) relay_scan: Arc<RelayScan>,
    /// Whether this process's relay holds the journal's lease (`/readyz`).
    pub(super) relay_lease: RelayStatus,
    /// When each token's last use was last written: at most once a minute per
    /// token, so authentication stays a read.
    pub(super) token_uses: Arc<Mutex<HashMap<Uuid, Instant>>>,
    pub(super) user_inserts: Arc<UserInserts>,
    pub(super) user_name_checks: Arc<UserNameChecks>,
    pub(super) user_updates: Arc<UserUpdates>,
    /// Where the relay's "published" marks are written (the main pool, or
    /// one whose commits do not wait for the disk).
    pub(super) publication_marks: DatabaseConnection,
    /// Where reads outside a transaction go (the main pool, or read-only
    /// connections beside a SQLite file's one writer).
    pub(super) reads: DatabaseConnection,
    /// The key-encryption keys of the persons' data keys (`person_keys`).
    pub(super) keys: KeyHolder,
    /// The instants this adapter stamps by itself (relay marks, dead
    /// letters, the tenant cache's expiry check); the use cases pass theirs.
    clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

/// How long a token's tenant is used without reading it again, unless
/// configured (`http.tenant_cache_ms`).
const DEFAULT_TENANT_CACHE_TTL: Duration = Duration::from_secs(1);

impl SqlScimView {
    pub fn new(db: DatabaseConnection) -> Self {
        let journal_written = Wakeup::default();
        Self {
            user_inserts: Arc::new(UserInserts::new(
                db.clone(),
                journal_written.clone(),
                KeyHolder::default(),
            )),
            user_name_checks: Arc::new(UserNameChecks::new(db.clone())),
            user_updates: Arc::new(UserUpdates::new(
                db.clone(),
                journal_written.clone(),
                KeyHolder::default(),
            )),
            keys: KeyHolder::default(),
            publication_marks: db.clone(),
            reads: db.clone(),
            db,
            journal_written,
            tenants: Arc::new(TenantCache::new(DEFAULT_TENANT_CACHE_TTL)),
            relay_scan: Arc::new(RelayScan::default()),
            relay_lease: RelayStatus::default(),
            token_uses: Arc::new(Mutex::new(HashMap::new())),
            clock: Arc::new(|| SystemClock.now()),
        }
    }

    /// Seals every event's profile under its person's data key, kept
    /// wrapped by `ring`'s current key-encryption key (`person_keys`). A store
    /// without a key ring refuses to append a profile, and hands out no key.
    pub fn with_key_ring(self, ring: KeyRing) -> Self {
        self.with_keys(KeyHolder::new(ring))
    }

    /// [`Self::with_key_ring`] for the one gateway of a process that serves
    /// every write (the embedded process): the keys of its own committed
    /// writes are kept in memory (bounded), so sealing an update and telling
    /// identity a new person's key read no `person_keys` row. Never with
    /// several gateway replicas: a delete through another would not reach
    /// this memory.
    pub fn with_key_ring_in_process(self, ring: KeyRing) -> Self {
        self.with_keys(KeyHolder::new(ring).with_hand_off())
    }

    fn with_keys(mut self, keys: KeyHolder) -> Self {
        self.keys = keys;
        self.user_inserts = Arc::new(UserInserts::new(
            self.db.clone(),
            self.journal_written.clone(),
            self.keys.clone(),
        ));
        self.user_updates = Arc::new(UserUpdates::new(
            self.db.clone(),
            self.journal_written.clone(),
            self.keys.clone(),
        ));
        self
    }

    /// Reads time from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(move || clock.now());
        self
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Writes the relay's "published" marks through `db`
    /// ([`super::connect_publication_marks`]).
    pub fn with_publication_marks(mut self, db: DatabaseConnection) -> Self {
        self.publication_marks = db;
        self
    }

    /// Reads resources and tokens through `db` ([`super::connect_reads`]).
    /// Every write that such a read precedes checks the version it read, so
    /// reading from another connection than the one writing changes nothing
    /// but where the read waits.
    pub fn with_reads(mut self, db: DatabaseConnection) -> Self {
        self.reads = db;
        self
    }

    /// Keeps the tenant of a used token for `ttl` (zero: never).
    pub fn with_tenant_cache(mut self, ttl: Duration) -> Self {
        self.tenants = Arc::new(TenantCache::new(ttl));
        self
    }

    /// What this store signals when it appended to the journal (the relay
    /// waits on it between polls).
    pub fn journal_written(&self) -> Wakeup {
        self.journal_written.clone()
    }

    /// Whether this process's journal relay holds its lease, set by the relay.
    pub fn relay_lease(&self) -> RelayStatus {
        self.relay_lease.clone()
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}
