//! Builds the gateway from settings: database, migrations, bootstrap
//! credentials, HTTP server. `main` only loads settings and calls this.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use actix_web::{App, HttpServer, web};
use anyhow::Context;
use serde::{Deserialize, Serialize};

use std::time::Duration;

use messaging::EventPublisher;
use messaging::relay::{self, Relay};
use messaging_rabbitmq::RabbitPublisher;
use provisioning_events::sealing::{KeyEncryptionKey, KeyRing};

use crate::config::Settings;
use crate::domain::entitlements::Entitlements;
use crate::domain::event_log::EventLog;
use crate::domain::limits::{Fairness, Limiter, validated as valid_limits};
use crate::domain::models::BearerToken;
use crate::domain::models::RequestLimits;
use crate::domain::organizations::Organizations;
use crate::domain::ports::SeatAuthority;
use crate::domain::service::{ScimView, ViewLimits};
use crate::inbound::entitlement_consumer::{self, EntitlementConsumer};
use crate::inbound::http::{self, BrokerHealth, ScimApi};
use crate::outbound::clock::SystemClock;
use crate::outbound::cursor_seal::KeyedCursorSeal;
use crate::outbound::seats::{RpcSeats, UnmeteredSeats};
use crate::outbound::sql::{self, SqlScimView};
use crate::outbound::tokens::RandomTokens;
use messaging_rabbitmq::consumer::{self, ConsumerSettings};
use messaging_rabbitmq::topology::{Exchanges, ServiceTopology};
use service_kit::admin_key::AdminKey;
use service_kit::inbox_retention::{Inbox, InboxPruner};
use service_kit::relay_lease::{self, LeaseSettings, LeasedOutbox};
use service_kit::shutdown::{BackgroundTasks, Serving, ShutdownSignal};
use std::sync::Arc;

pub struct Application {
    /// The server and its background tasks, bound and ready to run.
    pub serving: Serving,
    /// Set when this start created or found the embedded demo organization.
    pub demo: Option<DemoCredentials>,
}

/// What a developer needs to point an IdP (or curl) at the embedded gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoCredentials {
    pub org_id: String,
    pub scim_base_url: String,
    pub token: String,
}

pub type GatewayApi = ScimApi<SqlScimView, SystemClock>;
pub type GatewayAdmin = Organizations<SqlScimView, SystemClock, RandomTokens>;
pub type GatewayAdminState = http::admin::AdminState<SqlScimView, SystemClock, RandomTokens>;

/// The state of the gateway's admin API (organizations, connection, tokens).
/// `roles`: the access catalogue's ([`crate::config::AccessSettings`]).
pub fn admin_state(
    store: &SqlScimView,
    admin_key: AdminKey,
    roles: Vec<String>,
) -> web::Data<GatewayAdminState> {
    web::Data::new(http::admin::AdminState {
        organizations: Arc::new(
            Organizations::new(store.clone(), SystemClock, RandomTokens).with_roles(roles),
        ),
        events: Arc::new(EventLog::new(store.clone())),
        admin_key,
    })
}

/// Mounts the gateway's admin routes; the state is [`admin_state`] (and, for
/// the limits routes, the SCIM API's: [`build_api`]).
pub fn configure_admin(cfg: &mut web::ServiceConfig) {
    http::admin::configure::<SqlScimView, SystemClock, RandomTokens>(cfg);
    http::admin_limits::configure::<SqlScimView, SystemClock, RandomTokens>(cfg);
}

/// Connects and migrates the database and assembles the HTTP API's state,
/// asking licensing for seats over request/reply when a broker is configured.
pub async fn build_api(
    settings: &Settings,
) -> anyhow::Result<(web::Data<GatewayApi>, SqlScimView)> {
    let seats: Arc<dyn SeatAuthority> = match configured_amqp(settings) {
        Some(url) => Arc::new(RpcSeats::new(
            url,
            settings.licensing.queue.clone(),
            Duration::from_millis(settings.licensing.timeout_ms),
        )),
        None => {
            tracing::warn!("no amqp.url: no licensing service to ask, seats are not counted");
            Arc::new(UnmeteredSeats)
        }
    };
    let broker = configured_amqp(settings).map(|_| BrokerHealth {
        data_key_queue: settings.data_keys.queue.clone(),
        journal_queue: settings.catch_up.queue_for(&settings.amqp.exchange),
        ..BrokerHealth::default()
    });
    build_api_serving(settings, seats, broker).await
}

