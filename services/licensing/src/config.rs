//! Settings of the licensing service: the common sections of a consuming
//! service (see `service_kit::consumer_service`) and its seat rules.

use serde::Deserialize;
use service_kit::Secret;
use service_kit::consumer_service::{self, CommonSettings, RelaySettings, ServiceIdentity};

pub const SERVICE: ServiceIdentity = ServiceIdentity {
    name: "licensing",
    port: 8083,
};

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    #[serde(flatten)]
    pub common: CommonSettings,
    pub seats: SeatSettings,
    /// Where the dead-letter routes ask the gateway whose data keys are
    /// gone (`SCIM_DATA_KEYS__QUEUE`, `SCIM_DATA_KEYS__TIMEOUT_MS`).
    pub data_keys: DataKeySettings,
    /// The relay of the outbox (`subscription.changed`) to the broker.
    pub relay: RelaySettings,
    /// `admin_key` in the file or `SCIM_ADMIN_KEY`; the admin API refuses
    /// every request without it.
    #[serde(default, deserialize_with = "service_kit::settings::admin_key")]
    pub admin_key: Option<Secret>,
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
    /// Reservation requests taken from the queue at once; what arrives
    /// together is decided in one transaction (up to this many).
    pub concurrency: u16,
}

/// The gateway's data-key queue, over request/reply on `amqp.url`.
#[derive(Debug, Clone, Deserialize)]
pub struct DataKeySettings {
    /// Default `gateway.data-keys`.
    pub queue: String,
    /// Milliseconds a request waits for the answer (default 2000).
    pub timeout_ms: u64,
}

impl Settings {
    pub fn load() -> anyhow::Result<Self> {
        Self::from_sources(true)
    }

    pub fn from_sources(with_env: bool) -> anyhow::Result<Self> {
        let builder = consumer_service::defaults(SERVICE)?
            .set_default("seats.default_quota", 25)?
            .set_default("seats.default_scim_included", true)?
            .set_default("seats.hold_for_secs", 120)?
            .set_default("seats.sweep_interval_secs", 30)?
            .set_default(
                "seats.queue",
                provisioning_events::seats::SEAT_RESERVATION_QUEUE,
            )?
            .set_default("seats.concurrency", 64)?
            .set_default(
                "data_keys.queue",
                provisioning_events::personal::DATA_KEY_QUEUE,
            )?
            .set_default("data_keys.timeout_ms", 2000)?
            .set_default("relay.batch_size", 64)?
            .set_default("relay.idle_poll_ms", 200)?
            .set_default("relay.max_backoff_ms", 30_000)?
            .set_default("relay.lease_retry_ms", 1000)?;
        consumer_service::finish(SERVICE, builder, with_env)
    }
}
