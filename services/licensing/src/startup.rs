//! Builds the licensing service from settings. The embedded process uses
//! [`LicensingService::build`] and mounts its admin API through
//! [`ConsumingService`] beside the gateway; the standalone binary runs it
//! with its own HTTP server, RabbitMQ consumer, seat reservation server,
//! outbox relay and reservation sweeper ([`run_standalone`]).

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use messaging::EventPublisher;
use messaging::relay::{self, Relay, RelayStatus};
use messaging_rabbitmq::RabbitPublisher;
use messaging_rabbitmq::consumer::ConsumerHealth;
use messaging_rabbitmq::rpc;
use sea_orm::DatabaseConnection;
use service_kit::Secret;
use service_kit::admin_key::AdminKey;
use service_kit::consumer_service::{
    self, CommonSettings, ConsumingService, PingFuture, RelaySettings,
};
use service_kit::data_keys::{DataKeySource, RpcDataKeys};
use service_kit::readiness::ReadinessPart;
use service_kit::relay_lease::{self, LeaseSettings, LeasedOutbox};
use service_kit::shutdown::ShutdownSignal;

use crate::config::Settings;
use crate::domain::models::Subscription;
use crate::domain::service::{Licensing, SeatPolicy};
use crate::inbound::consumer::{BINDINGS, CONSUMER, LicensingConsumer};
use crate::inbound::http::{self, AdminState};
use crate::inbound::rpc::ReservationDesk;
use crate::outbound::clock::SystemClock;
use crate::outbound::sql::{self, SqlLicensingStore};

pub type LicensingApp = Licensing<SqlLicensingStore, SystemClock>;

#[derive(Clone)]
pub struct LicensingService {
    pub licensing: Arc<LicensingApp>,
    pub store: SqlLicensingStore,
    /// Where the standalone dead-letter routes ask whose data keys are gone
    /// (`data_keys.*`); the default queue when not set.
    dead_letter_keys: Option<Arc<dyn DataKeySource>>,
    /// Its database, where the outbox relay takes its lease (PostgreSQL:
    /// replicas share the outbox).
    database_url: Secret,
    /// The queue its seat server answers on, when it runs one.
    seat_queue: Option<String>,
    /// Whether the seat server consumes its request queue (`/readyz`).
    seat_server: ConsumerHealth,
    /// What the outbox relay is doing (`/readyz`).
    outbox_relay: RelayStatus,
}

impl LicensingService {
    /// Connects and migrates the licensing database.
    pub async fn build(
        database_url: &str,
        max_connections: u32,
        policy: SeatPolicy,
    ) -> anyhow::Result<Self> {
        let db = sql::connect(database_url, max_connections).await?;
        sql::migrate(&db).await?;
        let store = SqlLicensingStore::new(db);
        Ok(Self {
            licensing: Arc::new(Licensing::new(store.clone(), SystemClock, policy)),
            store,
            dead_letter_keys: None,
            database_url: Secret::new(database_url),
            seat_queue: None,
            seat_server: ConsumerHealth::default(),
            outbox_relay: RelayStatus::default(),
        })
    }

    /// The dead-letter routes ask `keys` whose data keys are gone.
    pub fn with_dead_letter_keys(mut self, keys: Arc<dyn DataKeySource>) -> Self {
        self.dead_letter_keys = Some(keys);
        self
    }

    pub fn consumer(&self) -> LicensingConsumer<SqlLicensingStore, SystemClock> {
        LicensingConsumer(self.licensing.clone())
    }

    /// The relay of the outbox (`subscription.changed`) to `publisher`
    /// (RabbitMQ, or the embedded process's in-process bus), until
    /// `shutdown`. On PostgreSQL it publishes only while it holds the
    /// outbox's lease (one licensing replica at a time); a SQLite file has
    /// one process and needs none.
    pub fn outbox_relay<P: EventPublisher>(
        &self,
        publisher: P,
        settings: &RelaySettings,
        shutdown: ShutdownSignal,
    ) -> impl Future<Output = ()> + Send + use<P> {
        let relay = Relay::new(self.store.clone(), publisher, settings.batch_size);
        let lease = LeaseSettings {
            database_url: self.database_url.expose().to_owned(),
            outbox: LeasedOutbox::LicensingOutbox,
            retry: Duration::from_millis(settings.lease_retry_ms.max(1)),
            status: self.outbox_relay.clone(),
        };
        relay_lease::run_relay(
            relay,
            settings.pacing(),
            relay::Wakeup::default(),
            lease,
            shutdown.stopped(),
        )
    }

