//! How every service reads its settings: its defaults, then an optional TOML
//! file, then `SCIM_<SECTION>__<KEY>` environment variables — and the admin
//! key among them: `admin_key` in the file, `SCIM_ADMIN_KEY` in the
//! environment.

use config::ConfigBuilder;
use config::builder::DefaultState;
use serde::{Deserialize, Deserializer};

use crate::Secret;

/// The environment variable holding the admin key that guards `/admin/v1`.
pub const ADMIN_KEY_VARIABLE: &str = "SCIM_ADMIN_KEY";

/// Adds the `SCIM_…` variables to `builder`. Their values are parsed
/// (`8080` is a number, `true` a boolean), except `SCIM_ADMIN_KEY`'s, which
/// becomes `admin_key` exactly as written: a key of digits keeps its leading
/// zeros and never turns into a float.
pub fn add_environment(
    builder: ConfigBuilder<DefaultState>,
) -> anyhow::Result<ConfigBuilder<DefaultState>> {
    let builder = builder.add_source(
        config::Environment::with_prefix("SCIM")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true),
    );
    Ok(match std::env::var(ADMIN_KEY_VARIABLE) {
        Ok(key) => builder.set_override("admin_key", key)?,
        Err(_) => builder,
    })
}

/// `deserialize_with` for the `admin_key` setting: unset or empty is `None`
/// (compose passes an unset variable as an empty one).
pub fn admin_key<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
    let key = Option::<Secret>::deserialize(deserializer)?;
    Ok(key.filter(|k| !k.expose().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct WithKey {
        #[serde(default, deserialize_with = "admin_key")]
        admin_key: Option<Secret>,
    }

    fn read(builder: ConfigBuilder<DefaultState>) -> Option<String> {
        let settings: WithKey = builder.build().unwrap().try_deserialize().unwrap();
        settings.admin_key.map(|k| k.expose().to_owned())
    }

    #[test]
    fn the_admin_key_is_a_setting_and_empty_means_none() {
        let builder = || config::Config::builder();
        assert_eq!(read(builder()), None);
        assert_eq!(read(builder().set_override("admin_key", "").unwrap()), None);
        assert_eq!(
            read(builder().set_override("admin_key", "0123").unwrap()).as_deref(),
            Some("0123")
        );
    }
}
