//! A batch's account-map writes are held and written together at its end
//! (`outbound/sql/account_writes.rs`): the batch must leave the map and the
//! teams exactly as the same events applied one at a time do — several
//! events of one user in the batch (last wins, per column), a state change
//! of a row stored before the batch, more users than one statement's chunk,
//! and a group event reading the state a user event earlier in the batch
//! wrote (SQLite, and PostgreSQL when configured).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use messaging::Handled;
use provisioning_events::{AggregateKind, Event, EventBody, Member, MemberKind};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use team::domain::models::{OrgId, Page, TeamId};
use team::domain::service::Teams;
use team::outbound::clock::SystemClock;
use team::outbound::sql::{self, SqlTeamStore};
use team::startup::TeamService;
use uuid::Uuid;

/// More users than one multi-row upsert takes (32).
const USERS: usize = 40;

fn user_event(org: Uuid, user: &str, version: i64, body: EventBody) -> Event {
    test_support::consumers::event_in(org, AggregateKind::User, user, version, body)
}

fn provisioned(account: Uuid) -> EventBody {
    EventBody::UserProvisioned {
        account_id: account,
        default_role: "member".into(),
        seat_key: None,
        profile: Default::default(),
    }
}

/// Account ids that are the same in both organizations' runs.
fn account(n: u128) -> Uuid {
    Uuid::from_u128(0xacc0_0000 + n)
}

/// The events of the scenario in organization `org`, user and group ids
/// prefixed with `prefix` (the inbox keys on aggregate ids alone): what
/// comes before the batch, and the batch.
fn scenario(org: Uuid, prefix: &str) -> (Vec<Event>, Vec<Event>) {
    let id = |name: &str| format!("{prefix}{name}");
    let before = vec![user_event(org, &id("pre"), 1, provisioned(account(1000)))];
    let mut batch: Vec<Event> = (0..USERS)
        .map(|i| {
            user_event(
                org,
                &id(&format!("u{i}")),
                1,
                provisioned(account(i as u128)),
            )
        })
        .collect();
    batch.extend([
        // Three events of one user: re-linked to a new account, active.
        user_event(org, &id("u1"), 2, EventBody::UserDeactivated {}),
        user_event(
            org,
            &id("u1"),
            3,
            EventBody::UserReactivated {
                account_id: account(2000),
                default_role: "member".into(),
                profile: Default::default(),
            },
        ),
        user_event(org, &id("u2"), 2, EventBody::UserDeactivated {}),
        user_event(org, &id("u3"), 2, EventBody::UserDeleted {}),
        // A row stored before the batch: its state changes, its account stays.
        user_event(org, &id("pre"), 2, EventBody::UserDeactivated {}),
        // No row yet: a state without an account.
        user_event(org, &id("late"), 1, EventBody::UserDeleted {}),
        // Reads the states above, still held: u3 (deleted) does not join.
        test_support::consumers::event_in(
            org,
            AggregateKind::Group,
            &id("eng"),
            1,
            EventBody::GroupProvisioned {
                display_name: "eng".into(),
                external_id: None,
                members: ["u0", "u1", "u2", "u3", "late", "ghost"]
                    .iter()
                    .map(|user| Member {
                        id: id(user),
                        kind: MemberKind::User,
                    })
                    .collect(),
            },
        ),
    ]);
    (before, batch)
}

/// Every row of the organization's account map: user (prefix removed) →
/// (account, state).
async fn account_map(
    service: &TeamService,
    org: Uuid,
    prefix: &str,
) -> BTreeMap<String, (Option<Uuid>, String)> {
    let db = service.store.connection();
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT scim_user_id, account_id, state FROM user_accounts WHERE org_id = $1"
        }
        _ => "SELECT scim_user_id, account_id, state FROM user_accounts WHERE org_id = ?",
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            [org.into()],
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let user: String = row.try_get("", "scim_user_id").unwrap();
            (
                user.strip_prefix(prefix).unwrap().to_owned(),
                (
                    row.try_get("", "account_id").unwrap(),
                    row.try_get("", "state").unwrap(),
                ),
            )
        })
        .collect()
}

