//! The four services started as compose starts them, and what tests do
//! with them: `scimctl`, SCIM requests, polling until the services caught up.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use serde_json::{Value, json};

use crate::{ServiceProcess, compose_environment, workspace_binary};
use test_support::process::free_port;

pub const ADMIN_KEY: &str = "system-test-admin-key";
/// The key-encryption key compose asks for (32 bytes, base64).
pub const KEY_ENCRYPTION_KEY: &str = "c3lzdGVtLXRlc3Qta2V5LWVuY3J5cHRpb24ta2V5MzI=";

/// The compose service, its binary, and the database it owns.
const SERVICES: [(&str, &str, &str); 4] = [
    ("identity", "identity", "identity"),
    ("team", "team", "team"),
    ("licensing", "licensing", "licensing"),
    ("scim-gateway", "scim-gateway", "gateway"),
];

pub struct Deployment {
    pub processes: HashMap<&'static str, ServiceProcess>,
    pub urls: HashMap<&'static str, String>,
    pub amqp_url: String,
    pub suffix: String,
    /// Each service's database URL, by database name.
    pub databases: HashMap<&'static str, String>,
}

impl Deployment {
    pub fn url(&self, service: &str) -> &str {
        &self.urls[service]
    }

    /// The test's own data-key queue (`data_keys.queue` of every service):
    /// on the shared broker another test's gateway would otherwise answer
    /// for persons of its own database (a key "gone", a profile erased).
    pub fn data_key_queue(&self) -> String {
        format!("data-keys-{}", self.suffix)
    }

