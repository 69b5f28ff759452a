//! The dead-letter routes (`service_kit::replay`) with a person deleted
//! after their event died: shown sealed while the person's data key exists,
//! erased once it is gone (never opened); a requeue hands such a letter to
//! the consumer erased, reports it under `erased` and removes it, even when
//! the consumer fails on it again. Whose keys are gone comes from the
//! service's `DataKeySource`; when that cannot answer, nothing plain is shown
//! and nothing is taken for erased.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{App, test, web};
use messaging::{
    BoxFuture, DeadLetter, DeadLetterBox, EventHandler, HandleError, Handled, PublishError,
};
use provisioning_events::personal::PersonalProfile;
use provisioning_events::sealing::DataKey;
use provisioning_events::{AggregateKind, Event, EventBody, PersonRef, UserProfile};
use serde_json::{Value, json};
use service_kit::admin_key::AdminKey;
use service_kit::data_keys::{DataKeyError, DataKeySource, DataKeysFuture};
use service_kit::replay::{self, ReplayState};
use test_support::consumers::{MemoryInbox, event_in};
use test_support::http::{Response, admin_request};
use uuid::Uuid;

const KEY: &str = "dead-letters-test-key";
const MARKER: &str = "marker-dead-letter-7f3a";
const DEAD: &str = "/admin/v1/services/identity/dead-letters";

/// The gateway's key table in memory; `down` makes it unreachable.
#[derive(Default)]
struct KeyTable {
    keys: Mutex<HashMap<PersonRef, DataKey>>,
    down: Mutex<bool>,
    calls: Mutex<u32>,
}

#[derive(Clone, Default)]
struct Keys(Arc<KeyTable>);

impl std::ops::Deref for Keys {
    type Target = KeyTable;
    fn deref(&self) -> &KeyTable {
        &self.0
    }
}

impl DataKeySource for Keys {
    fn data_keys<'a>(&'a self, persons: &'a [PersonRef]) -> DataKeysFuture<'a> {
        Box::pin(async move {
            *self.calls.lock().unwrap() += 1;
            if *self.down.lock().unwrap() {
                return Err(DataKeyError::Unavailable("the gateway is down".into()));
            }
            let keys = self.keys.lock().unwrap();
            Ok(persons.iter().map(|p| keys.get(p).cloned()).collect())
        })
    }
}

/// A dead queue in memory.
#[derive(Clone, Default)]
struct Letters(Arc<Mutex<Vec<DeadLetter>>>);

impl DeadLetterBox for Letters {
    fn list(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadLetter>, PublishError>> {
        Box::pin(async move { Ok(self.0.lock().unwrap().iter().take(limit).cloned().collect()) })
    }

    fn remove(&self, event_id: Uuid) -> BoxFuture<'_, Result<bool, PublishError>> {
        Box::pin(async move {
            let mut letters = self.0.lock().unwrap();
            let before = letters.len();
            letters.retain(|l| l.event.id != event_id);
            Ok(letters.len() < before)
        })
    }
}

/// The consumer: the ordering rule in memory, every event it was handed
/// kept; with `poisoned`, every user event fails.
#[derive(Clone, Default)]
struct Consumer {
    inbox: MemoryInbox,
    handed: Arc<Mutex<Vec<Event>>>,
    poisoned: Arc<Mutex<bool>>,
}

impl EventHandler for Consumer {
    async fn handle(&self, event: &Event) -> Result<Handled, HandleError> {
        self.handed.lock().unwrap().push(event.clone());
        if *self.poisoned.lock().unwrap() {
            return Err(HandleError::Failed("the store refused the change".into()));
        }
        self.inbox.apply(event)
    }
}

struct Fixture {
    keys: Keys,
    letters: Letters,
    consumer: Consumer,
    org: Uuid,
}

impl Fixture {
    fn new() -> Self {
        Self {
            keys: Keys::default(),
            letters: Letters::default(),
            consumer: Consumer::default(),
            org: Uuid::now_v7(),
        }
    }

    fn person(&self, user: &str) -> PersonRef {
        PersonRef {
            org_id: self.org,
            user_id: user.into(),
        }
    }

