//! What the identity, team and licensing binaries share: their common
//! settings, what a consuming service offers ([`ConsumingService`]), and
//! running one as a standalone process ([`run_standalone`]: admin API with
//! `/healthz` and `/readyz`, the RabbitMQ consumer of its events, the pruner
//! of its inbox, its own background tasks, graceful stop).
//!
//! Settings come from defaults, an optional TOML file (`$SCIM_<NAME>_CONFIG`,
//! default `config/<name>.toml`), then `SCIM_<SECTION>__<KEY>` variables; the
//! admin key is the `admin_key` setting (`SCIM_ADMIN_KEY`, see
//! [`crate::settings`]).

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use messaging::{DeadLetterBox, EventHandler};
use messaging_rabbitmq::consumer::{self, ConsumerHealth, ConsumerSettings};
use messaging_rabbitmq::dead_letters::RabbitDeadLetters;
use messaging_rabbitmq::topology::{Exchanges, ServiceTopology};
use sea_orm::DatabaseConnection;
use serde::Deserialize;

use crate::Secret;
use crate::admin_key::AdminKey;
use crate::catch_up::{CatchUp, CatchUpProgress, CatchUpSettings, Outcome, RpcJournal};
use crate::data_keys::{DataKeySource, RpcDataKeys};
use crate::inbox_retention::{Inbox, InboxPruner, InboxSettings};
use crate::readiness::{self, ReadinessPart};
use crate::replay::{self, ReplayState};
use crate::shutdown::{self, BackgroundTasks};

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://./data/<service>.db` or `postgres://user@host/<service>`.
    pub url: Secret,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    pub url: Secret,
    pub exchange: String,
    /// The service's queue (and the name of its retry and dead queues).
    pub queue: String,
    pub prefetch: u16,
    /// Deliveries of one event before it goes to `<queue>.dead`.
    pub max_attempts: u32,
    /// First retry wait; the second tier waits 5×, the third 25×.
    pub retry_delay_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub filter: String,
    pub format: String,
}

/// How a service's outbox relay paces itself.
#[derive(Debug, Clone, Deserialize)]
pub struct RelaySettings {
    /// Outbox entries published (and confirmed) per round.
    pub batch_size: u64,
    /// Pause when the outbox is drained, in milliseconds.
    pub idle_poll_ms: u64,
    /// Longest pause between attempts while the bus or the database is
    /// down, in milliseconds (the pause doubles from 100 ms up to this).
    pub max_backoff_ms: u64,
    /// PostgreSQL: how often a replica whose relay does not hold the
    /// outbox's lease tries to take it, in milliseconds.
    pub lease_retry_ms: u64,
}

impl RelaySettings {
    pub fn pacing(&self) -> messaging::relay::Pacing {
        messaging::relay::Pacing {
            idle_poll: Duration::from_millis(self.idle_poll_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms),
        }
    }
}

/// The sections every consuming service has.
#[derive(Debug, Clone, Deserialize)]
pub struct CommonSettings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub log: LogSettings,
    /// How long the inbox keeps its per-event rows.
    pub inbox: InboxSettings,
    /// Catching up on what a new queue missed, from the gateway's journal.
    pub catch_up: CatchUpSettings,
}

/// Who a service is, for its defaults.
#[derive(Debug, Clone, Copy)]
pub struct ServiceIdentity {
    /// `identity`, `team`, `licensing`: the queue, the database file, the
    /// config file.
    pub name: &'static str,
    pub port: u16,
}

/// A config builder with the common defaults of `service`; add the
/// service's own defaults, then call [`finish`].
pub fn defaults(
    service: ServiceIdentity,
) -> anyhow::Result<config::ConfigBuilder<config::builder::DefaultState>> {
    let builder = CatchUpSettings::defaults(config::Config::builder())?;
    Ok(InboxSettings::defaults(builder)?
        .set_default("http.host", "127.0.0.1")?
        .set_default("http.port", service.port)?
        .set_default(
            "database.url",
            format!("sqlite://./data/{}.db", service.name),
        )?
        .set_default("database.max_connections", 8)?
        .set_default("amqp.url", "amqp://guest:guest@127.0.0.1:5672/%2f")?
        .set_default("amqp.exchange", provisioning_events::EXCHANGE)?
        .set_default("amqp.queue", service.name)?
        .set_default("amqp.prefetch", 64)?
        .set_default("amqp.max_attempts", 10)?
        .set_default("amqp.retry_delay_ms", 1000)?
        .set_default("log.filter", "info")?
        .set_default("log.format", "pretty")?)
}

