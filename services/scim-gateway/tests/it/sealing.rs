//! Crypto-shredding in the gateway: every profile is journaled sealed under
//! its person's data key, which the delete destroys; the event log shows
//! sealed or erased, never open; the seat key is a keyed hash; consumers get
//! keys over request/reply. (What a start does: `stored_events`.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::App;
use actix_web::test::{call_service, init_service};
use provisioning_events::personal::PersonalProfile;
use provisioning_events::sealing::DataKey;
use provisioning_events::{Event, EventBody, PersonRef};
use scim_gateway::config::Settings;
use scim_gateway::domain::models::{BearerToken, OrgId};
use scim_gateway::domain::ports::{SeatAuthority, SeatDecision, SeatError, SeatFuture};
use scim_gateway::startup::{self, admin_state, configure_admin};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use service_kit::admin_key::AdminKey;
use service_kit::data_keys::{DataKeySource, RpcDataKeys};
use test_support::http::{Response, admin_request};
use uuid::Uuid;

use crate::backend_tests;
use crate::support::{Backend, TestApp, suite_settings};

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ADMIN_KEY: &str = "sealing-test-admin-key";

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

pub(crate) fn person(app: &TestApp, id: &str) -> PersonRef {
    PersonRef {
        org_id: app.org.0,
        user_id: id.to_owned(),
    }
}

pub(crate) async fn key_of(app: &TestApp, id: &str) -> Option<DataKey> {
    app.store
        .data_keys(&[person(app, id)])
        .await
        .expect("key table readable")
        .remove(0)
}

/// The raw text of one column of every row of `table`.
pub(crate) async fn raw_texts(db: &DatabaseConnection, table: &str, column: &str) -> Vec<String> {
    let select = Query::select()
        .column(Alias::new(column))
        .from(Alias::new(table))
        .to_owned();
    db.query_all(&select)
        .await
        .expect("readable")
        .iter()
        .map(|row| row.try_get("", column).expect("text"))
        .collect()
}

/// The user's stored data keys (0 or 1): the key is in its `scim_users` row.
async fn key_rows(app: &TestApp, id: &str) -> usize {
    let select = Query::select()
        .column(Alias::new("kek_id"))
        .from(Alias::new("scim_users"))
        .and_where(Expr::col(Alias::new("org_id")).eq(app.org.0))
        .and_where(Expr::col(Alias::new("id")).eq(Uuid::parse_str(id).expect("uuid")))
        .and_where(Expr::col(Alias::new("wrapped_key")).is_not_null())
        .to_owned();
    app.store
        .connection()
        .query_all(&select)
        .await
        .expect("readable")
        .len()
}

pub(crate) async fn journal_of(app: &TestApp, id: &str) -> Vec<Event> {
    let events = app.store.journal(None, 0, 10_000).await.expect("journal");
    events
        .into_iter()
        .filter(|e| e.aggregate.id == id)
        .collect()
}

pub(crate) fn user_names(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e.profile())
        .map(|p| p.opened().expect("opened").user_name.clone())
        .collect()
}

async fn admin_get(app: &TestApp, uri: &str) -> Response {
    let state = admin_state(&app.store, AdminKey::new(ADMIN_KEY), Vec::new());
    let service = init_service(App::new().app_data(state).configure(configure_admin)).await;
    let request = admin_request("GET", uri, Some(ADMIN_KEY), None).to_request();
    Response::read(call_service(&service, request).await).await
}

/// The `payload.profile` of each event of the event log's page, in order.
fn logged_profiles(page: &Response) -> Vec<Value> {
    page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|item| item["event"]["payload"].get("profile").cloned())
        .collect()
}

