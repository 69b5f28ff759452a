//! Against the machine's RabbitMQ (`SCIM_TEST_AMQP_URL`): request/reply over
//! direct reply-to: round trip with headers, many concurrent calls on one
//! client, timeout then recovery, fast failure without a server queue, graceful
//! shutdown of the server, an unreachable broker, and the server telling
//! whether it consumes through a broker cut.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use messaging_rabbitmq::consumer::ConsumerHealth;
use messaging_rabbitmq::rpc::{RpcClient, RpcError, serve, serve_reporting};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

fn amqp_url() -> Option<String> {
    match std::env::var("SCIM_TEST_AMQP_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            let required = std::env::var("SCIM_TEST_REQUIRE_INFRA").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "SCIM_TEST_REQUIRE_INFRA=1 but SCIM_TEST_AMQP_URL is not set"
            );
            eprintln!("skipping: SCIM_TEST_AMQP_URL is not set");
            None
        }
    }
}

const LONG: Duration = Duration::from_secs(10);

fn queue_name(test: &str) -> String {
    format!("rpc-test-{test}-{}", Uuid::new_v4().simple())
}

/// Declares the queue as `serve` does, so requests are routable before the
/// server has started consuming.
async fn declare(url: &str, queue: &str) {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let _ = connection.close(200, "done".into()).await;
}

async fn delete(url: &str, queue: &str) {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let _ = channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
    let _ = connection.close(200, "done".into()).await;
}

/// A running server and the trigger of its shutdown.
struct Server {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), RpcError>>,
}

