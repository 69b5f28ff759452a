//! How user events change accounts. Pure: the accounts a SCIM user has had so
//! far, an event, the time → the changes to make.
//!
//! - `user.provisioned` → a new active account (the id the event names) with
//!   the event's default role and profile.
//! - `user.updated` → the profile of the active account follows; role and
//!   permissions are never touched.
//! - `user.deactivated` → the active account is anonymized.
//! - `user.reactivated` → a new active account with the default role; the
//!   anonymized one stays as it is (any still-active one is anonymized first,
//!   so a person never has two active accounts).
//! - `user.deleted` → every account of the person is erased and shows as
//!   "Deleted user"; rows and ids remain.
//!
//! A profile whose person's data key is gone reads as erased (the service
//! opens every sealed profile before the rules see it; one still sealed is
//! read the same way): `user.provisioned` / `user.reactivated` then create
//! the account — its id and what refers to it — without a profile, shown as
//! "Deleted user" (a key is only destroyed with the person, and their
//! `user.deleted` follows in the journal); `user.updated` changes nothing.
//! So a replay or a rebuild after a delete ends where the live run did.
//!
//! Erasing takes the whole profile (userName, externalId, email, given,
//! family and display name); the account shows "Anonymized user" or
//! "Deleted user" instead, keeps the time its data first went
//! (`anonymized_at`) and, once deleted, the time of its deletion.
//!
//! An account whose id already exists is never created again, so applying
//! the same fact twice changes nothing even without the inbox.

use chrono::{DateTime, Utc};
use provisioning_events::{Event, EventBody, UserProfile};

use super::models::{
    Access, Account, AccountChange, AccountId, AccountStatus, Erasure, OrgId, Profile, WorkspaceId,
};

/// What an account without personal data shows.
pub const ANONYMIZED_LABEL: &str = "Anonymized user";
pub const DELETED_LABEL: &str = "Deleted user";

/// The label of an account erased to `status`.
pub fn erased_label(status: AccountStatus) -> &'static str {
    if status == AccountStatus::Deleted {
        DELETED_LABEL
    } else {
        ANONYMIZED_LABEL
    }
}

/// What erasing `account` to `status` (anonymized or deleted) at `at`
/// writes.
pub fn erasure(account: &Account, status: AccountStatus, at: DateTime<Utc>) -> AccountChange {
    AccountChange::Erase(Erasure {
        id: account.id,
        status,
        label: erased_label(status).to_owned(),
        updated_at: at,
        anonymized_at: account.anonymized_at.unwrap_or(at),
        deleted_at: if status == AccountStatus::Deleted {
            Some(at)
        } else {
            account.deleted_at
        },
    })
}

pub fn profile_from(snapshot: &UserProfile) -> Profile {
    Profile {
        user_name: snapshot.user_name.clone(),
        external_id: snapshot.external_id.clone(),
        email: snapshot.email.clone(),
        given_name: snapshot.given_name.clone(),
        family_name: snapshot.family_name.clone(),
        display_name: snapshot.display_name.clone(),
    }
}

fn new_account(
    event: &Event,
    id: uuid::Uuid,
    default_role: &str,
    snapshot: Option<&UserProfile>,
    now: DateTime<Utc>,
) -> Account {
    let profile = snapshot.map(profile_from);
    Account {
        id: AccountId(id),
        org: OrgId(event.org_id),
        workspace: WorkspaceId(event.workspace_id),
        scim_user_id: event.aggregate.id.clone(),
        status: AccountStatus::Active,
        label: profile
            .as_ref()
            .map_or_else(|| DELETED_LABEL.to_owned(), Profile::label),
        profile,
        access: Access {
            role: default_role.to_owned(),
            permissions: Vec::new(),
        },
        created_at: now,
        updated_at: now,
        anonymized_at: None,
        deleted_at: None,
    }
}

fn active(accounts: &[Account]) -> impl Iterator<Item = &Account> {
    accounts
        .iter()
        .filter(|a| a.status == AccountStatus::Active)
}

