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
    /// `admin_key` in the file or `SCIM_ADMIN_KEY`; the admin API refuses
    /// every request without it.
    #[serde(default, deserialize_with = "service_kit::settings::admin_key")]
    pub admin_key: Option<Secret>,
}

impl Settings {
    pub fn load() -> anyhow::Result<Self> {
        Self::from_sources(true)
    }

    pub fn from_sources(with_env: bool) -> anyhow::Result<Self> {
        let builder = consumer_service::defaults(SERVICE)?;
        consumer_service::finish(SERVICE, builder, with_env)
    }
}
