//! Delivery guarantees of the embedded process (in-process bus): 1,000
//! provisioning requests to the real `scim-embedded` binary, which is killed
//! with SIGKILL while journal entries are still undelivered and started
//! again. Afterwards every journal event has been applied exactly once by the
//! identity service, in version order per user, and the accounts say what the
//! IdP did. (The broker-outage half of the distributed suite has no
//! counterpart here: there is no broker to lose.)

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use scim_gateway::startup::generate_token;
use sea_orm::{Database, DatabaseConnection};
use serde_json::Value;
use test_support::process::{ServiceProcess, free_port};
use test_support::scenario::{Scenario, ScimClient, count, verify_identity};
use uuid::Uuid;

const USERS: usize = 200;
const REQUESTS: usize = 1000;

struct Embedded {
    process: ServiceProcess,
    dir: PathBuf,
    port: u16,
    token: String,
    http: reqwest::Client,
}

impl Embedded {
    fn new(dir: PathBuf) -> Embedded {
        let port = free_port();
        let token = generate_token();
        let sqlite = |file| test_support::sqlite_url(&dir, file);
        let env = [
            ("SCIM_CONFIG", "/nonexistent/gateway.toml".to_owned()),
            ("SCIM_DATABASE__URL", sqlite("gateway.db")),
            (
                "SCIM_EMBEDDED__IDENTITY_DATABASE_URL",
                sqlite("identity.db"),
            ),
            ("SCIM_HTTP__PORT", port.to_string()),
            ("SCIM_BOOTSTRAP__TOKEN", token.clone()),
            ("SCIM_BOOTSTRAP__DATA_DIR", dir.display().to_string()),
            ("SCIM_ADMIN_KEY", "delivery-test".to_owned()),
            ("SCIM_EMBEDDED__DEFAULT_SEAT_QUOTA", "100000".to_owned()),
            ("SCIM_LOG__FILTER", "warn".to_owned()),
            // One client as fast as it can: not what the request rate limit
            // is about here.
            ("SCIM_LIMITS__RATE_PER_SECOND", "0".to_owned()),
        ];
        let process = ServiceProcess::new(
            env!("CARGO_BIN_EXE_scim-embedded"),
            env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            dir.join("embedded.log"),
        );
        Embedded {
            process,
            dir,
            port,
            token,
            http: reqwest::Client::new(),
        }
    }

    fn gateway_url(&self) -> String {
        test_support::sqlite_url(&self.dir, "gateway.db")
    }

    fn identity_url(&self) -> String {
        test_support::sqlite_url(&self.dir, "identity.db")
    }

    async fn start(&mut self) {
        self.process.start();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = self
                .http
                .get(format!("http://127.0.0.1:{}/healthz", self.port))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "scim-embedded did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill(&mut self) {
        self.process.kill();
    }
}

impl ScimClient for Embedded {
    async fn send(&self, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("http://127.0.0.1:{}/scim/v2{uri}", self.port);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&self.token)
            .header("Content-Type", "application/scim+json");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.expect("the process answers");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }
}

async fn open(url: &str) -> DatabaseConnection {
    Database::connect(url).await.unwrap()
}

#[tokio::test]
async fn every_event_is_applied_once_in_order_through_a_process_kill() {
    let dir = test_support::temp_dir("embedded-delivery");
    std::fs::create_dir_all(&dir).unwrap();
    let mut embedded = Embedded::new(dir);
    embedded.start().await;
    let mut scenario = Scenario::new(USERS);
    for _ in 0..USERS / 2 {
        let (status, body) = scenario.create_user(&embedded).await;
        assert_eq!(status, 201, "{body}");
    }

    // Kill right after a response, while the relay still has entries to
    // deliver; if a kill happens to find nothing pending, start and try again.
    let mut kills_with_backlog = 0;
    let mut sent = USERS / 2;
    let mut next_kill = 400;
    while sent < REQUESTS {
        let (status, body) = scenario.act(&embedded).await;
        sent += 1;
        assert!((200..300).contains(&status), "{status} {body}");
        if sent == next_kill {
            embedded.kill();
            let gateway = open(&embedded.gateway_url()).await;
            let identity = open(&embedded.identity_url()).await;
            let pending = count(
                &gateway,
                "SELECT COUNT(*) AS n FROM journal WHERE published_at IS NULL",
            )
            .await;
            let journal = count(&gateway, "SELECT COUNT(*) AS n FROM journal").await;
            let applied = count(&identity, "SELECT COUNT(*) AS n FROM inbox_events").await;
            let _ = gateway.close().await;
            let _ = identity.close().await;
            eprintln!(
                "killed after request {sent}: {pending} pending, {applied} of {journal} applied"
            );
            // Entries identity never saw are delivered after the restart;
            // entries delivered but not yet marked published (pending, yet
            // applied) come again and must be recognized as duplicates.
            if applied < journal {
                kills_with_backlog += 1;
            }
            embedded.start().await;
            next_kill += if kills_with_backlog >= 2 {
                REQUESTS
            } else {
                97
            };
        }
    }
    assert!(kills_with_backlog >= 1, "no kill found undelivered entries");

    let gateway = open(&embedded.gateway_url()).await;
    let identity = open(&embedded.identity_url()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending = count(
            &gateway,
            "SELECT COUNT(*) AS n FROM journal WHERE published_at IS NULL",
        )
        .await;
        if pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} entries never delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    embedded.kill();
    let journal_ids: HashSet<Uuid> = {
        use sea_orm::{ConnectionTrait, Statement};
        gateway
            .query_all_raw(Statement::from_string(
                gateway.get_database_backend(),
                "SELECT event_id FROM journal",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get("", "event_id").unwrap())
            .collect()
    };
    assert_eq!(
        count(&gateway, "SELECT COUNT(*) AS n FROM dead_letters").await,
        0,
        "no dead letters"
    );
    verify_identity(&identity, &journal_ids, &scenario).await;
}