/// Adds the file (`$SCIM_<NAME>_CONFIG` or `config/<name>.toml`, optional)
/// and, with `with_env`, the `SCIM_…` variables, and deserializes.
pub fn finish<T: serde::de::DeserializeOwned>(
    service: ServiceIdentity,
    mut builder: config::ConfigBuilder<config::builder::DefaultState>,
    with_env: bool,
) -> anyhow::Result<T> {
    if with_env {
        let variable = format!("SCIM_{}_CONFIG", service.name.to_uppercase());
        let file =
            std::env::var(variable).unwrap_or_else(|_| format!("config/{}.toml", service.name));
        builder = crate::settings::add_environment(
            builder.add_source(config::File::with_name(&file).required(false)),
        )?;
    }
    Ok(builder.build()?.try_deserialize()?)
}

/// The admin key a standalone service cannot run without.
pub fn require_admin_key(admin_key: Option<&Secret>) -> anyhow::Result<AdminKey> {
    match admin_key {
        Some(key) => Ok(AdminKey::new(key.expose())),
        None => anyhow::bail!("SCIM_ADMIN_KEY is not set: the admin API needs it"),
    }
}

impl CommonSettings {
    /// The consumer of `bindings` on the service's queue.
    pub fn consumer_settings(&self, bindings: &[&str]) -> ConsumerSettings {
        ConsumerSettings {
            url: self.amqp.url.expose().to_owned(),
            exchanges: Exchanges::for_exchange(&self.amqp.exchange),
            topology: ServiceTopology {
                service: self.amqp.queue.clone(),
                routing_keys: bindings.iter().map(|k| (*k).to_owned()).collect(),
                retry_delay: Duration::from_millis(self.amqp.retry_delay_ms),
            },
            prefetch: self.amqp.prefetch,
            max_attempts: self.amqp.max_attempts,
            health: ConsumerHealth::default(),
        }
    }
}

pub type PingFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A consuming service (identity, team, licensing) as the standalone run
/// and the embedded process mount it.
pub trait ConsumingService: Clone + Send + Sync + 'static {
    /// Its consumer: the handler of the RabbitMQ queue, the in-process bus,
    /// replay and rebuild.
    type Handler: EventHandler;
    /// Its queue, and its name in `/admin/v1/services/{name}/…`.
    const CONSUMER: &'static str;
    /// The event types (binding patterns) it consumes.
    const BINDINGS: &'static [&'static str];

    fn handler(&self) -> Self::Handler;
    /// The database that holds its inbox.
    fn database(&self) -> &DatabaseConnection;
    /// The time by its clock.
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
    /// Whether its database answers.
    fn ping(&self) -> PingFuture;
    /// Registers its admin API's state and routes.
    fn configure_admin_api(&self, cfg: &mut web::ServiceConfig, admin_key: &AdminKey);

    /// Where its dead-letter routes learn whose data keys are gone (a
    /// letter of a deleted person is shown and requeued erased): by default
    /// the gateway's data-key queue on the service's broker. A service that
    /// asks the gateway elsewhere (another queue, a timeout of its own)
    /// returns its own source.
    fn dead_letter_keys(&self, settings: &CommonSettings) -> Arc<dyn DataKeySource> {
        Arc::new(RpcDataKeys::new(
            settings.amqp.url.expose(),
            DEAD_LETTER_KEYS_TIMEOUT,
        ))
    }

    /// What it serves besides its events consumer, each under the name its
    /// `/readyz` reports it with (licensing: its seat server and its outbox
    /// relay). None by default.
    fn readiness_parts(&self) -> Vec<(&'static str, ReadinessPart)> {
        Vec::new()
    }

    /// Its inbox, as the pruner sees it.
    fn inbox(&self) -> Inbox {
        let clock = self.clone();
        Inbox {
            service: Self::CONSUMER,
            db: self.database().clone(),
            now: Arc::new(move || clock.now()),
        }
    }

    /// What the replay routes need: the consumer and the inbox, the dead
    /// letters and whose data keys are gone.
    fn replay_state(
        &self,
        admin_key: AdminKey,
        dead_letters: Arc<dyn DeadLetterBox>,
        data_keys: Arc<dyn DataKeySource>,
    ) -> web::Data<ReplayState<Self::Handler>> {
        web::Data::new(ReplayState {
            service: Self::CONSUMER,
            dead_letters,
            data_keys,
            bindings: Self::BINDINGS,
            handler: self.handler(),
            db: self.database().clone(),
            admin_key,
        })
    }

    /// Mounts the admin API and the replay routes, with their state: the
    /// service's dead letters and where the data keys are (which tells a
    /// dead letter of a deleted person).
    fn configure_admin(
        &self,
        cfg: &mut web::ServiceConfig,
        admin_key: &AdminKey,
        dead_letters: Arc<dyn DeadLetterBox>,
        data_keys: Arc<dyn DataKeySource>,
    ) {
        self.configure_admin_api(cfg, admin_key);
        cfg.app_data(self.replay_state(admin_key.clone(), dead_letters, data_keys));
        replay::configure::<Self::Handler>(cfg, Self::CONSUMER);
    }
}

