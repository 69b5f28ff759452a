//! The embedded process: the gateway, identity, team and licensing services in one process,
//! each on its own SQLite file under the data folder, joined by the
//! in-process bus (the gateway's relay publishes its journal to it). One HTTP
//! port serves the SCIM API, every admin API and the operator console
//! (`/console`, calling the admin APIs at this same port).
//!
//! The same use cases and adapters run here as in the distributed deployment;
//! only the bus differs, and it keeps the broker's guarantees (see
//! `messaging-inprocess`).

mod settings;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use anyhow::Context;
use identity::startup::IdentityService;
use licensing::inbound::rpc::ReservationDesk;
use licensing::outbound::sql::SqlLicensingStore;
use licensing::startup::LicensingService;
use messaging::relay::{self, Relay};
use messaging_inprocess::{InProcessBus, RetryPolicy};
use provisioning_events::PersonRef;
use provisioning_events::seats::{MAX_SEAT_REQUESTS_PER_MESSAGE, SeatRequest};
use scim_gateway::domain::models::OrgId;
use scim_gateway::domain::ports::{SeatAuthority, SeatFuture, SeatsFuture};
use scim_gateway::inbound::entitlement_consumer;
use scim_gateway::outbound::seats::{RpcSeats, decision};
use scim_gateway::outbound::sql::SqlScimView;
use scim_gateway::startup::{DemoCredentials, GatewayApi, bootstrap, build_api_with};
use service_kit::admin_key::AdminKey;
use service_kit::consumer_service::{ConsumingService, RelaySettings};
use service_kit::data_keys::{DataKeyError, DataKeySource, DataKeysFuture};
use service_kit::inbox_retention::InboxPruner;
use service_kit::shutdown::{BackgroundTasks, Serving};
use team::startup::TeamService;

pub use settings::{
    DEFAULT_SEAT_QUOTA, EmbeddedSettings, admin_key, admin_key_file, key_encryption_key_file,
};

/// Every service of the embedded process, built and migrated.
pub struct Platform {
    pub gateway_api: web::Data<GatewayApi>,
    pub gateway_store: SqlScimView,
    pub identity: IdentityService,
    pub team: TeamService,
    pub licensing: LicensingService,
    pub admin_key: AdminKey,
    /// The persons' data keys, read from the gateway's key table: what
    /// identity opens sealed profiles with, and what tells the dead letters
    /// of deleted persons.
    pub data_keys: Arc<dyn DataKeySource>,
    journal_relay_batch: u64,
    licensing_relay: RelaySettings,
    /// The access catalogue's roles: identity grants them, the gateway's
    /// connections choose a default role among them.
    access_roles: Vec<String>,
}

/// How the gateway asks for seats.
#[derive(Debug, Clone)]
pub enum SeatsVia {
    /// Licensing in this process (the embedded mode).
    InProcess,
    /// Request/reply over RabbitMQ, as the distributed deployment does.
    Rpc {
        url: String,
        queue: String,
        timeout: std::time::Duration,
    },
}

/// The data keys of persons, straight from the gateway's key table in this
/// process (the distributed services ask the gateway over request/reply).
pub struct GatewayDataKeys(pub SqlScimView);

impl DataKeySource for GatewayDataKeys {
    fn data_keys<'a>(&'a self, persons: &'a [PersonRef]) -> DataKeysFuture<'a> {
        Box::pin(async move {
            self.0
                .data_keys(persons)
                .await
                .map_err(|e| DataKeyError::Unavailable(e.to_string()))
        })
    }
}

/// Reservations the embedded licensing decides in one transaction at most.
const RESERVATION_BATCH: usize = 64;

/// The gateway's seat authority answered by the licensing use case in the
/// same process.
struct InProcessSeats(ReservationDesk);

impl SeatAuthority for InProcessSeats {
    fn reserve<'a>(&'a self, org: OrgId, key: &'a str) -> SeatFuture<'a> {
        Box::pin(async move {
            let request = SeatRequest {
                org_id: org.0,
                key: key.to_owned(),
            };
            decision(self.0.answer(request).await)
        })
    }

