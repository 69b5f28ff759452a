//! Settings of the console: defaults → optional `config/console.toml`
//! (`SCIM_CONSOLE_CONFIG`) → `SCIM_<SECTION>__<KEY>` variables; the admin key
//! is `SCIM_ADMIN_KEY`. The embedded process takes the `console` section's
//! defaults and points every service URL at itself.

use serde::Deserialize;
use service_kit::Secret;
use service_kit::consumer_service::{self, HttpSettings, LogSettings, ServiceIdentity};

pub const SERVICE: ServiceIdentity = ServiceIdentity {
    name: "console",
    port: 8084,
};

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub log: LogSettings,
    pub console: ConsoleSettings,
    /// What signing in takes, and what the console calls the admin APIs with.
    #[serde(default, deserialize_with = "service_kit::settings::admin_key")]
    pub admin_key: Option<Secret>,
}

/// `SCIM_CONSOLE__…`
#[derive(Debug, Clone, Deserialize)]
pub struct ConsoleSettings {
    /// The services' admin APIs (`http://gateway:8080`, …).
    pub gateway_url: String,
    pub identity_url: String,
    pub team_url: String,
    pub licensing_url: String,
    /// The tenant URL shown to operators, e.g. `https://scim.example.com/scim/v2`;
    /// unset: the address the console was reached at, with `/scim/v2`.
    pub scim_base_url: Option<String>,
    /// A session unused this long ends (minutes).
    pub session_idle_minutes: i64,
    /// A session ends this long after sign-in, however used (minutes).
    pub session_absolute_minutes: i64,
    /// Mark the session cookie `Secure` even when the request does not say
    /// it came over TLS (`X-Forwarded-Proto: https` or a TLS connection
    /// always does).
    pub secure_cookies: bool,
    /// Failed sign-ins per address and window before 429.
    pub sign_in_failure_limit: u32,
    pub sign_in_failure_window_secs: u64,
    /// How long a call to an admin API may take (milliseconds).
    pub request_timeout_ms: u64,
    /// Jaeger's UI as the operator's browser reaches it, e.g.
    /// `http://localhost:16686`: an event's trace id links to
    /// `{jaeger_url}/trace/{trace_id}`. Unset: the trace id is shown alone.
    pub jaeger_url: Option<String>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            gateway_url: "http://127.0.0.1:8080".to_owned(),
            identity_url: "http://127.0.0.1:8081".to_owned(),
            team_url: "http://127.0.0.1:8082".to_owned(),
            licensing_url: "http://127.0.0.1:8083".to_owned(),
            scim_base_url: None,
            session_idle_minutes: 30,
            session_absolute_minutes: 8 * 60,
            secure_cookies: false,
            sign_in_failure_limit: 20,
            sign_in_failure_window_secs: 60,
            request_timeout_ms: 10_000,
            jaeger_url: None,
        }
    }
}

impl Settings {
    pub fn load() -> anyhow::Result<Self> {
        Self::from_sources(true)
    }

    pub fn from_sources(with_env: bool) -> anyhow::Result<Self> {
        let d = ConsoleSettings::default();
        let builder = config::Config::builder()
            .set_default("http.host", "0.0.0.0")?
            .set_default("http.port", SERVICE.port)?
            .set_default("log.filter", "info")?
            .set_default("log.format", "text")?
            .set_default("console.gateway_url", d.gateway_url)?
            .set_default("console.identity_url", d.identity_url)?
            .set_default("console.team_url", d.team_url)?
            .set_default("console.licensing_url", d.licensing_url)?
            .set_default("console.session_idle_minutes", d.session_idle_minutes)?
            .set_default(
                "console.session_absolute_minutes",
                d.session_absolute_minutes,
            )?
            .set_default("console.secure_cookies", d.secure_cookies)?
            .set_default("console.sign_in_failure_limit", d.sign_in_failure_limit)?
            .set_default(
                "console.sign_in_failure_window_secs",
                d.sign_in_failure_window_secs,
            )?
            .set_default("console.request_timeout_ms", d.request_timeout_ms)?;
        consumer_service::finish(SERVICE, builder, with_env)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let settings = Settings::from_sources(false).unwrap();
        assert_eq!(settings.http.port, 8084);
        assert_eq!(settings.console.session_idle_minutes, 30);
        assert!(settings.admin_key.is_none());
        assert!(settings.console.jaeger_url.is_none());
    }
}
