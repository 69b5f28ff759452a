//! Builds the team service from settings. The embedded process uses
//! [`TeamService::build`] and mounts its admin API through
//! [`ConsumingService`] beside the gateway; the standalone binary runs it
//! with its own HTTP server and RabbitMQ consumer ([`run_standalone`]).

use std::sync::Arc;

use actix_web::web;
use sea_orm::DatabaseConnection;
use service_kit::admin_key::AdminKey;
use service_kit::consumer_service::{self, ConsumingService, PingFuture};

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
}

/// The distributed deployment: admin API with `/healthz` and `/readyz`, the
/// RabbitMQ consumer and the pruner of its inbox, until SIGTERM or Ctrl-C.
pub async fn run_standalone(settings: Settings) -> anyhow::Result<()> {
    let admin_key = consumer_service::require_admin_key(settings.admin_key.as_ref())?;
    let service = TeamService::build(
        settings.common.database.url.expose(),
        settings.common.database.max_connections,
    )
    .await?;
    consumer_service::run_standalone(
        service,
        &settings.common,
        admin_key,
        |_| {},
        std::future::pending(),
    )
    .await
}