impl Server {
    async fn start<H, Fut>(url: &str, queue: &str, concurrency: u16, handler: H) -> Self
    where
        H: Fn(Vec<u8>, HashMap<String, String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<u8>> + Send + 'static,
    {
        declare(url, queue).await;
        let (stop, stopped) = oneshot::channel::<()>();
        let (url, queue) = (url.to_owned(), queue.to_owned());
        let task = tokio::spawn(async move {
            serve(&url, &queue, concurrency, handler, async {
                let _ = stopped.await;
            })
            .await
        });
        Self { stop, task }
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(LONG, self.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_trip_carries_body_and_headers() {
    let Some(url) = amqp_url() else { return };
    let queue = queue_name("round-trip");
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    let server = Server::start(&url, &queue, 4, move |body: Vec<u8>, headers| {
        let seen_tx = seen_tx.clone();
        async move {
            let _ = seen_tx.send(headers);
            body.to_ascii_uppercase()
        }
    })
    .await;

    let client = RpcClient::new(url.clone());
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let reply = client
        .call(
            &queue,
            br#"{"name":"ada"}"#,
            &[("traceparent", traceparent)],
            LONG,
        )
        .await
        .unwrap();
    assert_eq!(reply, br#"{"NAME":"ADA"}"#);
    let headers = seen_rx.recv().await.unwrap();
    assert_eq!(
        headers.get("traceparent").map(String::as_str),
        Some(traceparent)
    );

    server.stop().await;
    delete(&url, &queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_each_get_their_own_reply() {
    let Some(url) = amqp_url() else { return };
    let queue = queue_name("concurrent");
    let server = Server::start(&url, &queue, 16, |body: Vec<u8>, _| async move {
        let mut reply = b"reply to ".to_vec();
        reply.extend_from_slice(&body);
        reply
    })
    .await;

    let client = RpcClient::new(url.clone());
    let calls = (0..200).map(|i| {
        let client = &client;
        let queue = &queue;
        async move {
            let body = format!("request {i}");
            let reply = client.call(queue, body.as_bytes(), &[], LONG).await;
            (body, reply)
        }
    });
    let results = join_all(calls).await;
    assert_eq!(results.len(), 200);
    for (body, reply) in results {
        assert_eq!(
            String::from_utf8(reply.unwrap()).unwrap(),
            format!("reply to {body}")
        );
    }

    server.stop().await;
    delete(&url, &queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_reply_times_out_and_the_client_keeps_working() {
    let Some(url) = amqp_url() else { return };
    let queue = queue_name("timeout");
    let server = Server::start(&url, &queue, 4, |body: Vec<u8>, _| async move {
        if body == b"slow" {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        body
    })
    .await;

    let client = RpcClient::new(url.clone());
    // Connect first, so the timed call measures only the wait for the reply.
    assert_eq!(
        client.call(&queue, b"warm up", &[], LONG).await.unwrap(),
        b"warm up"
    );

    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let result = client.call(&queue, b"slow", &[], timeout).await;
    let elapsed = started.elapsed();
    assert_eq!(result, Err(RpcError::Timeout));
    assert!(
        elapsed >= timeout,
        "returned before the timeout: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");

    assert_eq!(
        client.call(&queue, b"fast", &[], LONG).await.unwrap(),
        b"fast"
    );
    // The late reply to "slow" arrives meanwhile and is dropped, not handed to
    // a later call.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        client.call(&queue, b"after", &[], LONG).await.unwrap(),
        b"after"
    );

    server.stop().await;
    delete(&url, &queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_server_queue_fails_fast() {
    let Some(url) = amqp_url() else { return };
    let queue = queue_name("missing");
    let client = RpcClient::new(url.clone());

    let started = Instant::now();
    let result = client
        .call(&queue, b"anyone?", &[], Duration::from_secs(5))
        .await;
    let elapsed = started.elapsed();
    assert!(
        matches!(&result, Err(RpcError::Unavailable(reason)) if reason.contains("no route")),
        "{result:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");

    // The same client still works once a server is there.
    let server = Server::start(&url, &queue, 1, |body: Vec<u8>, _| async move { body }).await;
    assert_eq!(
        client.call(&queue, b"now", &[], LONG).await.unwrap(),
        b"now"
    );
    server.stop().await;
    delete(&url, &queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_finishes_the_request_in_flight_and_returns() {
    let Some(url) = amqp_url() else { return };
    let queue = queue_name("shutdown");
    let (started_tx, mut started_rx) = mpsc::unbounded_channel();
    let server = Server::start(&url, &queue, 2, move |body: Vec<u8>, _| {
        let started_tx = started_tx.clone();
        async move {
            let _ = started_tx.send(());
            tokio::time::sleep(Duration::from_millis(500)).await;
            body
        }
    })
    .await;

    let client = RpcClient::new(url.clone());
    let in_flight = {
        let (client, queue) = (client.clone(), queue.clone());
        tokio::spawn(async move { client.call(&queue, b"last one", &[], LONG).await })
    };
    started_rx.recv().await.unwrap();
    server.stop().await;
    assert_eq!(in_flight.await.unwrap().unwrap(), b"last one");

    // Nobody consumes any more: the request waits in the queue until it expires.
    assert_eq!(
        client
            .call(&queue, b"too late", &[], Duration::from_millis(300))
            .await,
        Err(RpcError::Timeout)
    );
    delete(&url, &queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unroutable_requests_fail_alone_among_concurrent_ones() {
    let Some(url) = amqp_url() else { return };
    let queue = queue_name("mixed");
    let missing = queue_name("mixed-missing");
    let server = Server::start(&url, &queue, 16, |body: Vec<u8>, _| async move { body }).await;

    // The broker may confirm several requests at once; a returned request must
    // fail its own call, not whichever call's confirm carried the return.
    let client = RpcClient::new(url.clone());
    let calls = (0..100).map(|i| {
        let client = &client;
        let target = if i % 2 == 0 { &queue } else { &missing };
        async move {
            let body = format!("request {i}");
            (
                i,
                body.clone(),
                client.call(target, body.as_bytes(), &[], LONG).await,
            )
        }
    });
    for (i, body, result) in join_all(calls).await {
        if i % 2 == 0 {
            assert_eq!(result.unwrap(), body.as_bytes());
        } else {
            assert!(
                matches!(&result, Err(RpcError::Unavailable(_))),
                "{i}: {result:?}"
            );
        }
    }

    server.stop().await;
    delete(&url, &queue).await;
}

#[tokio::test]
async fn unreachable_broker_is_unavailable() {
    let client = RpcClient::new("amqp://guest:guest@127.0.0.1:1/%2f");
    let result = client
        .call("nobody", b"hello", &[], Duration::from_secs(5))
        .await;
    assert!(
        matches!(result, Err(RpcError::Unavailable(_))),
        "{result:?}"
    );
}

/// Polls `health` until it says `consuming`.
async fn until_consuming(health: &ConsumerHealth, consuming: bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while health.is_consuming() != consuming {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_server_reports_whether_it_consumes_through_a_broker_cut() {
    let Some(url) = amqp_url() else { return };
    let queue = queue_name("health");
    declare(&url, &queue).await;
    let (_, upstream) = test_support::reroute(&url, 0).expect("broker address");
    let proxy = test_support::proxy::TcpProxy::start(upstream)
        .await
        .unwrap();
    let (proxied, _) = test_support::reroute(&url, proxy.port()).unwrap();
    let health = ConsumerHealth::default();
    let (stop, stopped) = oneshot::channel::<()>();
    let (server_health, server_queue) = (health.clone(), queue.clone());
    let task = tokio::spawn(async move {
        let echo = |body: Vec<u8>, _| async move { body };
        serve_reporting(&proxied, &server_queue, 2, echo, server_health, async {
            let _ = stopped.await;
        })
        .await
    });
    until_consuming(&health, true, "the server never consumed").await;

    proxy.cut();
    until_consuming(&health, false, "still consuming with the broker cut off").await;
    proxy.restore();
    until_consuming(&health, true, "not consuming again after the cut").await;
    let client = RpcClient::new(url.clone());
    assert_eq!(
        client.call(&queue, b"back", &[], LONG).await.unwrap(),
        b"back"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(LONG, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!health.is_consuming(), "stopped");
    delete(&url, &queue).await;
}