    /// It answers seat reservations on `queue` ([`Self::seat_server`]);
    /// its `/readyz` covers that server.
    pub fn with_seat_server(mut self, queue: &str) -> Self {
        self.seat_queue = Some(queue.to_owned());
        self
    }

    /// Answers seat reservations asked on its seat queue
    /// ([`Self::with_seat_server`]) until `shutdown`, as
    /// [`serve_reservations`] does, telling `/readyz` whether it consumes
    /// that queue.
    pub fn seat_server(
        &self,
        url: &str,
        concurrency: u16,
        shutdown: ShutdownSignal,
    ) -> impl Future<Output = ()> + Send + use<> {
        let (licensing, health) = (self.licensing.clone(), self.seat_server.clone());
        let (url, queue) = (url.to_owned(), self.seat_queue.clone());
        async move {
            let Some(queue) = queue else {
                tracing::error!("no seat queue is set: the seat server does not run");
                return;
            };
            let desk = ReservationDesk::start(licensing, usize::from(concurrency));
            serve_desk(desk, &url, &queue, concurrency, health, shutdown.stopped()).await;
        }
    }

    /// Deletes expired reservations every `interval` until `shutdown`.
    /// (Expired ones never count against the quota anyway; this only keeps
    /// the ledger small.) Deletes seat usage history past its retention
    /// ([`UsagePeriod::LONGEST`](crate::domain::models::UsagePeriod::LONGEST))
    /// on the same beat.
    pub fn sweep_expired(
        &self,
        interval: Duration,
        mut shutdown: ShutdownSignal,
    ) -> impl Future<Output = ()> + Send + 'static {
        let licensing = self.licensing.clone();
        async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    biased;
                    () = shutdown.recv() => return,
                    _ = tick.tick() => {}
                }
                match licensing.release_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(released = n, "expired seat reservations released"),
                    Err(e) => tracing::warn!(error = %e, "releasing expired reservations failed"),
                }
                match licensing.forget_old_usage().await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(hours = n, "seat usage history past its retention deleted")
                    }
                    Err(e) => tracing::warn!(error = %e, "deleting old seat usage history failed"),
                }
            }
        }
    }
}

impl ConsumingService for LicensingService {
    type Handler = LicensingConsumer<SqlLicensingStore, SystemClock>;
    const CONSUMER: &'static str = CONSUMER;
    const BINDINGS: &'static [&'static str] = BINDINGS;

    fn handler(&self) -> Self::Handler {
        self.consumer()
    }

    fn database(&self) -> &DatabaseConnection {
        self.store.connection()
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        crate::domain::ports::Clock::now(&SystemClock)
    }

    fn ping(&self) -> PingFuture {
        let store = self.store.clone();
        Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
    }

    fn configure_admin_api(&self, cfg: &mut web::ServiceConfig, admin_key: &AdminKey) {
        cfg.app_data(web::Data::new(AdminState {
            licensing: self.licensing.clone(),
            admin_key: admin_key.clone(),
        }));
        http::configure::<SqlLicensingStore, SystemClock>(cfg);
    }

    /// Its outbox relay and, when it runs one, its seat server.
    fn readiness_parts(&self) -> Vec<(&'static str, ReadinessPart)> {
        let mut parts = vec![(
            "outbox_relay",
            ReadinessPart::OutboxRelay(self.outbox_relay.clone()),
        )];
        if let Some(queue) = &self.seat_queue {
            parts.push((
                "seat_server",
                ReadinessPart::RequestServer {
                    queue: queue.clone(),
                    health: self.seat_server.clone(),
                },
            ));
        }
        parts
    }

    fn dead_letter_keys(&self, settings: &CommonSettings) -> Arc<dyn DataKeySource> {
        self.dead_letter_keys.clone().unwrap_or_else(|| {
            Arc::new(RpcDataKeys::new(
                settings.amqp.url.expose(),
                Duration::from_secs(2),
            ))
        })
    }
}

