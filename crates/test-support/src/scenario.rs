//! The delivery scenario shared by the distributed and the embedded suites:
//! an IdP's mix of creates, renames, disables, re-enables and deletes, a
//! record of what each user should end as, and the check of the identity
//! database against the journal and that record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

/// Sends one SCIM request (`uri` below `/scim/v2`) and returns status and body.
pub trait ScimClient {
    fn send(
        &self,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> impl Future<Output = (u16, Value)>;
}

/// What the test did to one user.
#[derive(Debug, Default, Clone)]
pub struct ExpectedUser {
    pub scim_id: String,
    pub active: bool,
    pub deleted: bool,
    /// Accounts the identity service must have made: 1 + re-enablings.
    pub activations: usize,
    pub display_name: String,
}

pub struct Scenario {
    pub users: usize,
    pub expected: Vec<ExpectedUser>,
    step: usize,
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

impl Scenario {
    /// A scenario that creates up to `users` users.
    pub fn new(users: usize) -> Self {
        Self {
            users,
            expected: Vec::new(),
            step: 0,
        }
    }

    pub async fn create_user(&mut self, client: &impl ScimClient) -> (u16, Value) {
        let i = self.expected.len();
        let (status, body) = client
            .send(
                "POST",
                "/Users",
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("user{i}@delivery.test"),
                    "displayName": format!("User {i}"),
                    "emails": [{"value": format!("user{i}@delivery.test"), "type": "work", "primary": true}]
                })),
            )
            .await;
        if status == 201
            && let Some(id) = body["id"].as_str()
        {
            self.expected.push(ExpectedUser {
                scim_id: id.to_owned(),
                active: true,
                deleted: false,
                activations: 1,
                display_name: format!("User {i}"),
            });
        }
        (status, body)
    }

    /// One IdP request: creates until there are `users` (every fourth step),
    /// otherwise renames, disables, re-enables and, rarely, deletes.
    pub async fn act(&mut self, client: &impl ScimClient) -> (u16, Value) {
        let step = self.step;
        self.step += 1;
        if self.expected.len() < self.users && step.is_multiple_of(4) {
            return self.create_user(client).await;
        }
        let live: Vec<usize> = (0..self.expected.len())
            .filter(|i| !self.expected[*i].deleted)
            .collect();
        let Some(index) = live.get((step * 7919) % live.len().max(1)).copied() else {
            return self.create_user(client).await;
        };
        let user = &mut self.expected[index];
        let uri = format!("/Users/{}", user.scim_id);
        let ok = |status: u16| (200..300).contains(&status);
        match step % 10 {
            9 if step % 30 == 9 => {
                let (status, body) = client.send("DELETE", &uri, None).await;
                if ok(status) {
                    user.deleted = true;
                }
                (status, body)
            }
            3 | 6 => {
                let active = !user.active;
                let (status, body) = client
                    .send(
                        "PATCH",
                        &uri,
                        Some(patch(
                            json!([{"op": "replace", "path": "active", "value": active}]),
                        )),
                    )
                    .await;
                if ok(status) {
                    if active {
                        user.activations += 1;
                    }
                    user.active = active;
                }
                (status, body)
            }
            _ => {
                let name = format!("Renamed {step}");
                let (status, body) = client
                    .send(
                        "PATCH",
                        &uri,
                        Some(patch(
                            json!([{"op": "replace", "path": "displayName", "value": name}]),
                        )),
                    )
                    .await;
                // An inactive user's rename reaches identity with the re-enabling.
                if ok(status) {
                    user.display_name = name;
                }
                (status, body)
            }
        }
    }
}

pub async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    row.try_get("", "n")
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Checks the identity database after everything settled: every journal
/// event (`journal_ids`) applied exactly once, the versions of each user
/// applied in order, and each user's accounts as the scenario expects.
pub async fn verify_identity(
    identity: &DatabaseConnection,
    journal_ids: &HashSet<Uuid>,
    scenario: &Scenario,
) {
    let backend = identity.get_database_backend();
    let rows = identity
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT event_id, aggregate_id, aggregate_version FROM inbox_events \
             ORDER BY applied_at, aggregate_version",
        ))
        .await
        .unwrap_or_else(|e| panic!("reading the inbox: {e}"));
    let applied: Vec<(Uuid, String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("", "event_id").unwrap_or_default(),
                r.try_get("", "aggregate_id").unwrap_or_default(),
                r.try_get("", "aggregate_version").unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(applied.len(), journal_ids.len(), "each event applied once");
    let applied_ids: HashSet<Uuid> = applied.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(
        &applied_ids, journal_ids,
        "the applied events are the journal's"
    );

    let mut next_version: HashMap<&str, i64> = HashMap::new();
    for (_, aggregate, version) in &applied {
        let expected = next_version.entry(aggregate.as_str()).or_insert(1);
        assert_eq!(*version, *expected, "user {aggregate} applied out of order");
        *expected += 1;
    }

    let accounts = identity
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT scim_user_id, status, display_name FROM accounts ORDER BY id",
        ))
        .await
        .unwrap_or_else(|e| panic!("reading accounts: {e}"));
    let mut by_user: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
    for row in &accounts {
        by_user
            .entry(row.try_get("", "scim_user_id").unwrap_or_default())
            .or_default()
            .push((
                row.try_get("", "status").unwrap_or_default(),
                row.try_get("", "display_name").unwrap_or_default(),
            ));
    }
    assert_eq!(
        by_user.len(),
        scenario.expected.len(),
        "one person per user"
    );
    for user in &scenario.expected {
        let accounts = by_user
            .get(&user.scim_id)
            .unwrap_or_else(|| panic!("no account for {user:?}"));
        assert_eq!(accounts.len(), user.activations, "{user:?}: {accounts:?}");
        let Some(((last_status, last_name), earlier)) = accounts.split_last() else {
            continue;
        };
        if user.deleted {
            assert!(
                accounts.iter().all(|(s, n)| s == "deleted" && n.is_none()),
                "{user:?}: {accounts:?}"
            );
        } else if user.active {
            assert_eq!(last_status, "active", "{user:?}");
            assert_eq!(
                last_name.as_deref(),
                Some(user.display_name.as_str()),
                "{user:?}"
            );
            assert!(
                earlier.iter().all(|(s, _)| s == "anonymized"),
                "{user:?}: {accounts:?}"
            );
        } else {
            assert!(
                accounts
                    .iter()
                    .all(|(s, n)| s == "anonymized" && n.is_none()),
                "{user:?}: {accounts:?}"
            );
        }
    }
}
