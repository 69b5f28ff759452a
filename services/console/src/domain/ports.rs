//! What the console needs from the platform (the four services' admin APIs)
//! and for its own sessions, as small traits. `Ports` names the adapters one
//! console runs with, so the use cases and handlers take one parameter.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::health::ServiceHealth;
use super::journal::{
    Consumer, DeadLetter, EventId, JournalEvent, JournalFilter, ReplayOutcome, RequeueReport,
};
use super::models::{
    Access, AccessChange, Account, AccountFilter, AccountId, Catalogue, ConnectionCheck,
    IssuedToken, Member, NewOrganization, OrgId, Organization, Page, SeatUsage, Session,
    SessionHash, Team, TeamId, Token, TokenId, UsagePoint,
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

    /// `org`'s seat usage from `since` to `until`, an hour a point, oldest
    /// first.
    fn usage_history(
        &self,
        org: OrgId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<UsagePoint>, PlatformError>> + Send;
}

/// Whether the services are ready, from their `/readyz`.
pub trait PlatformHealth: Send + Sync + 'static {
    /// One report per process asked, in the order gateway, identity, team,
    /// licensing; a process that does not answer is a report saying so,
    /// never an error.
    fn health(&self) -> impl Future<Output = Vec<ServiceHealth>> + Send;
}

/// The roles an organization's default role is chosen from, and the
/// permissions an account can be given, from identity.
pub trait AccessCatalogue: Send + Sync + 'static {
    fn roles(&self) -> impl Future<Output = Result<Vec<String>, PlatformError>> + Send;

    fn catalogue(&self) -> impl Future<Output = Result<Catalogue, PlatformError>> + Send;
}

/// An organization's accounts, from identity.
pub trait AccountDirectory: Send + Sync + 'static {
    /// A page of the accounts `filter` lets through, in creation order.
    fn accounts(
        &self,
        org: OrgId,
        filter: &AccountFilter,
        after: Option<AccountId>,
        limit: u64,
    ) -> impl Future<Output = Result<Page<Account, AccountId>, PlatformError>> + Send;

    fn account(
        &self,
        org: OrgId,
        account: AccountId,
    ) -> impl Future<Output = Result<Account, PlatformError>> + Send;

    /// Sets the account's role and permissions, recorded as made by
    /// `changed_by`.
    fn change_access(
        &self,
        org: OrgId,
        account: AccountId,
        access: &Access,
        changed_by: &str,
    ) -> impl Future<Output = Result<Account, PlatformError>> + Send;

    /// The account's role and permission changes, oldest first.
    fn access_changes(
        &self,
        org: OrgId,
        account: AccountId,
    ) -> impl Future<Output = Result<Vec<AccessChange>, PlatformError>> + Send;
}

/// An organization's teams and their members, from team.
pub trait TeamDirectory: Send + Sync + 'static {
    fn teams(
        &self,
        org: OrgId,
        after: Option<&str>,
        limit: u64,
    ) -> impl Future<Output = Result<Page<Team, String>, PlatformError>> + Send;

    fn team(
        &self,
        org: OrgId,
        team: TeamId,
    ) -> impl Future<Output = Result<Team, PlatformError>> + Send;

    fn members(
        &self,
        org: OrgId,
        team: TeamId,
        after: Option<&str>,
        limit: u64,
    ) -> impl Future<Output = Result<Page<Member, String>, PlatformError>> + Send;
}

/// The gateway's journal of provisioning events.
pub trait EventJournal: Send + Sync + 'static {
    /// A page of the organization's events `filter` lets through, in
    /// journal order, after `after_seq`.
    fn events(
        &self,
        org: OrgId,
        filter: &JournalFilter,
        after_seq: Option<i64>,
        limit: u64,
    ) -> impl Future<Output = Result<Page<JournalEvent, i64>, PlatformError>> + Send;

    /// One event, whichever organization's: the caller checks.
    fn event(
        &self,
        id: EventId,
    ) -> impl Future<Output = Result<JournalEvent, PlatformError>> + Send;
}

/// Journal events handed to one consuming service again, through its own
/// consumer and inbox (nothing applied twice).
pub trait Replay: Send + Sync + 'static {
    /// What `service` did with each of `events` (at most 1,000), or with
    /// `dry_run` what it would do and whether it applied them before.
    fn replay(
        &self,
        service: Consumer,
        events: &[JournalEvent],
        dry_run: bool,
    ) -> impl Future<Output = Result<Vec<ReplayOutcome>, PlatformError>> + Send;
}

/// The events a consuming service gave up on, and their requeue.
pub trait DeadLetters: Send + Sync + 'static {
    fn dead_letters(
        &self,
        service: Consumer,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, PlatformError>> + Send;

    /// Applies `event`'s letter, or all of the service's letters, again.
    fn requeue(
        &self,
        service: Consumer,
        event: Option<EventId>,
    ) -> impl Future<Output = Result<RequeueReport, PlatformError>> + Send;
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
pub trait Platform:
    OrganizationDirectory
    + ScimConnection
    + SeatLedger
    + AccessCatalogue
    + AccountDirectory
    + TeamDirectory
    + EventJournal
    + Replay
    + DeadLetters
    + PlatformHealth
{
}
impl<
    P: OrganizationDirectory
        + ScimConnection
        + SeatLedger
        + AccessCatalogue
        + AccountDirectory
        + TeamDirectory
        + EventJournal
        + Replay
        + DeadLetters
        + PlatformHealth,
> Platform for P
{
}

/// The adapters one console runs with.
pub trait Ports: 'static {
    type Platform: Platform;
    type Sessions: SessionStore;
    type Clock: Clock;
    type Secrets: Secrets;
}