fn configured_amqp(settings: &Settings) -> Option<&str> {
    settings
        .amqp
        .url
        .as_ref()
        .map(|u| u.expose())
        .filter(|u| !u.is_empty())
}

/// [`build_api`] with the seat authority chosen by the caller (the embedded
/// process asks its in-process licensing).
pub async fn build_api_with(
    settings: &Settings,
    seats: Arc<dyn SeatAuthority>,
) -> anyhow::Result<(web::Data<GatewayApi>, SqlScimView)> {
    build_api_serving(settings, seats, None).await
}

/// The API, with what the process serves on the broker (`/readyz`).
async fn build_api_serving(
    settings: &Settings,
    seats: Arc<dyn SeatAuthority>,
    broker: Option<BrokerHealth>,
) -> anyhow::Result<(web::Data<GatewayApi>, SqlScimView)> {
    let db = sql::connect(
        settings.database.url.expose(),
        settings.database.max_connections,
    )
    .await?;
    sql::migrate(&db).await?;
    let mut store = SqlScimView::new(db)
        .with_tenant_cache(Duration::from_millis(settings.http.tenant_cache_ms));
    if let Some(marks) = sql::connect_publication_marks(settings.database.url.expose()).await? {
        store = store.with_publication_marks(marks);
    }
    if let Some(reads) = sql::connect_reads(settings.database.url.expose()).await? {
        store = store.with_reads(reads);
    }
    let keys = key_ring(settings)?;
    let seat_keys = keys
        .current()
        .derived_secret(provisioning_events::seats::SEAT_KEY_SECRET_LABEL);
    let cursor_seal = Arc::new(KeyedCursorSeal::new(&keys));
    // Advertised as `cursorTimeout`, which RFC 9865 §4 makes positive.
    anyhow::ensure!(
        settings.scim.cursor_timeout_seconds > 0,
        "scim.cursor_timeout_seconds must be at least 1"
    );
    let store = if settings.keys.in_process {
        store.with_key_ring_in_process(keys)
    } else {
        store.with_key_ring(keys)
    };
    keep_personal_data_sealed(&store).await?;
    let limits = ViewLimits {
        max_results: settings.scim.max_results,
        default_count: settings.scim.default_count,
        max_page_bytes: settings.scim.max_page_bytes,
        write_deadline: Duration::from_millis(settings.scim.write_deadline_ms),
        writes: scim_protocol::limits::WriteLimits {
            max_string_chars: settings.scim.max_string_chars,
            max_resource_bytes: settings.scim.max_resource_bytes,
            max_operation_values: settings.scim.max_operation_values,
        },
        cursor_timeout: Duration::from_secs(settings.scim.cursor_timeout_seconds),
        bulk_max_operations: settings.scim.bulk_max_operations,
        bulk_concurrency: settings.scim.bulk_concurrency,
    };
    let limiter = Limiter::new(
        valid_limits(RequestLimits {
            max_in_flight: settings.limits.max_in_flight,
            rate_per_second: settings.limits.rate_per_second,
            burst: settings.limits.burst,
        })
        .context("the limits.* settings")?,
    )
    .with_bulk_allowance(u32::try_from(settings.scim.bulk_max_operations).unwrap_or(u32::MAX));
    let api = web::Data::new(ScimApi {
        view: ScimView::new(store.clone(), SystemClock, limits, seats, seat_keys)
            .with_cursor_seal(cursor_seal),
        health: store.clone(),
        max_body_bytes: settings.http.max_body_bytes,
        bulk_max_body_bytes: settings.scim.bulk_max_payload_bytes,
        public_base_url: settings.http.public_base_url.clone(),
        auth_throttle: service_kit::auth_throttle::AuthThrottle::new(
            settings.http.auth_failure_limit,
            Duration::from_secs(settings.http.auth_failure_window_secs),
        ),
        fairness: Arc::new(Fairness::new(store.clone(), Arc::new(limiter))),
        broker,
    });
    Ok((api, store))
}

