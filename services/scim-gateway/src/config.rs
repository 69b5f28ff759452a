//! Settings: defaults, then an optional TOML file (`SCIM_CONFIG` or
//! `./config/gateway.toml`), then `SCIM_<SECTION>__<KEY>` environment
//! variables; the admin key is `admin_key` (`SCIM_ADMIN_KEY`).

use serde::Deserialize;
use service_kit::inbox_retention::InboxSettings;

use crate::inbound::entitlement_consumer;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub scim: ScimSettings,
    pub access: AccessSettings,
    pub bootstrap: BootstrapSettings,
    pub amqp: AmqpSettings,
    pub licensing: LicensingSettings,
    pub log: LogSettings,
    /// How long the inbox of the gateway's consumer (`subscription.changed`)
    /// keeps its per-event rows; the embedded process applies it to every
    /// service's inbox.
    pub inbox: InboxSettings,
    pub keys: KeySettings,
    pub data_keys: DataKeyServerSettings,
    /// The journal served to consumers catching up (`SCIM_CATCH_UP__…`).
    pub catch_up: JournalServerSettings,
    pub limits: LimitSettings,
    /// `admin_key` in the file or `SCIM_ADMIN_KEY`: the admin API is served
    /// only with one.
    #[serde(default, deserialize_with = "service_kit::settings::admin_key")]
    pub admin_key: Option<Secret>,
}

/// The key-encryption key (KEK) that wraps every person's data key (see
/// docs/privacy.md). `key_encryption_key` (`SCIM_KEYS__KEY_ENCRYPTION_KEY`,
/// 32 bytes in base64) wins; else `key_file` is read, and created with a new
/// key (mode 0600) when it does not exist.
#[derive(Debug, Clone, Deserialize)]
pub struct KeySettings {
    pub key_encryption_key: Option<Secret>,
    pub key_file: String,
    /// Keys being rotated out (`SCIM_KEYS__PREVIOUS_KEYS`, comma-separated
    /// base64): they only unwrap; at start every data key they wrap is
    /// rewrapped under the current key.
    pub previous_keys: Option<Secret>,
    /// Keep the keys of this process's own writes in memory (the embedded
    /// process sets it: one gateway serves every write). Never with several
    /// gateway replicas.
    pub in_process: bool,
}

/// The server of the persons' data keys the consuming services ask for
/// (request/reply over `amqp.url`; docs/privacy.md).
#[derive(Debug, Clone, Deserialize)]
pub struct DataKeyServerSettings {
    /// The queue it answers on (default `gateway.data-keys`, as the
    /// consumers' `data_keys.queue`).
    pub queue: String,
    /// Requests answered at once (default 8).
    pub concurrency: u16,
}

/// The journal's server for consuming services that catch up on what was
/// routed before their queue existed (request/reply over `amqp.url`;
/// docs/events.md, "Catch-up").
#[derive(Debug, Clone, Deserialize)]
pub struct JournalServerSettings {
    /// The queue it answers on (the consumers' `catch_up.queue`); by
    /// default `<amqp.exchange>.journal` ([`JournalServerSettings::queue_for`]).
    pub queue: Option<String>,
    /// Requests answered at once (default 2: catch-ups are rare).
    pub concurrency: u16,
}

impl JournalServerSettings {
    /// The queue served, for the events' `exchange`.
    pub fn queue_for(&self, exchange: &str) -> String {
        self.queue
            .clone()
            .unwrap_or_else(|| provisioning_events::catch_up::journal_queue(exchange))
    }
}

/// Each organization's SCIM requests are limited (fairness between
/// organizations, docs/operations.md); an organization's own limits (admin
/// API, `scimctl org limits`) replace these field by field. Over a limit: 429
/// with an integer `Retry-After`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct LimitSettings {
    /// Requests of one organization answered at once (0: no limit).
    pub max_in_flight: u32,
    /// Requests a second of one organization, on average (0: no limit).
    pub rate_per_second: f64,
    /// Requests admitted at once after a quiet time (at least 1).
    pub burst: u32,
}

