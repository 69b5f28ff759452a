//! Teams: the groups of the directory, as the product's teams.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrgId(pub Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TeamId(pub Uuid);

impl TeamId {
    /// A team's id follows from its organization and SCIM group, so every
    /// replay of the same events names the same team.
    pub fn for_group(org: OrgId, group_id: &str) -> Self {
        TeamId(Uuid::new_v5(&org.0, group_id.as_bytes()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: TeamId,
    pub org: OrgId,
    pub workspace: Uuid,
    pub group_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the team service knows of a SCIM user's account, from user events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    Active,
    Anonymized,
    Deleted,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::Anonymized => "anonymized",
            AccountState::Deleted => "deleted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(AccountState::Active),
            "anonymized" => Some(AccountState::Anonymized),
            "deleted" => Some(AccountState::Deleted),
            _ => None,
        }
    }
}

/// The account states the store holds for some SCIM users (a user none of
/// whose user events has been applied yet is absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountStates(HashMap<String, AccountState>);

impl AccountStates {
    pub fn get(&self, scim_user_id: &str) -> Option<AccountState> {
        self.0.get(scim_user_id).copied()
    }
}

impl FromIterator<(String, AccountState)> for AccountStates {
    fn from_iter<I: IntoIterator<Item = (String, AccountState)>>(iter: I) -> Self {
        AccountStates(iter.into_iter().collect())
    }
}

/// What the rules need read, in the transaction that applies an event,
/// before they decide its changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventReads {
    /// The team of a group event.
    pub team: Option<TeamId>,
    /// The users a group event adds: their account states say who may join.
    /// The store reads them under a shared lock per user, held until the
    /// event's transaction ends.
    pub account_states_of: Vec<String>,
    /// The user a `user.deleted` deletes. The store takes an exclusive lock
    /// on them before the event's reads, so a deletion and an add naming the
    /// user never overlap (competing consumers, a rebuild's parallel
    /// workers): the add either decides after the deletion committed (and
    /// leaves them out) or commits before the deletion removes them.
    pub deletes_user: Option<String>,
}

/// A team member: the SCIM user, and the account it currently resolves to
/// (`None` until the user's provisioning event has been applied here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub scim_user_id: String,
    pub account_id: Option<Uuid>,
    pub account_state: Option<AccountState>,
}

/// A change the event rules ask the store to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamChange {
    Create(Team),
    Rename {
        id: TeamId,
        name: String,
        at: DateTime<Utc>,
    },
    /// Idempotent: a member already present stays.
    AddMembers {
        id: TeamId,
        users: Vec<String>,
    },
    RemoveMembers {
        id: TeamId,
        users: Vec<String>,
    },
    /// The team and its memberships go; accounts are not the team's.
    Delete {
        id: TeamId,
    },
    /// The account a SCIM user resolves to now (a re-enabled user gets a new
    /// one), in `state`.
    LinkAccount {
        org: OrgId,
        scim_user_id: String,
        account_id: Uuid,
        state: AccountState,
    },
    SetAccountState {
        org: OrgId,
        scim_user_id: String,
        state: AccountState,
    },
    /// The SCIM user leaves every team of the organization (the account
    /// map keeps them).
    LeaveAllTeams {
        org: OrgId,
        scim_user_id: String,
    },
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Keyset paging: items after this key.
    pub after: Option<String>,
    pub limit: u64,
}

#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; `None` on the last one.
    pub next_after: Option<String>,
}