/// The gateway's data keys over request/reply on the service's broker
/// (`data_keys.queue`, `data_keys.timeout_ms`): the dead-letter routes'.
pub fn rpc_data_keys(settings: &Settings) -> Arc<dyn DataKeySource> {
    Arc::new(
        RpcDataKeys::new(
            settings.common.amqp.url.expose(),
            Duration::from_millis(settings.data_keys.timeout_ms),
        )
        .with_queue(settings.data_keys.queue.clone()),
    )
}

pub fn policy(settings: &Settings) -> SeatPolicy {
    SeatPolicy {
        default_subscription: Subscription {
            seat_quota: settings.seats.default_quota,
            scim_included: settings.seats.default_scim_included,
        },
        hold_for: chrono::Duration::seconds(
            i64::try_from(settings.seats.hold_for_secs).unwrap_or(i64::MAX / 1000),
        ),
    }
}

/// How often expired reservations are swept (at least once a second).
pub fn sweep_interval(settings: &Settings) -> Duration {
    Duration::from_secs(settings.seats.sweep_interval_secs.max(1))
}

/// The distributed deployment: admin API with `/healthz` and `/readyz`, and
/// the RabbitMQ consumer, the seat reservation server, the relay of its
/// outbox (`subscription.changed`), the sweeper of expired reservations and
/// the pruner of its inbox, until SIGTERM or Ctrl-C.
pub async fn run_standalone(settings: Settings) -> anyhow::Result<()> {
    run_until(settings, std::future::pending()).await
}

/// [`run_standalone`] until SIGTERM, Ctrl-C or `shutdown` (what tests
/// stop it with).
pub async fn run_until(
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let admin_key = consumer_service::require_admin_key(settings.admin_key.as_ref())?;
    let service = LicensingService::build(
        settings.common.database.url.expose(),
        settings.common.database.max_connections,
        policy(&settings),
    )
    .await?
    .with_dead_letter_keys(rpc_data_keys(&settings))
    .with_seat_server(&settings.seats.queue);
    let background = |tasks: &mut service_kit::shutdown::BackgroundTasks| {
        let url = settings.common.amqp.url.expose().to_owned();
        let publisher = RabbitPublisher::new(&url, &settings.common.amqp.exchange);
        tasks.spawn("reservation sweeper", |stop| {
            service.sweep_expired(sweep_interval(&settings), stop)
        });
        tasks.spawn("outbox relay", |stop| {
            service.outbox_relay(publisher, &settings.relay, stop)
        });
        let concurrency = settings.seats.concurrency;
        tasks.spawn("seat reservation server", |stop| {
            service.seat_server(&url, concurrency, stop)
        });
    };
    consumer_service::run_standalone(
        service.clone(),
        &settings.common,
        admin_key,
        background,
        shutdown,
    )
    .await
}

/// Answers seat reservations asked on `queue` until `shutdown` resolves:
/// up to `concurrency` requests taken at once, what arrives together decided
/// in one transaction.
pub async fn serve_reservations(
    licensing: Arc<LicensingApp>,
    url: &str,
    queue: &str,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let desk = ReservationDesk::start(licensing, usize::from(concurrency));
    let health = ConsumerHealth::default();
    serve_desk(desk, url, queue, concurrency, health, shutdown).await;
}

async fn serve_desk(
    desk: ReservationDesk,
    url: &str,
    queue: &str,
    concurrency: u16,
    health: ConsumerHealth,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let answer = move |body, _headers| {
        let desk = desk.clone();
        async move { desk.answer_bytes(body).await }
    };
    if let Err(e) = rpc::serve_reporting(url, queue, concurrency, answer, health, shutdown).await {
        tracing::error!(error = %e, "the seat reservation server stopped");
    }
}