backend_tests! {
    async fn profiles_are_journaled_sealed_open_with_the_key_and_are_erased_by_the_delete(app: TestApp) {
        let created = app
            .post("/scim/v2/Users", &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "marker-ann@example.com",
                "name": {"givenName": "Markergiven", "familyName": "Markerfamily"},
                "emails": [{"value": "marker-mail@example.com", "type": "work"}]
            }))
            .await;
        assert_eq!(created.status.as_u16(), 201, "{}", created.body);
        let id = created.body["id"].as_str().expect("id").to_owned();
        let uri = format!("/scim/v2/Users/{id}");
        for ops in [
            json!([{"op": "replace", "path": "userName", "value": "marker-renamed@example.com"}]),
            json!([{"op": "replace", "path": "active", "value": false}]),
            json!([{"op": "replace", "path": "active", "value": true}]),
        ] {
            let reply = app.patch(&uri, &patch(ops)).await;
            assert_eq!(reply.status.as_u16(), 200, "{}", reply.body);
        }

        let raw = raw_texts(app.store.connection(), "journal", "event").await;
        assert_eq!(raw.len(), 4, "provisioned, updated, deactivated, reactivated");
        for text in &raw {
            assert!(!text.to_lowercase().contains("marker"), "in clear in the journal: {text}");
        }
        let key = key_of(&app, &id).await.expect("a live user has a key");
        let mut events = journal_of(&app, &id).await;
        assert_eq!(events.iter().filter(|e| e.is_sealed()).count(), 3);
        for event in &mut events {
            event.open_with(Some(&key)).expect("opens with the person's key");
        }
        assert_eq!(
            user_names(&events),
            ["marker-ann@example.com", "marker-renamed@example.com", "marker-renamed@example.com"]
        );
        let EventBody::UserProvisioned { profile, .. } = &events[0].body else { panic!() };
        let profile = profile.opened().expect("opened");
        assert_eq!(
            (profile.given_name.as_deref(), profile.email.as_deref()),
            (Some("Markergiven"), Some("marker-mail@example.com"))
        );

        let log_uri = format!("/admin/v1/events?aggregate={id}");
        let before = admin_get(&app, &log_uri).await;
        assert_eq!(before.status.as_u16(), 200, "{}", before.body);
        assert!(!before.body.to_string().to_lowercase().contains("marker"), "{}", before.body);
        let sealed = logged_profiles(&before);
        assert_eq!(sealed.len(), 3);
        assert!(sealed.iter().all(|p| p["sealed"].is_string()), "{sealed:?}");

        assert_eq!(app.delete(&uri).await.status.as_u16(), 204);
        assert_eq!(key_rows(&app, &id).await, 0, "the key went with the user");
        assert!(key_of(&app, &id).await.is_none());
        let after = admin_get(&app, &log_uri).await;
        assert_eq!(logged_profiles(&after), vec![json!({"erased": true}); 3]);
        let provisioned_id = events[0].id;
        let one = admin_get(&app, &format!("/admin/v1/events/{provisioned_id}")).await;
        assert_eq!(one.body["event"]["payload"]["profile"], json!({"erased": true}), "{}", one.body);
        let mut stored = journal_of(&app, &id).await;
        stored[0].open_with(None).expect("no key: erased");
        assert_eq!(stored[0].profile(), Some(&PersonalProfile::Erased));
    }

    async fn a_delete_that_rolls_back_keeps_the_key(app: TestApp) {
        let id = app.create_user("kept@example.com").await;
        assert_eq!(key_rows(&app, &id).await, 1);
        let db = app.store.connection();
        // The delete's journal entry cannot be written: it rolls back.
        db.execute_unprepared("ALTER TABLE journal RENAME TO journal_away").await.expect("renamed");
        let failed = app.delete(&format!("/scim/v2/Users/{id}")).await;
        db.execute_unprepared("ALTER TABLE journal_away RENAME TO journal").await.expect("back");
        assert_eq!(failed.status.as_u16(), 503, "{}", failed.body);
        assert_eq!(key_rows(&app, &id).await, 1, "the key outlives a delete that did not happen");
        assert!(key_of(&app, &id).await.is_some());
        assert_eq!(app.delete(&format!("/scim/v2/Users/{id}")).await.status.as_u16(), 204);
        assert_eq!(key_rows(&app, &id).await, 0);
    }

}

/// Licensing as a recorder of the keys asked for; with `fail_first` the
/// first answer is `Unavailable` (the create fails with 503 and is retried).
#[derive(Clone, Default)]
pub(crate) struct RecordingSeats {
    pub(crate) asked: Arc<Mutex<Vec<String>>>,
    pub(crate) fail_first: bool,
}

impl SeatAuthority for RecordingSeats {
    fn reserve<'a>(&'a self, _org: OrgId, key: &'a str) -> SeatFuture<'a> {
        Box::pin(async move {
            let mut asked = self.asked.lock().expect("lock");
            asked.push(key.to_owned());
            if self.fail_first && asked.len() == 1 {
                return Err(SeatError::Unavailable("licensing down".into()));
            }
            Ok(SeatDecision::Granted)
        })
    }
}