    pub fn logs(&self) -> String {
        self.processes
            .values()
            .map(|p| {
                let output = p.output();
                let tail: Vec<&str> = output.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {} ---\n{}", p.name, tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Removes what the test declared on the shared broker.
    pub async fn clean_broker(&self) {
        let Ok(connection) =
            Connection::connect(&self.amqp_url, ConnectionProperties::default()).await
        else {
            return;
        };
        let Ok(channel) = connection.create_channel().await else {
            return;
        };
        for service in ["identity", "team", "licensing", "scim-gateway"] {
            let queue = format!("{service}-{}", self.suffix);
            let mut names = vec![queue.clone(), format!("{queue}.dead")];
            names.extend((1..=3).map(|tier| format!("{queue}.retry.{tier}")));
            for name in names {
                let _ = channel
                    .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
        }
        for queue in [format!("seats-{}", self.suffix), self.data_key_queue()] {
            let _ = channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        // The gateway's journal queue, named after the test's exchange.
        let journal = format!("provisioning.test.{}.journal", self.suffix);
        let _ = channel
            .queue_delete(journal.as_str().into(), QueueDeleteOptions::default())
            .await;
        let exchange = format!("provisioning.test.{}", self.suffix);
        for name in [
            exchange.clone(),
            format!("{exchange}.retry"),
            format!("{exchange}.dead"),
        ] {
            let _ = channel
                .exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default())
                .await;
        }
        let _ = connection.close(200, "done".into()).await;
    }
}

async fn wait_ready(deployment: &mut Deployment, service: &'static str) {
    let http = reqwest::Client::new();
    let url = format!("{}/readyz", deployment.url(service));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = http.get(&url).send().await
            && response.status().is_success()
        {
            return;
        }
        let process = deployment.processes.get_mut(service).unwrap();
        assert!(!process.exited(), "{service} exited:\n{}", process.output());
        assert!(
            Instant::now() < deadline,
            "{service} not ready within 60 s:\n{}",
            process.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts the four services the way compose does (consumers first, the
/// gateway once they are ready).
pub async fn start(amqp_url: String, otlp_endpoint: &str) -> Option<Deployment> {
    start_with(amqp_url, otlp_endpoint, &[]).await
}

/// What every test of a deployment shares: the compose file, a fresh
/// database per service, and the suffix naming the test's exchange and
/// queues on the shared broker.
pub struct Setup {
    compose: String,
    pub amqp_url: String,
    pub otlp_endpoint: String,
    pub suffix: String,
    /// Each service's database URL, by database name.
    pub databases: HashMap<&'static str, String>,
    pub root: PathBuf,
}

impl Setup {
    /// Fresh databases and names; None (skip) without PostgreSQL.
    pub async fn new(amqp_url: String, otlp_endpoint: &str) -> Option<Setup> {
        let compose = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docker-compose.yml"),
        )
        .unwrap();
        let mut databases = HashMap::new();
        for (_, _, database) in SERVICES {
            databases.insert(database, test_support::postgres_database().await?);
        }
        Some(Setup {
            compose,
            amqp_url,
            otlp_endpoint: otlp_endpoint.to_owned(),
            suffix: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            databases,
            root: test_support::temp_dir("system"),
        })
    }

    /// The binary of the compose `service` and its environment: compose's,
    /// pointed at this machine (databases, broker, collector, `port`), with
    /// the test's names on the broker and `extra` (service, variable, value)
    /// on top.
    pub fn service(
        &self,
        service: &str,
        port: u16,
        extra: &[(&str, &str, &str)],
    ) -> (PathBuf, Vec<(String, String)>) {
        let (_, binary, database) = SERVICES
            .into_iter()
            .find(|(name, _, _)| *name == service)
            .unwrap_or_else(|| panic!("no service {service}"));
        let variables = |name: &str| match name {
            "SCIM_ADMIN_KEY" => Some(ADMIN_KEY.to_owned()),
            "SCIM_KEY_ENCRYPTION_KEY" => Some(KEY_ENCRYPTION_KEY.to_owned()),
            _ => None,
        };
        let mut environment = compose_environment(&self.compose, service, &variables).unwrap();
        // What compose points at by container name, here on this machine.
        for (key, value) in &mut environment {
            if value.starts_with("postgres://") {
                *value = self.databases[database].clone();
            } else if value.starts_with("amqp://") {
                *value = self.amqp_url.clone();
            } else if key == "OTEL_EXPORTER_OTLP_ENDPOINT" {
                *value = self.otlp_endpoint.clone();
            }
        }
        let keys: Vec<&str> = environment.iter().map(|(k, _)| k.as_str()).collect();
        for required in [
            "SCIM_DATABASE__URL",
            "SCIM_AMQP__URL",
            "SCIM_ADMIN_KEY",
            "SCIM_LOG__FORMAT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ] {
            assert!(
                keys.contains(&required),
                "compose gives {service} no {required}"
            );
        }
        let suffix = &self.suffix;
        environment.retain(|(k, _)| k != "SCIM_HTTP__PORT");
        environment.extend(
            [
                ("SCIM_HTTP__HOST", "127.0.0.1".to_owned()),
                ("SCIM_HTTP__PORT", port.to_string()),
                ("SCIM_AMQP__EXCHANGE", format!("provisioning.test.{suffix}")),
                ("SCIM_AMQP__QUEUE", format!("{service}-{suffix}")),
                ("SCIM_SEATS__QUEUE", format!("seats-{suffix}")),
                ("SCIM_LICENSING__QUEUE", format!("seats-{suffix}")),
                ("SCIM_DATA_KEYS__QUEUE", format!("data-keys-{suffix}")),
                // Export spans promptly (the default batches for 5 s).
                ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        environment.extend(
            extra
                .iter()
                .filter(|(s, _, _)| *s == service)
                .map(|(_, k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        (workspace_binary(binary), environment)
    }

    /// A deployment of these databases and names with no process yet.
    pub fn deployment(&self) -> Deployment {
        Deployment {
            processes: HashMap::new(),
            urls: HashMap::new(),
            amqp_url: self.amqp_url.clone(),
            suffix: self.suffix.clone(),
            databases: self.databases.clone(),
        }
    }
}

/// [`start`], with `extra` settings (service, variable, value) on top.
pub async fn start_with(
    amqp_url: String,
    otlp_endpoint: &str,
    extra: &[(&str, &str, &str)],
) -> Option<Deployment> {
    let setup = Setup::new(amqp_url, otlp_endpoint).await?;
    let mut deployment = setup.deployment();
    for (service, _, _) in SERVICES {
        let port = free_port();
        let (binary, environment) = setup.service(service, port, extra);
        let process =
            ServiceProcess::start(service, &binary, &environment, &setup.root.join(service))
                .unwrap();
        deployment.processes.insert(service, process);
        deployment
            .urls
            .insert(service, format!("http://127.0.0.1:{port}"));
        if service == "licensing" {
            for consumer in ["identity", "team", "licensing"] {
                wait_ready(&mut deployment, consumer).await;
            }
        }
    }
    wait_ready(&mut deployment, "scim-gateway").await;
    Some(deployment)
}

/// The `console` binary beside a started deployment, with the
/// `environment:` docker-compose.yml gives it: the four services' URLs are
/// the deployment's, and the tenant URL it shows (compose's
/// `SCIM_PUBLIC_BASE_URL`) the gateway's SCIM base URL. Its URL is
/// `deployment.url("console")`.
pub async fn start_console(deployment: &mut Deployment) {
    let compose = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docker-compose.yml"),
    )
    .unwrap();
    let scim_url = format!("{}/scim/v2", deployment.url("scim-gateway"));
    let variables = |name: &str| match name {
        "SCIM_ADMIN_KEY" => Some(ADMIN_KEY.to_owned()),
        "SCIM_PUBLIC_BASE_URL" => Some(scim_url.clone()),
        _ => None,
    };
    let mut environment = compose_environment(&compose, "console", &variables).unwrap();
    let port = free_port();
    for (key, value) in &mut environment {
        let service = match key.as_str() {
            "SCIM_CONSOLE__GATEWAY_URL" => "scim-gateway",
            "SCIM_CONSOLE__IDENTITY_URL" => "identity",
            "SCIM_CONSOLE__TEAM_URL" => "team",
            "SCIM_CONSOLE__LICENSING_URL" => "licensing",
            "SCIM_HTTP__PORT" => {
                *value = port.to_string();
                continue;
            }
            _ => continue,
        };
        *value = deployment.url(service).to_owned();
    }
    let keys: Vec<&str> = environment.iter().map(|(k, _)| k.as_str()).collect();
    for required in [
        "SCIM_ADMIN_KEY",
        "SCIM_HTTP__PORT",
        "SCIM_CONSOLE__GATEWAY_URL",
        "SCIM_CONSOLE__IDENTITY_URL",
        "SCIM_CONSOLE__TEAM_URL",
        "SCIM_CONSOLE__LICENSING_URL",
        "SCIM_CONSOLE__SCIM_BASE_URL",
    ] {
        assert!(
            keys.contains(&required),
            "compose gives console no {required}"
        );
    }
    environment.push(("SCIM_HTTP__HOST".to_owned(), "127.0.0.1".to_owned()));
    let dir = test_support::temp_dir("system-console");
    let process =
        ServiceProcess::start("console", &workspace_binary("console"), &environment, &dir).unwrap();
    deployment.processes.insert("console", process);
    deployment
        .urls
        .insert("console", format!("http://127.0.0.1:{port}"));
    wait_ready(deployment, "console").await;
}

/// `scimctl` against the deployment: its URLs and admin key, and for
/// `rebuild identity` the gateway's data keys on the test's broker and queue
/// (`SCIM_DATA_KEYS`, `SCIM_DATA_KEYS__QUEUE`: `--data-keys`,
/// `--data-key-queue`).
pub fn scimctl_command(deployment: &Deployment) -> std::process::Command {
    let mut command = std::process::Command::new(workspace_binary("scimctl"));
    command
        .env_clear()
        .args([
            "--gateway",
            deployment.url("scim-gateway"),
            "--identity",
            deployment.url("identity"),
            "--team",
            deployment.url("team"),
            "--licensing",
            deployment.url("licensing"),
        ])
        .env("SCIM_ADMIN_KEY", ADMIN_KEY)
        .env("SCIM_DATA_KEYS", &deployment.amqp_url)
        .env("SCIM_DATA_KEYS__QUEUE", deployment.data_key_queue());
    command
}

pub async fn scimctl(deployment: &Deployment, args: &[&str]) -> Output {
    let mut command = scimctl_command(deployment);
    command.args(args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

pub fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "scimctl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

pub struct Http {
    pub client: reqwest::Client,
}

impl Http {
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, url).bearer_auth(bearer);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

pub fn user(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("{name}@example.com"),
        "externalId": format!("ext-{name}"),
        "name": {"givenName": name, "familyName": "Tester"},
        "emails": [{"value": format!("{name}@example.com"), "type": "work", "primary": true}],
        "active": true
    })
}

pub fn set_active(active: bool) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": active}]
    })
}

/// Polls `check` until it returns Some (or fails after 20 s with `what`).
pub async fn eventually<T, F, Fut>(what: &str, deployment: &Deployment, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 20 s\n{}",
            deployment.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
