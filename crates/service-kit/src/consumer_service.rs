//! What the identity, team and licensing binaries share: their common
//! settings, and running as a standalone process (admin API with `/healthz`
//! and `/readyz`, the RabbitMQ consumer of their events, graceful stop).
//!
//! Settings come from defaults, an optional TOML file (`$SCIM_<NAME>_CONFIG`,
//! default `config/<name>.toml`), then `SCIM_<SECTION>__<KEY>` variables; the
//! admin key from `SCIM_ADMIN_KEY`.

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use messaging::EventHandler;
use messaging_rabbitmq::consumer::{self, ConsumerHealth, ConsumerSettings, QueueDepths};
use messaging_rabbitmq::topology::{Exchanges, ServiceTopology};
use serde::Deserialize;
use tokio::sync::watch;

use crate::Secret;
use crate::admin_key::AdminKey;

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

/// The sections every consuming service has.
#[derive(Debug, Clone, Deserialize)]
pub struct CommonSettings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub log: LogSettings,
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
    Ok(config::Config::builder()
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
        builder = builder
            .add_source(config::File::with_name(&file).required(false))
            .add_source(
                config::Environment::with_prefix("SCIM")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true),
            );
    }
    Ok(builder.build()?.try_deserialize()?)
}

/// `SCIM_ADMIN_KEY`, if set and not empty.
pub fn admin_key_from_env() -> Option<Secret> {
    std::env::var("SCIM_ADMIN_KEY")
        .ok()
        .filter(|k| !k.is_empty())
        .map(Secret::new)
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

/// A standalone consuming service.
pub struct Standalone<C, P, H> {
    pub settings: CommonSettings,
    pub admin_key: Option<Secret>,
    /// Mounts the admin routes and their state (`AdminKey` given).
    pub configure_admin: C,
    /// Whether the service's database answers.
    pub ping: P,
    pub handler: H,
    pub bindings: &'static [&'static str],
}

impl<C, P, H> Standalone<C, P, H>
where
    C: Fn(&mut web::ServiceConfig, &AdminKey) + Clone + Send + 'static,
    P: Fn() -> PingFuture + Clone + Send + 'static,
    H: EventHandler,
{
    /// Serves until SIGTERM or Ctrl-C; then the consumer (and every task
    /// `more` started on the stop signal) finishes what it has in flight.
    pub async fn run<M>(self, more: M) -> anyhow::Result<()>
    where
        M: FnOnce(watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>>,
    {
        let Some(admin_key) = self.admin_key.as_ref().map(|k| AdminKey::new(k.expose())) else {
            anyhow::bail!("SCIM_ADMIN_KEY is not set: the admin API needs it");
        };
        let consumer_settings = self.settings.consumer_settings(self.bindings);
        let health = consumer_settings.health.clone();
        let http = &self.settings.http;
        let listener = TcpListener::bind((http.host.as_str(), http.port))
            .with_context(|| format!("binding {}:{}", http.host, http.port))?;
        tracing::info!(port = listener.local_addr()?.port(), "admin API listening");
        let (configure_admin, ping) = (self.configure_admin, self.ping);
        let server = HttpServer::new(move || {
            let (ping, health, admin_key) = (ping.clone(), health.clone(), admin_key.clone());
            let configure_admin = configure_admin.clone();
            App::new()
                .configure(move |cfg| configure_admin(cfg, &admin_key))
                .route("/healthz", web::get().to(healthz))
                // Ready once the database answers and the consumer's queue is
                // declared and consumed: from then on no event for it is lost.
                .route(
                    "/readyz",
                    web::get().to(move || {
                        let (ping, consuming) = (ping.clone(), health.is_consuming());
                        let queue = health.queue_depths().map(|d| queue_json(&d));
                        async move {
                            match (ping().await, consuming) {
                                (Ok(()), true) => HttpResponse::Ok()
                                    .json(serde_json::json!({"status": "ready", "queue": queue})),
                                (Err(e), _) => HttpResponse::ServiceUnavailable()
                                    .json(serde_json::json!({"status": "unavailable", "detail": e})),
                                (Ok(()), false) => HttpResponse::ServiceUnavailable().json(
                                    serde_json::json!({"status": "unavailable", "detail": "not consuming from the broker yet"}),
                                ),
                            }
                        }
                    }),
                )
        })
        .listen(listener)?
        .run();

        let (stop, stopped) = watch::channel(false);
        let mut tasks = more(stopped.clone());
        let mut consumer_stopped = stopped;
        tasks.push(tokio::spawn(consumer::run(
            consumer_settings,
            self.handler,
            async move {
                let _ = consumer_stopped.wait_for(|stop| *stop).await;
            },
        )));
        // actix stops the server on SIGTERM / Ctrl-C; then the rest stops.
        server.await?;
        let _ = stop.send(true);
        for task in tasks {
            let _ = task.await;
        }
        Ok(())
    }
}

/// The queue depths as `/readyz` reports them.
fn queue_json(depths: &QueueDepths) -> serde_json::Value {
    serde_json::json!({
        "name": depths.queue,
        "ready": depths.ready,
        "retrying": depths.retrying,
        "dead": depths.dead,
        "consumers": depths.consumers,
        "sampled_ms_ago": depths.sampled_at.elapsed().as_millis() as u64,
    })
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// A future that resolves when `stopped` turns true.
pub async fn until_stopped(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}