    fn reserve_all<'a>(&'a self, org: OrgId, keys: &'a [String]) -> SeatsFuture<'a> {
        Box::pin(async move {
            let mut decisions = Vec::with_capacity(keys.len());
            for chunk in keys.chunks(MAX_SEAT_REQUESTS_PER_MESSAGE) {
                let requests = chunk
                    .iter()
                    .map(|key| SeatRequest {
                        org_id: org.0,
                        key: key.clone(),
                    })
                    .collect();
                decisions.extend(self.0.answer_all(requests).await.into_iter().map(decision));
            }
            decisions
        })
    }
}

impl Platform {
    pub async fn build(
        settings: &EmbeddedSettings,
        admin_key: &str,
        seats_via: SeatsVia,
    ) -> anyhow::Result<Self> {
        let licensing = LicensingService::build(
            &settings.licensing_database_url,
            settings.gateway.database.max_connections,
            settings.seat_policy,
        )
        .await?;
        let seats: Arc<dyn SeatAuthority> = match seats_via {
            SeatsVia::InProcess => Arc::new(InProcessSeats(ReservationDesk::start(
                licensing.licensing.clone(),
                RESERVATION_BATCH,
            ))),
            SeatsVia::Rpc {
                url,
                queue,
                timeout,
            } => Arc::new(RpcSeats::new(&url, queue, timeout)),
        };
        let (gateway_api, gateway_store) = build_api_with(&settings.gateway, seats).await?;
        let data_keys: Arc<dyn DataKeySource> = Arc::new(GatewayDataKeys(gateway_store.clone()));
        let identity = IdentityService::build(
            &settings.identity_database_url,
            settings.gateway.database.max_connections,
            settings.access.clone(),
            data_keys.clone(),
        )
        .await?;
        let team = TeamService::build(
            &settings.team_database_url,
            settings.gateway.database.max_connections,
        )
        .await?;
        Ok(Self {
            gateway_api,
            gateway_store,
            identity,
            team,
            licensing,
            admin_key: AdminKey::new(admin_key),
            data_keys,
            journal_relay_batch: settings.gateway.amqp.relay_batch_size,
            access_roles: settings.access.roles.clone(),
            licensing_relay: settings.licensing_relay.clone(),
        })
    }

    /// The in-process bus with every consumer subscribed, dead letters kept in
    /// the gateway database.
    pub fn bus(&self, retry: RetryPolicy) -> InProcessBus<SqlScimView> {
        InProcessBus::new(self.gateway_store.clone(), retry)
            .subscribe(
                identity::inbound::consumer::CONSUMER,
                identity::inbound::consumer::BINDINGS,
                self.identity.consumer(),
            )
            .subscribe(
                team::inbound::consumer::CONSUMER,
                team::inbound::consumer::BINDINGS,
                self.team.consumer(),
            )
            .subscribe(
                licensing::inbound::consumer::CONSUMER,
                licensing::inbound::consumer::BINDINGS,
                self.licensing.consumer(),
            )
            .subscribe(
                entitlement_consumer::CONSUMER,
                entitlement_consumer::BINDINGS,
                scim_gateway::startup::entitlement_consumer(&self.gateway_store),
            )
    }

    /// The relay of the gateway's journal to every service.
    pub fn journal_relay(
        &self,
        retry: RetryPolicy,
    ) -> Relay<SqlScimView, InProcessBus<SqlScimView>> {
        Relay::new(
            self.gateway_store.clone(),
            self.bus(retry),
            self.journal_relay_batch,
        )
    }

    /// The relay of licensing's outbox (`subscription.changed`) to the gateway.
    pub fn licensing_relay(
        &self,
        retry: RetryPolicy,
    ) -> Relay<SqlLicensingStore, InProcessBus<SqlScimView>> {
        Relay::new(
            self.licensing.store.clone(),
            self.bus(retry),
            self.licensing_relay.batch_size,
        )
    }

