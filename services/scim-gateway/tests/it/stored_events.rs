//! Stored events and keys as crypto-shredding wants them: a start rewraps
//! the data keys under the current key-encryption key (refusing an unknown
//! one) and seals, or erases, profiles written before sealing in the journal
//! and the embedded dead letters; a dead letter never stores an open profile.

use messaging::{DeadLetter, DeadLetterSink};
use provisioning_events::personal::PersonalProfile;
use provisioning_events::sealing::KeyEncryptionKey;
use provisioning_events::{Aggregate, AggregateKind, Event, EventBody, UserProfile};
use scim_gateway::config::Secret;
use scim_gateway::startup;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;

use crate::backend_tests;
use crate::sealing::{RecordingSeats, gateway_on, journal_of, key_of, raw_texts, user_names};
use crate::support::{Backend, TestApp, new_kek, suite_settings};

backend_tests! {
    async fn plain_profiles_written_before_sealing_are_sealed_or_erased_at_start(app: TestApp) {
        let alive = app.create_user("alive@example.com").await;
        // A user from before sealing: no key yet.
        let keyless = app.create_user("keyless@example.com").await;
        let db = app.store.connection();
        db.execute(
            Query::update()
                .table(Alias::new("scim_users"))
                .value(Alias::new("kek_id"), Option::<String>::None)
                .value(Alias::new("wrapped_key"), Option::<String>::None)
                .and_where(Expr::col(Alias::new("id")).eq(Uuid::parse_str(&keyless).expect("uuid"))),
        )
        .await
        .expect("key removed");
        let gone = Uuid::now_v7().to_string();
        let legacy = [
            legacy_event(&app, &alive, "marker-alive@example.com"),
            legacy_event(&app, &keyless, "marker-keyless@example.com"),
            legacy_event(&app, &gone, "marker-gone@example.com"),
        ];
        for event in &legacy {
            insert_journal_row(db, event).await;
        }
        insert_dead_letter(db, &legacy[0]).await;
        insert_dead_letter(db, &legacy[2]).await;

        startup::keep_personal_data_sealed(&app.store).await.expect("start-up upkeep");

        for (table, column) in [("journal", "event"), ("dead_letters", "event")] {
            for text in raw_texts(db, table, column).await {
                assert!(!text.contains("marker"), "in clear in {table}: {text}");
            }
        }
        for (id, event) in [(&alive, &legacy[0]), (&keyless, &legacy[1])] {
            let key = key_of(&app, id).await.expect("a live user has a key");
            let mut stored = journal_of(&app, id).await;
            stored.retain(|e| e.id == event.id);
            assert!(stored[0].is_sealed());
            stored[0].open_with(Some(&key)).expect("opens with the user's key");
            assert_eq!(stored[0].profile(), event.profile(), "the same profile, sealed");
        }
        let gone_events = journal_of(&app, &gone).await;
        assert_eq!(gone_events[0].profile(), Some(&PersonalProfile::Erased));
        let letters = app.store.dead_letters(None, 10).await.expect("dead letters");
        assert_eq!(letters.len(), 2);
        let mut alive_letter = letters[0].event.clone();
        assert!(alive_letter.is_sealed());
        alive_letter.open_with(key_of(&app, &alive).await.as_ref()).expect("opens");
        assert_eq!(user_names(&[alive_letter]), ["marker-alive@example.com"]);
        assert_eq!(letters[1].event.profile(), Some(&PersonalProfile::Erased));

        let again = app.store.seal_plain_profiles().await.expect("second run");
        assert_eq!(again, Default::default(), "nothing left to do");
    }

    async fn a_dead_letter_is_stored_sealed_or_erased_never_open(app: TestApp) {
        let alive = app.create_user("letter@example.com").await;
        let gone = app.create_user("gone-letter@example.com").await;
        assert_eq!(app.delete(&format!("/scim/v2/Users/{gone}")).await.status.as_u16(), 204);
        // A consumer's opened copy of each user's event, dead-lettered.
        for (user, name) in [(&alive, "marker-letter@example.com"), (&gone, "marker-gone@example.com")] {
            let letter = DeadLetter {
                consumer: "identity".into(),
                event: legacy_event(&app, user, name),
                error: "failed".into(),
                attempts: 5,
            };
            app.store.record(letter).await.expect("recorded");
        }
        for text in raw_texts(app.store.connection(), "dead_letters", "event").await {
            assert!(!text.contains("marker"), "in clear in dead_letters: {text}");
        }
        let letters = app.store.dead_letters(None, 10).await.expect("dead letters");
        let mut alive_letter = letters[0].event.clone();
        assert!(alive_letter.is_sealed());
        alive_letter.open_with(key_of(&app, &alive).await.as_ref()).expect("opens");
        assert_eq!(user_names(&[alive_letter]), ["marker-letter@example.com"]);
        assert_eq!(letters[1].event.profile(), Some(&PersonalProfile::Erased));
    }
}