/// A consuming service as its own process: the admin API with `/healthz`
/// and `/readyz`, the RabbitMQ consumer of its queue — after the catch-up on
/// what a new queue missed ([`crate::catch_up`], unless
/// `catch_up.enabled` is false) —, the pruner of its inbox (unless
/// `inbox.retention_days` is 0), and the tasks `background` spawns, until
/// SIGTERM, Ctrl-C or `shutdown`; then the consumer and every task stop
/// ([`shutdown::serve_until`]).
pub async fn run_standalone<S: ConsumingService>(
    service: S,
    settings: &CommonSettings,
    admin_key: AdminKey,
    background: impl FnOnce(&mut BackgroundTasks),
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let consumer_settings = settings.consumer_settings(S::BINDINGS);
    let progress = CatchUpProgress::default();
    let server = admin_server(
        &service,
        settings,
        admin_key,
        consumer_settings.health.clone(),
        progress.clone(),
    )?;
    let mut tasks = BackgroundTasks::new();
    if let Some(pruner) = InboxPruner::new(&settings.inbox, vec![service.inbox()]) {
        tasks.spawn("inbox pruner", |stop| pruner.run(stop));
    }
    background(&mut tasks);
    let catch_up = settings
        .catch_up
        .enabled
        .then(|| catch_up(&service, settings, &consumer_settings, progress));
    let handler = service.handler();
    tasks.spawn("consumer", move |stop| async move {
        if let Some(catch_up) = catch_up
            && catch_up.run(stop.clone()).await == Outcome::Stopped
        {
            return;
        }
        consumer::run(consumer_settings, handler, stop.stopped()).await
    });
    tasks.close_at_stop(S::CONSUMER, service.database().clone());
    shutdown::serve_until(server, tasks, shutdown).await
}

/// The catch-up of `service`'s queue from the gateway's journal.
fn catch_up<S: ConsumingService>(
    service: &S,
    settings: &CommonSettings,
    consumer: &ConsumerSettings,
    progress: CatchUpProgress,
) -> CatchUp<S::Handler> {
    let journal = RpcJournal::new(
        settings.amqp.url.expose(),
        settings.catch_up.queue_for(&settings.amqp.exchange),
        Duration::from_millis(settings.catch_up.timeout_ms),
    );
    let clock = service.clone();
    CatchUp {
        handler: service.handler(),
        db: service.database().clone(),
        url: consumer.url.clone(),
        exchanges: consumer.exchanges.clone(),
        topology: consumer.topology.clone(),
        journal: Arc::new(journal),
        page_size: settings.catch_up.page_size,
        now: Arc::new(move || clock.now().timestamp_micros()),
        progress,
    }
}

/// How long the dead-letter routes wait for the gateway's answer about
/// data keys (which letters belong to deleted persons).
const DEAD_LETTER_KEYS_TIMEOUT: Duration = Duration::from_secs(2);