pub fn changes_for(event: &Event, accounts: &[Account], now: DateTime<Utc>) -> Vec<AccountChange> {
    let exists = |id: &uuid::Uuid| accounts.iter().any(|a| a.id.0 == *id);
    match &event.body {
        EventBody::UserProvisioned {
            account_id,
            default_role,
            profile,
            ..
        }
        | EventBody::UserReactivated {
            account_id,
            default_role,
            profile,
        } => {
            if exists(account_id) {
                return Vec::new();
            }
            let mut changes: Vec<AccountChange> = active(accounts)
                .map(|a| erasure(a, AccountStatus::Anonymized, now))
                .collect();
            changes.push(AccountChange::Create(new_account(
                event,
                *account_id,
                default_role,
                profile.opened(),
                now,
            )));
            changes
        }
        EventBody::UserUpdated { profile } => {
            let Some(profile) = profile.opened().map(profile_from) else {
                return Vec::new();
            };
            active(accounts)
                .filter(|a| a.profile.as_ref() != Some(&profile))
                .map(|a| AccountChange::UpdateProfile {
                    id: a.id,
                    label: profile.label(),
                    profile: profile.clone(),
                    at: now,
                })
                .collect()
        }
        EventBody::UserDeactivated {} => active(accounts)
            .map(|a| erasure(a, AccountStatus::Anonymized, now))
            .collect(),
        EventBody::UserDeleted {} => accounts
            .iter()
            .filter(|a| a.status != AccountStatus::Deleted)
            .map(|a| erasure(a, AccountStatus::Deleted, now))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use provisioning_events::{Aggregate, AggregateKind, PersonalProfile, SCHEMA_VERSION};
    use uuid::Uuid;

    use super::*;

    fn event(version: i64, body: EventBody) -> Event {
        Event {
            id: Uuid::now_v7(),
            seq: version,
            schema_version: SCHEMA_VERSION,
            org_id: Uuid::from_u128(1),
            workspace_id: Uuid::from_u128(2),
            aggregate: Aggregate {
                kind: AggregateKind::User,
                id: "scim-user-1".into(),
                version,
            },
            occurred_at: Utc::now(),
            traceparent: None,
            body,
        }
    }

    fn snapshot(email: &str) -> UserProfile {
        UserProfile {
            user_name: email.into(),
            email: Some(email.into()),
            given_name: Some("Ann".into()),
            family_name: Some("Lee".into()),
            ..UserProfile::default()
        }
    }

    fn step(accounts: &mut Vec<Account>, event: &Event, now: DateTime<Utc>) {
        let changes = changes_for(event, accounts, now);
        apply(accounts, changes);
    }

    /// Applies changes to a list of accounts the way the store does.
    fn apply(accounts: &mut Vec<Account>, changes: Vec<AccountChange>) {
        for change in changes {
            match change {
                AccountChange::Create(account) => accounts.push(account),
                AccountChange::UpdateProfile {
                    id,
                    profile,
                    label,
                    at,
                } => {
                    let a = accounts.iter_mut().find(|a| a.id == id).unwrap();
                    a.label = label;
                    a.profile = Some(profile);
                    a.updated_at = at;
                }
                AccountChange::Erase(erasure) => {
                    let a = accounts.iter_mut().find(|a| a.id == erasure.id).unwrap();
                    a.profile = None;
                    a.status = erasure.status;
                    a.label = erasure.label;
                    a.updated_at = erasure.updated_at;
                    a.anonymized_at = Some(erasure.anonymized_at);
                    a.deleted_at = erasure.deleted_at;
                }
            }
        }
    }

    #[test]
    fn the_whole_lifecycle() {
        let now = Utc::now();
        let mut accounts = Vec::new();
        let first = Uuid::now_v7();
        let provisioned = event(
            1,
            EventBody::UserProvisioned {
                account_id: first,
                default_role: "member".into(),
                seat_key: None,
                profile: snapshot("ann@example.com").into(),
            },
        );
        step(&mut accounts, &provisioned, now);
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].label, "Ann Lee");
        assert_eq!(accounts[0].access.role, "member");
        // The same fact again changes nothing.
        assert!(changes_for(&provisioned, &accounts, now).is_empty());

        // An admin promoted the account; SCIM updates the profile only.
        accounts[0].access.role = "admin".into();
        let updated = event(
            2,
            EventBody::UserUpdated {
                profile: snapshot("ann.lee@example.com").into(),
            },
        );
        step(&mut accounts, &updated, now);
        assert_eq!(
            accounts[0].profile.as_ref().unwrap().email.as_deref(),
            Some("ann.lee@example.com")
        );
        assert_eq!(accounts[0].access.role, "admin");

        step(&mut accounts, &event(3, EventBody::UserDeactivated {}), now);
        assert_eq!(accounts[0].status, AccountStatus::Anonymized);
        assert!(accounts[0].profile.is_none());
        // Updates of a disabled user touch nothing.
        assert!(changes_for(&updated, &accounts, now).is_empty());

        let second = Uuid::now_v7();
        let reactivated = event(
            4,
            EventBody::UserReactivated {
                account_id: second,
                default_role: "member".into(),
                profile: snapshot("ann@example.com").into(),
            },
        );
        step(&mut accounts, &reactivated, now);
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].status, AccountStatus::Anonymized);
        assert_eq!(accounts[1].id.0, second);
        assert_eq!(accounts[1].status, AccountStatus::Active);
        assert_eq!(accounts[1].access.role, "member");

        step(&mut accounts, &event(5, EventBody::UserDeleted {}), now);
        assert!(accounts.iter().all(|a| a.status == AccountStatus::Deleted));
        assert!(accounts.iter().all(|a| a.profile.is_none()));
        assert!(changes_for(&event(6, EventBody::UserDeleted {}), &accounts, now).is_empty());
    }

    #[test]
    fn a_reactivation_never_leaves_two_active_accounts() {
        let now = Utc::now();
        let mut accounts = Vec::new();
        for version in 1..=2 {
            let e = event(
                version,
                EventBody::UserReactivated {
                    account_id: Uuid::now_v7(),
                    default_role: "member".into(),
                    profile: snapshot("ann@example.com").into(),
                },
            );
            step(&mut accounts, &e, now);
        }
        assert_eq!(
            accounts
                .iter()
                .filter(|a| a.status == AccountStatus::Active)
                .count(),
            1
        );
    }

    #[test]
    fn labels_prefer_display_name_then_names_then_user_name() {
        let mut p = Profile {
            user_name: "u@example.com".into(),
            ..Profile::default()
        };
        assert_eq!(p.label(), "u@example.com");
        p.family_name = Some("Lee".into());
        assert_eq!(p.label(), "Lee");
        p.display_name = Some("Ann L.".into());
        assert_eq!(p.label(), "Ann L.");
    }

    fn erasures(changes: Vec<AccountChange>) -> Vec<Erasure> {
        changes
            .into_iter()
            .map(|change| match change {
                AccountChange::Erase(erasure) => erasure,
                other => panic!("expected an erasure, got {other:?}"),
            })
            .collect()
    }

    #[test]
    fn an_erasure_says_what_the_account_becomes() {
        let provisioned_at = Utc::now() - chrono::Duration::hours(2);
        let mut accounts = Vec::new();
        let provisioned = event(
            1,
            EventBody::UserProvisioned {
                account_id: Uuid::now_v7(),
                default_role: "member".into(),
                seat_key: None,
                profile: snapshot("ann@example.com").into(),
            },
        );
        step(&mut accounts, &provisioned, provisioned_at);

        let disabled_at = provisioned_at + chrono::Duration::hours(1);
        let disabled = changes_for(
            &event(2, EventBody::UserDeactivated {}),
            &accounts,
            disabled_at,
        );
        assert_eq!(
            erasures(disabled.clone()),
            vec![Erasure {
                id: accounts[0].id,
                status: AccountStatus::Anonymized,
                label: "Anonymized user".into(),
                updated_at: disabled_at,
                anonymized_at: disabled_at,
                deleted_at: None,
            }]
        );
        apply(&mut accounts, disabled);

        let deleted_at = disabled_at + chrono::Duration::hours(1);
        let deleted = changes_for(&event(3, EventBody::UserDeleted {}), &accounts, deleted_at);
        assert_eq!(
            erasures(deleted),
            vec![Erasure {
                id: accounts[0].id,
                status: AccountStatus::Deleted,
                label: "Deleted user".into(),
                updated_at: deleted_at,
                anonymized_at: disabled_at,
                deleted_at: Some(deleted_at),
            }],
            "a deletion keeps the time the data first went"
        );
    }

    #[test]
    fn deleting_an_active_account_erases_it_at_once() {
        let now = Utc::now();
        let mut accounts = Vec::new();
        let provisioned = event(
            1,
            EventBody::UserProvisioned {
                account_id: Uuid::now_v7(),
                default_role: "member".into(),
                seat_key: None,
                profile: snapshot("ann@example.com").into(),
            },
        );
        step(&mut accounts, &provisioned, now);
        let later = now + chrono::Duration::minutes(5);
        let deleted = changes_for(&event(2, EventBody::UserDeleted {}), &accounts, later);
        assert_eq!(
            erasures(deleted),
            vec![Erasure {
                id: accounts[0].id,
                status: AccountStatus::Deleted,
                label: "Deleted user".into(),
                updated_at: later,
                anonymized_at: later,
                deleted_at: Some(later),
            }]
        );
    }

    #[test]
    fn a_profile_update_carries_the_label_it_makes() {
        let now = Utc::now();
        let mut accounts = Vec::new();
        let provisioned = event(
            1,
            EventBody::UserProvisioned {
                account_id: Uuid::now_v7(),
                default_role: "member".into(),
                seat_key: None,
                profile: snapshot("ann@example.com").into(),
            },
        );
        step(&mut accounts, &provisioned, now);
        let mut renamed = snapshot("ann@example.com");
        renamed.display_name = Some("Ann L.".into());
        let changes = changes_for(
            &event(
                2,
                EventBody::UserUpdated {
                    profile: renamed.into(),
                },
            ),
            &accounts,
            now,
        );
        assert!(matches!(
            changes.as_slice(),
            [AccountChange::UpdateProfile { label, .. }] if label == "Ann L."
        ));
    }

    /// The user events of one person's life, each profile given by `profile`.
    fn a_life(profile: impl Fn(&str) -> PersonalProfile) -> Vec<Event> {
        vec![
            event(
                1,
                EventBody::UserProvisioned {
                    account_id: Uuid::from_u128(10),
                    default_role: "member".into(),
                    seat_key: Some("user:h:00".into()),
                    profile: profile("ann@example.com"),
                },
            ),
            event(
                2,
                EventBody::UserUpdated {
                    profile: profile("ann.lee@example.com"),
                },
            ),
            event(3, EventBody::UserDeactivated {}),
            event(
                4,
                EventBody::UserReactivated {
                    account_id: Uuid::from_u128(11),
                    default_role: "member".into(),
                    profile: profile("ann@example.com"),
                },
            ),
            event(
                5,
                EventBody::UserUpdated {
                    profile: profile("ann@example.org"),
                },
            ),
            event(6, EventBody::UserDeleted {}),
        ]
    }

    /// What `scimctl diff` compares of an account: values, and instants by
    /// presence.
    fn compared(account: &Account) -> impl PartialEq + std::fmt::Debug {
        (
            account.id,
            account.org,
            account.workspace,
            account.scim_user_id.clone(),
            account.status,
            account.label.clone(),
            account.profile.clone(),
            account.anonymized_at.is_some(),
            account.deleted_at.is_some(),
        )
    }

    #[test]
    fn an_erased_profile_makes_an_account_without_one_and_updates_nothing() {
        let now = Utc::now();
        let mut accounts = Vec::new();
        let life = a_life(|_| PersonalProfile::Erased);
        step(&mut accounts, &life[0], now);
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].id.0, Uuid::from_u128(10));
        assert_eq!(accounts[0].status, AccountStatus::Active);
        assert_eq!(accounts[0].profile, None);
        assert_eq!(accounts[0].label, DELETED_LABEL);
        assert!(changes_for(&life[1], &accounts, now).is_empty());
        // A profile still sealed (never handed to the rules) reads the same.
        let mut sealed = life[1].clone();
        sealed.body = EventBody::UserUpdated {
            profile: PersonalProfile::Sealed("AQ".into()),
        };
        assert!(changes_for(&sealed, &accounts, now).is_empty());
    }

    #[test]
    fn a_replay_without_the_key_ends_where_the_live_run_did() {
        let live_at = Utc::now() - chrono::Duration::days(3);
        let mut live = Vec::new();
        for (i, e) in a_life(|email| snapshot(email).into()).iter().enumerate() {
            step(&mut live, e, live_at + chrono::Duration::minutes(i as i64));
        }
        let mut replayed = Vec::new();
        for e in &a_life(|_| PersonalProfile::Erased) {
            step(&mut replayed, e, Utc::now());
        }
        assert_eq!(live.len(), 2);
        assert!(live.iter().all(|a| a.status == AccountStatus::Deleted));
        assert_eq!(
            live.iter().map(compared).collect::<Vec<_>>(),
            replayed.iter().map(compared).collect::<Vec<_>>()
        );
    }
}
