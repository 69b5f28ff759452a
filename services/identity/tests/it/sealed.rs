//! Sealed profiles (SQLite, and PostgreSQL when configured): identity opens
//! them with its persons' data keys, fetched once per person and batch and
//! cached until the person's `user.deleted`; once a key is gone a replay or a
//! rebuild ends in "Deleted user" without profile, exactly the rows the live
//! run left (what `scimctl diff` compares); a key source that cannot answer
//! fails the event and applies nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use identity::domain::models::{Account, AccountId, AccountStatus, OrgId, Profile};
use identity::domain::rules::DELETED_LABEL;
use identity::domain::service::AccessCatalogue;
use identity::outbound::sql::COMPARED_TABLES;
use identity::startup::IdentityService;
use messaging::{HandleError, Handled};
use provisioning_events::sealing::DataKey;
use provisioning_events::{AggregateKind, Event, EventBody, PersonRef, UserProfile};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use service_kit::data_keys::{DataKeyError, DataKeySource, DataKeysFuture};
use uuid::Uuid;

/// The gateway's key table as identity sees it, counting the calls.
#[derive(Default)]
struct FakeKeys {
    keys: Mutex<HashMap<PersonRef, DataKey>>,
    /// The persons asked for, call by call.
    calls: Mutex<Vec<Vec<PersonRef>>>,
    down: AtomicBool,
}

impl FakeKeys {
    fn key_of(&self, person: &PersonRef) -> DataKey {
        self.keys
            .lock()
            .unwrap()
            .entry(person.clone())
            .or_insert_with(|| DataKey::generate().unwrap())
            .clone()
    }

    /// What the gateway's DELETE does to the person's key.
    fn destroy(&self, person: &PersonRef) {
        self.keys.lock().unwrap().remove(person);
    }

    fn calls(&self) -> Vec<Vec<PersonRef>> {
        self.calls.lock().unwrap().clone()
    }
}

impl DataKeySource for FakeKeys {
    fn data_keys<'a>(&'a self, persons: &'a [PersonRef]) -> DataKeysFuture<'a> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(persons.to_vec());
            if self.down.load(Ordering::SeqCst) {
                return Err(DataKeyError::Unavailable("the gateway is down".into()));
            }
            let keys = self.keys.lock().unwrap();
            Ok(persons.iter().map(|p| keys.get(p).cloned()).collect())
        })
    }
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// A fresh database, or None when PostgreSQL is not configured.
    async fn database(self, name: &str) -> Option<String> {
        match self {
            Backend::Sqlite => {
                let dir = test_support::temp_dir("identity-sealed");
                std::fs::create_dir_all(&dir).unwrap();
                Some(test_support::sqlite_url(&dir, &format!("{name}.db")))
            }
            Backend::Postgres => test_support::postgres_database().await,
        }
    }
}

async fn service(url: &str, keys: &Arc<FakeKeys>) -> IdentityService {
    let catalogue = AccessCatalogue {
        roles: vec!["member".into()],
        permissions: Vec::new(),
    };
    IdentityService::build(url, 4, catalogue, keys.clone())
        .await
        .unwrap()
}

/// One person's events, sealed under their key as the gateway journals them.
struct Person {
    org: Uuid,
    id: String,
    key: Option<DataKey>,
    version: i64,
}

impl Person {
    fn new(org: Uuid, keys: &FakeKeys) -> Self {
        let id = Uuid::now_v7().to_string();
        let key = keys.key_of(&PersonRef {
            org_id: org,
            user_id: id.clone(),
        });
        Self {
            org,
            id,
            key: Some(key),
            version: 0,
        }
    }

    fn person(&self) -> PersonRef {
        PersonRef {
            org_id: self.org,
            user_id: self.id.clone(),
        }
    }

    fn event(&mut self, body: EventBody) -> Event {
        self.version += 1;
        let mut event = test_support::consumers::event_in(
            self.org,
            AggregateKind::User,
            &self.id,
            self.version,
            body,
        );
        if let Some(key) = &self.key {
            event.seal_with(key).unwrap();
        }
        event
    }

    fn provisioned(&mut self, account: Uuid, user_name: &str) -> Event {
        self.event(EventBody::UserProvisioned {
            account_id: account,
            default_role: "member".into(),
            seat_key: Some("user:h:00".into()),
            profile: profile(user_name).into(),
        })
    }

