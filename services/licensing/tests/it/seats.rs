//! The seat ledger on SQLite and PostgreSQL: reservations expire when their
//! user never arrives, a retry gets its reservation back, events confirm and
//! release seats, concurrent reservations never exceed the quota, a batch
//! of reservations is decided as if one after the other.

use chrono::Utc;
use licensing::domain::models::{OrgId, Reservation, SeatKey, Subscription};
use licensing::domain::service::SeatPolicy;
use licensing::inbound::rpc::ReservationDesk;
use licensing::startup::LicensingService;
use messaging::Handled;
use provisioning_events::sealing::HashSecret;
use provisioning_events::seats::{self, SeatReply, SeatRequest};
use provisioning_events::{AggregateKind, Event, EventBody, PersonalProfile};
use uuid::Uuid;

use crate::clock::{TestClock, on_clock};

pub(crate) fn policy(quota: u32, hold_for_ms: i64) -> SeatPolicy {
    SeatPolicy {
        default_subscription: Subscription {
            seat_quota: quota,
            scim_included: true,
        },
        hold_for: chrono::Duration::milliseconds(hold_for_ms),
    }
}

pub(crate) fn user_event(org: Uuid, scim_id: &str, version: i64, body: EventBody) -> Event {
    test_support::consumers::event_in(org, AggregateKind::User, scim_id, version, body)
}

/// The gateway's seat-key secret, as a test makes it.
fn secret() -> HashSecret {
    HashSecret::from_bytes(b"licensing tests")
}

/// The key the gateway reserves a new user's seat with.
pub(crate) fn key(org: OrgId, user_name: &str) -> SeatKey {
    SeatKey(seats::new_user_key(&secret(), org.0, user_name))
}

/// `user.provisioned` as the gateway writes it: the seat key it reserved
/// with, the profile sealed (licensing never opens it).
pub(crate) fn provisioned(org: OrgId, user_name: &str) -> EventBody {
    EventBody::UserProvisioned {
        account_id: Uuid::now_v7(),
        default_role: "member".into(),
        seat_key: Some(key(org, user_name).0),
        profile: PersonalProfile::Sealed("AQ".into()),
    }
}

async fn ledger(url: &str) {
    let service = LicensingService::build(url, 8, policy(2, 400))
        .await
        .unwrap();
    let clock = TestClock::at(Utc::now());
    let licensing = on_clock(&service, &clock, policy(2, 400));
    let org = OrgId(Uuid::now_v7());
    let a = key(org, "A@example.com");
    let b = key(org, "b@example.com");
    let c = key(org, "c@example.com");

    // Two seats: a and b get them, c does not; a retry of a is the same seat.
    let Reservation::Granted { reservation_id, .. } = licensing.reserve(org, &a).await.unwrap()
    else {
        panic!("a is granted")
    };
    assert!(matches!(
        licensing.reserve(org, &b).await.unwrap(),
        Reservation::Granted {
            used: 2,
            quota: 2,
            ..
        }
    ));
    assert_eq!(
        licensing.reserve(org, &c).await.unwrap(),
        Reservation::Denied { used: 2, quota: 2 }
    );
    assert!(matches!(
        licensing.reserve(org, &key(org, "a@EXAMPLE.com")).await.unwrap(),
        Reservation::Granted { reservation_id: again, .. } if again == reservation_id
    ));

    // a's user arrives: its seat is confirmed. b's never does: after the hold
    // time its seat is free for c.
    let event = user_event(org.0, "scim-a", 1, provisioned(org, "a@example.com"));
    assert_eq!(
        licensing.handle_event(&event).await.unwrap(),
        Handled::Applied
    );
    let usage = licensing.usage(org).await.unwrap();
    assert_eq!((usage.confirmed, usage.reserved, usage.quota), (1, 1, 2));
    clock.advance(chrono::Duration::milliseconds(500));
    assert_eq!(
        licensing.usage(org).await.unwrap().reserved,
        0,
        "b's reservation expired"
    );
    assert!(matches!(
        licensing.reserve(org, &c).await.unwrap(),
        Reservation::Granted { .. }
    ));
    assert_eq!(
        licensing.release_expired().await.unwrap(),
        1,
        "b's row is swept"
    );

    // Disabling a gives its seat back; re-enabling confirms a new one.
    let disabled = user_event(org.0, "scim-a", 2, EventBody::UserDeactivated {});
    licensing.handle_event(&disabled).await.unwrap();
    assert_eq!(licensing.usage(org).await.unwrap().confirmed, 0);
    let key = SeatKey::for_reactivation("scim-a");
    assert!(matches!(
        licensing.reserve(org, &key).await.unwrap(),
        Reservation::Granted { .. }
    ));
    let enabled = user_event(
        org.0,
        "scim-a",
        3,
        EventBody::UserReactivated {
            account_id: Uuid::now_v7(),
            default_role: "member".into(),
            profile: PersonalProfile::Erased,
        },
    );
    licensing.handle_event(&enabled).await.unwrap();
    let usage = licensing.usage(org).await.unwrap();
    assert_eq!((usage.confirmed, usage.reserved), (1, 1));
    // The same event again changes nothing.
    assert_eq!(
        licensing.handle_event(&enabled).await.unwrap(),
        Handled::Duplicate
    );
    // Deleting releases it for good.
    let deleted = user_event(org.0, "scim-a", 4, EventBody::UserDeleted {});
    licensing.handle_event(&deleted).await.unwrap();
    assert_eq!(licensing.usage(org).await.unwrap().confirmed, 0);
}

