//! Settings of the licensing service: defaults, then an optional TOML file
//! (`SCIM_LICENSING_CONFIG` or `./config/licensing.toml`), then `SCIM_<SECTION>__<KEY>`
//! environment variables; the admin key comes from `SCIM_ADMIN_KEY`.

use serde::Deserialize;
use service_kit::Secret;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub seats: SeatSettings,
    pub log: LogSettings,
    /// From `SCIM_ADMIN_KEY`; the admin API refuses every request without it.
    #[serde(skip)]
    pub admin_key: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://./data/licensing.db` or `postgres://user@host/licensing`.
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
    pub retry_delay_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeatSettings {
    /// Quota of an organization without a subscription of its own.
    pub default_quota: u32,
    /// Whether such an organization may use SCIM at all.
    pub default_scim_included: bool,
    /// How long a reservation waits for its provisioning event before its
    /// seat is free again, in seconds.
    pub hold_for_secs: u64,
    /// How often expired reservations are deleted, in seconds.
    pub sweep_interval_secs: u64,
    /// The queue seat reservations are asked on.
    pub queue: String,
    /// Reservations answered at the same time.
    pub concurrency: u16,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub filter: String,
    pub format: String,
}

impl Settings {
    pub fn load() -> anyhow::Result<Self> {
        let file = std::env::var("SCIM_LICENSING_CONFIG")
            .unwrap_or_else(|_| "config/licensing.toml".into());
        Self::from_sources(Some(&file), true)
    }

    pub fn from_sources(file: Option<&str>, with_env: bool) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder()
            .set_default("http.host", "127.0.0.1")?
            .set_default("http.port", 8083)?
            .set_default("database.url", "sqlite://./data/licensing.db")?
            .set_default("database.max_connections", 8)?
            .set_default("amqp.url", "amqp://guest:guest@127.0.0.1:5672/%2f")?
            .set_default("amqp.exchange", provisioning_events::EXCHANGE)?
            .set_default("amqp.queue", crate::inbound::consumer::CONSUMER)?
            .set_default("amqp.prefetch", 64)?
            .set_default("amqp.max_attempts", 10)?
            .set_default("amqp.retry_delay_ms", 1000)?
            .set_default("seats.default_quota", 25)?
            .set_default("seats.default_scim_included", true)?
            .set_default("seats.hold_for_secs", 120)?
            .set_default("seats.sweep_interval_secs", 30)?
            .set_default(
                "seats.queue",
                provisioning_events::seats::SEAT_RESERVATION_QUEUE,
            )?
            .set_default("seats.concurrency", 16)?
            .set_default("log.filter", "info")?
            .set_default("log.format", "pretty")?;
        if let Some(file) = file {
            builder = builder.add_source(config::File::with_name(file).required(false));
        }
        if with_env {
            builder = builder.add_source(
                config::Environment::with_prefix("SCIM")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true),
            );
        }
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        if with_env {
            settings.admin_key = std::env::var("SCIM_ADMIN_KEY")
                .ok()
                .filter(|k| !k.is_empty())
                .map(Secret::new);
        }
        Ok(settings)
    }
}