    /// Mounts the SCIM API and every admin API with their state on one app.
    pub fn configure(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
        let gateway_api = self.gateway_api.clone();
        let gateway_admin = scim_gateway::startup::admin_state(
            &self.gateway_store,
            self.admin_key.clone(),
            self.access_roles.clone(),
        );
        let (identity, team, licensing) = (
            self.identity.clone(),
            self.team.clone(),
            self.licensing.clone(),
        );
        let (store, admin_key) = (self.gateway_store.clone(), self.admin_key.clone());
        let data_keys = self.data_keys.clone();
        move |cfg: &mut web::ServiceConfig| {
            // Dead letters are kept in the gateway database, per consumer.
            let dead_letters = |consumer: &'static str| -> Arc<dyn messaging::DeadLetterBox> {
                Arc::new(scim_gateway::outbound::sql::EmbeddedDeadLetters {
                    store: store.clone(),
                    consumer,
                })
            };
            cfg.app_data(gateway_api.clone())
                .app_data(gateway_admin.clone());
            let keys = || data_keys.clone();
            identity.configure_admin(
                cfg,
                &admin_key,
                dead_letters(IdentityService::CONSUMER),
                keys(),
            );
            team.configure_admin(cfg, &admin_key, dead_letters(TeamService::CONSUMER), keys());
            licensing.configure_admin(
                cfg,
                &admin_key,
                dead_letters(LicensingService::CONSUMER),
                keys(),
            );
            scim_gateway::startup::configure_admin(cfg);
            scim_gateway::startup::configure_app(cfg);
        }
    }

    /// The process's background work, stopping on `tasks`' signal: the
    /// journal's relay to every service (woken by the journal's writers,
    /// paced by the gateway's `amqp.relay_*`), licensing's outbox relay to
    /// the gateway, the sweeper of expired seat reservations, and the pruner
    /// of the four inboxes (the gateway's `inbox.*` settings; none when
    /// `inbox.retention_days` is 0). Once they have stopped, the four
    /// databases get their last checkpoint and close.
    pub fn spawn_background(
        &self,
        tasks: &mut BackgroundTasks,
        settings: &EmbeddedSettings,
        retry: RetryPolicy,
    ) {
        let gateway = &settings.gateway.amqp;
        let journal_pacing = relay::Pacing {
            idle_poll: std::time::Duration::from_millis(gateway.relay_idle_poll_ms),
            max_backoff: std::time::Duration::from_millis(gateway.relay_max_backoff_ms),
        };
        let (journal, wakeup) = (
            self.journal_relay(retry),
            self.gateway_store.journal_written(),
        );
        // One process, one relay: no lease to share, but its status is the
        // gateway's (`/readyz` says the relay publishes while it runs).
        let leasing = relay::Leasing {
            lease: relay::Unshared,
            retry: journal_pacing.idle_poll,
            status: self.gateway_store.relay_lease(),
        };
        tasks.spawn("journal relay", move |stop| {
            relay::run_leased(journal, journal_pacing, wakeup, leasing, stop.stopped())
        });
        let (outbox, pacing) = (self.licensing_relay(retry), self.licensing_relay.pacing());
        tasks.spawn("licensing outbox relay", move |stop| {
            relay::run(outbox, pacing, relay::Wakeup::default(), stop.stopped())
        });
        tasks.spawn("reservation sweeper", |stop| {
            self.licensing.sweep_expired(settings.sweep_interval, stop)
        });
        let inboxes = vec![
            self.identity.inbox(),
            self.team.inbox(),
            self.licensing.inbox(),
            scim_gateway::startup::entitlement_inbox(&self.gateway_store),
        ];
        if let Some(pruner) = InboxPruner::new(&settings.gateway.inbox, inboxes) {
            tasks.spawn("inbox pruner", |stop| pruner.run(stop));
        }
        tasks.close_at_stop("gateway", self.gateway_store.connection().clone());
        tasks.close_at_stop(IdentityService::CONSUMER, self.identity.database().clone());
        tasks.close_at_stop(TeamService::CONSUMER, self.team.database().clone());
        tasks.close_at_stop(
            LicensingService::CONSUMER,
            self.licensing.database().clone(),
        );
    }
}

