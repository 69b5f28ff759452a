//! Settings of the embedded process: the gateway's (`SCIM_HTTP__PORT`,
//! `SCIM_ADMIN_KEY`, …) plus where the other services keep their data and
//! how the process paces its background work (`SCIM_EMBEDDED__…`), and the
//! admin key kept under the data folder when none is configured.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use identity::domain::service::AccessCatalogue;
use licensing::domain::models::Subscription;
use licensing::domain::service::SeatPolicy;
use rand::RngExt;
use scim_gateway::config::Settings as GatewaySettings;
use serde::Deserialize;
use service_kit::consumer_service::RelaySettings;

/// Seats of an organization without a subscription of its own.
pub const DEFAULT_SEAT_QUOTA: u32 = 25;

#[derive(Debug, Clone)]
pub struct EmbeddedSettings {
    /// The gateway's settings; its `amqp.relay_*` pace the journal's relay
    /// to the in-process bus, its `admin_key` guards every admin API.
    pub gateway: GatewaySettings,
    pub identity_database_url: String,
    pub team_database_url: String,
    pub licensing_database_url: String,
    pub seat_policy: SeatPolicy,
    pub access: AccessCatalogue,
    /// The relay of licensing's outbox (`subscription.changed`) to the
    /// gateway.
    pub licensing_relay: RelaySettings,
    /// How often expired seat reservations are deleted.
    pub sweep_interval: Duration,
    /// Jaeger's UI for the console's links to an event's trace
    /// (`SCIM_EMBEDDED__JAEGER_URL`); unset: no link.
    pub jaeger_url: Option<String>,
}

