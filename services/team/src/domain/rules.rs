//! How events change teams. Pure: the team as it is (if any), the account
//! states of the users an event adds, an event, the time → the changes to
//! make.
//!
//! - `group.provisioned` → a team named after the group's `displayName` (the
//!   only group attribute mapped) with the group's user members.
//! - `group.renamed` → the team is renamed.
//! - `group.members_added` / `group.members_removed` → exactly the named
//!   members join or leave (adding a present member changes nothing); members
//!   that are groups are not mapped (teams do not nest).
//! - `group.deleted` → the team and its memberships are deleted; the accounts
//!   are not the team service's and stay as they are.
//! - `user.provisioned` / `user.reactivated` → the SCIM user now resolves to
//!   the event's account (active); `user.deactivated` → that account is
//!   anonymized. `user.updated` changes nothing here.
//! - `user.deleted` → the account is deleted and the user leaves every team,
//!   as the gateway removes them from every group.
//! - A deleted user never joins a team: events are ordered per aggregate
//!   only, so a group event naming the user, emitted before the delete, may
//!   arrive after it (a retry); it adds the group's other users. Applied at
//!   the same time (competing consumers, a rebuild's parallel workers), the
//!   two must not overlap: [`reads_for`] names the deleted user
//!   (`deletes_user`) and the added ones, and the store serializes them.

use chrono::{DateTime, Utc};
use provisioning_events::{Event, EventBody, Member, MemberKind};

use super::models::{AccountState, AccountStates, EventReads, OrgId, Team, TeamChange, TeamId};

fn users(members: &[Member]) -> Vec<String> {
    members
        .iter()
        .filter(|m| m.kind == MemberKind::User)
        .map(|m| m.id.clone())
        .collect()
}

/// The user members that may join a team: not the deleted ones.
fn joining(members: &[Member], accounts: &AccountStates) -> Vec<String> {
    users(members)
        .into_iter()
        .filter(|user| accounts.get(user) != Some(AccountState::Deleted))
        .collect()
}

fn team_of(event: &Event) -> Option<TeamId> {
    event
        .routing_key()
        .starts_with("group.")
        .then(|| TeamId::for_group(OrgId(event.org_id), &event.aggregate.id))
}

/// What [`changes_for`] needs read before it decides `event`.
pub fn reads_for(event: &Event) -> EventReads {
    let account_states_of = match &event.body {
        EventBody::GroupProvisioned { members, .. } | EventBody::GroupMembersAdded { members } => {
            users(members)
        }
        _ => Vec::new(),
    };
    let deletes_user =
        matches!(event.body, EventBody::UserDeleted {}).then(|| event.aggregate.id.clone());
    EventReads {
        team: team_of(event),
        account_states_of,
        deletes_user,
    }
}