async fn concurrent(url: &str) {
    let service = LicensingService::build(url, 16, policy(10, 60_000))
        .await
        .unwrap();
    let org = OrgId(Uuid::now_v7());
    let asks = (0..40).map(|i| {
        let licensing = service.licensing.clone();
        tokio::spawn(async move {
            licensing
                .reserve(org, &key(org, &format!("u{i}")))
                .await
                .unwrap()
        })
    });
    let outcomes = futures_util::future::join_all(asks).await;
    let granted = outcomes
        .iter()
        .filter(|o| matches!(o.as_ref().unwrap(), Reservation::Granted { .. }))
        .count();
    assert_eq!(granted, 10);
    assert_eq!(service.licensing.usage(org).await.unwrap().reserved, 10);
}

/// A batch is decided in order as if its requests came one after the
/// other: per organization, each decision counts the seats granted before it
/// in the batch, a key asked twice gets the same reservation, a refusal
/// recounts expired reservations away (and counts the batch's own grants).
async fn batches(url: &str) {
    let service = LicensingService::build(url, 8, policy(2, 300))
        .await
        .unwrap();
    let clock = TestClock::at(Utc::now());
    let licensing = on_clock(&service, &clock, policy(2, 300));
    let (big, small) = (OrgId(Uuid::now_v7()), OrgId(Uuid::now_v7()));
    licensing
        .set_subscription(
            big,
            Subscription {
                seat_quota: 3,
                scim_included: true,
            },
        )
        .await
        .unwrap();
    let key = |org: OrgId, name: &str| key(org, &format!("{name}@example.com"));
    let decided = licensing
        .reserve_all(&[
            (big, key(big, "a")),
            (small, key(small, "a")),
            (big, key(big, "b")),
            (big, key(big, "a")),
            (big, key(big, "c")),
            (big, key(big, "d")),
            (small, key(small, "b")),
            (small, key(small, "c")),
        ])
        .await
        .unwrap();
    let granted = |r: &Reservation| match r {
        Reservation::Granted {
            reservation_id,
            used,
            quota,
        } => (*reservation_id, *used, *quota),
        other => panic!("not granted: {other:?}"),
    };
    let a = granted(&decided[0]);
    assert_eq!((a.1, a.2), (1, 3));
    assert_eq!(granted(&decided[1]).1, 1);
    assert_eq!(granted(&decided[2]).1, 2);
    assert_eq!(
        granted(&decided[3]),
        (a.0, 2, 3),
        "the same key twice: the same seat"
    );
    assert_eq!(granted(&decided[4]).1, 3);
    assert_eq!(decided[5], Reservation::Denied { used: 3, quota: 3 });
    assert_eq!(granted(&decided[6]).1, 2);
    assert_eq!(decided[7], Reservation::Denied { used: 2, quota: 2 });
    assert_eq!(licensing.usage(big).await.unwrap().reserved, 3);
    assert_eq!(licensing.usage(small).await.unwrap().reserved, 2);

    // A seat reserved in a batch is confirmed by its user's arrival.
    let arrived = user_event(big.0, "big-a", 1, provisioned(big, "a@example.com"));
    assert_eq!(
        licensing.handle_event(&arrived).await.unwrap(),
        Handled::Applied
    );
    let usage = licensing.usage(big).await.unwrap();
    assert_eq!((usage.confirmed, usage.reserved), (1, 2));

    // third's one reservation expires, still in its running totals: e is
    // granted (counted from the totals), f is refused at first and granted
    // on the recount, which counts e; g is refused.
    let third = OrgId(Uuid::now_v7());
    granted(&licensing.reserve(third, &key(third, "x")).await.unwrap());
    clock.advance(chrono::Duration::milliseconds(400));
    let decided = licensing
        .reserve_all(&[
            (third, key(third, "e")),
            (third, key(third, "f")),
            (third, key(third, "g")),
        ])
        .await
        .unwrap();
    assert_eq!(granted(&decided[0]).1, 2, "counted from the totals");
    assert_eq!(granted(&decided[1]).1, 2, "recounted: e only");
    assert_eq!(decided[2], Reservation::Denied { used: 2, quota: 2 });
}

