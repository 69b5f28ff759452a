//! Builds the licensing service from settings. The embedded process uses
//! [`LicensingService::build`] and mounts [`LicensingService::configure_admin`]
//! beside the gateway; the standalone binary adds its own HTTP server and the
//! RabbitMQ consumer ([`run_standalone`]).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use messaging_rabbitmq::consumer::{self, ConsumerSettings};
use messaging_rabbitmq::rpc;
use messaging_rabbitmq::topology::{Exchanges, ServiceTopology};
use service_kit::admin_key::AdminKey;

use crate::config::Settings;
use crate::domain::models::Subscription;
use crate::domain::service::{Licensing, SeatPolicy};
use crate::inbound::consumer::{BINDINGS, LicensingConsumer};
use crate::inbound::http::{self, AdminState};
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

    pub fn configure_admin(cfg: &mut web::ServiceConfig) {
        http::configure::<SqlLicensingStore, SystemClock>(cfg);
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

pub fn consumer_settings(settings: &Settings) -> ConsumerSettings {
    ConsumerSettings {
        url: settings.amqp.url.expose().to_owned(),
        exchanges: Exchanges::for_exchange(&settings.amqp.exchange),
        topology: ServiceTopology {
            service: settings.amqp.queue.clone(),
            routing_keys: BINDINGS.iter().map(|k| (*k).to_owned()).collect(),
            retry_delay: Duration::from_millis(settings.amqp.retry_delay_ms),
        },
        prefetch: settings.amqp.prefetch,
        max_attempts: settings.amqp.max_attempts,
        health: Default::default(),
    }
}

/// The distributed deployment: admin API with health endpoints, the RabbitMQ
/// consumer of user events, the seat reservation server and the sweeper of
/// expired reservations, until SIGTERM or Ctrl-C; then the consumer and the
/// reservation server finish what they have in flight.
pub async fn run_standalone(settings: Settings) -> anyhow::Result<()> {
    let service = LicensingService::build(
        settings.database.url.expose(),
        settings.database.max_connections,
        policy(&settings),
    )
    .await?;
    let admin_key = match &settings.admin_key {
        Some(key) => AdminKey::new(key.expose()),
        None => anyhow::bail!("SCIM_ADMIN_KEY is not set: the admin API needs it"),
    };
    let state = service.admin_state(admin_key);
    let store = service.store.clone();
    let consumer_settings = consumer_settings(&settings);
    let consumer_health = consumer_settings.health.clone();
    let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))
        .with_context(|| format!("binding {}:{}", settings.http.host, settings.http.port))?;
    tracing::info!(
        port = listener.local_addr()?.port(),
        "licensing admin API listening"
    );
    let server = HttpServer::new(move || {
        let store = store.clone();
        let consumer_health = consumer_health.clone();
        App::new()
            .app_data(state.clone())
            .configure(LicensingService::configure_admin)
            .route("/healthz", web::get().to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }))
            .route(
                "/readyz",
                // Ready once the database answers and the consumer's queue is
                // declared and consumed: from then on no event for it is lost.
                web::get().to(move || {
                    let store = store.clone();
                    let consuming = consumer_health.is_consuming();
                    async move {
                        match (store.ping().await, consuming) {
                            (Ok(()), true) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
                            (Err(e), _) => HttpResponse::ServiceUnavailable()
                                .json(serde_json::json!({"status": "unavailable", "detail": e.to_string()})),
                            (Ok(()), false) => HttpResponse::ServiceUnavailable()
                                .json(serde_json::json!({"status": "unavailable", "detail": "not consuming from the broker yet"})),
                        }
                    }
                }),
            )
    })
    .listen(listener)?
    .run();
    let server_handle = server.handle();

    service.spawn_sweeper(Duration::from_secs(
        settings.seats.sweep_interval_secs.max(1),
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let consumer_task = tokio::spawn(consumer::run(
        consumer_settings,
        service.consumer(),
        stopped(stop_rx.clone()),
    ));
    let licensing = service.licensing.clone();
    let (url, queue) = (
        settings.amqp.url.expose().to_owned(),
        settings.seats.queue.clone(),
    );
    let concurrency = settings.seats.concurrency;
    let rpc_task = tokio::spawn(async move {
        rpc::serve(
            &url,
            &queue,
            concurrency,
            move |body, _headers| crate::inbound::rpc::answer_bytes(licensing.clone(), body),
            stopped(stop_rx),
        )
        .await
    });
    // actix stops the server on SIGTERM / Ctrl-C; then the consumers stop.
    server.await?;
    let _ = stop_tx.send(true);
    let _ = consumer_task.await;
    let _ = rpc_task.await;
    server_handle.stop(true).await;
    Ok(())
}