/// How the gateway asks licensing for seats (request/reply over `amqp.url`).
#[derive(Debug, Clone, Deserialize)]
pub struct LicensingSettings {
    /// The queue licensing answers seat reservations on.
    pub queue: String,
    /// How long a create or re-enable waits for licensing before it answers
    /// 503, in milliseconds.
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    /// `amqp://user:pass@host:5672/%2f`. When unset, journal entries stay in the
    /// journal (unpublished) until a relay runs.
    pub url: Option<Secret>,
    pub exchange: String,
    /// The gateway's own queue (licensing's `subscription.*` events).
    pub queue: String,
    /// Journal entries published (and confirmed) per round.
    pub relay_batch_size: u64,
    /// Pause of the relay when the journal is drained, in milliseconds.
    pub relay_idle_poll_ms: u64,
    /// Longest pause between relay attempts while the broker is down, in
    /// milliseconds (the pause doubles from 100 ms up to this).
    pub relay_max_backoff_ms: u64,
    /// How often a replica whose relay does not hold the journal's lease
    /// tries to acquire it, in milliseconds (PostgreSQL: replicas share the
    /// journal, one publishes; the others take over within this after it
    /// dies).
    pub relay_lease_retry_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
    /// Largest accepted request body in bytes (413 above).
    pub max_body_bytes: usize,
    /// Public base URL of the SCIM endpoint, e.g. `https://scim.example.com/scim/v2`,
    /// used in `meta.location`. Derived from the request's Host when unset.
    pub public_base_url: Option<String>,
    /// actix worker threads; the number of cores when unset.
    pub workers: Option<usize>,
    /// Failed authentications one address may make per window before it
    /// gets 429.
    pub auth_failure_limit: u32,
    pub auth_failure_window_secs: u64,
    /// How long a token's organization is used without reading it again
    /// (milliseconds; 0: read on every request). A revocation on this
    /// process applies at once; one made through another replica within
    /// this time.
    pub tenant_cache_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://./data/gateway.db` or `postgres://user@host/db`.
    pub url: Secret,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ScimSettings {
    pub max_results: u64,
    pub default_count: u64,
    /// A list page ends early once its resources' stored documents reach
    /// this many characters: the memory a page can take, whatever `count`.
    pub max_page_bytes: u64,
    /// How long a write retries races lost to other gateway replicas.
    pub write_deadline_ms: u64,
    /// Longest string value a write may carry, in characters (413 above).
    pub max_string_chars: usize,
    /// Largest resource document the gateway keeps, in bytes of JSON (413
    /// above); a group's members do not count.
    pub max_resource_bytes: usize,
    /// Most values one PATCH operation may carry (413 above).
    pub max_operation_values: usize,
    /// How long a list cursor (RFC 9865) stays valid after it was issued;
    /// advertised as `cursorTimeout`.
    pub cursor_timeout_seconds: u64,
    /// Most operations one Bulk request may carry (`bulk.maxOperations`;
    /// 413 `tooLarge` above).
    pub bulk_max_operations: usize,
    /// Largest Bulk request body in bytes (`bulk.maxPayloadSize`; 413
    /// `tooLarge` above). Bulk's own limit: other requests keep
    /// `http.max_body_bytes`.
    pub bulk_max_payload_bytes: usize,
    /// Creates of one Bulk request run at once at most (their userName
    /// checks, seat reservations and inserts then share batches).
    pub bulk_concurrency: usize,
}

/// The access catalogue's roles, which a connection's `default_role` must
/// be one of. The same setting (`SCIM_ACCESS__ROLES`) as identity's: keep
/// them equal.
#[derive(Debug, Clone, Deserialize)]
pub struct AccessSettings {
    /// Comma-separated.
    pub roles: String,
}

impl AccessSettings {
    pub fn role_list(&self) -> Vec<String> {
        provisioning_events::access::role_list(&self.roles)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct BootstrapSettings {
    /// Seeds an organization with this bearer token (stored only as a hash).
    pub token: Option<Secret>,
    pub organization_name: String,
    /// On first start with an empty database and no seeded token, create a demo
    /// organization and print its token (the embedded developer mode).
    pub demo_organization: bool,
    /// Where the demo credentials are kept so a restart can print them again.
    pub data_dir: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `RUST_LOG`-style filter.
    pub filter: String,
    /// `json` or `pretty`.
    pub format: String,
}

pub use service_kit::Secret;

impl Settings {
    pub fn load() -> anyhow::Result<Self> {
        let file = std::env::var("SCIM_CONFIG").unwrap_or_else(|_| "config/gateway.toml".into());
        Self::from_sources(Some(&file), true)
    }

    /// Defaults only (plus `SCIM_…` variables when `with_env`): for tests.
    pub fn from_sources(file: Option<&str>, with_env: bool) -> anyhow::Result<Self> {
        let limits = scim_protocol::limits::WriteLimits::default();
        let mut builder = InboxSettings::defaults(config::Config::builder())?
            .set_default("http.host", "127.0.0.1")?
            .set_default("http.port", 8080)?
            .set_default("http.max_body_bytes", 1_048_576)?
            .set_default("http.auth_failure_limit", 20)?
            .set_default("http.auth_failure_window_secs", 60)?
            .set_default("http.tenant_cache_ms", 1000)?
            .set_default("database.url", "sqlite://./data/gateway.db")?
            .set_default("database.max_connections", 16)?
            .set_default("scim.max_results", 1000)?
            .set_default("scim.default_count", 100)?
            .set_default("scim.max_page_bytes", 2 * 1024 * 1024)?
            .set_default("scim.write_deadline_ms", 10_000)?
            .set_default("scim.cursor_timeout_seconds", 3600)?
            .set_default("scim.max_string_chars", limits.max_string_chars as u64)?
            .set_default("scim.max_resource_bytes", limits.max_resource_bytes as u64)?
            .set_default(
                "scim.max_operation_values",
                limits.max_operation_values as u64,
            )?
            .set_default("scim.bulk_max_operations", 1000)?
            // 1000 operations of a fully populated Entra ID or Okta user
            // (2–4 KB as a bulk operation) fit; the body is held while its
            // operations run, so this bounds a bulk's memory.
            .set_default("scim.bulk_max_payload_bytes", 4 * 1024 * 1024)?
            // The group-commit batches take 64 at once: one batch in each
            // stage (userName checks, seats, inserts) while the next fills.
            .set_default("scim.bulk_concurrency", 128)?
            .set_default("access.roles", provisioning_events::access::DEFAULT_ROLES)?
            .set_default("bootstrap.organization_name", "Demo organization")?
            .set_default("bootstrap.demo_organization", true)?
            .set_default("bootstrap.data_dir", "./data")?
            .set_default("amqp.exchange", provisioning_events::EXCHANGE)?
            .set_default("amqp.queue", entitlement_consumer::CONSUMER)?
            .set_default("amqp.relay_batch_size", 256)?
            .set_default("amqp.relay_idle_poll_ms", 200)?
            .set_default("amqp.relay_max_backoff_ms", 30_000)?
            .set_default("amqp.relay_lease_retry_ms", 1000)?
            .set_default(
                "licensing.queue",
                provisioning_events::seats::SEAT_RESERVATION_QUEUE,
            )?
            .set_default("licensing.timeout_ms", 2000)?
            .set_default("keys.key_file", "./data/key-encryption.key")?
            .set_default("keys.in_process", false)?
            .set_default(
                "data_keys.queue",
                provisioning_events::personal::DATA_KEY_QUEUE,
            )?
            .set_default("data_keys.concurrency", 8)?
            .set_default("catch_up.concurrency", 2)?
            .set_default("limits.max_in_flight", 8)?
            .set_default("limits.rate_per_second", 100.0)?
            .set_default("limits.burst", 200)?
            .set_default("log.filter", "info")?
            .set_default("log.format", "pretty")?;
        if let Some(file) = file {
            builder = builder.add_source(config::File::with_name(file).required(false));
        }
        if with_env {
            builder = service_kit::settings::add_environment(builder)?;
        }
        Ok(builder.build()?.try_deserialize()?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn data_keys_are_served_on_the_queue_the_consumers_ask() {
        let settings = Settings::from_sources(None, false).unwrap();
        assert_eq!(settings.data_keys.queue, "gateway.data-keys");
        assert_eq!(settings.data_keys.concurrency, 8);
        assert_eq!(
            settings.catch_up.queue_for(&settings.amqp.exchange),
            "provisioning.journal"
        );
        assert_eq!(settings.keys.key_file, "./data/key-encryption.key");
    }

    #[test]
    fn writes_are_bounded_and_roles_are_the_shared_catalogue_by_default() {
        let settings = Settings::from_sources(None, false).unwrap();
        assert_eq!(settings.scim.max_string_chars, 4096);
        assert_eq!(settings.scim.max_resource_bytes, 65_536);
        assert_eq!(settings.scim.max_operation_values, 1000);
        assert_eq!(settings.scim.bulk_max_operations, 1000);
        assert_eq!(settings.scim.bulk_max_payload_bytes, 4 * 1024 * 1024);
        assert_eq!(
            settings.access.role_list(),
            ["owner", "admin", "member", "viewer"]
        );
    }
}
