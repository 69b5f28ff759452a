//! Delivery guarantees end to end, on PostgreSQL and RabbitMQ: 1,000
//! provisioning requests through the gateway while (a) the broker is cut off
//! for more than 10 s by a TCP proxy this test controls (the relay and the
//! consumer both connect through it) and (b) the identity service — the real
//! binary, as its own process — is killed with SIGKILL mid-batch and started
//! again. Afterwards every journal event has been applied exactly once by the
//! identity service, in version order per user, and the accounts say what the
//! IdP did, user by user.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use messaging_rabbitmq::RabbitPublisher;
use scim_gateway::domain::ports::ViewHealth;
use scim_gateway::startup::journal_relay;
use sea_orm::Database;
use service_kit::shutdown::BackgroundTasks;
use test_support::broker::TestBroker;
use test_support::gateway::TestGateway;
use test_support::process::ServiceProcess;
use test_support::proxy::TcpProxy;
use test_support::scenario::{Scenario, count, verify_identity};
use uuid::Uuid;

const USERS: usize = 200;
const REQUESTS: usize = 1000;
const OUTAGE: Duration = Duration::from_secs(11);

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

    let broker = TestBroker::new(&amqp_url);
    let topology = broker.topology("identity-delivery", &["user.*"]);
    broker.declare(&[&topology]).await;

    // The gateway, in this process, relaying through the proxy.
    let mut settings = test_support::gateway::settings(gateway_db);
    settings.amqp.relay_idle_poll_ms = 50;
    settings.amqp.relay_max_backoff_ms = 1000;
    let gateway = TestGateway::spawn(&settings, "Delivery org").await;
    let mut background = BackgroundTasks::new();
    let publisher = RabbitPublisher::new(&proxied_url, &broker.exchanges.events);
    background.spawn("journal relay", |stop| {
        journal_relay(&gateway.store, publisher, &settings, stop)
    });
    // The gateway's data keys, on a queue of this test's own (identity
    // opens the sealed profiles with them).
    let key_queue = format!("{}.data-keys", topology.service);
    let (keys, keys_url, queue) = (gateway.store.clone(), amqp_url.clone(), key_queue.clone());
    background.spawn("data-key server", move |stop| async move {
        scim_gateway::inbound::data_keys::serve(
            keys,
            &keys_url,
            &queue,
            8,
            Default::default(),
            stop.stopped(),
        )
        .await;
    });

    // The identity service, as its own process, consuming through the proxy.
    let log = test_support::temp_dir("delivery").with_extension("log");
    let mut identity = ServiceProcess::new(
        env!("CARGO_BIN_EXE_identity"),
        vec![
            (
                "SCIM_IDENTITY_CONFIG".into(),
                "/nonexistent/identity.toml".into(),
            ),
            ("SCIM_DATABASE__URL".into(), identity_db.clone()),
            ("SCIM_AMQP__URL".into(), proxied_url.clone()),
            (
                "SCIM_AMQP__EXCHANGE".into(),
                broker.exchanges.events.clone(),
            ),
            ("SCIM_AMQP__QUEUE".into(), topology.service.clone()),
            ("SCIM_DATA_KEYS__QUEUE".into(), key_queue.clone()),
            ("SCIM_AMQP__RETRY_DELAY_MS".into(), "200".into()),
            ("SCIM_AMQP__MAX_ATTEMPTS".into(), "100".into()),
            ("SCIM_HTTP__PORT".into(), "0".into()),
            ("SCIM_ADMIN_KEY".into(), "delivery-test".into()),
            ("SCIM_LOG__FILTER".into(), "info".into()),
        ],
        log.clone(),
    );
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

    background
        .stop(Duration::from_secs(10))
        .await
        .expect("the background tasks stop");
    broker.remove(&[&topology], &[&key_queue]).await;
}
