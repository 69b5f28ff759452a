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
