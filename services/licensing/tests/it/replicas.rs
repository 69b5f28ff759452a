//! Licensing as several replicas, on PostgreSQL and RabbitMQ: two seat
//! servers on one request queue and one database grant exactly the quota
//! whichever replica answers; one replica at a time relays the outbox and
//! another takes over when it stops; `/readyz` of a standalone instance covers its
//! seat server and reports its outbox relay, naming what is wrong and
//! turning ready again by itself.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use licensing::config::Settings;
use licensing::domain::models::{OrgId, Subscription};
use licensing::domain::service::SeatPolicy;
use licensing::startup::{self, LicensingService};
use messaging_rabbitmq::rpc::RpcClient;
use provisioning_events::seats::{SeatReply, SeatRequest};
use serde_json::{Value, json};
use service_kit::Secret;
use service_kit::consumer_service::ConsumingService;
use service_kit::shutdown::BackgroundTasks;
use test_support::broker::TestBroker;
use test_support::proxy::TcpProxy;
use uuid::Uuid;

const QUOTA: u32 = 30;
const REQUESTS: usize = 120;

fn policy() -> SeatPolicy {
    SeatPolicy {
        default_subscription: Subscription {
            seat_quota: QUOTA,
            scim_included: true,
        },
        hold_for: chrono::Duration::seconds(60),
    }
}

/// Messages waiting in `queue` and its consumers, as the broker counts them.
async fn queue_counts(url: &str, queue: &str) -> (u32, u32) {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let _ = connection.close(200, "counted".into()).await;
    (declared.message_count(), declared.consumer_count())
}

async fn delete_queue(url: &str, queue: &str) {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let _ = channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
    let _ = connection.close(200, "deleted".into()).await;
}

/// Whether the instance's seat server consumes its queue, as its `/readyz`
/// reports it.
fn seat_server_consuming(service: &LicensingService) -> bool {
    service
        .readiness_parts()
        .iter()
        .find(|(name, _)| *name == "seat_server")
        .is_some_and(|(_, part)| part.report().1.is_none())
}