/// The team's members (prefix removed), each with its account and state.
async fn team_of(service: &TeamService, org: Uuid, prefix: &str) -> Vec<String> {
    let team = TeamId::for_group(OrgId(org), &format!("{prefix}eng"));
    let page = service
        .teams
        .members(
            OrgId(org),
            team,
            Page {
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    page.items
        .into_iter()
        .map(|m| {
            let user = m.scim_user_id.strip_prefix(prefix).unwrap().to_owned();
            format!("{user} {:?} {:?}", m.account_id, m.account_state)
        })
        .collect()
}

async fn a_batch_writes_what_single_events_write(database_url: &str) {
    let service = TeamService::build(database_url, 4).await.unwrap();
    let (singly, batched) = (Uuid::now_v7(), Uuid::now_v7());
    let (single_prefix, batch_prefix) = (format!("{singly}-"), format!("{batched}-"));

    let (before, events) = scenario(singly, &single_prefix);
    for event in before.iter().chain(&events) {
        assert_eq!(
            service.teams.handle_event(event).await.unwrap(),
            Handled::Applied
        );
    }
    let (before, events) = scenario(batched, &batch_prefix);
    for event in &before {
        assert_eq!(
            service.teams.handle_event(event).await.unwrap(),
            Handled::Applied
        );
    }
    let outcomes = service.teams.handle_events(&events).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Ok(Handled::Applied))),
        "{outcomes:?}"
    );

    let map = account_map(&service, batched, &batch_prefix).await;
    assert_eq!(map, account_map(&service, singly, &single_prefix).await);
    assert_eq!(map.len(), USERS + 2);
    let row = |user: &str| map.get(user).cloned().unwrap();
    assert_eq!(row("u0"), (Some(account(0)), "active".to_owned()));
    assert_eq!(row("u1"), (Some(account(2000)), "active".to_owned()));
    assert_eq!(row("u2"), (Some(account(2)), "anonymized".to_owned()));
    assert_eq!(row("u3"), (Some(account(3)), "deleted".to_owned()));
    assert_eq!(row("u39"), (Some(account(39)), "active".to_owned()));
    assert_eq!(row("pre"), (Some(account(1000)), "anonymized".to_owned()));
    assert_eq!(row("late"), (None, "deleted".to_owned()));

    let members = team_of(&service, batched, &batch_prefix).await;
    assert_eq!(members, team_of(&service, singly, &single_prefix).await);
    let joined: Vec<&str> = members
        .iter()
        .map(|m| m.split(' ').next().unwrap())
        .collect();
    assert_eq!(joined, ["ghost", "u0", "u1", "u2"]);
}

/// What an initial sync costs the team database: a batch of new users'
/// `user.provisioned` writes the account map in one statement per 32 users
/// (it was one per user), counted by the connection's metric callback.
async fn a_batch_of_new_users_costs_a_statement_per_chunk(database_url: &str) {
    const NEW_USERS: usize = 64;
    let mut db = sql::connect(database_url, 4).await.unwrap();
    sql::migrate(&db).await.unwrap();
    let statements = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&statements);
    db.set_metric_callback(move |info| seen.lock().unwrap().push(info.statement.sql.clone()));
    let teams = Teams::new(SqlTeamStore::new(db), SystemClock);
    let org = Uuid::now_v7();
    let events: Vec<Event> = (0..NEW_USERS)
        .map(|i| {
            user_event(
                org,
                &format!("{org}-n{i}"),
                1,
                provisioned(account(i as u128)),
            )
        })
        .collect();
    statements.lock().unwrap().clear();
    let outcomes = teams.handle_events(&events).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Ok(Handled::Applied))),
        "{outcomes:?}"
    );
    let statements = statements.lock().unwrap().clone();
    let account_writes = statements
        .iter()
        .filter(|sql| sql.contains("user_accounts"))
        .count();
    assert_eq!(account_writes, NEW_USERS / 32, "{statements:#?}");
    // Begin, the inbox's reads and writes, the upserts, commit: a handful
    // whatever the batch's size.
    assert!(statements.len() <= 10, "{statements:#?}");
}

#[tokio::test]
async fn a_batch_of_new_users_on_sqlite_costs_a_statement_per_chunk() {
    let dir = test_support::temp_dir("team-account-count");
    a_batch_of_new_users_costs_a_statement_per_chunk(&test_support::sqlite_url(&dir, "team.db"))
        .await;
}

#[tokio::test]
async fn a_batch_of_new_users_on_postgres_costs_a_statement_per_chunk() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    a_batch_of_new_users_costs_a_statement_per_chunk(&url).await;
}

#[tokio::test]
async fn a_batch_of_account_writes_on_sqlite() {
    let dir = test_support::temp_dir("team-account-batch");
    a_batch_writes_what_single_events_write(&test_support::sqlite_url(&dir, "team.db")).await;
}

#[tokio::test]
async fn a_batch_of_account_writes_on_postgres() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    a_batch_writes_what_single_events_write(&url).await;
}