/// A schema_version 1 `user.updated` with a plain profile, as a gateway
/// before sealing journaled it.
fn legacy_event(app: &TestApp, user: &str, user_name: &str) -> Event {
    Event {
        id: Uuid::now_v7(),
        seq: 0,
        schema_version: 1,
        org_id: app.org.0,
        workspace_id: Uuid::now_v7(),
        aggregate: Aggregate {
            kind: AggregateKind::User,
            id: user.to_owned(),
            version: 99,
        },
        occurred_at: chrono::Utc::now(),
        body: EventBody::UserUpdated {
            profile: UserProfile {
                user_name: user_name.to_owned(),
                given_name: Some("Marker".into()),
                ..UserProfile::default()
            }
            .into(),
        },
        traceparent: None,
    }
}

async fn insert_journal_row(db: &DatabaseConnection, event: &Event) {
    let text = serde_json::to_string(event).expect("json");
    assert!(text.contains("\"profile\":{\"user_name\""), "plain: {text}");
    let columns = [
        "event_id",
        "org_id",
        "event_type",
        "aggregate_kind",
        "aggregate_id",
        "aggregate_version",
        "occurred_at",
        "event",
    ];
    let insert = Query::insert()
        .into_table(Alias::new("journal"))
        .columns(columns.map(Alias::new))
        .values_panic([
            event.id.into(),
            event.org_id.into(),
            event.routing_key().into(),
            "user".into(),
            event.aggregate.id.clone().into(),
            event.aggregate.version.into(),
            event.occurred_at.timestamp_micros().into(),
            text.into(),
        ])
        .to_owned();
    db.execute(&insert).await.expect("journal row");
}

async fn insert_dead_letter(db: &DatabaseConnection, event: &Event) {
    let columns = [
        "id",
        "consumer",
        "event_id",
        "seq",
        "event_type",
        "error",
        "attempts",
        "event",
        "recorded_at",
    ];
    let insert = Query::insert()
        .into_table(Alias::new("dead_letters"))
        .columns(columns.map(Alias::new))
        .values_panic([
            Uuid::now_v7().into(),
            "identity".into(),
            event.id.into(),
            1i64.into(),
            event.routing_key().into(),
            "failed".into(),
            5i32.into(),
            serde_json::to_string(event).expect("json").into(),
            0i64.into(),
        ])
        .to_owned();
    db.execute(&insert).await.expect("dead letter");
}

fn kek_of(secret: &Secret) -> KeyEncryptionKey {
    KeyEncryptionKey::from_base64(secret.expose()).expect("a key")
}

async fn a_rotation_rewraps_every_data_key_and_an_unknown_key_stops_the_start(backend: Backend) {
    let Some(url) = backend.fresh_database("gateway.db").await else {
        return;
    };
    let old = suite_settings(url);
    let first = gateway_on(&old, RecordingSeats::default())
        .await
        .expect("gateway");
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(first.create_user(&format!("rotated-{i}@example.com")).await);
    }
    let old_key = old.keys.key_encryption_key.clone().expect("key");
    let mut rotated = old.clone();
    rotated.keys.key_encryption_key = Some(new_kek());
    rotated.keys.previous_keys = Some(old_key.clone());
    let new_id = kek_of(rotated.keys.key_encryption_key.as_ref().expect("key"))
        .id()
        .to_owned();
    assert_ne!(new_id, kek_of(&old_key).id());

    let mut second = gateway_on(&rotated, RecordingSeats::default())
        .await
        .expect("starts, rewrapping");
    second.org = first.org;
    let keks = raw_texts(second.store.connection(), "scim_users", "kek_id").await;
    assert_eq!(keks, vec![new_id.clone(); 3], "every key under the new KEK");
    for id in &ids {
        let key = key_of(&second, id).await.expect("key");
        let mut events = journal_of(&second, id).await;
        events[0]
            .open_with(Some(&key))
            .expect("the rewrapped key opens what the old one sealed");
    }
    assert_eq!(
        second.store.rewrap_data_keys().await.expect("again"),
        0,
        "idempotent"
    );

    let mut unknown = rotated.clone();
    unknown.keys.key_encryption_key = Some(new_kek());
    unknown.keys.previous_keys = None;
    let Err(refused) = gateway_on(&unknown, RecordingSeats::default()).await else {
        panic!("a start with keys wrapped by an unknown KEK must fail");
    };
    let message = format!("{refused:#}");
    assert!(
        message.contains(&format!("3 wrapped by {new_id}")),
        "{message}"
    );
}

crate::on_both_backends!(a_rotation_rewraps_every_data_key_and_an_unknown_key_stops_the_start);
