//! Builds the identity service from settings. The embedded process uses
//! [`IdentityService::build`] and mounts its admin API through
//! [`ConsumingService`] beside the gateway; the standalone binary runs it
//! with its own HTTP server and RabbitMQ consumer ([`run_standalone`]).

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use sea_orm::DatabaseConnection;
use service_kit::admin_key::AdminKey;
use service_kit::consumer_service::{self, ConsumingService, PingFuture};
use service_kit::data_keys::{DataKeySource, RpcDataKeys};

use crate::config::Settings;
use crate::domain::keys::DEFAULT_CACHE_CAPACITY;
use crate::domain::service::{AccessCatalogue, Identity};
use crate::inbound::consumer::{BINDINGS, CONSUMER, IdentityConsumer};
use crate::inbound::http::{self, AdminState};
use crate::outbound::clock::SystemClock;
use crate::outbound::data_keys::SourcedDataKeys;
use crate::outbound::sql::{self, SqlAccountStore};

pub type IdentityApp = Identity<SqlAccountStore, SystemClock, SourcedDataKeys>;
pub type IdentityHandler = IdentityConsumer<SqlAccountStore, SystemClock, SourcedDataKeys>;

#[derive(Clone)]
pub struct IdentityService {
    pub identity: Arc<IdentityApp>,
    pub store: SqlAccountStore,
    /// Where the data keys come from: the profiles' and the dead letters'.
    keys: Arc<dyn DataKeySource>,
}

impl IdentityService {
    /// Connects and migrates the identity database; sealed profiles open
    /// with the data keys of `keys` (the gateway's), at most
    /// [`DEFAULT_CACHE_CAPACITY`] of them cached.
    pub async fn build(
        database_url: &str,
        max_connections: u32,
        catalogue: AccessCatalogue,
        keys: Arc<dyn DataKeySource>,
    ) -> anyhow::Result<Self> {
        Self::build_with_cache(
            database_url,
            max_connections,
            catalogue,
            keys,
            DEFAULT_CACHE_CAPACITY,
        )
        .await
    }

    /// [`Self::build`] keeping at most `key_cache_capacity` persons' keys.
    pub async fn build_with_cache(
        database_url: &str,
        max_connections: u32,
        catalogue: AccessCatalogue,
        keys: Arc<dyn DataKeySource>,
        key_cache_capacity: usize,
    ) -> anyhow::Result<Self> {
        let db = sql::connect(database_url, max_connections).await?;
        sql::migrate(&db).await?;
        let store = SqlAccountStore::new(db);
        let identity = Identity::new(
            store.clone(),
            SystemClock,
            SourcedDataKeys(keys.clone()),
            key_cache_capacity,
            catalogue,
        );
        Ok(Self {
            identity: Arc::new(identity),
            store,
            keys,
        })
    }

    pub fn consumer(&self) -> IdentityHandler {
        IdentityConsumer(self.identity.clone())
    }
}

impl ConsumingService for IdentityService {
    type Handler = IdentityHandler;
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
            identity: self.identity.clone(),
            admin_key: admin_key.clone(),
        }));
        http::configure::<SqlAccountStore, SystemClock, SourcedDataKeys>(cfg);
    }

    /// The dead letters' keys come from where the profiles' do: standalone,
    /// [`rpc_data_keys`] (`data_keys.queue`, `data_keys.timeout_ms`), not
    /// the default queue.
    fn dead_letter_keys(&self, _: &consumer_service::CommonSettings) -> Arc<dyn DataKeySource> {
        self.keys.clone()
    }
}

pub fn catalogue(settings: &Settings) -> AccessCatalogue {
    AccessCatalogue {
        roles: crate::config::list(&settings.access.roles),
        permissions: crate::config::list(&settings.access.permissions),
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
/// RabbitMQ consumer and the pruner of its inbox, until SIGTERM or Ctrl-C.
/// Sealed profiles open with keys asked of the gateway ([`rpc_data_keys`]).
pub async fn run_standalone(settings: Settings) -> anyhow::Result<()> {
    let admin_key = consumer_service::require_admin_key(settings.admin_key.as_ref())?;
    let service = IdentityService::build_with_cache(
        settings.common.database.url.expose(),
        settings.common.database.max_connections,
        catalogue(&settings),
        rpc_data_keys(&settings),
        settings.data_keys.cache_capacity,
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
