//! Accounts: who a provisioned person is in the product, and what they may do.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrgId(pub Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkspaceId(pub Uuid);

/// Where an account is in its lifecycle. It only moves forward:
/// active → anonymized → deleted, or active → deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    Active,
    /// The IdP disabled the user: personal data erased, row kept.
    Anonymized,
    /// The IdP deleted the user: personal data erased, shown as "Deleted user".
    Deleted,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Anonymized => "anonymized",
            AccountStatus::Deleted => "deleted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(AccountStatus::Active),
            "anonymized" => Some(AccountStatus::Anonymized),
            "deleted" => Some(AccountStatus::Deleted),
            _ => None,
        }
    }
}

/// The personal data of an account, as the IdP sent it. Erased entirely on
/// anonymization.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    pub user_name: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
}

impl Profile {
    /// What the product shows for the person: display name, else given and
    /// family name, else userName.
    pub fn label(&self) -> String {
        if let Some(display) = self
            .display_name
            .as_deref()
            .filter(|d| !d.trim().is_empty())
        {
            return display.to_owned();
        }
        let full = [self.given_name.as_deref(), self.family_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|part| !part.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if full.is_empty() {
            self.user_name.clone()
        } else {
            full
        }
    }
}

/// What an account may do in the product; managed by the customer's admins,
/// never by SCIM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub role: String,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub org: OrgId,
    pub workspace: WorkspaceId,
    /// The SCIM user this account was provisioned for. Several accounts can
    /// share it: each re-enabling creates a new one.
    pub scim_user_id: String,
    pub status: AccountStatus,
    /// `None` once anonymized or deleted.
    pub profile: Option<Profile>,
    pub label: String,
    pub access: Access,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub anonymized_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A change the event rules ask the store to make: each says exactly what
/// to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    Create(Account),
    /// The active account's profile, and the label it makes.
    UpdateProfile {
        id: AccountId,
        profile: Profile,
        label: String,
        at: DateTime<Utc>,
    },
    Erase(Erasure),
}

/// What erasing an account writes: its whole [`Profile`] goes (every field
/// of it is the person's), it moves to `status` and shows `label` instead;
/// the row, its id and its access remain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub id: AccountId,
    /// Anonymized or deleted.
    pub status: AccountStatus,
    pub label: String,
    pub updated_at: DateTime<Utc>,
    pub anonymized_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One admin change of an account's access, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessChange {
    pub account: AccountId,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
    pub before: Access,
    pub after: Access,
}

/// Which accounts an admin lists.
#[derive(Debug, Clone, Default)]
pub struct AccountQuery {
    pub status: Option<AccountStatus>,
    pub workspace: Option<WorkspaceId>,
    /// One person's accounts: those provisioned for this SCIM user (each
    /// re-enabling makes a new one).
    pub scim_user_id: Option<String>,
    /// Accounts whose user name, e-mail, display, given or family name
    /// contains this text, whatever its case.
    pub search: Option<String>,
    /// Keyset paging: accounts after this id (ids grow with creation time).
    pub after: Option<AccountId>,
    pub limit: u64,
}

#[derive(Debug, Clone)]
pub struct AccountPage {
    pub accounts: Vec<Account>,
    /// Pass as `after` to read the next page; `None` on the last page.
    pub next_after: Option<AccountId>,
}
