//! Which reservation a new user's event confirms, and that no userName stays
//! in the ledger (SQLite, and PostgreSQL when configured): the gateway's
//! `seat_key` confirms the reservation made with it, in a single event and in
//! a batch; a schema_version 1 event (plain profile, no `seat_key`) confirms
//! the legacy `user:<userName>` reservation and keeps the seat under
//! `held:<scim id>`; one the gateway sealed or erased since still gives its
//! user a seat; seats confirmed before sealing lose their userName key at
//! migration.

use licensing::domain::models::{OrgId, Reservation, SeatKey, Subscription};
use licensing::domain::service::SeatPolicy;
use licensing::startup::LicensingService;
use messaging::Handled;
use provisioning_events::sealing::HashSecret;
use provisioning_events::seats;
use provisioning_events::{AggregateKind, Event, EventBody, PersonalProfile, UserProfile};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;

async fn service(url: &str) -> LicensingService {
    let policy = SeatPolicy {
        default_subscription: Subscription {
            seat_quota: 10,
            scim_included: true,
        },
        hold_for: chrono::Duration::minutes(10),
    };
    LicensingService::build(url, 4, policy).await.unwrap()
}

fn provisioned(
    org: OrgId,
    holder: &str,
    seat_key: Option<String>,
    profile: PersonalProfile,
) -> Event {
    test_support::consumers::event_in(
        org.0,
        AggregateKind::User,
        holder,
        1,
        EventBody::UserProvisioned {
            account_id: Uuid::now_v7(),
            default_role: "member".into(),
            seat_key,
            profile,
        },
    )
}

fn plain(user_name: &str) -> PersonalProfile {
    UserProfile {
        user_name: user_name.into(),
        ..UserProfile::default()
    }
    .into()
}

/// Every seat row's key and holder, as text.
async fn seat_rows(db: &DatabaseConnection) -> Vec<(String, Option<String>, String)> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT seat_key, holder, status FROM seats ORDER BY seat_key",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            (
                row.try_get("", "seat_key").unwrap(),
                row.try_get("", "holder").unwrap(),
                row.try_get("", "status").unwrap(),
            )
        })
        .collect()
}

async fn usage(service: &LicensingService, org: OrgId) -> (u32, u32) {
    let usage = service.licensing.usage(org).await.unwrap();
    (usage.confirmed, usage.reserved)
}

async fn confirms_by_seat_key(url: &str) {
    let service = service(url).await;
    let org = OrgId(Uuid::now_v7());
    let secret = HashSecret::from_bytes(b"the gateway's seat-key secret");
    let (ann, bob) = (
        seats::new_user_key(&secret, org.0, "Ann@example.com"),
        seats::new_user_key(&secret, org.0, "bob@example.com"),
    );
    for key in [&ann, &bob] {
        let reserved = service
            .licensing
            .reserve(org, &SeatKey(key.clone()))
            .await
            .unwrap();
        assert!(matches!(reserved, Reservation::Granted { .. }));
    }
    assert_eq!(usage(&service, org).await, (0, 2));

    // Ann's event alone, Bob's in a batch: each takes its reservation.
    let sealed = PersonalProfile::Sealed("AQ".into());
    let ann_arrives = provisioned(org, "scim-ann", Some(ann.clone()), sealed.clone());
    assert_eq!(
        service.licensing.handle_event(&ann_arrives).await.unwrap(),
        Handled::Applied
    );
    assert_eq!(usage(&service, org).await, (1, 1));
    let bob_arrives = provisioned(org, "scim-bob", Some(bob.clone()), sealed);
    let outcomes = service
        .licensing
        .handle_events(std::slice::from_ref(&bob_arrives))
        .await;
    assert!(
        matches!(outcomes[..], [Ok(Handled::Applied)]),
        "{outcomes:?}"
    );
    assert_eq!(
        usage(&service, org).await,
        (2, 0),
        "no reservation left over"
    );
    let rows = seat_rows(service.store.connection()).await;
    let mut expected = vec![
        (ann, Some("scim-ann".to_owned()), "confirmed".to_owned()),
        (bob, Some("scim-bob".to_owned()), "confirmed".to_owned()),
    ];
    expected.sort();
    assert_eq!(rows, expected);
}

async fn legacy_keys(url: &str) {
    let service = service(url).await;
    let db = service.store.connection();
    let org = OrgId(Uuid::now_v7());

    // A seat confirmed before sealing, as the old code left it: kept under
    // the userName.
    let legacy = SeatKey::legacy_for_new_user("Ann@Example.com");
    assert_eq!(legacy.0, "user:ann@example.com");
    service.licensing.reserve(org, &legacy).await.unwrap();
    for sql in [
        "UPDATE seats SET status = 'confirmed', holder = 'scim-ann', expires_at = NULL \
         WHERE seat_key = 'user:ann@example.com'",
        "UPDATE seat_totals SET confirmed = confirmed + 1, reserved = reserved - 1",
        "DELETE FROM seaql_migrations WHERE version = 'm20261203_000006_legacy_seat_keys'",
    ] {
        db.execute_unprepared(sql).await.unwrap();
    }
    licensing::outbound::sql::migrate(db).await.unwrap();
    assert_eq!(
        seat_rows(db).await,
        vec![(
            "held:scim-ann".to_owned(),
            Some("scim-ann".to_owned()),
            "confirmed".to_owned()
        )]
    );
    assert_eq!(usage(&service, org).await, (1, 0));

    // A version 1 event still plain (in a queue at the upgrade) takes the
    // legacy reservation of an old gateway, and keeps its seat as held:.
    service
        .licensing
        .reserve(org, &SeatKey::legacy_for_new_user("bob@example.com"))
        .await
        .unwrap();
    assert_eq!(usage(&service, org).await, (1, 1));
    let bob = provisioned(org, "scim-bob", None, plain("Bob@Example.com"));
    assert_eq!(
        service.licensing.handle_event(&bob).await.unwrap(),
        Handled::Applied
    );
    assert_eq!(usage(&service, org).await, (2, 0), "the reservation taken");

    // A version 1 event sealed or erased since (a rebuild of an upgraded
    // journal): its user holds a seat, under the same key as live.
    let outcomes = service
        .licensing
        .handle_events(&[
            provisioned(org, "scim-cy", None, PersonalProfile::Sealed("AQ".into())),
            provisioned(org, "scim-di", None, PersonalProfile::Erased),
        ])
        .await;
    assert!(outcomes.iter().all(|o| matches!(o, Ok(Handled::Applied))));
    assert_eq!(usage(&service, org).await, (4, 0));
    let rows = seat_rows(db).await;
    let keys: Vec<&str> = rows.iter().map(|(key, _, _)| key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "held:scim-ann",
            "held:scim-bob",
            "held:scim-cy",
            "held:scim-di"
        ]
    );
    assert!(
        !format!("{rows:?}").contains("example.com"),
        "no userName in the ledger: {rows:?}"
    );
}

#[tokio::test]
async fn seat_keys_on_sqlite() {
    let dir = test_support::temp_dir("licensing-keys");
    confirms_by_seat_key(&test_support::sqlite_url(&dir, "by-key.db")).await;
    legacy_keys(&test_support::sqlite_url(&dir, "legacy.db")).await;
}

#[tokio::test]
async fn seat_keys_on_postgres() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    confirms_by_seat_key(&url).await;
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    legacy_keys(&url).await;
}
