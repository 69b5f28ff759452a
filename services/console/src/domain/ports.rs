//! What the console needs from the platform (the four services' admin APIs)
//! and for its own sessions, as small traits. `Ports` names the adapters one
//! console runs with, so the use cases and handlers take one parameter.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::models::{
    ConnectionCheck, IssuedToken, NewOrganization, OrgId, Organization, Page, SeatUsage, Session,
    SessionHash, Token, TokenId,
};

/// Why the platform did not do what the console asked.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("not found")]
    NotFound,
    /// The service refused the input; its words, fit to show the operator.
    #[error("{0}")]
    Refused(String),
    /// A service could not be reached or answered with an error of its own.
    #[error("{service} is unavailable")]
    Unavailable {
        service: &'static str,
        #[source]
        source: anyhow::Error,
    },
}

/// Organizations, from the gateway.
pub trait OrganizationDirectory: Send + Sync + 'static {
    fn organizations(
        &self,
        after: Option<OrgId>,
        limit: u64,
    ) -> impl Future<Output = Result<Page<Organization, OrgId>, PlatformError>> + Send;

    fn organization(
        &self,
        org: OrgId,
    ) -> impl Future<Output = Result<Organization, PlatformError>> + Send;

    /// Creates the organization (its name and default role; seats are
    /// licensing's: [`SeatLedger::set_seats`]).
    fn create_organization(
        &self,
        new: &NewOrganization,
    ) -> impl Future<Output = Result<Organization, PlatformError>> + Send;

    fn set_default_role(
        &self,
        org: OrgId,
        role: &str,
    ) -> impl Future<Output = Result<Organization, PlatformError>> + Send;
}

/// An organization's SCIM connection: its tokens and the connection test,
/// from the gateway.
pub trait ScimConnection: Send + Sync + 'static {
    fn tokens(&self, org: OrgId) -> impl Future<Output = Result<Vec<Token>, PlatformError>> + Send;

    fn issue_token(
        &self,
        org: OrgId,
    ) -> impl Future<Output = Result<IssuedToken, PlatformError>> + Send;

    fn rotate_token(
        &self,
        org: OrgId,
        token: TokenId,
        overlap: chrono::Duration,
    ) -> impl Future<Output = Result<IssuedToken, PlatformError>> + Send;

    fn revoke_token(
        &self,
        org: OrgId,
        token: TokenId,
    ) -> impl Future<Output = Result<(), PlatformError>> + Send;

    fn test_connection(
        &self,
        org: OrgId,
    ) -> impl Future<Output = Result<Vec<ConnectionCheck>, PlatformError>> + Send;
}

/// Seats, from licensing.
pub trait SeatLedger: Send + Sync + 'static {
    fn set_seats(
        &self,
        org: OrgId,
        seats: u32,
    ) -> impl Future<Output = Result<SeatUsage, PlatformError>> + Send;

    fn seats(&self, org: OrgId) -> impl Future<Output = Result<SeatUsage, PlatformError>> + Send;
}

/// The roles an organization's default role is chosen from, from identity.
pub trait AccessCatalogue: Send + Sync + 'static {
    fn roles(&self) -> impl Future<Output = Result<Vec<String>, PlatformError>> + Send;
}

/// The store of signed-in sessions, keyed by the hash of their key.
pub trait SessionStore: Send + Sync + 'static {
    fn insert(
        &self,
        hash: SessionHash,
        session: Session,
    ) -> impl Future<Output = Result<(), SessionStoreError>> + Send;

    fn find(
        &self,
        hash: SessionHash,
    ) -> impl Future<Output = Result<Option<Session>, SessionStoreError>> + Send;

    /// Marks the session seen at `at` (its idle expiry starts again).
    fn touch(
        &self,
        hash: SessionHash,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), SessionStoreError>> + Send;

    fn remove(
        &self,
        hash: SessionHash,
    ) -> impl Future<Output = Result<(), SessionStoreError>> + Send;

    /// Forgets sessions last seen before `before` or created before
    /// `created_before`: expired ones, whatever their holder does.
    fn remove_expired(
        &self,
        last_seen_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), SessionStoreError>> + Send;
}

#[derive(Debug, thiserror::Error)]
#[error("the session store is unavailable")]
pub struct SessionStoreError(#[source] pub anyhow::Error);

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// Unguessable values: session keys and CSRF tokens.
pub trait Secrets: Send + Sync + 'static {
    /// 256 random bits, URL-safe text.
    fn new_secret(&self) -> String;
}

/// The platform: every admin API the console reads.
pub trait Platform: OrganizationDirectory + ScimConnection + SeatLedger + AccessCatalogue {}
impl<P: OrganizationDirectory + ScimConnection + SeatLedger + AccessCatalogue> Platform for P {}

/// The adapters one console runs with.
pub trait Ports: 'static {
    type Platform: Platform;
    type Sessions: SessionStore;
    type Clock: Clock;
    type Secrets: Secrets;
}
