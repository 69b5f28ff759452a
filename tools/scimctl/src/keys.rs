//! Where `scimctl rebuild identity` gets the persons' data keys that open the
//! journal's sealed profiles (`--data-keys`, docs/replay.md):
//!
//! - `amqp://…` (`amqps://…`): the gateway's data-key server over request/reply
//!   (the distributed deployment), on `--data-key-queue`
//!   (`SCIM_DATA_KEYS__QUEUE`, as the services', default `gateway.data-keys`);
//! - a gateway database (`sqlite://…`, `postgres://…`): its key table read
//!   directly, the data keys unwrapped with the key-encryption key of
//!   `SCIM_KEYS__KEY_ENCRYPTION_KEY` or `--key-file` (the embedded process:
//!   `sqlite://./data/gateway.db` and `./data/key-encryption.key`);
//! - unset: the embedded process's folder when `./data/key-encryption.key`
//!   is there, else the default broker (`amqp://guest:guest@127.0.0.1:5672/%2f`).
//!
//! A person whose key is gone (deleted) opens as erased, as in the service.
//! Nothing here creates a key or a key file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use provisioning_events::personal::DATA_KEY_QUEUE;
use provisioning_events::sealing::{KeyEncryptionKey, KeyRing};
use sea_orm::DatabaseConnection;
use service_kit::data_keys::{DataKeySource, RpcDataKeys};

/// The broker the services use when `amqp.url` is not set.
const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// How long a request for keys waits for the gateway.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// Where identity's rebuild gets the persons' data keys: the broker the
    /// gateway answers on (`amqp://…`), or the gateway's database
    /// (`sqlite://…`, `postgres://…`) with its key-encryption key. Default:
    /// `sqlite://./data/gateway.db` when `./data/key-encryption.key` exists
    /// (the embedded process's folder), else the default broker.
    #[arg(long, env = "SCIM_DATA_KEYS", hide_env_values = true)]
    pub data_keys: Option<String>,
    /// The gateway's data-key queue (with an `amqp://` source): the
    /// services' `data_keys.queue`, and read from the same variable.
    #[arg(long, env = "SCIM_DATA_KEYS__QUEUE", default_value = DATA_KEY_QUEUE)]
    pub data_key_queue: String,
    /// The key-encryption key's file (with a database source), unless
    /// `SCIM_KEYS__KEY_ENCRYPTION_KEY` gives the key itself;
    /// `SCIM_KEYS__PREVIOUS_KEYS` adds the keys of a rotation.
    #[arg(long, default_value = "./data/key-encryption.key")]
    pub key_file: PathBuf,
}

/// A key source and, for a database source, its connection (closed by
/// [`DataKeys::close`]).
pub struct DataKeys {
    pub source: Arc<dyn DataKeySource>,
    gateway: Option<DatabaseConnection>,
}

impl DataKeys {
    pub async fn close(self) {
        if let Some(db) = self.gateway {
            let _ = db.close().await;
        }
    }
}

fn is_amqp(url: &str) -> bool {
    url.starts_with("amqp://") || url.starts_with("amqps://")
}

/// The source `args` name.
pub async fn open(args: &KeyArgs) -> anyhow::Result<DataKeys> {
    let source = match &args.data_keys {
        Some(source) => source.clone(),
        None if args.key_file.is_file() => "sqlite://./data/gateway.db".to_owned(),
        None => DEFAULT_AMQP_URL.to_owned(),
    };
    if is_amqp(&source) {
        let rpc = RpcDataKeys::new(&source, RPC_TIMEOUT).with_queue(args.data_key_queue.clone());
        return Ok(DataKeys {
            source: Arc::new(rpc),
            gateway: None,
        });
    }
    let ring = key_ring(&args.key_file)?;
    let db = match service_kit::db::connect_readers(&source, 2, "the gateway database").await? {
        Some(readers) => readers,
        None => service_kit::db::connect(&source, 2, "the gateway database").await?,
    };
    let view = scim_gateway::outbound::sql::SqlScimView::new(db.clone()).with_key_ring(ring);
    Ok(DataKeys {
        source: Arc::new(scim_embedded::GatewayDataKeys(view)),
        gateway: Some(db),
    })
}

/// The key-encryption keys: `SCIM_KEYS__KEY_ENCRYPTION_KEY`, else the file
/// (which must exist: a new key would open nothing), and the previous keys
/// of `SCIM_KEYS__PREVIOUS_KEYS`.
fn key_ring(file: &Path) -> anyhow::Result<KeyRing> {
    let configured = std::env::var("SCIM_KEYS__KEY_ENCRYPTION_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty());
    let current = match configured {
        Some(key) => KeyEncryptionKey::from_base64(key.trim())
            .context("SCIM_KEYS__KEY_ENCRYPTION_KEY is not a key-encryption key")?,
        None => {
            if !file.is_file() {
                bail!(
                    "no key-encryption key: set SCIM_KEYS__KEY_ENCRYPTION_KEY or --key-file (the gateway's; {} does not exist)",
                    file.display()
                );
            }
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            KeyEncryptionKey::from_base64(text.trim())
                .with_context(|| format!("{} holds no key-encryption key", file.display()))?
        }
    };
    let previous = std::env::var("SCIM_KEYS__PREVIOUS_KEYS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| KeyEncryptionKey::from_base64(k).context("SCIM_KEYS__PREVIOUS_KEYS"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(KeyRing::new(current, previous))
}
