//! Seat usage over time on SQLite and PostgreSQL: a point per organization
//! per hour with a change, its peak and its last value, the quota as it
//! stood; periods; retention; one organization never sees another's.

use chrono::{DateTime, Duration, TimeZone, Utc};
use licensing::domain::models::{OrgId, Reservation, SeatKey, Subscription, UsagePoint};
use licensing::domain::service::{Licensing, UsageHistoryError};
use licensing::outbound::sql::SqlLicensingStore;
use licensing::startup::LicensingService;
use provisioning_events::EventBody;
use uuid::Uuid;

use crate::clock::TestClock;
use crate::seats::{key, policy, provisioned, user_event};

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, hour, minute, 0).unwrap()
}

fn point(hour: u32, last: u32, peak: u32, quota: u32) -> UsagePoint {
    UsagePoint {
        hour: at(hour, 0),
        last,
        peak,
        quota,
    }
}

async fn history(
    licensing: &Licensing<SqlLicensingStore, TestClock>,
    org: OrgId,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<UsagePoint> {
    licensing
        .usage_history(org, Some(since), Some(until))
        .await
        .unwrap()
        .1
}

async fn usage_over_time(url: &str) {
    let service = LicensingService::build(url, 8, policy(7, 3_600_000))
        .await
        .unwrap();
    let clock = TestClock::at(at(10, 5));
    let licensing = Licensing::new(
        service.store.clone().with_clock(clock.clone()),
        clock.clone(),
        policy(7, 3_600_000),
    );
    let org = OrgId(Uuid::now_v7());
    let other = OrgId(Uuid::now_v7());
    let day = (at(0, 0), at(23, 59));

    // A quota set is a point, at the seats held then.
    licensing
        .set_subscription(
            org,
            Subscription {
                seat_quota: 10,
                scim_included: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        history(&licensing, org, day.0, day.1).await,
        [point(10, 0, 0, 10)]
    );

    // A burst of five creates in one hour, three of them confirmed (which
    // changes nothing held), then one released: one point, peak 5, last 4.
    clock.set(at(10, 10));
    let names: Vec<String> = (0..5).map(|i| format!("u{i}@example.com")).collect();
    let requests: Vec<_> = names.iter().map(|n| (org, key(org, n))).collect();
    let (batch, single) = requests.split_at(3);
    let mut granted = licensing.reserve_all(batch).await.unwrap();
    for (org, key) in single {
        granted.push(licensing.reserve(*org, key).await.unwrap());
    }
    assert!(
        granted
            .iter()
            .all(|r| matches!(r, Reservation::Granted { .. }))
    );
    clock.set(at(10, 20));
    for (i, name) in names.iter().take(3).enumerate() {
        let event = user_event(org.0, &format!("scim-{i}"), 1, provisioned(org, name));
        licensing.handle_event(&event).await.unwrap();
    }
    assert_eq!(
        history(&licensing, org, day.0, day.1).await,
        [point(10, 5, 5, 10)]
    );
    clock.set(at(10, 40));
    let disabled = user_event(org.0, "scim-0", 2, EventBody::UserDeactivated {});
    licensing.handle_event(&disabled).await.unwrap();
    assert_eq!(
        history(&licensing, org, day.0, day.1).await,
        [point(10, 4, 5, 10)],
        "the release lowers the hour's last value, not its peak"
    );

    // The next hour: a quota change starts a point at the seats held; a
    // create after it keeps the new quota.
    clock.set(at(11, 30));
    licensing
        .set_subscription(
            org,
            Subscription {
                seat_quota: 8,
                scim_included: true,
            },
        )
        .await
        .unwrap();
    clock.set(at(11, 45));
    licensing
        .reserve(org, &key(org, "late@example.com"))
        .await
        .unwrap();
    assert_eq!(
        history(&licensing, org, day.0, day.1).await,
        [point(10, 4, 5, 10), point(11, 5, 5, 8)]
    );

    // Reservations that expire are released by the sweep: a point lower.
    clock.set(at(13, 0));
    assert_eq!(licensing.release_expired().await.unwrap(), 3);
    assert_eq!(
        history(&licensing, org, day.0, day.1).await.last(),
        Some(&point(13, 2, 5, 8)),
        "the hour's peak counts the seats held as it began: 5, then 2"
    );

    // Periods: the hour containing `since` is in; `until` is exclusive.
    assert_eq!(
        history(&licensing, org, at(10, 30), at(11, 0)).await,
        [point(10, 4, 5, 10)]
    );
    assert_eq!(
        history(&licensing, org, at(11, 0), at(13, 0)).await,
        [point(11, 5, 5, 8)]
    );
    assert!(matches!(
        licensing
            .usage_history(org, Some(at(12, 0)), Some(at(11, 0)))
            .await,
        Err(UsageHistoryError::Period(_))
    ));
    assert!(matches!(
        licensing
            .usage_history(org, Some(at(0, 0) - Duration::days(401)), Some(at(0, 0)))
            .await,
        Err(UsageHistoryError::Period(_))
    ));

    // Another organization, without a subscription: the default quota (7),
    // and neither sees the other's points.
    licensing
        .reserve(other, &SeatKey::for_reactivation("scim-x"))
        .await
        .unwrap();
    assert_eq!(
        history(&licensing, other, day.0, day.1).await,
        [point(13, 1, 1, 7)]
    );
    assert_eq!(history(&licensing, org, day.0, day.1).await.len(), 3);

    // The default period is the 30 days before now.
    clock.set(at(14, 0) + Duration::days(29));
    let (_, points) = licensing.usage_history(org, None, None).await.unwrap();
    assert_eq!(points.len(), 3);
    clock.set(at(14, 0) + Duration::days(31));
    let (_, points) = licensing.usage_history(org, None, None).await.unwrap();
    assert!(points.is_empty());

    // Retention: hours older than 400 days are deleted.
    clock.set(at(12, 0) + Duration::days(400));
    let forgotten = licensing.forget_old_usage().await.unwrap();
    assert_eq!(forgotten, 2, "hours 10 and 11");
    let kept = history(&licensing, org, day.0, day.1 + Duration::days(1)).await;
    assert_eq!(kept, [point(13, 2, 5, 8)]);
}

#[tokio::test]
async fn usage_over_time_on_sqlite() {
    let dir = test_support::temp_dir("licensing-usage");
    usage_over_time(&test_support::sqlite_url(&dir, "licensing.db")).await;
}

#[tokio::test]
async fn usage_over_time_on_postgres() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    usage_over_time(&url).await;
}
