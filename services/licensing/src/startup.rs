//! Builds the licensing service from settings. The embedded process uses
//! [`LicensingService::build`] and mounts [`LicensingService::configure_admin`]
//! beside the gateway; the standalone binary runs it with its own HTTP server
//! and RabbitMQ consumer ([`run_standalone`]).

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use messaging::DeadLetterBox;
use messaging::relay::{self, Pacing, Relay};
use messaging_rabbitmq::RabbitPublisher;
use messaging_rabbitmq::dead_letters::RabbitDeadLetters;
use messaging_rabbitmq::rpc;
use service_kit::admin_key::AdminKey;
use service_kit::consumer_service::{PingFuture, Standalone, until_stopped};
use service_kit::replay::{self, ReplayState};

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
        })
    }

    pub fn consumer(&self) -> LicensingConsumer<SqlLicensingStore, SystemClock> {
        LicensingConsumer(self.licensing.clone())
    }

    pub fn admin_state(
        &self,
        admin_key: AdminKey,
    ) -> web::Data<AdminState<SqlLicensingStore, SystemClock>> {
        web::Data::new(AdminState {
            licensing: self.licensing.clone(),
            admin_key,
        })
    }

    /// What the replay routes need: the consumer and the inbox.
    pub fn replay_state(
        &self,
        admin_key: AdminKey,
        dead_letters: Arc<dyn DeadLetterBox>,
    ) -> web::Data<ReplayState<LicensingConsumer<SqlLicensingStore, SystemClock>>> {
        web::Data::new(ReplayState {
            service: CONSUMER,
            dead_letters,
            bindings: BINDINGS,
            handler: self.consumer(),
            db: self.store.connection().clone(),
            admin_key,
        })
    }

    /// Mounts the admin API and the replay routes (both states must be in
    /// the app data: [`Self::admin_state`], [`Self::replay_state`]).
    pub fn configure_admin(cfg: &mut web::ServiceConfig) {
        http::configure::<SqlLicensingStore, SystemClock>(cfg);
        replay::configure::<LicensingConsumer<SqlLicensingStore, SystemClock>>(cfg, CONSUMER);
    }
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

impl LicensingService {
    /// Deletes expired reservations every `interval`, for the life of the
    /// process. (Expired ones never count against the quota anyway; this only
    /// keeps the ledger small.)
    pub fn spawn_sweeper(&self, interval: Duration) {
        let licensing = self.licensing.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                match licensing.release_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(released = n, "expired seat reservations released"),
                    Err(e) => tracing::warn!(error = %e, "releasing expired reservations failed"),
                }
            }
        });
    }
}

/// The distributed deployment: admin API with `/healthz` and `/readyz`, and
/// the RabbitMQ consumer, the seat reservation server, the relay of its
/// outbox (`subscription.changed`) and the sweeper of expired reservations,
/// until SIGTERM or Ctrl-C.
pub async fn run_standalone(settings: Settings) -> anyhow::Result<()> {
    if settings.admin_key.is_none() {
        anyhow::bail!("SCIM_ADMIN_KEY is not set: the admin API needs it");
    }
    let service = LicensingService::build(
        settings.common.database.url.expose(),
        settings.common.database.max_connections,
        policy(&settings),
    )
    .await?;
    let (admin, store) = (service.clone(), service.store.clone());
    let dead_letters: Arc<dyn DeadLetterBox> = Arc::new(RabbitDeadLetters::new(
        settings.common.amqp.url.expose(),
        format!("{}.dead", settings.common.amqp.queue),
    ));
    let standalone = Standalone {
        settings: settings.common.clone(),
        admin_key: settings.admin_key.clone(),
        configure_admin: move |cfg: &mut web::ServiceConfig, key: &AdminKey| {
            cfg.app_data(admin.admin_state(key.clone()))
                .app_data(admin.replay_state(key.clone(), dead_letters.clone()));
            LicensingService::configure_admin(cfg);
        },
        ping: move || -> PingFuture {
            let store = store.clone();
            Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
        },
        handler: service.consumer(),
        bindings: BINDINGS,
    };
    service.spawn_sweeper(Duration::from_secs(
        settings.seats.sweep_interval_secs.max(1),
    ));
    let licensing = service.licensing.clone();
    let url = settings.common.amqp.url.expose().to_owned();
    let seats = settings.seats.clone();
    let relay = Relay::new(
        service.store.clone(),
        RabbitPublisher::new(&url, &settings.common.amqp.exchange),
        64,
    );
    standalone
        .run(move |stopped| {
            let relay_stopped = stopped.clone();
            let relay_task = tokio::spawn(async move {
                tokio::select! {
                    () = relay::run(relay, Pacing {
                        idle_poll: Duration::from_millis(200),
                        max_backoff: Duration::from_secs(30),
                    }, relay::Wakeup::default()) => {}
                    () = until_stopped(relay_stopped) => {}
                }
            });
            vec![
                relay_task,
                tokio::spawn(async move {
                    serve_reservations(
                        licensing,
                        &url,
                        &seats.queue,
                        seats.concurrency,
                        until_stopped(stopped),
                    )
                    .await;
                }),
            ]
        })
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
    let answer = move |body, _headers| {
        let desk = desk.clone();
        async move { desk.answer_bytes(body).await }
    };
    if let Err(e) = rpc::serve(url, queue, concurrency, answer, shutdown).await {
        tracing::error!(error = %e, "the seat reservation server stopped");
    }
}
