//! A user's deletion and a group event adding them, applied at the same time
//! in two transactions (competing consumers, `scimctl rebuild`'s parallel
//! workers), on PostgreSQL: the user ends in no team. READ COMMITTED alone
//! lets the add read the user as not deleted while the deletion, not seeing
//! the add's uncommitted rows, removes nothing; the store's per-user locks
//! serialize the two. (SQLite has one writer at a time: nothing overlaps.)

use std::time::{Duration, Instant};

use messaging::Handled;
use provisioning_events::{AggregateKind, Event, EventBody, Member, MemberKind};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use team::domain::models::{OrgId, Page, TeamId};
use team::startup::TeamService;
use uuid::Uuid;

fn provisioned(org: Uuid, group: &str, users: &[&str]) -> Event {
    test_support::consumers::event_in(
        org,
        AggregateKind::Group,
        group,
        1,
        EventBody::GroupProvisioned {
            display_name: group.to_owned(),
            external_id: None,
            members: users
                .iter()
                .map(|id| Member {
                    id: (*id).to_owned(),
                    kind: MemberKind::User,
                })
                .collect(),
        },
    )
}

fn deleted(org: Uuid, user: &str) -> Event {
    test_support::consumers::event_in(org, AggregateKind::User, user, 1, EventBody::UserDeleted {})
}

/// Applies `events` as the live consumer does (one at a time) or as a
/// rebuild's worker does (one batch); every one must apply.
async fn apply(service: TeamService, events: Vec<Event>, batch: bool) {
    if batch {
        let outcomes = service.teams.handle_events(&events).await;
        assert!(
            outcomes.iter().all(|o| matches!(o, Ok(Handled::Applied))),
            "{outcomes:?}"
        );
    } else {
        for event in &events {
            assert_eq!(
                service.teams.handle_event(event).await.unwrap(),
                Handled::Applied
            );
        }
    }
}

async fn members_of(service: &TeamService, org: Uuid, group: &str) -> Vec<String> {
    let page = Page {
        after: None,
        limit: 100,
    };
    let team = TeamId::for_group(OrgId(org), group);
    let members = service.teams.members(OrgId(org), team, page).await.unwrap();
    members.items.into_iter().map(|m| m.scim_user_id).collect()
}

/// Backends of this database waiting for a lock.
async fn lock_waits(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

/// Until `n` backends wait for a lock (polled, bounded).
async fn until_lock_waits(db: &DatabaseConnection, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while lock_waits(db).await < n {
        assert!(Instant::now() < deadline, "never {n} transactions waiting");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The add has read the states (the user not deleted) and waits, before it
/// writes, on a team row the test's own transaction holds; the deletion
/// runs meanwhile. Without the locks it commits having removed nothing and
/// the add then inserts the deleted user.
async fn a_deletion_during_an_add(batch: bool) {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    let service = TeamService::build(&url, 8).await.unwrap();
    let db = service.store.connection().clone();
    let org = Uuid::now_v7();
    let team = TeamId::for_group(OrgId(org), "eng");

    let holder = db.begin().await.unwrap();
    holder
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "INSERT INTO teams (id, org_id, workspace_id, group_id, name, created_at, updated_at) \
             VALUES ($1, $2, $3, 'eng', 'eng', 0, 0)",
            [team.0.into(), org.into(), Uuid::now_v7().into()],
        ))
        .await
        .unwrap();

    let add = tokio::spawn(apply(
        service.clone(),
        vec![provisioned(org, "eng", &["gone", "stays"])],
        batch,
    ));
    until_lock_waits(&db, 1).await;
    let mut deletion = tokio::spawn(apply(service.clone(), vec![deleted(org, "gone")], batch));
    // The deletion either waits for the add (serialized) or is done.
    tokio::select! {
        () = until_lock_waits(&db, 2) => {}
        done = &mut deletion => done.unwrap(),
    }
    holder.rollback().await.unwrap();
    add.await.unwrap();
    if !deletion.is_finished() {
        deletion.await.unwrap();
    }

    assert_eq!(members_of(&service, org, "eng").await, vec!["stays"]);
}

#[tokio::test]
async fn a_deletion_during_an_add_leaves_the_user_in_no_team() {
    a_deletion_during_an_add(false).await;
}

#[tokio::test]
async fn a_deletion_during_an_add_leaves_the_user_in_no_team_in_batches() {
    a_deletion_during_an_add(true).await;
}

/// As a rebuild's workers: batches of group events and of deletions naming
/// the same users in opposite orders, at once, many times. Every event
/// applies (no deadlock surfaces) and no deleted user stays in a team.
#[tokio::test]
async fn parallel_batches_of_adds_and_deletions_agree() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    let service = TeamService::build(&url, 8).await.unwrap();
    for round in 0..40 {
        let org = Uuid::now_v7();
        let users: Vec<String> = (0..6).map(|i| format!("r{round}-u{i}")).collect();
        let forward: Vec<&str> = users.iter().map(String::as_str).collect();
        let backward: Vec<&str> = forward.iter().rev().copied().collect();
        let (g1, g2) = (format!("r{round}-g1"), format!("r{round}-g2"));
        let adds = vec![
            provisioned(org, &g1, &forward),
            provisioned(org, &g2, &backward),
        ];
        // Every other user deleted, in the opposite order.
        let deletions = backward
            .iter()
            .step_by(2)
            .map(|u| deleted(org, u))
            .collect();
        let kept: Vec<String> = forward.iter().step_by(2).map(|u| (*u).to_owned()).collect();
        tokio::join!(
            apply(service.clone(), adds, true),
            apply(service.clone(), deletions, true)
        );
        assert_eq!(members_of(&service, org, &g1).await, kept, "round {round}");
        assert_eq!(members_of(&service, org, &g2).await, kept, "round {round}");
    }
}
