//! Settings of the team service: the common sections of a consuming service
//! (see `service_kit::consumer_service`).

use serde::Deserialize;
use service_kit::Secret;
use service_kit::consumer_service::{self, CommonSettings, ServiceIdentity};

pub const SERVICE: ServiceIdentity = ServiceIdentity {
    name: "team",
    port: 8082,
};

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    #[serde(flatten)]
    pub common: CommonSettings,
    pub data_keys: DataKeySettings,
    /// `admin_key` in the file or `SCIM_ADMIN_KEY`; the admin API refuses
    /// every request without it.
    #[serde(default, deserialize_with = "service_kit::settings::admin_key")]
    pub admin_key: Option<Secret>,
}

/// Where the dead-letter routes ask the gateway whose data keys are gone
/// (a letter of a deleted person is shown and requeued erased):
/// `SCIM_DATA_KEYS__…`, over request/reply on the broker of `amqp.url`.
#[derive(Debug, Clone, Deserialize)]
pub struct DataKeySettings {
    /// The queue the gateway answers on (default `gateway.data-keys`).
    pub queue: String,
    /// How long a request waits for the gateway's answer, in milliseconds
    /// (default 2000).
    pub timeout_ms: u64,
}

impl Settings {
    pub fn load() -> anyhow::Result<Self> {
        Self::from_sources(true)
    }

    pub fn from_sources(with_env: bool) -> anyhow::Result<Self> {
        let builder = consumer_service::defaults(SERVICE)?
            .set_default(
                "data_keys.queue",
                provisioning_events::personal::DATA_KEY_QUEUE,
            )?
            .set_default("data_keys.timeout_ms", 2000)?;
        consumer_service::finish(SERVICE, builder, with_env)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn dead_letters_ask_the_gateways_data_key_queue_by_default() {
        let settings = Settings::from_sources(false).unwrap();
        assert_eq!(settings.data_keys.queue, "gateway.data-keys");
        assert_eq!(settings.data_keys.timeout_ms, 2000);
    }
}
