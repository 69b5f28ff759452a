//! A deleted user leaves every team and never joins one again, even when a
//! group event naming them, emitted before the delete, is applied after it
//! (SQLite, and PostgreSQL when configured; one event at a time and in a
//! batch, as a rebuild applies them).

use messaging::Handled;
use provisioning_events::{AggregateKind, Event, EventBody, Member, MemberKind};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use team::domain::models::{AccountState, OrgId, Page, TeamId};
use team::startup::TeamService;
use uuid::Uuid;

fn group_event(org: Uuid, group: &str, version: i64, body: EventBody) -> Event {
    test_support::consumers::event_in(org, AggregateKind::Group, group, version, body)
}

fn deleted(org: Uuid, user: &str, version: i64) -> Event {
    test_support::consumers::event_in(
        org,
        AggregateKind::User,
        user,
        version,
        EventBody::UserDeleted {},
    )
}

fn members(ids: &[&str]) -> Vec<Member> {
    ids.iter()
        .map(|id| Member {
            id: (*id).to_owned(),
            kind: MemberKind::User,
        })
        .collect()
}

fn provisioned(org: Uuid, group: &str, ids: &[&str]) -> Event {
    group_event(
        org,
        group,
        1,
        EventBody::GroupProvisioned {
            display_name: group.to_owned(),
            external_id: None,
            members: members(ids),
        },
    )
}

/// The team's member ids (in order) and its member count.
async fn team_members(service: &TeamService, org: Uuid, group: &str) -> (Vec<String>, u64) {
    let team = TeamId::for_group(OrgId(org), group);
    let (_, count) = service.teams.team(OrgId(org), team).await.unwrap();
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
    let ids = page.items.into_iter().map(|m| m.scim_user_id).collect();
    (ids, count)
}

async fn one_event_at_a_time(service: &TeamService) {
    let org = Uuid::now_v7();
    for e in [
        provisioned(org, "eng", &["u1", "u2", "u3"]),
        provisioned(org, "ops", &["u2", "u4"]),
        deleted(org, "u2", 1),
    ] {
        assert_eq!(
            service.teams.handle_event(&e).await.unwrap(),
            Handled::Applied
        );
    }
    assert_eq!(
        team_members(service, org, "eng").await,
        (vec!["u1".to_owned(), "u3".to_owned()], 2)
    );
    assert_eq!(
        team_members(service, org, "ops").await,
        (vec!["u4".to_owned()], 1)
    );

    // A late add naming the deleted user: only the others join.
    let late = group_event(
        org,
        "eng",
        2,
        EventBody::GroupMembersAdded {
            members: members(&["u2", "u5"]),
        },
    );
    assert_eq!(
        service.teams.handle_event(&late).await.unwrap(),
        Handled::Applied
    );
    assert_eq!(
        team_members(service, org, "eng").await,
        (vec!["u1".to_owned(), "u3".to_owned(), "u5".to_owned()], 3)
    );
    // A late group naming them: a team without them.
    let late_group = provisioned(org, "late", &["u2", "u1"]);
    assert_eq!(
        service.teams.handle_event(&late_group).await.unwrap(),
        Handled::Applied
    );
    assert_eq!(
        team_members(service, org, "late").await,
        (vec!["u1".to_owned()], 1)
    );
}

async fn in_a_batch(service: &TeamService) {
    let org = Uuid::now_v7();
    // As a rebuild may interleave them: the delete after one group's
    // provisioning, before the other's. (Other ids than above: the inbox
    // keys on aggregate ids, unique across organizations.)
    let events = [
        provisioned(org, "before", &["b1", "b2"]),
        deleted(org, "b2", 1),
        provisioned(org, "after", &["b2", "b3"]),
    ];
    let outcomes = service.teams.handle_events(&events).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Ok(Handled::Applied))),
        "{outcomes:?}"
    );
    assert_eq!(
        team_members(service, org, "before").await,
        (vec!["b1".to_owned()], 1)
    );
    assert_eq!(
        team_members(service, org, "after").await,
        (vec!["b3".to_owned()], 1)
    );
    // The account map keeps them, as deleted.
    let db = service.store.connection();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                DbBackend::Postgres => {
                    "SELECT state FROM user_accounts WHERE org_id = $1 AND scim_user_id = $2"
                }
                _ => "SELECT state FROM user_accounts WHERE org_id = ? AND scim_user_id = ?",
            },
            [org.into(), "b2".into()],
        ))
        .await
        .unwrap()
        .expect("the deleted user's account row");
    let state: String = row.try_get("", "state").unwrap();
    assert_eq!(AccountState::parse(&state), Some(AccountState::Deleted));
}

async fn deleted_users_leave_teams(database_url: &str) {
    let service = TeamService::build(database_url, 4).await.unwrap();
    one_event_at_a_time(&service).await;
    in_a_batch(&service).await;
}

#[tokio::test]
async fn deleted_users_leave_every_team_on_sqlite() {
    let dir = test_support::temp_dir("team-deleted");
    deleted_users_leave_teams(&test_support::sqlite_url(&dir, "team.db")).await;
}

#[tokio::test]
async fn deleted_users_leave_every_team_on_postgres() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    deleted_users_leave_teams(&url).await;
}