    /// `user.updated` of `user` at `version`, sealed under a key made for
    /// the person when they have none yet.
    fn sealed_update(&self, user: &str, version: i64) -> Event {
        let key = self
            .keys
            .keys
            .lock()
            .unwrap()
            .entry(self.person(user))
            .or_insert_with(|| DataKey::generate().unwrap())
            .clone();
        let mut event = self.plain_update(user, version);
        event.seal_with(&key).unwrap();
        event
    }

    /// A schema_version 1 `user.updated` (its profile plain).
    fn plain_update(&self, user: &str, version: i64) -> Event {
        let profile = UserProfile {
            user_name: format!("{MARKER}@example.com"),
            given_name: Some(MARKER.into()),
            ..UserProfile::default()
        };
        event_in(
            self.org,
            AggregateKind::User,
            user,
            version,
            EventBody::UserUpdated {
                profile: profile.into(),
            },
        )
    }

    /// What the consumer loop does with an event it gave up on.
    fn bury(&self, event: &Event, error: &str) {
        self.letters.0.lock().unwrap().push(DeadLetter {
            consumer: "identity".into(),
            event: event.clone(),
            error: error.into(),
            attempts: 3,
        });
    }

    fn forget(&self, user: &str) {
        self.keys.keys.lock().unwrap().remove(&self.person(user));
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let state = web::Data::new(ReplayState {
            service: "identity",
            dead_letters: Arc::new(self.letters.clone()) as Arc<dyn DeadLetterBox>,
            data_keys: Arc::new(self.keys.clone()) as Arc<dyn DataKeySource>,
            bindings: &["user.*"],
            handler: self.consumer.clone(),
            db: sea_orm::Database::connect("sqlite::memory:").await.unwrap(),
            admin_key: AdminKey::new(KEY),
        });
        let app = test::init_service(
            App::new()
                .app_data(state)
                .configure(|cfg| replay::configure::<Consumer>(cfg, "identity")),
        )
        .await;
        let request = admin_request(method, path, Some(KEY), body.as_ref());
        Response::read(test::call_service(&app, request.to_request()).await).await
    }
}

fn profile_of(letter: &Value) -> &Value {
    &letter["event"]["payload"]["profile"]
}

#[actix_web::test]
async fn a_dead_letter_of_a_person_deleted_since_shows_erased_and_requeues_as_erased() {
    let fixture = Fixture::new();
    // Version 2 of a user whose version 1 never arrived: out of order, for
    // good, until the person is deleted.
    let poison = fixture.sealed_update("ann", 2);
    fixture.bury(
        &poison,
        "version 2 arrived before version 1 of its aggregate",
    );

    // The key exists: shown sealed, as stored.
    let listed = fixture.call("GET", DEAD, None).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let sealed = profile_of(&listed.body["items"][0]);
    assert!(sealed["sealed"].is_string(), "{sealed}");
    assert!(!listed.body.to_string().contains(MARKER));
    // A requeue before the person is deleted leaves it, failing.
    let early = fixture.call("POST", &format!("{DEAD}/requeue"), None).await;
    assert_eq!(early.body["still_failing"].as_array().unwrap().len(), 1);
    assert_eq!(early.body["erased"], json!([]), "{:?}", early.body);

    // The person is deleted: their key goes.
    fixture.forget("ann");
    let shown = fixture
        .call("GET", &format!("{DEAD}/{}", poison.id), None)
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{:?}", shown.body);
    assert_eq!(profile_of(&shown.body), &json!({"erased": true}));
    assert_eq!(shown.body["error"], poison_error());
    let listed = fixture.call("GET", DEAD, None).await;
    assert_eq!(
        profile_of(&listed.body["items"][0]),
        &json!({"erased": true})
    );

    // Requeued: handed erased, reported erased, gone — though the consumer
    // still cannot apply version 2.
    let requeued = fixture.call("POST", &format!("{DEAD}/requeue"), None).await;
    assert_eq!(requeued.status, StatusCode::OK, "{:?}", requeued.body);
    assert_eq!(requeued.body["erased"], json!([poison.id]));
    assert_eq!(requeued.body["applied"], 0);
    assert_eq!(requeued.body["still_failing"], json!([]));
    let handed = fixture.consumer.handed.lock().unwrap().clone();
    assert_eq!(handed.last().unwrap().id, poison.id);
    assert_eq!(
        handed.last().unwrap().profile(),
        Some(&PersonalProfile::Erased)
    );
    let after = fixture.call("GET", DEAD, None).await;
    assert_eq!(after.body["items"], json!([]));
}