/// The admin API with `/healthz` and `/readyz`, bound and running; its
/// dead-letter routes ask [`ConsumingService::dead_letter_keys`] whose data
/// keys are gone.
fn admin_server<S: ConsumingService>(
    service: &S,
    settings: &CommonSettings,
    admin_key: AdminKey,
    health: ConsumerHealth,
    catch_up: CatchUpProgress,
) -> anyhow::Result<actix_web::dev::Server> {
    let dead_letters: Arc<dyn DeadLetterBox> = Arc::new(RabbitDeadLetters::new(
        settings.amqp.url.expose(),
        format!("{}.dead", settings.amqp.queue),
    ));
    let data_keys = service.dead_letter_keys(settings);
    let http = &settings.http;
    let listener = TcpListener::bind((http.host.as_str(), http.port))
        .with_context(|| format!("binding {}:{}", http.host, http.port))?;
    tracing::info!(port = listener.local_addr()?.port(), "admin API listening");
    let mut parts = vec![(
        "queue",
        ReadinessPart::EventConsumer {
            health,
            catch_up: Some(catch_up),
        },
    )];
    parts.extend(service.readiness_parts());
    let parts = Arc::new(parts);
    let service = service.clone();
    let server = HttpServer::new(move || {
        let service = service.clone();
        let (admin_key, dead_letters) = (admin_key.clone(), dead_letters.clone());
        let data_keys = data_keys.clone();
        let ping = service.clone();
        let parts = parts.clone();
        App::new()
            .configure(move |cfg| {
                service.configure_admin(cfg, &admin_key, dead_letters, data_keys);
            })
            .route("/healthz", web::get().to(healthz))
            // Ready once the database answers, the consumer's queue is
            // declared and consumed (from then on no event for it is lost)
            // and every other part it serves is ready. While it catches up
            // (docs/events.md) it is ready and says so: its queue is
            // declared, its admin reads answer, and the gateway a new
            // deployment starts after the consumers is what the catch-up
            // reads.
            .route(
                "/readyz",
                web::get().to(move || {
                    let ping = ping.ping();
                    let parts = parts.clone();
                    async move {
                        let (ready, body) = readiness::readiness(ping.await, &parts);
                        if ready {
                            HttpResponse::Ok().json(body)
                        } else {
                            HttpResponse::ServiceUnavailable().json(body)
                        }
                    }
                }),
            )
    })
    .listen(listener)?
    .run();
    Ok(server)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use messaging::{HandleError, Handled};
    use provisioning_events::Event;

    use super::*;

    /// A service with nothing to do: its database is in memory.
    #[derive(Clone)]
    struct Quiet(DatabaseConnection);

    struct Ignore;

    impl EventHandler for Ignore {
        async fn handle(&self, _: &Event) -> Result<Handled, HandleError> {
            Ok(Handled::Applied)
        }
    }

    impl ConsumingService for Quiet {
        type Handler = Ignore;
        const CONSUMER: &'static str = "quiet";
        const BINDINGS: &'static [&'static str] = &["user.*"];

        fn handler(&self) -> Ignore {
            Ignore
        }
        fn database(&self) -> &DatabaseConnection {
            &self.0
        }
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            chrono::Utc::now()
        }
        fn ping(&self) -> PingFuture {
            Box::pin(async { Ok(()) })
        }
        fn configure_admin_api(&self, _: &mut web::ServiceConfig, _: &AdminKey) {}
    }

    #[actix_web::test]
    async fn a_standalone_service_stops_its_consumer_and_background_tasks_on_shutdown() {
        let identity = ServiceIdentity {
            name: "quiet",
            port: 0,
        };
        let mut settings: CommonSettings =
            finish(identity, defaults(identity).unwrap(), false).expect("default settings");
        // No broker answers here: the consumer is in its reconnect loop.
        settings.amqp.url = Secret::new("amqp://guest:guest@127.0.0.1:1/%2f");
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let saw_the_stop = Arc::new(AtomicBool::new(false));
        let seen = saw_the_stop.clone();
        let background = move |tasks: &mut BackgroundTasks| {
            tasks.spawn("waiter", move |mut stop| async move {
                stop.recv().await;
                seen.store(true, Ordering::SeqCst);
            });
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = run_standalone(
            Quiet(db),
            &settings,
            AdminKey::new("key"),
            background,
            async move {
                let _ = stopped.await;
            },
        );
        let trigger = async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = stop.send(());
        };
        let (ran, ()) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(run, trigger)
        })
        .await
        .expect("stopped within 10 s of the signal");
        ran.expect("every task stopped in time");
        assert!(saw_the_stop.load(Ordering::SeqCst));
    }
}
