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
    /// From `SCIM_ADMIN_KEY`; the admin API refuses every request without it.
    #[serde(skip)]
    pub admin_key: Option<Secret>,
}

impl Settings {
    pub fn load() -> anyhow::Result<Self> {
        Self::from_sources(true)
    }

    pub fn from_sources(with_env: bool) -> anyhow::Result<Self> {
        let builder = consumer_service::defaults(SERVICE)?;
        let mut settings: Settings = consumer_service::finish(SERVICE, builder, with_env)?;
        if with_env {
            settings.admin_key = consumer_service::admin_key_from_env();
        }
        Ok(settings)
    }
}