/// A gateway on `settings` (built as a start builds it) with the organization
/// "Test org", asking `seats` for seats.
pub(crate) async fn gateway_on(
    settings: &Settings,
    seats: RecordingSeats,
) -> anyhow::Result<TestApp> {
    let (api, store) = startup::build_api_with(settings, Arc::new(seats)).await?;
    let token = startup::generate_token();
    let org = startup::ensure_organization_with_token(
        &store,
        "Test org",
        &BearerToken::new(token.clone()),
    )
    .await?;
    Ok(TestApp {
        api,
        store,
        token,
        org,
    })
}

async fn seat_key_is_a_keyed_hash_and_a_retried_create_asks_for_the_same_seat(backend: Backend) {
    let Some(url) = backend.fresh_database("gateway.db").await else {
        return;
    };
    let settings = suite_settings(url);
    let seats = RecordingSeats {
        fail_first: true,
        ..RecordingSeats::default()
    };
    let app = gateway_on(&settings, seats.clone()).await.expect("gateway");
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "Seat.Marker@Example.com"
    });
    assert_eq!(app.post("/scim/v2/Users", &body).await.status.as_u16(), 503);
    let created = app.post("/scim/v2/Users", &body).await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    let asked = seats.asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[0], asked[1], "the retry asks for the same seat");
    assert!(
        asked[0].starts_with("user:h:") && !asked[0].to_lowercase().contains("marker"),
        "{asked:?}"
    );
    let secret = startup::key_ring(&settings)
        .expect("keys")
        .current()
        .derived_secret(provisioning_events::seats::SEAT_KEY_SECRET_LABEL);
    assert_eq!(
        asked[0],
        provisioning_events::seats::new_user_key(&secret, app.org.0, "seat.marker@example.com")
    );
    let id = created.body["id"].as_str().expect("id");
    let events = journal_of(&app, id).await;
    let EventBody::UserProvisioned { seat_key, .. } = &events[0].body else {
        panic!()
    };
    assert_eq!(
        seat_key.as_ref(),
        Some(&asked[0]),
        "user.provisioned names the reservation"
    );
}

async fn consumers_get_keys_over_request_reply(backend: Backend) {
    let Some(amqp) = test_support::amqp_url() else {
        return;
    };
    let Some(url) = backend.fresh_database("gateway.db").await else {
        return;
    };
    let app = gateway_on(&suite_settings(url), RecordingSeats::default())
        .await
        .expect("gateway");
    let live = app.create_user("live@example.com").await;
    let deleted = app.create_user("deleted@example.com").await;
    assert_eq!(
        app.delete(&format!("/scim/v2/Users/{deleted}"))
            .await
            .status
            .as_u16(),
        204
    );

    let queue = format!("gateway.data-keys-test-{}", Uuid::new_v4().simple());
    // Declared as the server declares it: requests are routable before it
    // consumes.
    let connection = lapin::Connection::connect(&amqp, lapin::ConnectionProperties::default())
        .await
        .expect("broker");
    let channel = connection.create_channel().await.expect("channel");
    let durable = lapin::options::QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.as_str().into(), durable, Default::default())
        .await
        .expect("queue");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let (store, amqp, queue) = (app.store.clone(), amqp.clone(), queue.clone());
        async move {
            let stopped = async {
                let _ = stopped.await;
            };
            scim_gateway::inbound::data_keys::serve(
                store,
                &amqp,
                &queue,
                4,
                Default::default(),
                stopped,
            )
            .await;
        }
    });
    // A consumer's client, as identity asks.
    let client = RpcDataKeys::new(&amqp, Duration::from_secs(10)).with_queue(queue.as_str());
    let persons = vec![
        person(&app, &live),
        person(&app, &deleted),
        person(&app, "not-a-user"),
    ];
    let keys = client
        .data_keys(&persons)
        .await
        .expect("the gateway answers");
    let expected = key_of(&app, &live).await.expect("live key");
    assert_eq!(keys, vec![Some(expected), None, None]);
    let mut provisioned = journal_of(&app, &live).await.remove(0);
    provisioned.open_with(keys[0].as_ref()).expect("opens");
    assert_eq!(user_names(&[provisioned]), ["live@example.com"]);
    let too_many = vec![person(&app, &live); 1001];
    assert!(
        client.data_keys(&too_many).await.is_err(),
        "refused: too many persons"
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stops")
        .expect("ran");
    let _ = channel
        .queue_delete(queue.as_str().into(), Default::default())
        .await;
    let _ = connection.close(200, "done".into()).await;
}

crate::on_both_backends!(
    seat_key_is_a_keyed_hash_and_a_retried_create_asks_for_the_same_seat,
    consumers_get_keys_over_request_reply,
);