pub fn changes_for(
    event: &Event,
    team: Option<&Team>,
    accounts: &AccountStates,
    now: DateTime<Utc>,
) -> Vec<TeamChange> {
    let org = OrgId(event.org_id);
    let scim_user_id = || event.aggregate.id.clone();
    match &event.body {
        EventBody::GroupProvisioned {
            display_name,
            members,
            ..
        } => {
            let id = TeamId::for_group(org, &event.aggregate.id);
            let mut changes = Vec::new();
            if team.is_none() {
                changes.push(TeamChange::Create(Team {
                    id,
                    org,
                    workspace: event.workspace_id,
                    group_id: event.aggregate.id.clone(),
                    name: display_name.clone(),
                    created_at: now,
                    updated_at: now,
                }));
            }
            let users = joining(members, accounts);
            if !users.is_empty() {
                changes.push(TeamChange::AddMembers { id, users });
            }
            changes
        }
        EventBody::GroupRenamed { display_name } => match team {
            Some(team) if team.name != *display_name => vec![TeamChange::Rename {
                id: team.id,
                name: display_name.clone(),
                at: now,
            }],
            _ => Vec::new(),
        },
        EventBody::GroupMembersAdded { members } => match team {
            Some(team) => {
                let users = joining(members, accounts);
                if users.is_empty() {
                    Vec::new()
                } else {
                    vec![TeamChange::AddMembers { id: team.id, users }]
                }
            }
            None => Vec::new(),
        },
        EventBody::GroupMembersRemoved { members } => match team {
            Some(team) if !members.is_empty() => vec![TeamChange::RemoveMembers {
                id: team.id,
                users: members.clone(),
            }],
            _ => Vec::new(),
        },
        EventBody::GroupDeleted {} => match team {
            Some(team) => vec![TeamChange::Delete { id: team.id }],
            None => Vec::new(),
        },
        EventBody::UserProvisioned { account_id, .. }
        | EventBody::UserReactivated { account_id, .. } => vec![TeamChange::LinkAccount {
            org,
            scim_user_id: scim_user_id(),
            account_id: *account_id,
            state: AccountState::Active,
        }],
        EventBody::UserDeactivated {} => vec![TeamChange::SetAccountState {
            org,
            scim_user_id: scim_user_id(),
            state: AccountState::Anonymized,
        }],
        EventBody::UserDeleted {} => vec![
            TeamChange::SetAccountState {
                org,
                scim_user_id: scim_user_id(),
                state: AccountState::Deleted,
            },
            TeamChange::LeaveAllTeams {
                org,
                scim_user_id: scim_user_id(),
            },
        ],
        EventBody::UserUpdated { .. } | EventBody::SubscriptionChanged { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use provisioning_events::{Aggregate, AggregateKind, SCHEMA_VERSION};
    use uuid::Uuid;

    use super::*;

    fn event(body: EventBody) -> Event {
        Event {
            id: Uuid::now_v7(),
            seq: 1,
            schema_version: SCHEMA_VERSION,
            org_id: Uuid::from_u128(1),
            workspace_id: Uuid::from_u128(2),
            aggregate: Aggregate {
                kind: AggregateKind::Group,
                id: "group-1".into(),
                version: 1,
            },
            occurred_at: Utc::now(),
            body,
            traceparent: None,
        }
    }

    fn member(id: &str, kind: MemberKind) -> Member {
        Member {
            id: id.into(),
            kind,
        }
    }

    #[test]
    fn a_group_becomes_a_team_with_its_user_members() {
        let now = Utc::now();
        let none = AccountStates::default();
        let e = event(EventBody::GroupProvisioned {
            display_name: "Engineering".into(),
            external_id: None,
            members: vec![
                member("u1", MemberKind::User),
                member("g2", MemberKind::Group),
                member("u2", MemberKind::User),
            ],
        });
        let changes = changes_for(&e, None, &none, now);
        let TeamChange::Create(team) = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(team.name, "Engineering");
        assert_eq!(team.id, TeamId::for_group(OrgId(e.org_id), "group-1"));
        assert_eq!(
            changes[1],
            TeamChange::AddMembers {
                id: team.id,
                users: vec!["u1".into(), "u2".into()]
            }
        );
        // Applied again with the team present: only the (idempotent) members.
        let again = changes_for(&e, Some(team), &none, now);
        assert!(matches!(again.as_slice(), [TeamChange::AddMembers { .. }]));
    }

    #[test]
    fn rename_and_delete_need_the_team() {
        let now = Utc::now();
        let none = AccountStates::default();
        let renamed = event(EventBody::GroupRenamed {
            display_name: "Platform".into(),
        });
        assert!(changes_for(&renamed, None, &none, now).is_empty());
        let team = Team {
            id: TeamId::for_group(OrgId(Uuid::from_u128(1)), "group-1"),
            org: OrgId(Uuid::from_u128(1)),
            workspace: Uuid::from_u128(2),
            group_id: "group-1".into(),
            name: "Engineering".into(),
            created_at: now,
            updated_at: now,
        };
        assert!(matches!(
            changes_for(&renamed, Some(&team), &none, now).as_slice(),
            [TeamChange::Rename { name, .. }] if name == "Platform"
        ));
        assert_eq!(
            changes_for(&event(EventBody::GroupDeleted {}), Some(&team), &none, now),
            vec![TeamChange::Delete { id: team.id }]
        );
    }

    #[test]
    fn user_events_move_the_account_map() {
        let now = Utc::now();
        let none = AccountStates::default();
        let account = Uuid::now_v7();
        let mut e = event(EventBody::UserReactivated {
            account_id: account,
            default_role: "member".into(),
            profile: Default::default(),
        });
        e.aggregate.kind = AggregateKind::User;
        e.aggregate.id = "u1".into();
        assert_eq!(team_of(&e), None);
        assert_eq!(
            changes_for(&e, None, &none, now),
            vec![TeamChange::LinkAccount {
                org: OrgId(e.org_id),
                scim_user_id: "u1".into(),
                account_id: account,
                state: AccountState::Active,
            }]
        );
    }

    fn user_event(id: &str, body: EventBody) -> Event {
        let mut e = event(body);
        e.aggregate.kind = AggregateKind::User;
        e.aggregate.id = id.into();
        e
    }

    fn a_team(now: DateTime<Utc>) -> Team {
        Team {
            id: TeamId::for_group(OrgId(Uuid::from_u128(1)), "group-1"),
            org: OrgId(Uuid::from_u128(1)),
            workspace: Uuid::from_u128(2),
            group_id: "group-1".into(),
            name: "Engineering".into(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_deleted_user_leaves_every_team() {
        let e = user_event("u1", EventBody::UserDeleted {});
        assert_eq!(
            reads_for(&e),
            EventReads {
                deletes_user: Some("u1".into()),
                ..EventReads::default()
            }
        );
        let org = OrgId(e.org_id);
        assert_eq!(
            changes_for(&e, None, &AccountStates::default(), Utc::now()),
            vec![
                TeamChange::SetAccountState {
                    org,
                    scim_user_id: "u1".into(),
                    state: AccountState::Deleted,
                },
                TeamChange::LeaveAllTeams {
                    org,
                    scim_user_id: "u1".into(),
                },
            ]
        );
    }

    #[test]
    fn adds_read_the_states_of_the_users_they_name() {
        let added = event(EventBody::GroupMembersAdded {
            members: vec![
                member("u1", MemberKind::User),
                member("g2", MemberKind::Group),
            ],
        });
        assert_eq!(
            reads_for(&added),
            EventReads {
                team: Some(TeamId::for_group(OrgId(added.org_id), "group-1")),
                account_states_of: vec!["u1".into()],
                deletes_user: None,
            }
        );
        let renamed = event(EventBody::GroupRenamed {
            display_name: "Platform".into(),
        });
        assert!(reads_for(&renamed).account_states_of.is_empty());
    }

    #[test]
    fn a_late_add_leaves_out_deleted_users_and_adds_the_others() {
        let now = Utc::now();
        let team = a_team(now);
        let accounts: AccountStates = [
            ("gone".to_owned(), AccountState::Deleted),
            ("active".to_owned(), AccountState::Active),
            ("disabled".to_owned(), AccountState::Anonymized),
        ]
        .into_iter()
        .collect();
        let names = ["gone", "active", "disabled", "not-yet-seen"];
        let members: Vec<Member> = names
            .iter()
            .map(|id| member(id, MemberKind::User))
            .collect();
        let joining = vec![
            "active".to_owned(),
            "disabled".to_owned(),
            "not-yet-seen".to_owned(),
        ];

        let added = event(EventBody::GroupMembersAdded {
            members: members.clone(),
        });
        assert_eq!(
            changes_for(&added, Some(&team), &accounts, now),
            vec![TeamChange::AddMembers {
                id: team.id,
                users: joining.clone(),
            }]
        );

        let provisioned = event(EventBody::GroupProvisioned {
            display_name: "Engineering".into(),
            external_id: None,
            members,
        });
        assert_eq!(
            changes_for(&provisioned, Some(&team), &accounts, now),
            vec![TeamChange::AddMembers {
                id: team.id,
                users: joining,
            }]
        );

        // Only deleted users named: nothing to add.
        let only_gone = event(EventBody::GroupMembersAdded {
            members: vec![member("gone", MemberKind::User)],
        });
        assert!(changes_for(&only_gone, Some(&team), &accounts, now).is_empty());
    }
}
