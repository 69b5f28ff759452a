//! A whole stack per test, driven through HTTP like an IdP and an admin would:
//!
//! - `Mode::Embedded`: SQLite files and the in-process bus, as
//!   `cargo run --release` runs it;
//! - `Mode::Distributed`: PostgreSQL databases (one per service) and RabbitMQ
//!   (an exchange and queues of the test's own), the identity consumer running
//!   as it does in its own process.
//!
//! `settle()` publishes the journal and waits until every consumer has
//! applied everything published.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{App, test};
use messaging::relay::Relay;
use messaging_inprocess::RetryPolicy;
use messaging_rabbitmq::RabbitPublisher;
use scim_embedded::{EmbeddedSettings, Platform, SeatsVia};
use scim_gateway::domain::models::{BearerToken, OrgId};
use scim_gateway::startup::generate_token;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::{Value, json};
use test_support::broker::{RunningConsumer, TestBroker};
use test_support::http::{Response, admin_request, scim_request};
use uuid::Uuid;

/// What the stack answered: status, headers and JSON body.
pub type Reply = Response;

pub const ADMIN_KEY: &str = "test-admin-key";
/// How long a seat reservation waits for its user in the tests' stacks.
pub const HOLD_FOR_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Embedded,
    Distributed,
}

struct Broker {
    names: TestBroker,
    consumers: Vec<RunningConsumer>,
    seat_server: tokio::sync::Mutex<Option<SeatServer>>,
    seat_queue: String,
}

