//! Builds the team service from settings. The embedded process uses
//! [`TeamService::build`] and mounts its admin API through
//! [`ConsumingService`] beside the gateway; the standalone binary runs it
//! with its own HTTP server and RabbitMQ consumer ([`run_standalone`]).

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use sea_orm::DatabaseConnection;
use service_kit::admin_key::AdminKey;
use service_kit::consumer_service::{self, CommonSettings, ConsumingService, PingFuture};
use service_kit::data_keys::{DataKeySource, RpcDataKeys};

use crate::config::Settings;
use crate::domain::service::Teams;
use crate::inbound::consumer::{BINDINGS, CONSUMER, TeamConsumer};
use crate::inbound::http::{self, AdminState};
use crate::outbound::clock::SystemClock;
use crate::outbound::sql::{self, SqlTeamStore};

pub type TeamApp = Teams<SqlTeamStore, SystemClock>;

#[derive(Clone)]
pub struct TeamService {
    pub teams: Arc<TeamApp>,
    pub store: SqlTeamStore,
    /// Where the standalone dead-letter routes ask whose data keys are gone
    /// (`data_keys.*`); the default queue when not set.
    dead_letter_keys: Option<Arc<dyn DataKeySource>>,
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
            dead_letter_keys: None,
        })
    }

    /// The dead-letter routes ask `keys` whose data keys are gone.
    pub fn with_dead_letter_keys(mut self, keys: Arc<dyn DataKeySource>) -> Self {
        self.dead_letter_keys = Some(keys);
        self
    }

    pub fn consumer(&self) -> TeamConsumer<SqlTeamStore, SystemClock> {
        TeamConsumer(self.teams.clone())
    }
}

impl ConsumingService for TeamService {
    type Handler = TeamConsumer<SqlTeamStore, SystemClock>;
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
            teams: self.teams.clone(),
            admin_key: admin_key.clone(),
        }));
        http::configure::<SqlTeamStore, SystemClock>(cfg);
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
/// (`data_keys.queue`, `data_keys.timeout_ms`).
pub fn rpc_data_keys(settings: &Settings) -> Arc<dyn DataKeySource> {
    Arc::new(
        RpcDataKeys::new(
            settings.common.amqp.url.expose(),
            Duration::from_millis(settings.data_keys.timeout_ms),
        )
        .with_queue(settings.data_keys.queue.clone()),
    )
}

/// The distributed deployment: admin API with `/healthz` and `/readyz`, the
/// RabbitMQ consumer and the pruner of its inbox, until SIGTERM or Ctrl-C;
/// its dead-letter routes ask [`rpc_data_keys`].
pub async fn run_standalone(settings: Settings) -> anyhow::Result<()> {
    let admin_key = consumer_service::require_admin_key(settings.admin_key.as_ref())?;
    let service = TeamService::build(
        settings.common.database.url.expose(),
        settings.common.database.max_connections,
    )
    .await?
    .with_dead_letter_keys(rpc_data_keys(&settings));
    consumer_service::run_standalone(
        service,
        &settings.common,
        admin_key,
        |_| {},
        std::future::pending(),
    )
    .await
}
