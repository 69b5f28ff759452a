//! The console's use cases over the platform's ports: what each page reads
//! and what each form does.

use chrono::Duration;

use super::health::ServiceHealth;
use super::models::{
    Access, Account, AccountDetail, AccountFilter, AccountId, Connection, ConnectionCheck,
    IssuedToken, Member, NewOrganization, OrgId, Organization, Page, SeatsOverview, Team, TeamId,
    TokenId,
};
use super::ports::{
    AccessCatalogue, AccountDirectory, Clock, OrganizationDirectory, PlatformError, PlatformHealth,
    Ports, ScimConnection, SeatLedger, TeamDirectory,
};

/// Organizations on one page of the list.
pub const ORGANIZATIONS_PER_PAGE: u64 = 25;
/// Accounts, teams and members on one page of their lists.
pub const ROWS_PER_PAGE: u64 = 50;
/// The statuses the accounts page filters by (identity's).
pub const ACCOUNT_STATUSES: [&str; 3] = ["active", "anonymized", "deleted"];
/// Who identity records as having made a change from the console (an
/// operator signs in with the admin key, which names no one).
pub const CONSOLE_ACTOR: &str = "console";

/// The longest organization name the form takes (the gateway's bound).
pub const MAX_NAME_CHARS: usize = 200;
/// The days of seat usage the seats page draws.
pub const USAGE_DAYS: i64 = 30;
/// The most seats the form takes.
pub const MAX_SEATS: u32 = 1_000_000;

/// The overlaps a rotation offers: the old token keeps working this long.
pub const ROTATION_OVERLAPS: [(i64, &str); 3] =
    [(3600, "1 hour"), (86_400, "1 day"), (7 * 86_400, "7 days")];

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The operator's input, in words of what to change.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The organization exists but its seats could not be set.
    #[error("the organization was created, but its seats could not be set: {0}")]
    SeatsNotSet(#[source] PlatformError),
}

/// The form's values, as typed.
#[derive(Debug, Clone, Default)]
pub struct OrganizationForm {
    pub name: String,
    pub seats: String,
    pub default_role: String,
}

pub struct Console<A: Ports> {
    platform: A::Platform,
    clock: A::Clock,
}

impl<A: Ports> Console<A> {
    pub fn new(platform: A::Platform, clock: A::Clock) -> Self {
        Self { platform, clock }
    }

    pub(super) fn platform(&self) -> &A::Platform {
        &self.platform
    }

    pub async fn organizations(
        &self,
        after: Option<OrgId>,
    ) -> Result<Page<Organization, OrgId>, ConsoleError> {
        Ok(self
            .platform
            .organizations(after, ORGANIZATIONS_PER_PAGE)
            .await?)
    }

    pub async fn roles(&self) -> Result<Vec<String>, ConsoleError> {
        Ok(self.platform.roles().await?)
    }

    /// Checks the form, creates the organization in the gateway, then gives
    /// it its seats in licensing.
    pub async fn create_organization(
        &self,
        form: &OrganizationForm,
    ) -> Result<Organization, ConsoleError> {
        let new = self.checked(form).await?;
        let organization = self.platform.create_organization(&new).await?;
        self.platform
            .set_seats(organization.id, new.seats)
            .await
            .map_err(ConsoleError::SeatsNotSet)?;
        Ok(organization)
    }

