//! Delivery guarantees end to end, on PostgreSQL and RabbitMQ: 1,000
//! provisioning requests through the gateway while (a) the broker is cut off
//! for more than 10 s by a TCP proxy this test controls (the relay and the
//! consumer both connect through it) and (b) the identity service — the real
//! binary, as its own process — is killed with SIGKILL mid-batch and started
//! again. Afterwards every journal event has been applied exactly once by the
//! identity service, in version order per user, and the accounts say what the
//! IdP did, user by user.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::{App, test, web};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use messaging_rabbitmq::RabbitPublisher;
use messaging_rabbitmq::topology::{Exchanges, ServiceTopology, declare_service_topology};
use scim_gateway::config::{Secret, Settings};
use scim_gateway::domain::models::BearerToken;
use scim_gateway::domain::ports::ViewHealth;
use scim_gateway::outbound::sql::SqlScimView;
use scim_gateway::startup::{GatewayApi, build_api, configure_app, generate_token, journal_relay};
use sea_orm::Database;
use serde_json::Value;
use service_kit::shutdown::BackgroundTasks;
use test_support::proxy::TcpProxy;
use test_support::scenario::{Scenario, ScimClient, count, verify_identity};
use uuid::Uuid;

const USERS: usize = 200;
const REQUESTS: usize = 1000;
const OUTAGE: Duration = Duration::from_secs(11);

struct Gateway {
    api: web::Data<GatewayApi>,
    store: SqlScimView,
    token: String,
}

