//! Settings of the identity service: the common sections of a consuming
//! service (see `service_kit::consumer_service`), its access catalogue and
//! how it gets the data keys that open sealed profiles.

use serde::Deserialize;
use service_kit::Secret;
use service_kit::consumer_service::{self, CommonSettings, ServiceIdentity};

pub const SERVICE: ServiceIdentity = ServiceIdentity {
    name: "identity",
    port: 8081,
};

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    #[serde(flatten)]
    pub common: CommonSettings,
    pub access: AccessSettings,
    pub data_keys: DataKeySettings,
    /// `admin_key` in the file or `SCIM_ADMIN_KEY`; the admin API refuses
    /// every request without it.
    #[serde(default, deserialize_with = "service_kit::settings::admin_key")]
    pub admin_key: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AccessSettings {
    /// Comma-separated roles an admin may grant.
    pub roles: String,
    /// Comma-separated permissions an admin may grant.
    pub permissions: String,
}

/// The gateway's data keys (`SCIM_DATA_KEYS__…`), asked over request/reply
/// on the broker of `amqp.url`.
#[derive(Debug, Clone, Deserialize)]
pub struct DataKeySettings {
    /// How long a request for data keys waits for the gateway's answer, in
    /// milliseconds (default 2000); without one the event is retried.
    pub timeout_ms: u64,
    /// How many persons' data keys are kept in memory (default 10000; the
    /// oldest fetched go first, a person's goes with their `user.deleted`).
    pub cache_capacity: usize,
    /// The queue the gateway answers on (default `gateway.data-keys`).
    pub queue: String,
}

/// A comma-separated list.
pub fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Shared with the gateway, which checks connections' default roles against it.
pub const DEFAULT_ROLES: &str = provisioning_events::access::DEFAULT_ROLES;
pub const DEFAULT_PERMISSIONS: &str =
    "processing_activities.manage,risks.manage,requests.manage,assessments.manage,reports.view";

impl Settings {
    pub fn load() -> anyhow::Result<Self> {
        Self::from_sources(true)
    }

    /// Defaults only, or with the file and the environment.
    pub fn from_sources(with_env: bool) -> anyhow::Result<Self> {
        let builder = consumer_service::defaults(SERVICE)?
            .set_default("access.roles", DEFAULT_ROLES)?
            .set_default("access.permissions", DEFAULT_PERMISSIONS)?
            .set_default("data_keys.timeout_ms", 2000)?
            .set_default(
                "data_keys.queue",
                provisioning_events::personal::DATA_KEY_QUEUE,
            )?
            .set_default(
                "data_keys.cache_capacity",
                crate::domain::keys::DEFAULT_CACHE_CAPACITY as u64,
            )?;
        consumer_service::finish(SERVICE, builder, with_env)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn data_keys_are_asked_of_the_gateway_with_a_timeout_and_a_bounded_cache() {
        let settings = Settings::from_sources(false).unwrap();
        assert_eq!(settings.data_keys.timeout_ms, 2000);
        assert_eq!(settings.data_keys.cache_capacity, 10_000);
        assert_eq!(settings.data_keys.queue, "gateway.data-keys");
    }
}
