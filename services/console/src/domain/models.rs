//! The console's view of the platform (organizations, their SCIM connection,
//! seats) and of its own sessions.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrgId(pub Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenId(pub Uuid);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub workspace_id: Uuid,
    pub workspace: Option<String>,
    pub default_role: String,
    pub scim_included: bool,
    pub created_at: DateTime<Utc>,
}

/// One page of a list and where the next one starts.
#[derive(Debug, Clone)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    pub next_after: Option<K>,
}

/// What the operator asks for when creating an organization.
#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub name: String,
    pub seats: u32,
    pub default_role: String,
}

/// A SCIM token as listed: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: TokenId,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Token {
    /// Whether an identity provider can still use it at `now`.
    pub fn usable_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|end| end > now)
    }
}

/// A token's value, which exists here only between its issue and the page
/// that shows it once. Never printed by `Debug`.
#[derive(Clone)]
pub struct TokenValue(String);

impl TokenValue {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for TokenValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenValue(<redacted>)")
    }
}

/// A token just issued (or the successor of a rotated one), with its value.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: Token,
    pub value: TokenValue,
    /// For a rotation: until when the previous token keeps working.
    pub previous_ends: Option<DateTime<Utc>>,
}

/// One finding of the gateway's connection test, in its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionCheck {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

/// Seats of an organization against its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatUsage {
    pub quota: u32,
    pub confirmed: u64,
    pub reserved: u64,
}

/// Everything the SCIM connection page shows.
#[derive(Debug, Clone)]
pub struct Connection {
    pub organization: Organization,
    pub tokens: Vec<Token>,
    /// `None` when licensing could not be asked; the page says so.
    pub seats: Option<SeatUsage>,
    pub roles: Vec<String>,
}

/// A signed-in operator's session as kept server-side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The synchronizer token every form of this session carries.
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// The session id as the browser holds it (the cookie's value). Kept
/// server-side only as its [`SessionHash`]; never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey(String);

impl SessionKey {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SessionHash {
        use sha2::{Digest, Sha256};
        SessionHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

/// SHA-256 of a session key: what the session store is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionHash(pub [u8; 32]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountId(pub Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TeamId(pub Uuid);

/// A role and the permissions beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub role: String,
    pub permissions: Vec<String>,
}

/// An account as identity lists it. Its personal values are for the page
/// only: never logged.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    /// The SCIM user it was provisioned for; each re-enabling makes a new
    /// account for the same SCIM user.
    pub scim_user_id: String,
    /// `active`, `anonymized` or `deleted`.
    pub status: String,
    pub label: String,
    pub access: Access,
    pub user_name: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which accounts a list shows; every part given narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    /// Text in the user name, e-mail or a name.
    pub search: Option<String>,
    /// `active`, `anonymized` or `deleted`.
    pub status: Option<String>,
    /// One person's accounts across re-enables.
    pub scim_user_id: Option<String>,
}

/// One change of an account's role or permissions, and who made it.
#[derive(Debug, Clone)]
pub struct AccessChange {
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
    pub before: Access,
    pub after: Access,
}

/// The roles and permissions accounts are given from.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
}

/// Everything one account's page shows.
#[derive(Debug, Clone)]
pub struct AccountDetail {
    pub organization: Organization,
    pub account: Account,
    pub changes: Vec<AccessChange>,
    pub catalogue: Catalogue,
}

#[derive(Debug, Clone)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub group_id: String,
    pub created_at: DateTime<Utc>,
    pub member_count: Option<u64>,
}

/// A team member: the SCIM user and, once identity has it, its account.
#[derive(Debug, Clone)]
pub struct Member {
    pub scim_user_id: String,
    pub account_id: Option<AccountId>,
    pub account_status: Option<String>,
}

/// One hour of an organization's seat usage, from licensing: an hour with
/// a change of its held seats or its quota (hours without one hold the
/// previous hour's `last`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsagePoint {
    /// The hour's start.
    pub hour: DateTime<Utc>,
    /// Seats held after the hour's last change.
    pub last: u32,
    /// The most seats held at once in the hour.
    pub peak: u32,
    pub quota: u32,
}

/// The seats page: the counts now and the usage of the last days.
#[derive(Debug, Clone)]
pub struct SeatsOverview {
    pub usage: SeatUsage,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Oldest first; `None` when licensing could not give them (the page
    /// says so and still shows the counts).
    pub history: Option<Vec<UsagePoint>>,
}