/// Licensing's seat reservation server, as its own process runs it; the
/// tests can stop and restart it.
pub struct SeatServer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SeatServer {
    async fn start(platform: &Platform, url: &str, queue: String) -> SeatServer {
        let licensing = platform.licensing.licensing.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (server_url, server_queue) = (url.to_owned(), queue.clone());
        let task = tokio::spawn(async move {
            licensing::startup::serve_reservations(
                licensing,
                &server_url,
                &server_queue,
                16,
                async move {
                    let _ = stopped.await;
                },
            )
            .await;
        });
        until_seat_server_answers(url, &queue).await;
        SeatServer {
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

pub struct Stack {
    pub platform: Platform,
    pub token: String,
    pub org: OrgId,
    broker: Option<Broker>,
}

impl Stack {
    /// None when the mode's infrastructure is not configured here (skip).
    pub async fn start(mode: Mode) -> Option<Stack> {
        let (gateway_url, identity_url, team_url, licensing_url, amqp) = match mode {
            Mode::Embedded => {
                let dir = test_support::temp_dir("e2e");
                (
                    test_support::sqlite_url(&dir, "gateway.db"),
                    test_support::sqlite_url(&dir, "identity.db"),
                    test_support::sqlite_url(&dir, "team.db"),
                    test_support::sqlite_url(&dir, "licensing.db"),
                    None,
                )
            }
            Mode::Distributed => {
                let amqp = test_support::amqp_url()?;
                (
                    test_support::postgres_database().await?,
                    test_support::postgres_database().await?,
                    test_support::postgres_database().await?,
                    test_support::postgres_database().await?,
                    Some(amqp),
                )
            }
        };
        let names = amqp.map(|url| TestBroker::new(&url));
        let mut gateway = test_support::gateway::settings(gateway_url);
        gateway.http.public_base_url = Some("http://scim.test/scim/v2".into());
        let mut settings = EmbeddedSettings::defaults(gateway);
        settings.identity_database_url = identity_url;
        settings.team_database_url = team_url;
        settings.licensing_database_url = licensing_url;
        settings.seat_policy.hold_for = chrono::Duration::milliseconds(HOLD_FOR_MS);
        let seats_via = match &names {
            None => SeatsVia::InProcess,
            Some(names) => SeatsVia::Rpc {
                url: names.url.clone(),
                queue: format!("licensing.seats.test.{}", names.suffix),
                timeout: Duration::from_secs(2),
            },
        };
        // Nothing of a test may land in the working directory.
        settings.gateway.bootstrap.data_dir = "/nonexistent/scim-e2e-data".into();
        let platform = Platform::build(&settings, ADMIN_KEY, seats_via.clone())
            .await
            .expect("platform starts");

        let token = generate_token();
        let org = scim_gateway::startup::ensure_organization_with_token(
            &platform.gateway_store,
            "E2E org",
            &BearerToken::new(token.clone()),
        )
        .await
        .expect("organization");

        let broker = match names {
            None => None,
            Some(names) => {
                let SeatsVia::Rpc { queue, .. } = seats_via else {
                    unreachable!("distributed stacks ask for seats over RabbitMQ")
                };
                Some(start_consumers(&platform, names, queue).await)
            }
        };
        Some(Stack {
            platform,
            token,
            org,
            broker,
        })
    }

    /// Publishes the journal and waits until the identity service has applied
    /// every user event of it.
    pub async fn settle(&self) {
        match &self.broker {
            None => {
                self.platform
                    .licensing_relay(quick_retry())
                    .drain()
                    .await
                    .expect("in-process delivery of licensing's events");
                self.platform
                    .journal_relay(quick_retry())
                    .drain()
                    .await
                    .expect("in-process delivery of the journal");
            }
            Some(broker) => {
                let relay = Relay::new(
                    self.platform.gateway_store.clone(),
                    RabbitPublisher::new(&broker.names.url, &broker.names.exchanges.events),
                    100,
                );
                relay.drain().await.expect("published to RabbitMQ");
                Relay::new(
                    self.platform.licensing.store.clone(),
                    RabbitPublisher::new(&broker.names.url, &broker.names.exchanges.events),
                    100,
                )
                .drain()
                .await
                .expect("licensing's events published to RabbitMQ");
                let subscriptions =
                    count_rows(self.platform.licensing.store.connection(), "outbox").await;
                let users = self.journal_count("user").await;
                let all = users + self.journal_count("group").await;
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let identity = inbox_count(self.platform.identity.store.connection()).await;
                    let team = inbox_count(self.platform.team.store.connection()).await;
                    let licensing = inbox_count(self.platform.licensing.store.connection()).await;
                    let gateway = inbox_count(self.platform.gateway_store.connection()).await;
                    if identity >= users
                        && team >= all
                        && licensing >= users
                        && gateway >= subscriptions
                    {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "identity applied {identity} of {users} user events, team {team} of {all}, licensing {licensing} of {users}"
                    );
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
        }
    }

    async fn journal_count(&self, kind: &str) -> i64 {
        let db = self.platform.gateway_store.connection();
        let backend = db.get_database_backend();
        let sql = match backend {
            DatabaseBackend::Postgres => {
                "SELECT COUNT(*) AS n FROM journal WHERE aggregate_kind = $1"
            }
            _ => "SELECT COUNT(*) AS n FROM journal WHERE aggregate_kind = ?",
        };
        let row = db
            .query_one_raw(Statement::from_sql_and_values(backend, sql, [kind.into()]))
            .await
            .expect("journal count")
            .expect("a row");
        row.try_get("", "n").expect("count")
    }

    /// Every text value stored anywhere in the identity database.
    pub async fn identity_texts(&self) -> Vec<String> {
        let db = self.platform.identity.store.connection();
        let backend = db.get_database_backend();
        let columns: Vec<(String, String)> = match backend {
            DatabaseBackend::Postgres => db
                .query_all_raw(Statement::from_string(
                    backend,
                    "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
                     WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'character')",
                ))
                .await
                .expect("columns")
                .iter()
                .map(|r| (r.try_get("", "t").unwrap(), r.try_get("", "c").unwrap()))
                .collect(),
            _ => {
                let tables: Vec<String> = db
                    .query_all_raw(Statement::from_string(
                        backend,
                        "SELECT name FROM sqlite_master WHERE type = 'table'",
                    ))
                    .await
                    .expect("tables")
                    .iter()
                    .map(|r| r.try_get("", "name").unwrap())
                    .collect();
                let mut columns = Vec::new();
                for table in tables {
                    for r in db
                        .query_all_raw(Statement::from_string(
                            backend,
                            format!("SELECT name, type FROM pragma_table_info('{table}')"),
                        ))
                        .await
                        .expect("table info")
                    {
                        let ty: String = r.try_get("", "type").unwrap();
                        let ty = ty.to_ascii_lowercase();
                        if ty.contains("char") || ty.contains("text") || ty.contains("clob") || ty.is_empty() {
                            columns.push((table.clone(), r.try_get("", "name").unwrap()));
                        }
                    }
                }
                columns
            }
        };
        assert!(!columns.is_empty(), "found no text columns");
        let mut texts = Vec::new();
        for (table, column) in columns {
            let rows = db
                .query_all_raw(Statement::from_string(
                    backend,
                    format!("SELECT CAST(\"{column}\" AS TEXT) AS v FROM \"{table}\""),
                ))
                .await
                .expect("read column");
            texts.extend(
                rows.iter()
                    .filter_map(|r| r.try_get::<Option<String>>("", "v").ok().flatten()),
            );
        }
        texts
    }

    pub async fn call(&self, request: test::TestRequest) -> Reply {
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(
                    scim_gateway::inbound::http::request_span,
                ))
                .configure(self.platform.configure()),
        )
        .await;
        Response::read(test::call_service(&app, request.to_request()).await).await
    }

    pub async fn scim(&self, method: &str, uri: &str, body: Option<Value>) -> Reply {
        self.call(scim_request(method, uri, &self.token, body.as_ref()))
            .await
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.admin_with_key(method, path, body, Some(ADMIN_KEY))
            .await
    }

    /// An admin request to `path` as is (not under the organization).
    pub async fn admin_at(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.call(admin_request(method, path, Some(ADMIN_KEY), body.as_ref()))
            .await
    }

    pub async fn admin_with_key(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Reply {
        let path = format!("/admin/v1/organizations/{}{path}", self.org.0);
        self.call(admin_request(method, &path, key, body.as_ref()))
            .await
    }

    /// The accounts of one SCIM user, oldest first.
    pub async fn accounts_of(&self, scim_user_id: &str) -> Vec<Value> {
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let query = match &after {
                Some(a) => format!("/accounts?limit=200&after={a}"),
                None => "/accounts?limit=200".to_owned(),
            };
            let page = self.admin("GET", &query, None).await;
            assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
            for item in page.body["items"].as_array().unwrap() {
                if item["scim_user_id"] == scim_user_id {
                    found.push(item.clone());
                }
            }
            match page.body["next_after"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return found,
            }
        }
    }

    /// Stops licensing's seat server (distributed stacks only).
    pub async fn stop_licensing(&self) {
        let broker = self.broker.as_ref().expect("a distributed stack");
        if let Some(mut server) = broker.seat_server.lock().await.take() {
            server.shutdown().await;
        }
    }

    /// Starts it again, on the same queue.
    pub async fn start_licensing(&self) {
        let broker = self.broker.as_ref().expect("a distributed stack");
        let server =
            SeatServer::start(&self.platform, &broker.names.url, broker.seat_queue.clone()).await;
        *broker.seat_server.lock().await = Some(server);
    }

    pub async fn stop(mut self) {
        let Some(broker) = self.broker.as_mut() else {
            return;
        };
        if let Some(mut server) = broker.seat_server.lock().await.take() {
            server.shutdown().await;
        }
        for consumer in &mut broker.consumers {
            consumer.stop().await;
        }
        // The test's queues and exchanges go; the shared broker stays clean.
        let topologies: Vec<_> = broker
            .consumers
            .iter()
            .map(|c| &c.settings.topology)
            .collect();
        broker
            .names
            .remove(&topologies, &[broker.seat_queue.as_str()])
            .await;
    }
}

async fn inbox_count(db: &sea_orm::DatabaseConnection) -> i64 {
    count_rows(db, "inbox_events").await
}

async fn count_rows(db: &sea_orm::DatabaseConnection, table: &str) -> i64 {
    test_support::scenario::count(db, &format!("SELECT COUNT(*) AS n FROM {table}")).await
}

pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        first_pause: Duration::from_millis(5),
    }
}

