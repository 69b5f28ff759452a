//! A 50,000-member team (SQLite, and PostgreSQL when configured): provisioned
//! from one event, listed page by page, changed a few members at a time.

use std::collections::HashSet;

use messaging::Handled;
use provisioning_events::{AggregateKind, Event, EventBody, Member, MemberKind};
use team::domain::models::{OrgId, Page, TeamId};
use team::startup::TeamService;
use uuid::Uuid;

const MEMBERS: usize = 50_000;

fn event(org: Uuid, group: &str, version: i64, body: EventBody) -> Event {
    test_support::consumers::event_in(org, AggregateKind::Group, group, version, body)
}

fn user(i: usize) -> String {
    format!("user-{i:06}")
}

fn members(ids: &[String]) -> Vec<Member> {
    ids.iter()
        .map(|id| Member {
            id: id.clone(),
            kind: MemberKind::User,
        })
        .collect()
}

async fn large_team(database_url: &str) {
    let service = TeamService::build(database_url, 4).await.unwrap();
    let org = Uuid::now_v7();
    let everyone: Vec<String> = (0..MEMBERS).map(user).collect();
    let provisioned = event(
        org,
        "big",
        1,
        EventBody::GroupProvisioned {
            display_name: "Everyone".into(),
            external_id: None,
            members: members(&everyone),
        },
    );
    assert_eq!(
        service.teams.handle_event(&provisioned).await.unwrap(),
        Handled::Applied
    );
    let team = TeamId::for_group(OrgId(org), "big");
    let (_, count) = service.teams.team(OrgId(org), team).await.unwrap();
    assert_eq!(count, MEMBERS as u64);

    // Page by page: every member exactly once, in order.
    let mut seen = Vec::with_capacity(MEMBERS);
    let mut after = None;
    loop {
        let page = service
            .teams
            .members(OrgId(org), team, Page { after, limit: 1000 })
            .await
            .unwrap();
        assert!(page.items.len() <= 1000);
        seen.extend(page.items.into_iter().map(|m| m.scim_user_id));
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, everyone);

    // A few members in, a few out: only those change.
    let added = event(
        org,
        "big",
        2,
        EventBody::GroupMembersAdded {
            members: members(&["new-1".into(), user(7)]),
        },
    );
    let removed = event(
        org,
        "big",
        3,
        EventBody::GroupMembersRemoved {
            members: vec![user(3), user(49_999)],
        },
    );
    for e in [&added, &removed] {
        assert_eq!(
            service.teams.handle_event(e).await.unwrap(),
            Handled::Applied
        );
    }
    let (_, count) = service.teams.team(OrgId(org), team).await.unwrap();
    assert_eq!(count, MEMBERS as u64 + 1 - 2);
    let last = service
        .teams
        .members(
            OrgId(org),
            team,
            Page {
                after: Some(user(49_990)),
                limit: 100,
            },
        )
        .await
        .unwrap();
    let last: HashSet<String> = last.items.into_iter().map(|m| m.scim_user_id).collect();
    assert!(!last.contains(&user(49_999)));
    assert!(last.contains(&user(49_998)));
    let head = service
        .teams
        .members(
            OrgId(org),
            team,
            Page {
                after: None,
                limit: 5,
            },
        )
        .await
        .unwrap();
    let head: Vec<String> = head.items.into_iter().map(|m| m.scim_user_id).collect();
    assert_eq!(head, vec!["new-1", &user(0), &user(1), &user(2), &user(4)]);
}

#[tokio::test]
async fn a_fifty_thousand_member_team_on_sqlite() {
    let dir = test_support::temp_dir("team-large");
    large_team(&test_support::sqlite_url(&dir, "team.db")).await;
}

#[tokio::test]
async fn a_fifty_thousand_member_team_on_postgres() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    large_team(&url).await;
}