/// The console's settings here: its defaults, every admin API at this
/// process's own address (loopback when bound to every interface), the
/// gateway's public URL as the tenant URL when one is set.
fn console_settings(
    settings: &EmbeddedSettings,
    bound: std::net::SocketAddr,
) -> console::config::ConsoleSettings {
    let host = match bound.ip() {
        ip if ip.is_unspecified() && ip.is_ipv6() => "[::1]".to_owned(),
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let own = format!("http://{host}:{}", bound.port());
    console::config::ConsoleSettings {
        gateway_url: own.clone(),
        identity_url: own.clone(),
        team_url: own.clone(),
        licensing_url: own,
        scim_base_url: settings.gateway.http.public_base_url.clone(),
        jaeger_url: settings.jaeger_url.clone(),
        ..console::config::ConsoleSettings::default()
    }
}

/// The embedded process, built from settings and bound to its port: every
/// service, their background work, one HTTP server. `main` only loads the
/// settings, prints what a newcomer needs and runs this.
pub struct EmbeddedApp {
    /// The server and its background tasks, bound and ready to run.
    pub serving: Serving,
    /// Set when this start created or found the demo organization.
    pub demo: Option<DemoCredentials>,
    /// The admin key, when this start generated it (kept under the data
    /// folder).
    pub new_admin_key: Option<String>,
}

impl EmbeddedApp {
    pub async fn build(settings: &EmbeddedSettings) -> anyhow::Result<Self> {
        let gateway = &settings.gateway;
        let (key, created) = admin_key(settings)?;
        let platform = Platform::build(settings, &key, SeatsVia::InProcess).await?;
        let mut tasks = BackgroundTasks::new();
        platform.spawn_background(&mut tasks, settings, RetryPolicy::default());

        let listener = TcpListener::bind((gateway.http.host.as_str(), gateway.http.port))
            .with_context(|| format!("binding {}:{}", gateway.http.host, gateway.http.port))?;
        let port = listener.local_addr()?.port();
        let demo = bootstrap(&platform.gateway_store, gateway, port).await?;

        let configure = platform.configure();
        let console = console::startup::configure(console::startup::build(
            &console_settings(settings, listener.local_addr()?),
            &key,
        )?);
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(
                    scim_gateway::inbound::http::request_span,
                ))
                .configure(console.clone())
                .configure(configure.clone())
        })
        .listen(listener)?;
        if let Some(workers) = gateway.http.workers {
            server = server.workers(workers);
        }
        Ok(Self {
            serving: Serving::new(port, server.run(), tasks),
            demo,
            new_admin_key: created.then_some(key),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use scim_gateway::config::{Secret, Settings as GatewaySettings};

    use super::*;

    #[actix_web::test]
    async fn the_embedded_process_stops_its_relays_and_sweeper_on_shutdown() {
        let dir = test_support::temp_dir("embedded-stop");
        let mut gateway = GatewaySettings::from_sources(None, false).expect("default settings");
        gateway.database.url = Secret::new(test_support::sqlite_url(&dir, "gateway.db"));
        gateway.http.port = 0;
        gateway.bootstrap.data_dir = dir.display().to_string();
        let settings = EmbeddedSettings::defaults(gateway);
        let app = EmbeddedApp::build(&settings)
            .await
            .expect("the process starts");
        assert_eq!(
            app.serving.background_tasks(),
            [
                "journal relay",
                "licensing outbox relay",
                "reservation sweeper",
                "inbox pruner"
            ]
        );
        assert_eq!(
            app.serving.databases_closed_at_stop(),
            ["gateway", "identity", "team", "licensing"]
        );
        let stopped = tokio::time::timeout(
            Duration::from_secs(10),
            app.serving
                .run_until(tokio::time::sleep(Duration::from_millis(300))),
        )
        .await
        .expect("stopped within 10 s of the signal");
        stopped.expect("every background task stopped in time");
        let _ = std::fs::remove_dir_all(dir);
    }
}
