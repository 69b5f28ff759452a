//! The embedded process: the gateway, identity, team and licensing services in one process,
//! each on its own SQLite file under the data folder, joined by the
//! in-process bus (the gateway's relay publishes its journal to it). One HTTP
//! port serves the SCIM API and every admin API.
//!
//! The same use cases and adapters run here as in the distributed deployment;
//! only the bus differs, and it keeps the broker's guarantees (see
//! `messaging-inprocess`).

use std::path::{Path, PathBuf};

use actix_web::web;
use anyhow::Context;
use identity::domain::service::AccessCatalogue;
use identity::startup::IdentityService;
use licensing::domain::models::Subscription;
use licensing::domain::service::SeatPolicy;
use licensing::inbound::rpc::ReservationDesk;
use licensing::outbound::sql::SqlLicensingStore;
use licensing::startup::LicensingService;
use messaging::relay::Relay;
use messaging_inprocess::{InProcessBus, RetryPolicy};
use provisioning_events::seats::SeatRequest;
use rand::RngExt;
use scim_gateway::config::Settings as GatewaySettings;
use scim_gateway::domain::models::OrgId;
use scim_gateway::domain::ports::{SeatAuthority, SeatFuture};
use scim_gateway::inbound::entitlement_consumer;
use scim_gateway::outbound::seats::{RpcSeats, decision};
use scim_gateway::outbound::sql::SqlScimView;
use scim_gateway::startup::{GatewayApi, build_api_with};
use serde::Deserialize;
use service_kit::admin_key::AdminKey;
use std::sync::Arc;
use team::startup::TeamService;