    async fn checked(&self, form: &OrganizationForm) -> Result<NewOrganization, ConsoleError> {
        let name = form.name.trim();
        if name.is_empty() {
            return Err(ConsoleError::Invalid("Enter a name.".to_owned()));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(ConsoleError::Invalid(format!(
                "The name is longer than {MAX_NAME_CHARS} characters."
            )));
        }
        let seats = form
            .seats
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|s| *s <= MAX_SEATS)
            .ok_or_else(|| {
                ConsoleError::Invalid(format!(
                    "Seats must be a whole number from 0 to {MAX_SEATS}."
                ))
            })?;
        let roles = self.platform.roles().await?;
        if !roles.contains(&form.default_role) {
            return Err(ConsoleError::Invalid(format!(
                "Choose the default role among: {}.",
                roles.join(", ")
            )));
        }
        Ok(NewOrganization {
            name: name.to_owned(),
            seats,
            default_role: form.default_role.clone(),
        })
    }

    /// The SCIM connection page's content. Seats are shown when licensing
    /// answers; the page says so when it does not.
    pub async fn connection(&self, org: OrgId) -> Result<Connection, ConsoleError> {
        let organization = self.platform.organization(org).await?;
        let tokens = self.platform.tokens(org).await?;
        let roles = self.platform.roles().await?;
        let seats = match self.platform.seats(org).await {
            Ok(seats) => Some(seats),
            Err(e) => {
                tracing::warn!(error = %e, "seats unavailable for the connection page");
                None
            }
        };
        Ok(Connection {
            organization,
            tokens,
            seats,
            roles,
        })
    }

    pub async fn issue_token(&self, org: OrgId) -> Result<IssuedToken, ConsoleError> {
        Ok(self.platform.issue_token(org).await?)
    }

    /// Rotates with one of [`ROTATION_OVERLAPS`].
    pub async fn rotate_token(
        &self,
        org: OrgId,
        token: TokenId,
        overlap_seconds: i64,
    ) -> Result<IssuedToken, ConsoleError> {
        if !ROTATION_OVERLAPS.iter().any(|(s, _)| *s == overlap_seconds) {
            return Err(ConsoleError::Invalid(
                "Choose how long the old token keeps working.".to_owned(),
            ));
        }
        Ok(self
            .platform
            .rotate_token(org, token, Duration::seconds(overlap_seconds))
            .await?)
    }

    pub async fn revoke_token(&self, org: OrgId, token: TokenId) -> Result<(), ConsoleError> {
        Ok(self.platform.revoke_token(org, token).await?)
    }

    pub async fn set_default_role(
        &self,
        org: OrgId,
        role: &str,
    ) -> Result<Organization, ConsoleError> {
        Ok(self.platform.set_default_role(org, role).await?)
    }

    pub async fn test_connection(&self, org: OrgId) -> Result<Vec<ConnectionCheck>, ConsoleError> {
        Ok(self.platform.test_connection(org).await?)
    }

    /// The organization and a page of the accounts `filter` lets through.
    pub async fn accounts(
        &self,
        org: OrgId,
        filter: &AccountFilter,
        after: Option<AccountId>,
    ) -> Result<(Organization, Page<Account, AccountId>), ConsoleError> {
        if let Some(status) = &filter.status
            && !ACCOUNT_STATUSES.contains(&status.as_str())
        {
            return Err(ConsoleError::Invalid(format!(
                "Choose the status among: {}.",
                ACCOUNT_STATUSES.join(", ")
            )));
        }
        let organization = self.platform.organization(org).await?;
        let page = self
            .platform
            .accounts(org, filter, after, ROWS_PER_PAGE)
            .await?;
        Ok((organization, page))
    }

    /// One account's page: the account, its access history, the catalogue
    /// its role and permissions are chosen from.
    pub async fn account(
        &self,
        org: OrgId,
        account: AccountId,
    ) -> Result<AccountDetail, ConsoleError> {
        let organization = self.platform.organization(org).await?;
        let account = self.platform.account(org, account).await?;
        let changes = self.platform.access_changes(org, account.id).await?;
        let catalogue = self.platform.catalogue().await?;
        Ok(AccountDetail {
            organization,
            account,
            changes,
            catalogue,
        })
    }

    /// Gives the account `role` and `permissions`, both from the catalogue.
    pub async fn change_access(
        &self,
        org: OrgId,
        account: AccountId,
        role: &str,
        permissions: Vec<String>,
    ) -> Result<Account, ConsoleError> {
        let catalogue = self.platform.catalogue().await?;
        if !catalogue.roles.iter().any(|r| r == role) {
            return Err(ConsoleError::Invalid(format!(
                "Choose the role among: {}.",
                catalogue.roles.join(", ")
            )));
        }
        if let Some(unknown) = permissions
            .iter()
            .find(|p| !catalogue.permissions.contains(p))
        {
            return Err(ConsoleError::Invalid(format!(
                "There is no permission {unknown:?}; choose among: {}.",
                catalogue.permissions.join(", ")
            )));
        }
        let access = Access {
            role: role.to_owned(),
            permissions,
        };
        Ok(self
            .platform
            .change_access(org, account, &access, CONSOLE_ACTOR)
            .await?)
    }

    pub async fn teams(
        &self,
        org: OrgId,
        after: Option<&str>,
    ) -> Result<(Organization, Page<Team, String>), ConsoleError> {
        let organization = self.platform.organization(org).await?;
        let page = self.platform.teams(org, after, ROWS_PER_PAGE).await?;
        Ok((organization, page))
    }

    /// A team and a page of its members.
    pub async fn team(
        &self,
        org: OrgId,
        team: TeamId,
        after: Option<&str>,
    ) -> Result<(Organization, Team, Page<Member, String>), ConsoleError> {
        let organization = self.platform.organization(org).await?;
        let found = self.platform.team(org, team).await?;
        let members = self
            .platform
            .members(org, team, after, ROWS_PER_PAGE)
            .await?;
        Ok((organization, found, members))
    }

    /// The organization, its seats against the quota and their usage over
    /// the last [`USAGE_DAYS`] days (the page still shows the counts when
    /// licensing cannot give the history).
    pub async fn seats(&self, org: OrgId) -> Result<(Organization, SeatsOverview), ConsoleError> {
        let now = self.clock.now();
        let organization = self.platform.organization(org).await?;
        let usage = self.platform.seats(org).await?;
        let since = now - Duration::days(USAGE_DAYS);
        let history = match self.platform.usage_history(org, since, now).await {
            Ok(points) => Some(points),
            Err(e) => {
                tracing::warn!(error = %e, "seat usage history unavailable for the seats page");
                None
            }
        };
        let overview = SeatsOverview {
            usage,
            since,
            until: now,
            history,
        };
        Ok((organization, overview))
    }

    /// Every service's readiness, queues and journal lag.
    pub async fn health(&self) -> Vec<ServiceHealth> {
        self.platform.health().await
    }
}