/// What a start does before serving, after the migrations: every data key
/// rewrapped under the current key-encryption key (refusing to start on a
/// key wrapped by one it does not hold), and every profile stored before
/// sealing sealed, or erased for users deleted since (docs/privacy.md).
pub async fn keep_personal_data_sealed(store: &SqlScimView) -> anyhow::Result<()> {
    store
        .rewrap_data_keys()
        .await
        .context("rewrapping data keys")?;
    store
        .seal_plain_profiles()
        .await
        .context("sealing profiles stored before sealing")?;
    Ok(())
}

/// The key-encryption keys from settings: the configured key, else the key
/// file (created with a new key, owner-readable only, when missing), and the
/// previous keys of a rotation.
pub fn key_ring(settings: &Settings) -> anyhow::Result<KeyRing> {
    let keys = &settings.keys;
    let current = match &keys.key_encryption_key {
        Some(key) if !key.expose().trim().is_empty() => KeyEncryptionKey::from_base64(key.expose())
            .context("keys.key_encryption_key (SCIM_KEYS__KEY_ENCRYPTION_KEY)")?,
        _ => key_from_file(Path::new(&keys.key_file))?,
    };
    let previous = keys
        .previous_keys
        .as_ref()
        .map(|list| {
            list.expose()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| KeyEncryptionKey::from_base64(k).context("keys.previous_keys"))
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .transpose()?
        .unwrap_or_default();
    Ok(KeyRing::new(current, previous))
}

fn key_from_file(file: &Path) -> anyhow::Result<KeyEncryptionKey> {
    match std::fs::read_to_string(file) {
        Ok(text) => KeyEncryptionKey::from_base64(&text)
            .with_context(|| format!("{} holds no key-encryption key", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = KeyEncryptionKey::generate()?;
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut out = options
                .open(file)
                .with_context(|| format!("creating {}", file.display()))?;
            std::io::Write::write_all(&mut out, key.to_base64().as_bytes())?;
            out.sync_all()?;
            tracing::warn!(
                file = %file.display(),
                key_id = key.id(),
                "generated a new key-encryption key: back it up apart from the database \
                 (without it no sealed personal value can be opened)"
            );
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
    }
}

/// Mounts the gateway's routes on an actix `App` (shared by the server and tests).
pub fn configure_app(cfg: &mut web::ServiceConfig) {
    http::configure::<SqlScimView, SystemClock>(cfg);
    cfg.default_service(web::to(http::no_route));
}

/// The journal's relay to `publisher` (RabbitMQ, or the embedded process's
/// in-process bus), woken by the journal's writers, until `shutdown`. On
/// PostgreSQL it publishes only while it holds the journal's lease (one
/// replica at a time); a SQLite file has one process and needs none.
pub fn journal_relay<P: EventPublisher>(
    store: &SqlScimView,
    publisher: P,
    settings: &Settings,
    shutdown: ShutdownSignal,
) -> impl Future<Output = ()> + Send + 'static {
    let relay = Relay::new(store.clone(), publisher, settings.amqp.relay_batch_size);
    let pacing = relay::Pacing {
        idle_poll: Duration::from_millis(settings.amqp.relay_idle_poll_ms),
        max_backoff: Duration::from_millis(settings.amqp.relay_max_backoff_ms),
    };
    let (wakeup, status) = (store.journal_written(), store.relay_lease());
    let retry = Duration::from_millis(settings.amqp.relay_lease_retry_ms.max(1));
    let lease = LeaseSettings {
        database_url: settings.database.url.expose().to_owned(),
        outbox: LeasedOutbox::GatewayJournal,
        retry,
        status,
    };
    relay_lease::run_relay(relay, pacing, wakeup, lease, shutdown.stopped())
}

/// The consumer of licensing's `subscription.changed`, keeping the
/// gateway's entitlement copy.
pub fn entitlement_consumer(store: &SqlScimView) -> EntitlementConsumer<SqlScimView> {
    EntitlementConsumer(Arc::new(Entitlements::new(store.clone())))
}

/// The inbox of the gateway's consumer, as its pruner sees it.
pub fn entitlement_inbox(store: &SqlScimView) -> Inbox {
    Inbox {
        service: entitlement_consumer::CONSUMER,
        db: store.connection().clone(),
        now: Arc::new(|| crate::domain::ports::Clock::now(&SystemClock)),
    }
}

/// With a broker configured: the consumer of licensing's events, the
/// journal's relay to RabbitMQ, the data-key server and the journal server
/// for consumers catching up, stopping on `tasks`'
/// signal.
fn spawn_broker_tasks(
    tasks: &mut BackgroundTasks,
    store: &SqlScimView,
    settings: &Settings,
    broker: Option<&BrokerHealth>,
) {
    let (Some(url), Some(broker)) = (configured_amqp(settings), broker) else {
        tracing::info!("no amqp.url: provisioning events stay in the journal");
        return;
    };
    let consumer_settings = ConsumerSettings {
        url: url.to_owned(),
        exchanges: Exchanges::for_exchange(&settings.amqp.exchange),
        topology: ServiceTopology {
            service: settings.amqp.queue.clone(),
            routing_keys: entitlement_consumer::BINDINGS
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
            retry_delay: Duration::from_secs(1),
        },
        prefetch: 16,
        max_attempts: 10,
        health: broker.entitlement_consumer.clone(),
    };
    let handler = entitlement_consumer(store);
    tasks.spawn("entitlement consumer", move |stop| {
        consumer::run(consumer_settings, handler, stop.stopped())
    });
    let publisher = RabbitPublisher::new(url, settings.amqp.exchange.clone());
    tasks.spawn("journal relay", |stop| {
        journal_relay(store, publisher, settings, stop)
    });
    let (keys, keys_url, server) = (store.clone(), url.to_owned(), settings.data_keys.clone());
    let health = broker.data_key_server.clone();
    tasks.spawn("data-key server", move |stop| async move {
        let (queue, concurrency) = (&server.queue, server.concurrency);
        crate::inbound::data_keys::serve(
            keys,
            &keys_url,
            queue,
            concurrency,
            health,
            stop.stopped(),
        )
        .await;
    });
    let (journal, url, server) = (store.clone(), url.to_owned(), settings.catch_up.clone());
    let (queue, health) = (broker.journal_queue.clone(), broker.journal_server.clone());
    tasks.spawn("journal server", move |stop| async move {
        let (queue, concurrency) = (&queue, server.concurrency);
        crate::inbound::journal_feed::serve(
            journal,
            &url,
            queue,
            concurrency,
            health,
            stop.stopped(),
        )
        .await;
    });
}

impl Application {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let (api, store) = build_api(settings).await?;
        let mut tasks = BackgroundTasks::new();
        spawn_broker_tasks(&mut tasks, &store, settings, api.broker.as_ref());
        // Rows applied while a broker was configured are pruned without one.
        if let Some(pruner) = InboxPruner::new(&settings.inbox, vec![entitlement_inbox(&store)]) {
            tasks.spawn("inbox pruner", |stop| pruner.run(stop));
        }
        tasks.close_at_stop("gateway", store.connection().clone());

        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))
            .with_context(|| format!("binding {}:{}", settings.http.host, settings.http.port))?;
        let port = listener.local_addr()?.port();

        let demo = bootstrap(&store, settings, port).await?;

        // The admin API is served only with an admin key configured.
        let admin = settings.admin_key.as_ref().map(|key| {
            admin_state(
                &store,
                AdminKey::new(key.expose()),
                settings.access.role_list(),
            )
        });
        if admin.is_none() {
            tracing::info!("no SCIM_ADMIN_KEY: the admin API is not served");
        }
        let mut server = HttpServer::new(move || {
            let admin = admin.clone();
            App::new()
                .app_data(api.clone())
                .configure(move |cfg| {
                    if let Some(admin) = admin {
                        cfg.app_data(admin);
                        configure_admin(cfg);
                    }
                })
                .wrap(actix_web::middleware::from_fn(
                    crate::inbound::http::request_span,
                ))
                .configure(configure_app)
        })
        .listen(listener)?;
        if let Some(workers) = settings.http.workers {
            server = server.workers(workers);
        }
        Ok(Self {
            serving: Serving::new(port, server.run(), tasks),
            demo,
        })
    }
}