/// Settings of the embedded process: the gateway's (`SCIM_HTTP__PORT`, …) plus
/// where the other services keep their data.
#[derive(Debug, Clone)]
pub struct EmbeddedSettings {
    pub gateway: GatewaySettings,
    pub identity_database_url: String,
    pub team_database_url: String,
    pub licensing_database_url: String,
    pub seat_policy: SeatPolicy,
    pub access: AccessCatalogue,
    /// `SCIM_ADMIN_KEY`; generated and kept under the data folder when unset.
    pub admin_key: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ExtraSettings {
    identity_database_url: Option<String>,
    team_database_url: Option<String>,
    licensing_database_url: Option<String>,
    default_seat_quota: Option<u32>,
    access_roles: Option<String>,
    access_permissions: Option<String>,
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl EmbeddedSettings {
    /// Defaults, `config/gateway.toml`, then the environment
    /// (`SCIM_EMBEDDED__IDENTITY_DATABASE_URL`, `SCIM_EMBEDDED__ACCESS_ROLES`, …).
    pub fn load() -> anyhow::Result<Self> {
        let gateway = GatewaySettings::load()?;
        let extra: ExtraSettings = config::Config::builder()
            .add_source(
                config::Environment::with_prefix("SCIM_EMBEDDED")
                    .prefix_separator("__")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()?;
        let mut settings = Self::defaults(gateway);
        if let Some(url) = extra.identity_database_url {
            settings.identity_database_url = url;
        }
        if let Some(url) = extra.team_database_url {
            settings.team_database_url = url;
        }
        if let Some(url) = extra.licensing_database_url {
            settings.licensing_database_url = url;
        }
        if let Some(quota) = extra.default_seat_quota {
            settings.seat_policy.default_subscription.seat_quota = quota;
        }
        if let Some(roles) = extra.access_roles {
            settings.access.roles = list(&roles);
        }
        if let Some(permissions) = extra.access_permissions {
            settings.access.permissions = list(&permissions);
        }
        settings.admin_key = std::env::var("SCIM_ADMIN_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        Ok(settings)
    }

    /// The defaults around given gateway settings: the identity database
    /// beside the gateway's, the default access catalogue.
    pub fn defaults(gateway: GatewaySettings) -> Self {
        let data_dir = PathBuf::from(&gateway.bootstrap.data_dir);
        Self {
            identity_database_url: format!("sqlite://{}", data_dir.join("identity.db").display()),
            team_database_url: format!("sqlite://{}", data_dir.join("team.db").display()),
            licensing_database_url: format!("sqlite://{}", data_dir.join("licensing.db").display()),
            seat_policy: SeatPolicy {
                default_subscription: Subscription {
                    seat_quota: DEFAULT_SEAT_QUOTA,
                    scim_included: true,
                },
                hold_for: chrono::Duration::seconds(120),
            },
            access: AccessCatalogue {
                roles: list(identity::config::DEFAULT_ROLES),
                permissions: list(identity::config::DEFAULT_PERMISSIONS),
            },
            admin_key: None,
            gateway,
        }
    }
}

/// Every service of the embedded process, built and migrated.
pub struct Platform {
    pub gateway_api: web::Data<GatewayApi>,
    pub gateway_store: SqlScimView,
    pub identity: IdentityService,
    pub team: TeamService,
    pub licensing: LicensingService,
    pub admin_key: AdminKey,
}

/// Seats of an organization without a subscription of its own.
pub const DEFAULT_SEAT_QUOTA: u32 = 25;

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
        let identity = IdentityService::build(
            &settings.identity_database_url,
            settings.gateway.database.max_connections,
            settings.access.clone(),
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
        Relay::new(self.gateway_store.clone(), self.bus(retry), 256)
    }

    /// The relay of licensing's outbox (`subscription.changed`) to the gateway.
    pub fn licensing_relay(
        &self,
        retry: RetryPolicy,
    ) -> Relay<SqlLicensingStore, InProcessBus<SqlScimView>> {
        Relay::new(self.licensing.store.clone(), self.bus(retry), 64)
    }

    /// Mounts the SCIM API and every admin API with their state on one app.
    pub fn configure(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
        let gateway_api = self.gateway_api.clone();
        let identity_admin = self.identity.admin_state(self.admin_key.clone());
        let team_admin = self.team.admin_state(self.admin_key.clone());
        let licensing_admin = self.licensing.admin_state(self.admin_key.clone());
        let dead_letters = |consumer: &'static str| -> Arc<dyn messaging::DeadLetterBox> {
            Arc::new(scim_gateway::outbound::sql::EmbeddedDeadLetters {
                store: self.gateway_store.clone(),
                consumer,
            })
        };
        let replay = (
            self.identity.replay_state(
                self.admin_key.clone(),
                dead_letters(identity::inbound::consumer::CONSUMER),
            ),
            self.team.replay_state(
                self.admin_key.clone(),
                dead_letters(team::inbound::consumer::CONSUMER),
            ),
            self.licensing.replay_state(
                self.admin_key.clone(),
                dead_letters(licensing::inbound::consumer::CONSUMER),
            ),
        );
        let gateway_admin =
            scim_gateway::startup::admin_state(&self.gateway_store, self.admin_key.clone());
        move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(gateway_api.clone())
                .app_data(gateway_admin.clone())
                .app_data(identity_admin.clone())
                .app_data(team_admin.clone())
                .app_data(licensing_admin.clone())
                .app_data(replay.0.clone())
                .app_data(replay.1.clone())
                .app_data(replay.2.clone());
            IdentityService::configure_admin(cfg);
            TeamService::configure_admin(cfg);
            LicensingService::configure_admin(cfg);
            scim_gateway::startup::configure_admin(cfg);
            scim_gateway::startup::configure_app(cfg);
        }
    }
}

/// The admin key: `SCIM_ADMIN_KEY`, else the one kept in `<data>/admin-key`,
/// else a new one written there (owner-readable only). Returns the key and
/// whether it was just created.
pub fn admin_key(settings: &EmbeddedSettings) -> anyhow::Result<(String, bool)> {
    if let Some(key) = &settings.admin_key {
        return Ok((key.clone(), false));
    }
    let file = admin_key_file(&settings.gateway.bootstrap.data_dir);
    if let Ok(existing) = std::fs::read_to_string(&file) {
        let existing = existing.trim();
        if !existing.is_empty() {
            return Ok((existing.to_owned(), false));
        }
    }
    let bytes: [u8; 32] = rand::rng().random();
    let key: String = std::iter::once("adm_".to_owned())
        .chain(bytes.iter().map(|b| format!("{b:02x}")))
        .collect();
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&file, &key).with_context(|| format!("writing {}", file.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok((key, true))
}

pub fn admin_key_file(data_dir: &str) -> PathBuf {
    Path::new(data_dir).join("admin-key")
}