#[actix_web::test]
async fn two_seat_servers_on_one_queue_grant_exactly_the_quota() {
    let Some(url) = test_support::amqp_url() else {
        return;
    };
    let Some(database) = test_support::postgres_database().await else {
        return;
    };
    let queue = format!("licensing.seats.test.{}", Uuid::new_v4().simple());
    // Two replicas: each its own pool on the one database, its own desk and
    // its own server on the one request queue.
    let mut tasks = BackgroundTasks::new();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let replica = LicensingService::build(&database, 8, policy())
            .await
            .unwrap()
            .with_seat_server(&queue);
        let (server, server_url) = (replica.clone(), url.clone());
        tasks.spawn("seat server", move |stop| {
            server.seat_server(&server_url, 4, stop)
        });
        replicas.push(replica);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !replicas.iter().all(seat_server_consuming) {
        assert!(Instant::now() < deadline, "the seat servers did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(queue_counts(&url, &queue).await.1, 2, "two servers consume");

    // Many gateways' worth of concurrent creates in one organization, each
    // its own request/reply client.
    let org = Uuid::now_v7();
    let calls = (0..REQUESTS).map(|i| {
        let (client, queue) = (RpcClient::new(url.clone()), queue.clone());
        async move {
            let request = SeatRequest {
                org_id: org,
                key: format!("user:h:{i:064x}"),
            };
            let body = serde_json::to_vec(&request).unwrap();
            let reply = client
                .call(&queue, &body, &[], Duration::from_secs(20))
                .await
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
            serde_json::from_slice::<SeatReply>(&reply).unwrap()
        }
    });
    let replies = join_all(calls).await;
    let granted = replies
        .iter()
        .filter(|r| matches!(r, SeatReply::Granted { .. }))
        .count();
    let denied: Vec<_> = replies
        .iter()
        .filter_map(|r| match r {
            SeatReply::Denied { used, quota } => Some((*used, *quota)),
            _ => None,
        })
        .collect();
    assert_eq!(granted, QUOTA as usize, "exactly the quota granted");
    assert_eq!(denied.len(), REQUESTS - QUOTA as usize, "{replies:?}");
    assert!(
        denied.iter().all(|d| *d == (QUOTA, QUOTA)),
        "every refusal counts exactly the quota: {denied:?}"
    );
    let usage = replicas[1].licensing.usage(OrgId(org)).await.unwrap();
    assert_eq!((usage.confirmed, usage.reserved), (0, QUOTA));

    tasks.stop(Duration::from_secs(10)).await.unwrap();
    delete_queue(&url, &queue).await;
}

/// A standalone licensing instance's settings: its database, the test's
/// broker corner through `amqp_url`, its admin API on `port`.
fn standalone_settings(
    database: &str,
    amqp_url: &str,
    broker: &TestBroker,
    seat_queue: &str,
    port: u16,
) -> Settings {
    let mut settings = Settings::from_sources(false).unwrap();
    settings.common.database.url = Secret::new(database);
    settings.common.database.max_connections = 4;
    settings.common.amqp.url = Secret::new(amqp_url);
    settings.common.amqp.exchange = broker.exchanges.events.clone();
    settings.common.amqp.queue = format!("licensing-{}", broker.suffix);
    settings.common.amqp.retry_delay_ms = 200;
    settings.common.http.port = port;
    settings.seats.queue = seat_queue.to_owned();
    settings.seats.concurrency = 4;
    settings.relay.idle_poll_ms = 50;
    settings.relay.max_backoff_ms = 500;
    settings.admin_key = Some(Secret::new("replicas-test"));
    // No gateway answers this test's journal queue: a catch-up on the new
    // queue would wait for one (the catch-up has tests of its own).
    settings.common.catch_up.enabled = false;
    settings
}

/// Polls `/readyz` until `wanted(status, body)`; returns the body.
async fn readyz_until(
    http: &reqwest::Client,
    port: u16,
    what: &str,
    wanted: impl Fn(u16, &Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = (0, Value::Null);
    loop {
        if let Ok(response) = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if wanted(status, &body) {
                return body;
            }
            last = (status, body);
        }
        assert!(
            Instant::now() < deadline,
            "{what}: /readyz still answers {} {}",
            last.0,
            last.1
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn detail(body: &Value) -> &str {
    body["detail"].as_str().unwrap_or_default()
}

#[actix_web::test]
async fn readyz_covers_the_seat_server_and_the_outbox_relay() {
    let Some(amqp_url) = test_support::amqp_url() else {
        return;
    };
    let Some(database) = test_support::postgres_database().await else {
        return;
    };
    // The broker, reached only through a proxy the test can cut.
    let (_, upstream) = test_support::reroute(&amqp_url, 0).expect("broker address");
    let proxy = TcpProxy::start(upstream).await.unwrap();
    let (proxied_url, _) = test_support::reroute(&amqp_url, proxy.port()).unwrap();
    let broker = TestBroker::new(&amqp_url);
    // The gateway's queue for licensing's `subscription.changed`.
    let gateway = broker.topology("scim-gateway", &["subscription.*"]);
    broker.declare(&[&gateway]).await;
    let seat_queue = format!("licensing.seats.test.{}", broker.suffix);

    // A queue of the seat queue's name the server cannot declare as its
    // own (not durable): the seat server cannot serve, the rest can.
    {
        let connection = Connection::connect(&amqp_url, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        channel
            .queue_declare(
                seat_queue.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let _ = connection.close(200, "declared".into()).await;
    }

    let port = test_support::process::free_port();
    let settings = standalone_settings(&database, &proxied_url, &broker, &seat_queue, port);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(startup::run_until(settings, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();

    // 1. Everything but the seat server works: 503 naming only it.
    let body = readyz_until(&http, port, "seat server refused", |status, body| {
        status == 503 && body["queue"]["consuming"] == true
    })
    .await;
    assert_eq!(body["seat_server"]["consuming"], false, "{body}");
    assert!(detail(&body).contains("seat_server"), "{body}");
    assert!(!detail(&body).contains("queue:"), "{body}");
    assert!(!detail(&body).contains("outbox_relay"), "{body}");

    // 2. The queue in its way gone, the server declares it: ready.
    delete_queue(&amqp_url, &seat_queue).await;
    let body = readyz_until(&http, port, "seat server serving", |status, _| {
        status == 200
    })
    .await;
    assert_eq!(body["seat_server"]["consuming"], true, "{body}");
    assert_eq!(body["outbox_relay"]["running"], true, "{body}");
    assert_eq!(body["outbox_relay"]["lease_held"], true, "{body}");

    // 3. The broker cut off, and a subscription changed meanwhile (its
    //    event waits in the outbox): 503 naming the consumer and the seat
    //    server, the relay's failure reported.
    proxy.cut();
    let body = readyz_until(&http, port, "broker cut", |status, body| {
        status == 503 && detail(body).contains("seat_server") && detail(body).contains("queue")
    })
    .await;
    assert_eq!(body["seat_server"]["consuming"], false, "{body}");
    let org = Uuid::now_v7();
    let changed = http
        .put(format!(
            "http://127.0.0.1:{port}/admin/v1/organizations/{org}/subscription"
        ))
        .bearer_auth("replicas-test")
        .json(&json!({"seat_quota": 7, "scim_included": true}))
        .send()
        .await
        .unwrap();
    assert!(changed.status().is_success(), "{changed:?}");
    // The relay's failure is reported; it runs, so it is not what makes the
    // instance unready.
    let body = readyz_until(&http, port, "relay failing", |status, body| {
        status == 503 && body["outbox_relay"]["failure"].is_string()
    })
    .await;
    assert_eq!(body["outbox_relay"]["running"], true, "{body}");
    assert!(!detail(&body).contains("outbox_relay"), "{body}");

    // 4. The broker back: ready again without a restart, the event
    //    published.
    proxy.restore();
    // The consumers reconnect at once; the relay at its next attempt (it
    // backs off up to `relay.max_backoff_ms`), which then clears its failure.
    let body = readyz_until(&http, port, "broker restored", |status, body| {
        status == 200 && body["outbox_relay"]["failure"].is_null()
    })
    .await;
    assert_eq!(body["seat_server"]["consuming"], true, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while queue_counts(&amqp_url, &gateway.queue()).await.0 < 1 {
        assert!(
            Instant::now() < deadline,
            "the waiting event never published"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(queue_counts(&amqp_url, &gateway.queue()).await.0, 1);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(40), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    delete_queue(&amqp_url, &seat_queue).await;
    let licensing_queue = broker.topology("licensing", &[]);
    broker.remove(&[&gateway, &licensing_queue], &[]).await;
}

/// Whether the instance's outbox relay holds the outbox's lease.
fn relay_holds_lease(service: &LicensingService) -> bool {
    service
        .readiness_parts()
        .iter()
        .find(|(name, _)| *name == "outbox_relay")
        .is_some_and(|(_, part)| part.report().0["lease_held"] == true)
}

#[actix_web::test]
async fn one_replica_relays_the_outbox_and_another_takes_over_when_it_stops() {
    let Some(url) = test_support::amqp_url() else {
        return;
    };
    let Some(database) = test_support::postgres_database().await else {
        return;
    };
    let broker = TestBroker::new(&url);
    let gateway = broker.topology("scim-gateway", &["subscription.*"]);
    broker.declare(&[&gateway]).await;
    let relay_settings = service_kit::consumer_service::RelaySettings {
        batch_size: 4,
        idle_poll_ms: 20,
        max_backoff_ms: 200,
        lease_retry_ms: 20,
    };
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let replica = LicensingService::build(&database, 4, policy())
            .await
            .unwrap();
        let mut tasks = BackgroundTasks::new();
        let publisher = messaging_rabbitmq::RabbitPublisher::new(&url, &broker.exchanges.events);
        let (relay, settings) = (replica.clone(), relay_settings.clone());
        tasks.spawn("outbox relay", move |stop| {
            relay.outbox_relay(publisher, &settings, stop)
        });
        replicas.push((replica, tasks));
    }
    let change = |replica: &LicensingService, quota: u32| {
        let licensing = replica.licensing.clone();
        async move {
            let subscription = Subscription {
                seat_quota: quota,
                scim_included: true,
            };
            licensing
                .set_subscription(OrgId(Uuid::now_v7()), subscription)
                .await
                .unwrap();
        }
    };
    // Changes written through both replicas, one outbox.
    for quota in 0..20 {
        change(&replicas[(quota % 2) as usize].0, quota).await;
    }
    let published = |n: u32| {
        let (url, queue) = (url.clone(), gateway.queue());
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let (waiting, _) = queue_counts(&url, &queue).await;
                if waiting >= n {
                    return waiting;
                }
                assert!(Instant::now() < deadline, "{waiting} of {n} published");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    published(20).await;
    let holders: Vec<usize> = (0..2)
        .filter(|i| relay_holds_lease(&replicas[*i].0))
        .collect();
    assert_eq!(holders.len(), 1, "one relay holds the lease");
    let holder = holders[0];

    // The holder stops: the other takes the lease and publishes the rest.
    let (_, tasks) = replicas.remove(holder);
    tasks.stop(Duration::from_secs(10)).await.unwrap();
    let (survivor, tasks) = replicas.remove(0);
    for quota in 20..30 {
        change(&survivor, quota).await;
    }
    // Each change published once: no copy beyond the 30.
    assert_eq!(published(30).await, 30);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(queue_counts(&url, &gateway.queue()).await.0, 30);
    assert!(relay_holds_lease(&survivor));
    tasks.stop(Duration::from_secs(10)).await.unwrap();
    broker.remove(&[&gateway], &[]).await;
}
