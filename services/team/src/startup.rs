//! Builds the team service from settings. The embedded process uses
//! [`TeamService::build`] and mounts [`TeamService::configure_admin`]
//! beside the gateway; the standalone binary runs it with its own HTTP server
//! and RabbitMQ consumer ([`run_standalone`]).

use std::sync::Arc;

use actix_web::web;
use messaging::DeadLetterBox;
use messaging_rabbitmq::dead_letters::RabbitDeadLetters;
use service_kit::admin_key::AdminKey;
use service_kit::consumer_service::{PingFuture, Standalone};
use service_kit::replay::{self, ReplayState};

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

    pub fn admin_state(
        &self,
        admin_key: AdminKey,
    ) -> web::Data<AdminState<SqlTeamStore, SystemClock>> {
        web::Data::new(AdminState {
            teams: self.teams.clone(),
            admin_key,
        })
    }

    /// What the replay routes need: the consumer and the inbox.
    pub fn replay_state(
        &self,
        admin_key: AdminKey,
        dead_letters: Arc<dyn DeadLetterBox>,
    ) -> web::Data<ReplayState<TeamConsumer<SqlTeamStore, SystemClock>>> {
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
        http::configure::<SqlTeamStore, SystemClock>(cfg);
        replay::configure::<TeamConsumer<SqlTeamStore, SystemClock>>(cfg, CONSUMER);
    }
}

/// The distributed deployment: admin API with `/healthz` and `/readyz`, and
/// the RabbitMQ consumer, until SIGTERM or Ctrl-C.
pub async fn run_standalone(settings: Settings) -> anyhow::Result<()> {
    if settings.admin_key.is_none() {
        anyhow::bail!("SCIM_ADMIN_KEY is not set: the admin API needs it");
    }
    let service = TeamService::build(
        settings.common.database.url.expose(),
        settings.common.database.max_connections,
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
            TeamService::configure_admin(cfg);
        },
        ping: move || -> PingFuture {
            let store = store.clone();
            Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
        },
        handler: service.consumer(),
        bindings: BINDINGS,
    };
    standalone.run(|_| Vec::new()).await
}