/// The `SCIM_EMBEDDED__<KEY>` variables.
#[derive(Debug, Deserialize)]
struct ExtraSettings {
    identity_database_url: Option<String>,
    team_database_url: Option<String>,
    licensing_database_url: Option<String>,
    default_seat_quota: Option<u32>,
    access_roles: Option<String>,
    access_permissions: Option<String>,
    licensing_relay_batch_size: Option<u64>,
    licensing_relay_idle_poll_ms: Option<u64>,
    licensing_relay_max_backoff_ms: Option<u64>,
    sweep_interval_secs: Option<u64>,
    jaeger_url: Option<String>,
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl EmbeddedSettings {
    /// Defaults, `config/gateway.toml`, then the environment
    /// (`SCIM_EMBEDDED__IDENTITY_DATABASE_URL`, `SCIM_EMBEDDED__ACCESS_ROLES`, …).
    pub fn load() -> anyhow::Result<Self> {
        let gateway = GatewaySettings::load()?;
        let extra: ExtraSettings = config::Config::builder()
            .add_source(
                config::Environment::with_prefix("SCIM_EMBEDDED")
                    .prefix_separator("__")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()?;
        let mut settings = Self::defaults(gateway);
        if let Some(url) = extra.identity_database_url {
            settings.identity_database_url = url;
        }
        if let Some(url) = extra.team_database_url {
            settings.team_database_url = url;
        }
        if let Some(url) = extra.licensing_database_url {
            settings.licensing_database_url = url;
        }
        if let Some(quota) = extra.default_seat_quota {
            settings.seat_policy.default_subscription.seat_quota = quota;
        }
        // One catalogue for identity and the gateway's connections.
        if let Some(roles) = extra.access_roles {
            settings.access.roles = list(&roles);
            settings.gateway.access.roles = roles;
        }
        if let Some(permissions) = extra.access_permissions {
            settings.access.permissions = list(&permissions);
        }
        let relay = &mut settings.licensing_relay;
        relay.batch_size = extra.licensing_relay_batch_size.unwrap_or(relay.batch_size);
        relay.idle_poll_ms = extra
            .licensing_relay_idle_poll_ms
            .unwrap_or(relay.idle_poll_ms);
        relay.max_backoff_ms = extra
            .licensing_relay_max_backoff_ms
            .unwrap_or(relay.max_backoff_ms);
        if let Some(secs) = extra.sweep_interval_secs {
            settings.sweep_interval = Duration::from_secs(secs.max(1));
        }
        settings.jaeger_url = extra.jaeger_url;
        Ok(settings)
    }

    /// The defaults around given gateway settings: the other databases
    /// beside the gateway's, the key-encryption key's file under the data
    /// folder (unless `keys.key_file` was set; `keys.key_encryption_key`
    /// still wins over any file), the default access catalogue and seat
    /// policy, licensing's relay and sweeper paced as in its own process.
    pub fn defaults(mut gateway: GatewaySettings) -> Self {
        let data_dir = PathBuf::from(&gateway.bootstrap.data_dir);
        // One gateway serves every write here: it may keep its own writes'
        // keys in memory.
        gateway.keys.in_process = true;
        if is_default_key_file(&gateway.keys.key_file) {
            gateway.keys.key_file = key_encryption_key_file(&gateway.bootstrap.data_dir)
                .display()
                .to_string();
        }
        Self {
            identity_database_url: format!("sqlite://{}", data_dir.join("identity.db").display()),
            team_database_url: format!("sqlite://{}", data_dir.join("team.db").display()),
            licensing_database_url: format!("sqlite://{}", data_dir.join("licensing.db").display()),
            seat_policy: SeatPolicy {
                default_subscription: Subscription {
                    seat_quota: DEFAULT_SEAT_QUOTA,
                    scim_included: true,
                },
                hold_for: chrono::Duration::seconds(120),
            },
            access: AccessCatalogue {
                roles: list(&gateway.access.roles),
                permissions: list(identity::config::DEFAULT_PERMISSIONS),
            },
            licensing_relay: RelaySettings {
                batch_size: 64,
                idle_poll_ms: 200,
                max_backoff_ms: 30_000,
                // One process on a SQLite file: its relay takes no lease.
                lease_retry_ms: 1000,
            },
            sweep_interval: Duration::from_secs(30),
            jaeger_url: None,
            gateway,
        }
    }
}

/// The admin key: the `admin_key` setting (`SCIM_ADMIN_KEY`), else the one
/// kept in `<data>/admin-key`, else a new one written there (owner-readable
/// only). Returns the key and whether it was just created.
pub fn admin_key(settings: &EmbeddedSettings) -> anyhow::Result<(String, bool)> {
    if let Some(key) = &settings.gateway.admin_key {
        return Ok((key.expose().to_owned(), false));
    }
    let file = admin_key_file(&settings.gateway.bootstrap.data_dir);
    if let Ok(existing) = std::fs::read_to_string(&file) {
        let existing = existing.trim();
        if !existing.is_empty() {
            return Ok((existing.to_owned(), false));
        }
    }
    let bytes: [u8; 32] = rand::rng().random();
    let key: String = std::iter::once("adm_".to_owned())
        .chain(bytes.iter().map(|b| format!("{b:02x}")))
        .collect();
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&file, &key).with_context(|| format!("writing {}", file.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok((key, true))
}

pub fn admin_key_file(data_dir: &str) -> PathBuf {
    Path::new(data_dir).join("admin-key")
}

/// Where the embedded process keeps the key-encryption key it generated
/// (owner-readable only) when neither `keys.key_encryption_key` nor
/// `keys.key_file` is set: beside its databases.
pub fn key_encryption_key_file(data_dir: &str) -> PathBuf {
    Path::new(data_dir).join("key-encryption.key")
}

/// Whether `file` is the gateway's own default (`keys.key_file` left unset).
fn is_default_key_file(file: &str) -> bool {
    GatewaySettings::from_sources(None, false).is_ok_and(|d| d.keys.key_file == file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(data_dir: &str) -> GatewaySettings {
        let mut gateway = GatewaySettings::from_sources(None, false).expect("default settings");
        gateway.bootstrap.data_dir = data_dir.into();
        gateway
    }

    #[test]
    fn the_key_encryption_key_is_kept_under_the_data_folder_unless_a_file_is_named() {
        let settings = EmbeddedSettings::defaults(gateway("/srv/scim"));
        assert_eq!(
            Path::new(&settings.gateway.keys.key_file),
            Path::new("/srv/scim/key-encryption.key")
        );
        let mut named = gateway("/srv/scim");
        named.keys.key_file = "/etc/scim/kek".into();
        let settings = EmbeddedSettings::defaults(named);
        assert_eq!(settings.gateway.keys.key_file, "/etc/scim/kek");
    }
}