/// Confirmed seats are a running count: kept by the single and the batch
/// path alike, unchanged by a batch delivered twice, and what a decision
/// counts against the quota.
async fn running_count(url: &str) {
    let service = LicensingService::build(url, 8, policy(3, 60_000))
        .await
        .unwrap();
    let licensing = service.licensing.clone();
    let org = OrgId(Uuid::now_v7());
    let other = OrgId(Uuid::now_v7());
    // Three users of org (no reservation: a rebuild, or a lost one) and one
    // of another organization, as one batch; then the batch again.
    let batch: Vec<Event> = ["a", "b", "c"]
        .iter()
        .map(|name| {
            user_event(
                org.0,
                &format!("{}-{name}", org.0),
                1,
                provisioned(org, &format!("{name}@example.com")),
            )
        })
        .chain([user_event(
            other.0,
            &format!("{}-z", other.0),
            1,
            provisioned(other, "z@example.com"),
        )])
        .collect();
    for outcome in licensing.handle_events(&batch).await {
        assert_eq!(outcome.unwrap(), Handled::Applied);
    }
    for outcome in licensing.handle_events(&batch).await {
        assert_eq!(outcome.unwrap(), Handled::Duplicate);
    }
    assert_eq!(licensing.usage(org).await.unwrap().confirmed, 3);
    assert_eq!(licensing.usage(other).await.unwrap().confirmed, 1);
    let d = key(org, "d@example.com");
    assert_eq!(
        licensing.reserve(org, &d).await.unwrap(),
        Reservation::Denied { used: 3, quota: 3 }
    );
    // One leaves (single path): d gets the seat, and its confirmation counts.
    let deleted = user_event(org.0, &format!("{}-b", org.0), 2, EventBody::UserDeleted {});
    licensing.handle_event(&deleted).await.unwrap();
    assert_eq!(licensing.usage(org).await.unwrap().confirmed, 2);
    assert!(matches!(
        licensing.reserve(org, &d).await.unwrap(),
        Reservation::Granted { used: 3, .. }
    ));
    let d_arrives = user_event(
        org.0,
        &format!("{}-d", org.0),
        1,
        provisioned(org, "d@example.com"),
    );
    licensing.handle_event(&d_arrives).await.unwrap();
    let usage = licensing.usage(org).await.unwrap();
    assert_eq!((usage.confirmed, usage.reserved), (3, 0));
}

