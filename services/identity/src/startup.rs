//! Builds the identity service from settings. The embedded process uses
//! [`IdentityService::build`] and mounts [`IdentityService::configure_admin`]
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
use crate::domain::service::{AccessCatalogue, Identity};
use crate::inbound::consumer::{BINDINGS, CONSUMER, IdentityConsumer};
use crate::inbound::http::{self, AdminState};
use crate::outbound::clock::SystemClock;
use crate::outbound::sql::{self, SqlAccountStore};

pub type IdentityApp = Identity<SqlAccountStore, SystemClock>;

#[derive(Clone)]
pub struct IdentityService {
    pub identity: Arc<IdentityApp>,
    pub store: SqlAccountStore,
}

impl IdentityService {
    /// Connects and migrates the identity database.
    pub async fn build(
        database_url: &str,
        max_connections: u32,
        catalogue: AccessCatalogue,
    ) -> anyhow::Result<Self> {
        let db = sql::connect(database_url, max_connections).await?;
        sql::migrate(&db).await?;
        let store = SqlAccountStore::new(db);
        Ok(Self {
            identity: Arc::new(Identity::new(store.clone(), SystemClock, catalogue)),
            store,
        })
    }

    pub fn consumer(&self) -> IdentityConsumer<SqlAccountStore, SystemClock> {
        IdentityConsumer(self.identity.clone())
    }

    pub fn admin_state(
        &self,
        admin_key: AdminKey,
    ) -> web::Data<AdminState<SqlAccountStore, SystemClock>> {
        web::Data::new(AdminState {
            identity: self.identity.clone(),
            admin_key,
        })
    }

    /// What the replay routes need: the consumer and the inbox.
    pub fn replay_state(
        &self,
        admin_key: AdminKey,
        dead_letters: Arc<dyn DeadLetterBox>,
    ) -> web::Data<ReplayState<IdentityConsumer<SqlAccountStore, SystemClock>>> {
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
        http::configure::<SqlAccountStore, SystemClock>(cfg);
        replay::configure::<IdentityConsumer<SqlAccountStore, SystemClock>>(cfg, CONSUMER);
    }
}

pub fn catalogue(settings: &Settings) -> AccessCatalogue {
    AccessCatalogue {
        roles: crate::config::list(&settings.access.roles),
        permissions: crate::config::list(&settings.access.permissions),
    }
}

/// The distributed deployment: admin API with `/healthz` and `/readyz`, and
/// the RabbitMQ consumer, until SIGTERM or Ctrl-C.
pub async fn run_standalone(settings: Settings) -> anyhow::Result<()> {
    if settings.admin_key.is_none() {
        anyhow::bail!("SCIM_ADMIN_KEY is not set: the admin API needs it");
    }
    let service = IdentityService::build(
        settings.common.database.url.expose(),
        settings.common.database.max_connections,
        catalogue(&settings),
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
            IdentityService::configure_admin(cfg);
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