pub use crate::outbound::tokens::generate_token;

/// The organization holding `token`, created with it when none does: the
/// bootstrap token of the settings (tests seed theirs the same way).
pub async fn ensure_organization_with_token(
    store: &SqlScimView,
    name: &str,
    token: &BearerToken,
) -> anyhow::Result<crate::domain::models::OrgId> {
    let organizations = Organizations::new(store.clone(), SystemClock, RandomTokens);
    Ok(organizations.ensure_with_token(name, token).await?)
}

/// Seeds the configured token, or on a first embedded start creates the demo
/// organization and remembers its credentials under the data folder.
pub async fn bootstrap(
    store: &SqlScimView,
    settings: &Settings,
    port: u16,
) -> anyhow::Result<Option<DemoCredentials>> {
    let base = format!(
        "http://{}:{port}/scim/v2",
        display_host(&settings.http.host)
    );
    // An empty value (e.g. an unset variable in compose) means no token.
    if let Some(token) = settings
        .bootstrap
        .token
        .as_ref()
        .filter(|t| !t.expose().is_empty())
    {
        let token = BearerToken::new(token.expose());
        let org = Organizations::new(store.clone(), SystemClock, RandomTokens)
            .with_roles(settings.access.role_list())
            .ensure_with_token(&settings.bootstrap.organization_name, &token)
            .await?;
        tracing::info!(org_id = %org, "bootstrap token ready");
        return Ok(None);
    }
    if !settings.bootstrap.demo_organization {
        return Ok(None);
    }
    let file = demo_file(&settings.bootstrap.data_dir);
    let organizations = Organizations::new(store.clone(), SystemClock, RandomTokens)
        .with_roles(settings.access.role_list());
    let Some((organization, issued)) = organizations
        .create_first(&settings.bootstrap.organization_name)
        .await?
    else {
        return Ok(read_demo(&file).map(|mut d| {
            d.scim_base_url = base;
            d
        }));
    };
    let demo = DemoCredentials {
        org_id: organization.id.to_string(),
        scim_base_url: base,
        token: issued.token.expose().to_owned(),
    };
    write_demo(&file, &demo)?;
    Ok(Some(demo))
}