    fn updated(&mut self, user_name: &str) -> Event {
        self.event(EventBody::UserUpdated {
            profile: profile(user_name).into(),
        })
    }

    fn reactivated(&mut self, account: Uuid, user_name: &str) -> Event {
        self.event(EventBody::UserReactivated {
            account_id: account,
            default_role: "member".into(),
            profile: profile(user_name).into(),
        })
    }
}

fn profile(user_name: &str) -> UserProfile {
    UserProfile {
        user_name: user_name.into(),
        email: Some(user_name.into()),
        given_name: Some("Marker".into()),
        family_name: Some("Person".into()),
        ..UserProfile::default()
    }
}

async fn account(service: &IdentityService, org: Uuid, id: Uuid) -> Option<Account> {
    service
        .identity
        .account(OrgId(org), AccountId(id))
        .await
        .ok()
}

async fn inbox_rows(service: &IdentityService, event: &Event) -> i64 {
    let db = service.store.connection();
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => "SELECT COUNT(*) AS n FROM inbox_events WHERE event_id = $1",
        _ => "SELECT COUNT(*) AS n FROM inbox_events WHERE event_id = ?",
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            [event.id.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

fn failure(outcome: Result<Handled, HandleError>) -> String {
    match outcome {
        Err(HandleError::Failed(message)) => message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Opened with the key, the profile is stored; a person's key is fetched
/// once, not again while cached, and again after their `user.deleted`.
async fn opens_and_caches(backend: Backend) {
    let Some(url) = backend.database("identity").await else {
        return;
    };
    let keys = Arc::new(FakeKeys::default());
    let service = service(&url, &keys).await;
    let org = Uuid::now_v7();
    let mut ann = Person::new(org, &keys);
    let first = Uuid::now_v7();

    let provisioned = ann.provisioned(first, "marker-ann@example.com");
    assert!(provisioned.is_sealed());
    assert_eq!(
        service.identity.handle_event(&provisioned).await.unwrap(),
        Handled::Applied
    );
    let stored = account(&service, org, first).await.unwrap();
    assert_eq!(
        stored.profile.as_ref().map(|p| p.user_name.as_str()),
        Some("marker-ann@example.com")
    );
    assert_eq!(stored.label, "Marker Person");
    assert_eq!(
        keys.calls(),
        vec![vec![ann.person()]],
        "one call for a new person"
    );

    let updated = ann.updated("marker-ann.lee@example.com");
    assert_eq!(
        service.identity.handle_event(&updated).await.unwrap(),
        Handled::Applied
    );
    assert_eq!(
        account(&service, org, first).await.unwrap().profile,
        Some(Profile {
            user_name: "marker-ann.lee@example.com".into(),
            email: Some("marker-ann.lee@example.com".into()),
            given_name: Some("Marker".into()),
            family_name: Some("Person".into()),
            ..Profile::default()
        })
    );
    assert_eq!(
        keys.calls().len(),
        1,
        "the cached key opens the second event"
    );
    assert_eq!(service.identity.cached_keys(), 1);

    // The gateway deletes the user: the key goes, then user.deleted.
    keys.destroy(&ann.person());
    let deleted = ann.event(EventBody::UserDeleted {});
    assert_eq!(
        service.identity.handle_event(&deleted).await.unwrap(),
        Handled::Applied
    );
    assert_eq!(service.identity.cached_keys(), 0, "dropped on user.deleted");
    assert_eq!(keys.calls().len(), 1, "a delete needs no key");
    // A redelivery of an earlier event asks again, finds no key, and the
    // inbox has it already.
    assert_eq!(
        service.identity.handle_event(&updated).await.unwrap(),
        Handled::Duplicate
    );
    assert_eq!(keys.calls().len(), 2, "a call again after the delete");
    let erased = account(&service, org, first).await.unwrap();
    assert_eq!(erased.status, AccountStatus::Deleted);
    assert_eq!(erased.profile, None);

    // A schema_version 1 event (plain profile) needs no key.
    let mut old = Person::new(org, &keys);
    old.key = None;
    let plain = old.provisioned(Uuid::now_v7(), "marker-old@example.com");
    assert!(!plain.is_sealed());
    assert_eq!(
        service.identity.handle_event(&plain).await.unwrap(),
        Handled::Applied
    );
    assert_eq!(keys.calls().len(), 2);
}

/// A blob that does not open fails its event, with a message naming the
/// event only; in a batch the other persons' events still apply.
async fn a_blob_that_does_not_open_fails_alone(backend: Backend) {
    let Some(url) = backend.database("identity").await else {
        return;
    };
    let keys = Arc::new(FakeKeys::default());
    let service = service(&url, &keys).await;
    let org = Uuid::now_v7();
    let mut bad = Person::new(org, &keys);
    bad.key = Some(DataKey::generate().unwrap());
    let mut good = Person::new(org, &keys);
    let (bad_account, good_account) = (Uuid::now_v7(), Uuid::now_v7());
    let foreign = bad.provisioned(bad_account, "marker-bad@example.com");

    let message = failure(service.identity.handle_event(&foreign).await);
    assert!(message.contains(&foreign.id.to_string()), "{message}");
    assert!(!message.contains("marker"), "{message}");
    assert!(!message.contains(&bad.id), "{message}");
    assert_eq!(inbox_rows(&service, &foreign).await, 0);

    let batch = [
        foreign.clone(),
        good.provisioned(good_account, "marker-good@example.com"),
        bad.updated("marker-bad@example.org"),
    ];
    let outcomes = service.identity.handle_events(&batch).await;
    assert!(!failure(outcomes[0].clone_outcome()).contains("marker"));
    assert!(matches!(outcomes[1], Ok(Handled::Applied)), "{outcomes:?}");
    assert!(
        outcomes[2].is_err(),
        "waits for its earlier event: {outcomes:?}"
    );
    assert!(account(&service, org, bad_account).await.is_none());
    assert!(
        account(&service, org, good_account)
            .await
            .unwrap()
            .profile
            .is_some()
    );
}

trait CloneOutcome {
    fn clone_outcome(&self) -> Result<Handled, HandleError>;
}

impl CloneOutcome for Result<Handled, HandleError> {
    fn clone_outcome(&self) -> Result<Handled, HandleError> {
        match self {
            Ok(handled) => Ok(*handled),
            Err(HandleError::Failed(m)) => Err(HandleError::Failed(m.clone())),
            Err(HandleError::OutOfOrder { expected, got }) => Err(HandleError::OutOfOrder {
                expected: *expected,
                got: *got,
            }),
        }
    }
}

/// The key source down: the event fails (the bus retries it) and nothing
/// is applied, not even its inbox row; once it answers, the retry applies.
async fn a_key_source_down_fails_and_applies_nothing(backend: Backend) {
    let Some(url) = backend.database("identity").await else {
        return;
    };
    let keys = Arc::new(FakeKeys::default());
    let service = service(&url, &keys).await;
    let org = Uuid::now_v7();
    let mut ann = Person::new(org, &keys);
    let first = Uuid::now_v7();
    let provisioned = ann.provisioned(first, "marker-ann@example.com");
    let updated = ann.updated("marker-ann@example.org");

    keys.down.store(true, Ordering::SeqCst);
    let message = failure(service.identity.handle_event(&provisioned).await);
    assert!(message.contains("unavailable"), "{message}");
    let outcomes = service
        .identity
        .handle_events(&[provisioned.clone(), updated.clone()])
        .await;
    assert!(outcomes.iter().all(Result::is_err), "{outcomes:?}");
    assert_eq!(keys.calls().len(), 2, "one call per event and per batch");
    assert_eq!(inbox_rows(&service, &provisioned).await, 0);
    assert_eq!(inbox_rows(&service, &updated).await, 0);
    assert!(account(&service, org, first).await.is_none());

    keys.down.store(false, Ordering::SeqCst);
    let outcomes = service
        .identity
        .handle_events(&[provisioned.clone(), updated.clone()])
        .await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Ok(Handled::Applied))),
        "{outcomes:?}"
    );
    assert_eq!(
        account(&service, org, first)
            .await
            .unwrap()
            .profile
            .map(|p| p.user_name),
        Some("marker-ann@example.org".to_owned())
    );
}

/// Live: a person provisioned, renamed, disabled, re-enabled, renamed,
/// deleted (key destroyed before the delete event), beside a person who
/// stays. A rebuild afterwards (one batch, as `scimctl rebuild`), and a
/// replay event by event, into fresh databases: the same rows as live,
/// the deleted person "Deleted user" without profile; a replay to the live
/// database changes nothing.
async fn a_rebuild_after_a_delete_matches_the_live_run(backend: Backend) {
    let Some(live_url) = backend.database("live").await else {
        return;
    };
    let keys = Arc::new(FakeKeys::default());
    let live = service(&live_url, &keys).await;
    let org = Uuid::now_v7();
    let mut ann = Person::new(org, &keys);
    let mut bob = Person::new(org, &keys);
    let (ann_first, ann_second, bob_first) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut journal = vec![
        ann.provisioned(ann_first, "marker-ann@example.com"),
        bob.provisioned(bob_first, "marker-bob@example.com"),
        ann.updated("marker-ann.lee@example.com"),
        ann.event(EventBody::UserDeactivated {}),
        ann.reactivated(ann_second, "marker-ann@example.com"),
        bob.updated("marker-robert@example.com"),
        ann.updated("marker-ann@example.org"),
    ];
    for event in &journal {
        assert_eq!(
            live.identity.handle_event(event).await.unwrap(),
            Handled::Applied
        );
    }
    keys.destroy(&ann.person());
    let deleted = ann.event(EventBody::UserDeleted {});
    assert_eq!(
        live.identity.handle_event(&deleted).await.unwrap(),
        Handled::Applied
    );
    journal.push(deleted);
    let live_calls = keys.calls().len();

    let differences = |rebuilt: IdentityService| {
        let live = live.store.connection().clone();
        async move {
            service_kit::compared_tables::diff(
                &live,
                rebuilt.store.connection(),
                COMPARED_TABLES,
                Some(org),
            )
            .await
            .unwrap()
        }
    };

    // A rebuild: one batch, one call for both persons.
    let rebuilt = service(&backend.database("rebuilt").await.unwrap(), &keys).await;
    let outcomes = rebuilt.identity.handle_events(&journal).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Ok(Handled::Applied))),
        "{outcomes:?}"
    );
    let calls = keys.calls();
    assert_eq!(calls.len(), live_calls + 1);
    let mut asked = calls[live_calls].clone();
    asked.sort();
    let mut both = vec![ann.person(), bob.person()];
    both.sort();
    assert_eq!(asked, both);
    for id in [ann_first, ann_second] {
        let account = account(&rebuilt, org, id).await.unwrap();
        assert_eq!(account.status, AccountStatus::Deleted);
        assert_eq!(account.label, DELETED_LABEL);
        assert_eq!(account.profile, None);
    }
    assert_eq!(
        account(&rebuilt, org, bob_first)
            .await
            .unwrap()
            .profile
            .map(|p| p.user_name),
        Some("marker-robert@example.com".to_owned())
    );
    let found = differences(rebuilt).await;
    assert!(found.is_empty(), "{found:?}");

    // A replay event by event into a fresh database.
    let replayed = service(&backend.database("replayed").await.unwrap(), &keys).await;
    for event in &journal {
        assert_eq!(
            replayed.identity.handle_event(event).await.unwrap(),
            Handled::Applied
        );
        if event.id == journal[0].id {
            // Until its user.deleted: an account without profile.
            let account = account(&replayed, org, ann_first).await.unwrap();
            assert_eq!(account.status, AccountStatus::Active);
            assert_eq!(account.label, DELETED_LABEL);
            assert_eq!(account.profile, None);
        }
    }
    let found = differences(replayed).await;
    assert!(found.is_empty(), "{found:?}");

    // A replay to the live database: everything applied already.
    for event in &journal {
        assert_eq!(
            live.identity.handle_event(event).await.unwrap(),
            Handled::Duplicate
        );
    }
}

macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test]
                async fn on_sqlite() {
                    super::$scenario(super::Backend::Sqlite).await;
                }

                #[tokio::test]
                async fn on_postgres() {
                    super::$scenario(super::Backend::Postgres).await;
                }
            }
        )*
    };
}

on_both!(
    opens_and_caches,
    a_blob_that_does_not_open_fails_alone,
    a_key_source_down_fails_and_applies_nothing,
    a_rebuild_after_a_delete_matches_the_live_run,
);
