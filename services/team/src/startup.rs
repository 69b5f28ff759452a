//! Builds the team service from settings. The embedded process uses
//! [`TeamService::build`] and mounts [`TeamService::configure_admin`]
//! beside the gateway; the standalone binary adds its own HTTP server and the
//! RabbitMQ consumer ([`run_standalone`]).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use messaging_rabbitmq::consumer::{self, ConsumerSettings};
use messaging_rabbitmq::topology::{Exchanges, ServiceTopology};
use service_kit::admin_key::AdminKey;

use crate::config::Settings;
use crate::domain::service::Teams;
use crate::inbound::consumer::{BINDINGS, TeamConsumer};
use crate::inbound::http::{self, AdminState};
use crate::outbound::clock::SystemClock;
use crate::outbound::sql::{self, SqlTeamStore};

pub type TeamApp = Teams<SqlTeamStore, SystemClock>;

#[derive(Clone)]
pub struct TeamService {
    pub teams: Arc<TeamApp>,
    pub store: SqlTeamStore,
}

impl TeamService {
    /// Connects and migrates the team database.
    pub async fn build(database_url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let db = sql::connect(database_url, max_connections).await?;
        sql::migrate(&db).await?;
        let store = SqlTeamStore::new(db);
        Ok(Self {
            teams: Arc::new(Teams::new(store.clone(), SystemClock)),
            store,
        })
    }

    pub fn consumer(&self) -> TeamConsumer<SqlTeamStore, SystemClock> {
        TeamConsumer(self.teams.clone())
    }

    pub fn admin_state(
        &self,
        admin_key: AdminKey,
    ) -> web::Data<AdminState<SqlTeamStore, SystemClock>> {
        web::Data::new(AdminState {
            teams: self.teams.clone(),
            admin_key,
        })
    }

    pub fn configure_admin(cfg: &mut web::ServiceConfig) {
        http::configure::<SqlTeamStore, SystemClock>(cfg);
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

/// The distributed deployment: admin API with health endpoints, and the
/// RabbitMQ consumer, until SIGTERM or Ctrl-C; then the consumer finishes
/// the event in flight.
pub async fn run_standalone(settings: Settings) -> anyhow::Result<()> {
    let service = TeamService::build(
        settings.database.url.expose(),
        settings.database.max_connections,
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
        "team admin API listening"
    );
    let server = HttpServer::new(move || {
        let store = store.clone();
        let consumer_health = consumer_health.clone();
        App::new()
            .app_data(state.clone())
            .configure(TeamService::configure_admin)
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

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let consumer_task = tokio::spawn(consumer::run(
        consumer_settings,
        service.consumer(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    // actix stops the server on SIGTERM / Ctrl-C; then the consumer stops.
    server.await?;
    let _ = stop_tx.send(());
    let _ = consumer_task.await;
    server_handle.stop(true).await;
    Ok(())
}