fn display_host(host: &str) -> &str {
    match host {
        "0.0.0.0" | "::" => "127.0.0.1",
        other => other,
    }
}

fn demo_file(data_dir: &str) -> PathBuf {
    Path::new(data_dir).join("demo-credentials.json")
}

fn read_demo(file: &Path) -> Option<DemoCredentials> {
    serde_json::from_slice(&std::fs::read(file).ok()?).ok()
}

/// The demo token is a development convenience of the embedded mode: it is
/// kept beside the SQLite files (owner-readable only), never in the database.
fn write_demo(file: &Path, demo: &DemoCredentials) -> anyhow::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(file, serde_json::to_vec_pretty(demo)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[actix_web::test]
    async fn a_started_gateway_stops_its_relay_and_consumer_on_shutdown() {
        let dir = std::env::temp_dir().join(format!("scim-stop-{}", uuid::Uuid::new_v4().simple()));
        let mut settings = Settings::from_sources(None, false).expect("default settings");
        settings.database.url =
            Secret::new(format!("sqlite://{}", dir.join("gateway.db").display()));
        settings.http.port = 0;
        settings.bootstrap.demo_organization = false;
        settings.bootstrap.data_dir = dir.display().to_string();
        settings.keys.key_file = dir.join("key-encryption.key").display().to_string();
        // No broker answers here: both tasks are in their retry loops.
        settings.amqp.url = Some(Secret::new("amqp://guest:guest@127.0.0.1:1/%2f"));
        let app = Application::build(&settings).await.expect("gateway starts");
        assert_eq!(
            app.serving.background_tasks(),
            [
                "entitlement consumer",
                "journal relay",
                "data-key server",
                "journal server",
                "inbox pruner"
            ]
        );
        assert_eq!(app.serving.databases_closed_at_stop(), ["gateway"]);
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