/// Declares the test's own exchange and the services' queues, then runs the
/// identity and team consumers on them in the background, as their own
/// processes would.
async fn start_consumers(platform: &Platform, names: TestBroker, seat_queue: String) -> Broker {
    let settings = |service: &str, bindings: &[&str]| {
        names.consumer_settings(&format!("{service}-test"), bindings)
    };
    let identity = settings("identity", identity::inbound::consumer::BINDINGS);
    let team = settings("team", team::inbound::consumer::BINDINGS);
    let licensing = settings("licensing", licensing::inbound::consumer::BINDINGS);
    let gateway = settings(
        "scim-gateway",
        scim_gateway::inbound::entitlement_consumer::BINDINGS,
    );
    // Declared before anything is published, so no event finds the exchange
    // without its queues.
    names
        .declare(&[
            &identity.topology,
            &team.topology,
            &licensing.topology,
            &gateway.topology,
        ])
        .await;

    let consumers = vec![
        RunningConsumer::spawn(identity, platform.identity.consumer()),
        RunningConsumer::spawn(team, platform.team.consumer()),
        RunningConsumer::spawn(licensing, platform.licensing.consumer()),
        RunningConsumer::spawn(
            gateway,
            scim_gateway::startup::entitlement_consumer(&platform.gateway_store),
        ),
    ];
    let seat_server = SeatServer::start(platform, &names.url, seat_queue.clone()).await;
    Broker {
        names,
        consumers,
        seat_server: tokio::sync::Mutex::new(Some(seat_server)),
        seat_queue,
    }
}

pub fn user(user_name: &str, given: &str, family: &str, email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "externalId": format!("ext-{user_name}"),
        "name": {"givenName": given, "familyName": family},
        "displayName": format!("{given} {family}"),
        "emails": [{"value": email, "type": "work", "primary": true}],
        "active": true
    })
}

pub fn set_active(active: bool) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": active}]
    })
}

/// Runs an async test body once per mode (`::embedded` and `::distributed`).
#[macro_export]
macro_rules! stack_tests {
    ($(async fn $name:ident($stack:ident: Stack) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                #[allow(unused_imports)]
                use $crate::support::*;

                async fn run($stack: &Stack) $body

                #[actix_web::test]
                async fn embedded() {
                    if let Some(stack) = Stack::start(Mode::Embedded).await {
                        run(&stack).await;
                        stack.stop().await;
                    }
                }

                #[actix_web::test]
                async fn distributed() {
                    if let Some(stack) = Stack::start(Mode::Distributed).await {
                        run(&stack).await;
                        stack.stop().await;
                    }
                }
            }
        )*
    };
}

/// Returns once a seat server answers on `queue` (serving once the queue
/// exists: a reservation for the nil organization gets through).
pub async fn until_seat_server_answers(url: &str, queue: &str) {
    let probe = messaging_rabbitmq::rpc::RpcClient::new(url);
    let request = serde_json::to_vec(&provisioning_events::seats::SeatRequest {
        org_id: Uuid::nil(),
        key: "probe".into(),
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe
        .call(queue, &request, &[], Duration::from_secs(1))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the seat server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
