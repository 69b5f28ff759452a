//! The gateway's seat reservations over RabbitMQ request/reply
//! (`RpcSeats`) against licensing's reservation desk: reservations asked at
//! the same time — a bulk's creates — travel together, fewer messages than
//! reservations, and licensing still decides each exactly (the quota's
//! seats granted, the rest denied); one reservation alone travels in the
//! single-request shape; a wave asked for at once (`reserve_all`) travels in
//! full arrays, decided in its order, and stops asking once licensing does
//! not answer. PostgreSQL + RabbitMQ.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use licensing::domain::models::Subscription;
use licensing::domain::service::SeatPolicy;
use licensing::inbound::rpc::ReservationDesk;
use licensing::startup::LicensingService;
use provisioning_events::seats::MAX_SEAT_REQUESTS_PER_MESSAGE;
use scim_gateway::domain::models::OrgId;
use scim_gateway::domain::ports::{SeatAuthority, SeatDecision, SeatError};
use scim_gateway::outbound::seats::RpcSeats;
use serde_json::Value;
use uuid::Uuid;

const QUOTA: u32 = 25;
const RESERVATIONS: usize = 40;

/// The messages licensing received: how many reservations each carried,
/// and whether it was an array.
type Received = Arc<Mutex<Vec<(usize, bool)>>>;

#[tokio::test]
async fn concurrent_reservations_travel_together_and_are_decided_exactly() {
    let Some((amqp, desk)) = broker_and_desk().await else {
        return;
    };
    let server = SeatServer::start(&amqp, desk, Duration::ZERO).await;
    let (queue, received) = (server.queue.clone(), Arc::clone(&server.received));

    let seats = RpcSeats::new(&amqp, queue.clone(), Duration::from_secs(10));
    let org = OrgId(Uuid::now_v7());
    let keys: Vec<String> = (0..RESERVATIONS).map(|i| format!("user:{i}")).collect();
    let decisions =
        futures_util::future::join_all(keys.iter().map(|key| seats.reserve(org, key))).await;
    let granted = decisions
        .iter()
        .filter(|d| matches!(d, Ok(SeatDecision::Granted)))
        .count();
    let denied = decisions
        .iter()
        .filter(|d| matches!(d, Ok(SeatDecision::Denied { used, quota }) if *used == QUOTA && *quota == QUOTA))
        .count();
    assert_eq!(
        (granted, denied),
        (QUOTA as usize, RESERVATIONS - QUOTA as usize),
        "{decisions:?}"
    );
    let messages = received.lock().unwrap().clone();
    assert_eq!(
        messages.iter().map(|(n, _)| n).sum::<usize>(),
        RESERVATIONS,
        "{messages:?}"
    );
    assert!(messages.len() < RESERVATIONS, "{messages:?}");

    // Alone: the single-request shape, and the seat it already holds.
    received.lock().unwrap().clear();
    assert!(matches!(
        seats.reserve(org, "user:0").await,
        Ok(SeatDecision::Granted)
    ));
    assert_eq!(received.lock().unwrap().clone(), vec![(1, false)]);

    // A bulk's wave asked for at once: arrays of at most a message's
    // worth, one after the other, decided in the keys' order — the first
    // QUOTA keys granted, a key asked again the seat it holds, the rest
    // denied.
    received.lock().unwrap().clear();
    let wave_org = OrgId(Uuid::now_v7());
    let mut wave: Vec<String> = (0..300).map(|i| format!("user:wave-{i}")).collect();
    wave[280] = "user:wave-3".into();
    let decisions = seats.reserve_all(wave_org, &wave).await;
    assert_eq!(decisions.len(), wave.len());
    for (i, decision) in decisions.iter().enumerate() {
        let granted = i < QUOTA as usize || i == 280;
        assert_eq!(
            matches!(decision, Ok(SeatDecision::Granted)),
            granted,
            "key {i}: {decision:?}"
        );
        if !granted {
            assert!(
                matches!(decision, Ok(SeatDecision::Denied { used, quota }) if *used == QUOTA && *quota == QUOTA),
                "key {i}: {decision:?}"
            );
        }
    }
    assert_eq!(
        received.lock().unwrap().clone(),
        vec![
            (MAX_SEAT_REQUESTS_PER_MESSAGE, true),
            (300 - MAX_SEAT_REQUESTS_PER_MESSAGE, true)
        ]
    );

    server.stop().await;
}

#[tokio::test]
async fn a_wave_stops_asking_once_licensing_does_not_answer() {
    let Some((amqp, desk)) = broker_and_desk().await else {
        return;
    };
    // Arrays are answered only after the gateway stopped waiting.
    let server = SeatServer::start(&amqp, desk, Duration::from_secs(2)).await;
    let seats = RpcSeats::new(&amqp, server.queue.clone(), Duration::from_millis(300));
    let wave: Vec<String> = (0..600).map(|i| format!("user:late-{i}")).collect();
    let decisions = seats.reserve_all(OrgId(Uuid::now_v7()), &wave).await;
    assert_eq!(decisions.len(), wave.len());
    assert!(
        decisions
            .iter()
            .all(|d| matches!(d, Err(SeatError::Unavailable(_)))),
        "{decisions:?}"
    );
    // The first array went unanswered: the other two were never sent.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        server.received.lock().unwrap().clone(),
        vec![(MAX_SEAT_REQUESTS_PER_MESSAGE, true)]
    );
    server.stop().await;
}

/// The broker's URL and licensing's desk on a PostgreSQL database of its
/// own, when both are configured.
async fn broker_and_desk() -> Option<(String, ReservationDesk)> {
    let amqp = test_support::amqp_url()?;
    let database = test_support::postgres_database().await?;
    Some((amqp, licensing_desk(&database).await))
}

/// Licensing on `database`, every organization with QUOTA seats: its desk.
async fn licensing_desk(database: &str) -> ReservationDesk {
    let policy = SeatPolicy {
        default_subscription: Subscription {
            seat_quota: QUOTA,
            scim_included: true,
        },
        hold_for: chrono::Duration::seconds(60),
    };
    let service = LicensingService::build(database, 8, policy).await.unwrap();
    ReservationDesk::start(service.licensing.clone(), 64)
}

/// Licensing's reservation desk served on a queue of its own, recording
/// the messages it receives; arrays answered after `array_delay`.
struct SeatServer {
    queue: String,
    received: Received,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl SeatServer {
    /// Returns once a reservation gets through.
    async fn start(amqp: &str, desk: ReservationDesk, array_delay: Duration) -> Self {
        let queue = format!("licensing.seats.test.{}", Uuid::new_v4().simple());
        let received: Received = Arc::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = {
            let (amqp, queue, received) = (amqp.to_owned(), queue.clone(), Arc::clone(&received));
            tokio::spawn(async move {
                let handler = move |body: Vec<u8>, _headers| {
                    let (desk, received) = (desk.clone(), Arc::clone(&received));
                    async move {
                        let carried = match serde_json::from_slice::<Value>(&body) {
                            Ok(Value::Array(requests)) => (requests.len(), true),
                            _ => (1, false),
                        };
                        received.lock().unwrap().push(carried);
                        if carried.1 {
                            tokio::time::sleep(array_delay).await;
                        }
                        desk.answer_bytes(body).await
                    }
                };
                messaging_rabbitmq::rpc::serve(&amqp, &queue, 16, handler, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            })
        };
        crate::support::until_seat_server_answers(amqp, &queue).await;
        received.lock().unwrap().clear();
        Self {
            queue,
            received,
            stop,
            task,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}