/// Reservations taken by one batch of arrivals are confirmed together (one
/// UPDATE for the lot), each under its own holder: a holder's departure
/// releases its seat and no other.
async fn reservations_confirmed_in_one_batch(url: &str) {
    let service = LicensingService::build(url, 8, policy(10, 60_000))
        .await
        .unwrap();
    let licensing = service.licensing.clone();
    let org = OrgId(Uuid::now_v7());
    let names = ["a", "b", "c", "d"];
    let keys: Vec<(OrgId, SeatKey)> = names[..3]
        .iter()
        .map(|n| (org, key(org, &format!("{n}@example.com"))))
        .collect();
    for decided in licensing.reserve_all(&keys).await.unwrap() {
        assert!(
            matches!(decided, Reservation::Granted { .. }),
            "{decided:?}"
        );
    }
    // a, b, c arrive on their reservations, d without one.
    let holder = |n: &str| format!("{}-{n}", org.0);
    let batch: Vec<Event> = names
        .iter()
        .map(|n| {
            user_event(
                org.0,
                &holder(n),
                1,
                provisioned(org, &format!("{n}@example.com")),
            )
        })
        .collect();
    for outcome in licensing.handle_events(&batch).await {
        assert_eq!(outcome.unwrap(), Handled::Applied);
    }
    let usage = licensing.usage(org).await.unwrap();
    assert_eq!((usage.confirmed, usage.reserved), (4, 0));
    for outcome in licensing.handle_events(&batch).await {
        assert_eq!(outcome.unwrap(), Handled::Duplicate);
    }
    let b_leaves = user_event(org.0, &holder("b"), 2, EventBody::UserDeleted {});
    licensing.handle_event(&b_leaves).await.unwrap();
    assert_eq!(licensing.usage(org).await.unwrap().confirmed, 3);
    // a's seat is a's: a second arrival of a (a new version) holds it already.
    let a_again = user_event(org.0, &holder("a"), 2, provisioned(org, "a@example.com"));
    licensing.handle_event(&a_again).await.unwrap();
    let usage = licensing.usage(org).await.unwrap();
    assert_eq!((usage.confirmed, usage.reserved), (3, 0));
}

/// Reservations at the quota while event batches confirm other seats of
/// the organization (those batches do not take its lock): never more seats
/// than the quota.
async fn confirmations_racing_reservations(url: &str) {
    let quota = 40;
    let service = LicensingService::build(url, 16, policy(quota, 60_000))
        .await
        .unwrap();
    let org = OrgId(Uuid::now_v7());
    let desk = ReservationDesk::start(service.licensing.clone(), 16);
    let asks = (0..120).map(|i| {
        let licensing = service.licensing.clone();
        let desk = desk.clone();
        tokio::spawn(async move {
            let name = format!("race-{i}@example.com");
            // Every other one through the desk: batches and single
            // reservations race the confirmations alike.
            // Some(used) for a refusal, None for a grant.
            let refused = if i % 2 == 0 {
                let request = SeatRequest {
                    org_id: org.0,
                    key: key(org, &name).0,
                };
                match desk.answer(request).await {
                    SeatReply::Granted { .. } => None,
                    SeatReply::Denied { used, .. } => Some(used),
                    other => panic!("{other:?}"),
                }
            } else {
                match licensing.reserve(org, &key(org, &name)).await.unwrap() {
                    Reservation::Granted { .. } => None,
                    Reservation::Denied { used, .. } => Some(used),
                    other => panic!("{other:?}"),
                }
            };
            if refused.is_none() {
                let event =
                    user_event(org.0, &format!("{}-{i}", org.0), 1, provisioned(org, &name));
                for outcome in licensing.handle_events(std::slice::from_ref(&event)).await {
                    outcome.unwrap();
                }
            }
            refused
        })
    });
    let answers: Vec<Option<u32>> = futures_util::future::join_all(asks)
        .await
        .into_iter()
        .map(|answer| answer.unwrap())
        .collect();
    let granted = answers.iter().filter(|a| a.is_none()).count();
    // A refusal counts the seats as they are: a confirmation racing the
    // count is counted once, so a refusal says exactly the quota.
    let counted: Vec<u32> = answers.iter().flatten().copied().collect();
    assert!(counted.iter().all(|&used| used == quota), "{counted:?}");
    assert_eq!(granted, quota as usize);
    let usage = service.licensing.usage(org).await.unwrap();
    assert_eq!((usage.confirmed, usage.reserved), (quota, 0));
}

#[tokio::test]
async fn the_ledger_on_sqlite() {
    let dir = test_support::temp_dir("licensing");
    ledger(&test_support::sqlite_url(&dir, "licensing.db")).await;
    concurrent(&test_support::sqlite_url(&dir, "licensing.db")).await;
    running_count(&test_support::sqlite_url(&dir, "licensing.db")).await;
    batches(&test_support::sqlite_url(&dir, "licensing.db")).await;
    reservations_confirmed_in_one_batch(&test_support::sqlite_url(&dir, "licensing.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ledger_on_postgres() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    ledger(&url).await;
    concurrent(&url).await;
    running_count(&url).await;
    batches(&url).await;
    reservations_confirmed_in_one_batch(&url).await;
    confirmations_racing_reservations(&url).await;
}
