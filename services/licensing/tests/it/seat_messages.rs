//! The request/reply messages of seat reservations (`ReservationDesk::
//! answer_bytes`, what the RabbitMQ server runs): one request answered by one
//! reply, an array of requests by an array of replies in order, each
//! decided as if asked alone — the quota exact, a repeated key the same
//! reservation (SQLite, and PostgreSQL when configured). Arrays and single
//! requests go through the desk at once, and the quota stays exact.

use licensing::domain::models::Subscription;
use licensing::domain::service::SeatPolicy;
use licensing::inbound::rpc::ReservationDesk;
use licensing::startup::LicensingService;
use provisioning_events::seats::{MAX_SEAT_REQUESTS_PER_MESSAGE, SeatReply, SeatRequest};
use uuid::Uuid;

fn request(org: Uuid, key: &str) -> SeatRequest {
    SeatRequest {
        org_id: org,
        key: key.to_owned(),
    }
}

fn reservation(reply: &SeatReply) -> Option<Uuid> {
    match reply {
        SeatReply::Granted { reservation_id, .. } => Some(*reservation_id),
        _ => None,
    }
}

async fn messages(url: &str) {
    let policy = SeatPolicy {
        default_subscription: Subscription {
            seat_quota: 3,
            scim_included: true,
        },
        hold_for: chrono::Duration::seconds(60),
    };
    let service = LicensingService::build(url, 8, policy).await.unwrap();
    let desk = ReservationDesk::start(service.licensing.clone(), 64);
    let org = Uuid::now_v7();

    // One request: one reply.
    let one = desk
        .answer_bytes(serde_json::to_vec(&request(org, "user:a")).unwrap())
        .await;
    let one: SeatReply = serde_json::from_slice(&one).unwrap();
    let first = reservation(&one).expect("a seat");

    // An array: its replies in order, over the quota denied, "a" again the
    // seat it already holds.
    let keys = ["user:b", "user:a", "user:c", "user:d", "user:e"];
    let body = serde_json::to_vec(&keys.map(|k| request(org, k))).unwrap();
    let replies: Vec<SeatReply> = serde_json::from_slice(&desk.answer_bytes(body).await).unwrap();
    assert_eq!(replies.len(), keys.len(), "{replies:?}");
    assert!(reservation(&replies[0]).is_some(), "{replies:?}");
    assert_eq!(reservation(&replies[1]), Some(first));
    assert!(reservation(&replies[2]).is_some(), "{replies:?}");
    for denied in &replies[3..] {
        assert_eq!(*denied, SeatReply::Denied { used: 3, quota: 3 });
    }

    // More than a message may carry: every one unavailable, none reserved.
    let other = Uuid::now_v7();
    let too_many: Vec<SeatRequest> = (0..=MAX_SEAT_REQUESTS_PER_MESSAGE)
        .map(|i| request(other, &format!("user:{i}")))
        .collect();
    let replies: Vec<SeatReply> = serde_json::from_slice(
        &desk
            .answer_bytes(serde_json::to_vec(&too_many).unwrap())
            .await,
    )
    .unwrap();
    assert_eq!(replies.len(), too_many.len());
    assert!(replies.iter().all(|r| *r == SeatReply::Unavailable));
    let usage = service
        .licensing
        .usage(licensing::domain::models::OrgId(other))
        .await
        .unwrap();
    assert_eq!(usage.reserved, 0, "{usage:?}");

    // Unreadable: one unavailable reply.
    let unreadable: SeatReply =
        serde_json::from_slice(&desk.answer_bytes(b"{\"org\":1}".to_vec()).await).unwrap();
    assert_eq!(unreadable, SeatReply::Unavailable);
}

/// Arrays (`answer_all`, each decided whole) and single requests through
/// the desk, all at once for one organization: the quota still exact.
async fn arrays_beside_single_requests(url: &str) {
    const QUOTA: u32 = 100;
    let policy = SeatPolicy {
        default_subscription: Subscription {
            seat_quota: QUOTA,
            scim_included: true,
        },
        hold_for: chrono::Duration::seconds(60),
    };
    let service = LicensingService::build(url, 8, policy).await.unwrap();
    let desk = ReservationDesk::start(service.licensing.clone(), 16);
    let org = Uuid::now_v7();
    let arrays = (0..3).map(|a| {
        let requests = (0..60)
            .map(|i| request(org, &format!("user:array-{a}-{i}")))
            .collect();
        desk.answer_all(requests)
    });
    let singles = (0..60).map(|i| desk.answer(request(org, &format!("user:single-{i}"))));
    let (arrays, singles) = futures_util::join!(
        futures_util::future::join_all(arrays),
        futures_util::future::join_all(singles)
    );
    let replies: Vec<SeatReply> = arrays.into_iter().flatten().chain(singles).collect();
    assert_eq!(replies.len(), 240);
    let granted = replies.iter().filter_map(reservation).count();
    let denied = replies
        .iter()
        .filter(
            |r| matches!(r, SeatReply::Denied { used, quota } if *used == QUOTA && *quota == QUOTA),
        )
        .count();
    assert_eq!((granted, denied), (QUOTA as usize, 140), "{replies:?}");
    let usage = service
        .licensing
        .usage(licensing::domain::models::OrgId(org))
        .await
        .unwrap();
    assert_eq!(usage.reserved, QUOTA, "{usage:?}");
}

#[tokio::test]
async fn seat_arrays_beside_single_requests_on_sqlite() {
    let dir = test_support::temp_dir("licensing-arrays");
    arrays_beside_single_requests(&test_support::sqlite_url(&dir, "licensing.db")).await;
}

#[tokio::test]
async fn seat_arrays_beside_single_requests_on_postgres() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    arrays_beside_single_requests(&url).await;
}

#[tokio::test]
async fn seat_messages_on_sqlite() {
    let dir = test_support::temp_dir("licensing-messages");
    messages(&test_support::sqlite_url(&dir, "licensing.db")).await;
}

#[tokio::test]
async fn seat_messages_on_postgres() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    messages(&url).await;
}