fn poison_error() -> &'static str {
    "version 2 arrived before version 1 of its aggregate"
}

#[actix_web::test]
async fn an_erased_letter_the_consumer_applies_is_reported_erased_not_applied() {
    let fixture = Fixture::new();
    let first = fixture.sealed_update("bob", 1);
    fixture.bury(&first, "the store refused the change");
    let live = fixture.sealed_update("cid", 1);
    fixture.bury(&live, "the store refused the change");
    fixture.forget("bob");

    let requeued = fixture.call("POST", &format!("{DEAD}/requeue"), None).await;
    assert_eq!(
        requeued.body["erased"],
        json!([first.id]),
        "{:?}",
        requeued.body
    );
    assert_eq!(requeued.body["applied"], 1);
    // One question for every letter of the requeue.
    assert_eq!(*fixture.keys.calls.lock().unwrap(), 1);
    let applied = fixture.consumer.inbox.applied();
    assert_eq!(applied.len(), 2);
    assert_eq!(applied[0].profile(), Some(&PersonalProfile::Erased));
    assert!(
        applied[1].is_sealed(),
        "a live person's letter is handed as it is"
    );
}

#[actix_web::test]
async fn an_erased_letter_leaves_even_when_the_consumer_fails_on_it_again() {
    let fixture = Fixture::new();
    let letter = fixture.sealed_update("dan", 1);
    fixture.bury(&letter, "the store refused the change");
    fixture.forget("dan");
    *fixture.consumer.poisoned.lock().unwrap() = true;

    let requeued = fixture.call("POST", &format!("{DEAD}/requeue"), None).await;
    assert_eq!(
        requeued.body["erased"],
        json!([letter.id]),
        "{:?}",
        requeued.body
    );
    assert_eq!(requeued.body["still_failing"], json!([]));
    assert!(fixture.letters.0.lock().unwrap().is_empty());
}

#[actix_web::test]
async fn a_plain_schema_1_letter_shows_erased_once_its_person_has_no_key() {
    let fixture = Fixture::new();
    let kept = fixture.plain_update("eve", 2);
    fixture.bury(&kept, "out of order");
    // Eve is live (her key exists); Fay was deleted (none).
    fixture
        .keys
        .keys
        .lock()
        .unwrap()
        .insert(fixture.person("eve"), DataKey::generate().unwrap());
    let gone = fixture.plain_update("fay", 2);
    fixture.bury(&gone, "out of order");

    let listed = fixture.call("GET", DEAD, None).await;
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(
        profile_of(&items[0])["user_name"],
        format!("{MARKER}@example.com")
    );
    assert_eq!(profile_of(&items[1]), &json!({"erased": true}));

    let requeued = fixture.call("POST", &format!("{DEAD}/requeue"), None).await;
    assert_eq!(
        requeued.body["erased"],
        json!([gone.id]),
        "{:?}",
        requeued.body
    );
    let handed = fixture.consumer.handed.lock().unwrap().clone();
    assert!(
        !serde_json::to_string(&handed[1]).unwrap().contains(MARKER),
        "an erased person's plain values never reach the consumer"
    );
}

#[actix_web::test]
async fn without_an_answer_about_keys_nothing_plain_is_shown_and_nothing_is_taken_for_erased() {
    let fixture = Fixture::new();
    let sealed = fixture.sealed_update("gus", 2);
    fixture.bury(&sealed, "out of order");
    let plain = fixture.plain_update("hal", 2);
    fixture.bury(&plain, "out of order");
    fixture.forget("gus");
    *fixture.keys.down.lock().unwrap() = true;

    let listed = fixture.call("GET", DEAD, None).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let items = listed.body["items"].as_array().unwrap();
    assert!(profile_of(&items[0])["sealed"].is_string());
    assert_eq!(profile_of(&items[1]), &json!({"erased": true}));
    assert!(!listed.body.to_string().contains(MARKER));

    let requeued = fixture.call("POST", &format!("{DEAD}/requeue"), None).await;
    assert_eq!(requeued.body["erased"], json!([]), "{:?}", requeued.body);
    assert_eq!(requeued.body["still_failing"].as_array().unwrap().len(), 2);
    assert_eq!(fixture.letters.0.lock().unwrap().len(), 2);
}