impl ScimClient for Gateway {
    async fn send(&self, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
        let app = test::init_service(
            App::new()
                .app_data(self.api.clone())
                .configure(configure_app),
        )
        .await;
        let request = match method {
            "POST" => test::TestRequest::post(),
            "PATCH" => test::TestRequest::patch(),
            "DELETE" => test::TestRequest::delete(),
            _ => test::TestRequest::get(),
        }
        .uri(&format!("/scim/v2{uri}"))
        .insert_header(("Authorization", format!("Bearer {}", self.token)));
        let request = match body {
            Some(body) => request
                .insert_header(("Content-Type", "application/scim+json"))
                .set_payload(body.to_string()),
            None => request,
        };
        let response = test::call_service(&app, request.to_request()).await;
        let status = response.status();
        let bytes = test::read_body(response).await;
        (
            status.as_u16(),
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

struct IdentityProcess {
    child: Option<Child>,
    env: Vec<(String, String)>,
    log: std::path::PathBuf,
}

impl IdentityProcess {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_identity"))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("identity binary starts");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL: no shutdown, no acks, no commit in flight
            let _ = child.wait();
        }
    }
}

impl Drop for IdentityProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[actix_web::test]
async fn every_event_is_applied_once_in_order_through_a_broker_outage_and_a_consumer_kill() {
    let Some(amqp_url) = test_support::amqp_url() else {
        return;
    };
    let Some(gateway_db) = test_support::postgres_database().await else {
        return;
    };
    let Some(identity_db) = test_support::postgres_database().await else {
        return;
    };

    // The broker, reached only through a proxy the test can cut.
    let (_, upstream) = test_support::reroute(&amqp_url, 0).expect("broker address");
    let proxy = TcpProxy::start(upstream).await.unwrap();
    let (proxied_url, _) = test_support::reroute(&amqp_url, proxy.port()).unwrap();

    let suffix = Uuid::new_v4().simple().to_string();
    let exchanges = Exchanges::for_exchange(&format!("provisioning.test.{suffix}"));
    let topology = ServiceTopology {
        service: format!("identity-delivery-{suffix}"),
        routing_keys: vec!["user.*".into()],
        retry_delay: Duration::from_millis(200),
    };
    let admin = Connection::connect(&amqp_url, ConnectionProperties::default())
        .await
        .unwrap();
    let admin_channel = admin.create_channel().await.unwrap();
    declare_service_topology(&admin_channel, &exchanges, &topology)
        .await
        .unwrap();

    // The gateway, in this process, relaying through the proxy.
    let mut settings = Settings::from_sources(None, false).unwrap();
    settings.database.url = Secret::new(gateway_db);
    settings.database.max_connections = 8;
    settings.amqp.relay_idle_poll_ms = 50;
    settings.amqp.relay_max_backoff_ms = 1000;
    let (api, store) = build_api(&settings).await.unwrap();
    let mut background = BackgroundTasks::new();
    let publisher = RabbitPublisher::new(&proxied_url, &exchanges.events);
    background.spawn("journal relay", |stop| {
        journal_relay(&store, publisher, &settings, stop)
    });
    let token = generate_token();
    scim_gateway::startup::ensure_organization_with_token(
        &store,
        "Delivery org",
        &BearerToken::new(token.clone()),
    )
    .await
    .unwrap();
    let gateway = Gateway { api, store, token };

    // The identity service, as its own process, consuming through the proxy.
    let log = test_support::temp_dir("delivery").with_extension("log");
    let mut identity = IdentityProcess {
        child: None,
        env: vec![
            (
                "SCIM_IDENTITY_CONFIG".into(),
                "/nonexistent/identity.toml".into(),
            ),
            ("SCIM_DATABASE__URL".into(), identity_db.clone()),
            ("SCIM_AMQP__URL".into(), proxied_url.clone()),
            ("SCIM_AMQP__EXCHANGE".into(), exchanges.events.clone()),
            ("SCIM_AMQP__QUEUE".into(), topology.service.clone()),
            ("SCIM_AMQP__RETRY_DELAY_MS".into(), "200".into()),
            ("SCIM_AMQP__MAX_ATTEMPTS".into(), "100".into()),
            ("SCIM_HTTP__PORT".into(), "0".into()),
            ("SCIM_ADMIN_KEY".into(), "delivery-test".into()),
            ("SCIM_LOG__FILTER".into(), "info".into()),
        ],
        log: log.clone(),
    };
    identity.start();
    let identity_store = Database::connect(&identity_db).await.unwrap();

    let mut scenario = Scenario::new(USERS);
    let mut requests = 0usize;
    let mut answered_during_outage = 0usize;

    // 1. Broker up: the first half of the users.
    for _ in 0..USERS / 2 {
        let (status, body) = scenario.create_user(&gateway).await;
        requests += 1;
        assert_eq!(status, 201, "{body}");
    }

    // 2. Broker cut off for more than 10 s while the IdP goes on: the rest of
    //    the creates, updates, disables, re-enables and deletes.
    proxy.cut();
    let outage_started = Instant::now();
    let outage_requests = 500;
    for sent in 1..=outage_requests {
        let (status, body) = scenario.act(&gateway).await;
        requests += 1;
        assert!(
            (200..300).contains(&status),
            "during the outage: {status} {body}"
        );
        answered_during_outage += 1;
        // Spread the requests over the whole outage.
        let due = OUTAGE.mul_f64(f64::from(sent) / f64::from(outage_requests));
        if let Some(wait) = due.checked_sub(outage_started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    let lag = gateway.store.check().await.unwrap();
    assert!(
        lag.unpublished > 0,
        "nothing could have been published during the outage"
    );
    assert!(outage_started.elapsed() >= Duration::from_secs(10));
    proxy.restore();
    let inbox = "SELECT COUNT(*) AS n FROM inbox_events";

    // 3. The consumer reconnects by itself and works on the outage's events.
    let at_restore = count(&identity_store, inbox).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&identity_store, inbox).await <= at_restore {
        assert!(
            Instant::now() < deadline,
            "the consumer never resumed; log: {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // 4. The consumer is down while the IdP goes on, so a backlog waits in
    //    its queue; started again, it is killed while it works through it.
    identity.kill();
    while requests < REQUESTS {
        let (status, body) = scenario.act(&gateway).await;
        requests += 1;
        assert!(
            (200..300).contains(&status),
            "after the outage: {status} {body}"
        );
    }
    let journal_total = gateway.store.journal(None, 0, 1_000_000).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while gateway.store.check().await.unwrap().unpublished > 0 {
        assert!(Instant::now() < deadline, "the relay never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let backlog_start = count(&identity_store, inbox).await;
    identity.start();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&identity_store, inbox).await <= backlog_start {
        assert!(
            Instant::now() < deadline,
            "the restarted consumer never consumed; log: {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    identity.kill();
    let killed_at = count(&identity_store, inbox).await;
    assert!(
        (killed_at as usize) < journal_total.len(),
        "killed mid-backlog: {killed_at} of {} applied",
        journal_total.len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    identity.start();

    // 5. Everything arrives.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let lag = gateway.store.check().await.unwrap();
        let applied = count(&identity_store, "SELECT COUNT(*) AS n FROM inbox_events").await;
        if lag.unpublished == 0 && applied as usize >= journal_total.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled: {} unpublished, {applied} of {} applied; identity log: {}",
            lag.unpublished,
            journal_total.len(),
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    identity.kill();

    let journal_ids: HashSet<Uuid> = journal_total.iter().map(|e| e.id).collect();
    verify_identity(&identity_store, &journal_ids, &scenario).await;
    assert!(answered_during_outage >= 500);

    for queue in topology.queues() {
        let _ = admin_channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    for exchange in [
        &exchanges.events,
        &exchanges.retry,
        &exchanges.requeue,
        &exchanges.dead,
    ] {
        let _ = admin_channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await;
    }
}
