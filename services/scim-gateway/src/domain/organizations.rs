//! Organizations and their SCIM connection, as the admin API manages them:
//! create one, choose its synchronized workspace and default role, issue,
//! list and revoke its bearer tokens. A token's value is shown once, when it
//! is issued; only its SHA-256 hash and a short prefix are kept.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::credentials::authenticated_tenant;
use super::models::{BearerToken, OrgId, Organization, TokenInfo};
use super::ports::{Clock, CredentialStore, OrganizationStore, StoreError, TokenSource, UserStore};

pub const DEFAULT_ROLE: &str = provisioning_events::access::DEFAULT_ROLE;
const MAX_NAME_CHARS: usize = 200;
/// Characters of a token kept in clear to tell tokens apart (`scim_` + 7).
pub const TOKEN_PREFIX_CHARS: usize = 12;

#[derive(Debug, Clone, Default)]
pub struct NewOrganization {
    pub name: String,
    pub workspace_name: Option<String>,
    pub default_role: Option<String>,
}

/// A change of the SCIM connection; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ConnectionChange {
    pub workspace_id: Option<Uuid>,
    pub workspace_name: Option<String>,
    pub default_role: Option<String>,
}

/// The longest a rotated token may keep working beside its successor.
pub const MAX_ROTATION_OVERLAP: chrono::Duration = chrono::Duration::days(30);
/// How long it keeps working when the admin does not say: a day, long enough
/// to switch an IdP over to the new token.
pub const DEFAULT_ROTATION_OVERLAP: chrono::Duration = chrono::Duration::days(1);

/// Organizations listed when the admin does not say how many.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// The most organizations one page lists.
pub const MAX_PAGE_SIZE: u64 = 500;

/// One page of organizations; `next_after` continues the list when more follow.
#[derive(Debug)]
pub struct OrganizationPage {
    pub organizations: Vec<Organization>,
    pub next_after: Option<OrgId>,
}

/// A token just issued: the only time its value exists outside the client.
#[derive(Debug)]
pub struct IssuedToken {
    pub info: TokenInfo,
    pub token: BearerToken,
}

/// One finding of a connection test, in words an admin can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionCheck {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
}

fn check(check: &'static str, ok: bool, detail: impl Into<String>) -> ConnectionCheck {
    ConnectionCheck {
        check,
        ok,
        detail: detail.into(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OrganizationError {
    #[error("organization not found")]
    NotFound,
    #[error("token not found")]
    TokenNotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(
        "an organization's synchronized workspace is fixed when the organization is created; this one's is {0}"
    )]
    WorkspaceFixed(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn text(value: Option<String>, what: &str) -> Result<Option<String>, OrganizationError> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if v.is_empty() => Err(OrganizationError::Invalid(format!("{what} is empty"))),
        Some(v) if v.chars().count() > MAX_NAME_CHARS => Err(OrganizationError::Invalid(format!(
            "{what} is longer than {MAX_NAME_CHARS} characters"
        ))),
        other => Ok(other),
    }
}

pub struct Organizations<S, C, T> {
    store: S,
    clock: C,
    tokens: T,
    /// The access catalogue's roles: a default role must be one of them.
    roles: Vec<String>,
}

impl<S, C, T> Organizations<S, C, T>
where
    S: OrganizationStore + CredentialStore + UserStore,
    C: Clock,
    T: TokenSource,
{
    pub fn new(store: S, clock: C, tokens: T) -> Self {
        Self {
            store,
            clock,
            tokens,
            roles: provisioning_events::access::role_list(
                provisioning_events::access::DEFAULT_ROLES,
            ),
        }
    }

    /// Checks default roles against these roles (`access.roles`) instead of
    /// the default catalogue.
    pub fn with_roles(mut self, roles: Vec<String>) -> Self {
        self.roles = roles;
        self
    }

    /// A default role as given, when it is a role of the catalogue. The
    /// detail names the valid roles, not the one given.
    fn role(&self, role: Option<String>) -> Result<Option<String>, OrganizationError> {
        match text(role, "default_role")? {
            Some(role) if !self.roles.contains(&role) => Err(OrganizationError::Invalid(format!(
                "default_role must be a role of the access catalogue: {}",
                self.roles.join(", ")
            ))),
            other => Ok(other),
        }
    }

    /// The role of new accounts when the organization names none:
    /// [`DEFAULT_ROLE`], or the catalogue's first role when it has no such role.
    fn fallback_role(&self) -> String {
        if self.roles.iter().any(|r| r == DEFAULT_ROLE) {
            DEFAULT_ROLE.to_owned()
        } else {
            self.roles
                .first()
                .cloned()
                .unwrap_or_else(|| DEFAULT_ROLE.to_owned())
        }
    }

    pub async fn create(&self, new: NewOrganization) -> Result<Organization, OrganizationError> {
        let organization = self.new_organization(new)?;
        self.store.create_organization(&organization).await?;
        Ok(organization)
    }

    fn new_organization(&self, new: NewOrganization) -> Result<Organization, OrganizationError> {
        Ok(Organization {
            id: OrgId(Uuid::now_v7()),
            name: text(Some(new.name), "name")?.unwrap_or_default(),
            workspace_id: Uuid::now_v7(),
            workspace_name: text(new.workspace_name, "workspace")?,
            default_role: match self.role(new.default_role)? {
                Some(role) => role,
                None => self.fallback_role(),
            },
            scim_included: true,
            created_at: self.clock.now(),
        })
    }

    /// A token's record as it is issued now; only its prefix is kept in clear.
    fn token_info(&self, token: &BearerToken) -> TokenInfo {
        TokenInfo {
            id: Uuid::now_v7(),
            prefix: token.expose().chars().take(TOKEN_PREFIX_CHARS).collect(),
            created_at: self.clock.now(),
            revoked_at: None,
            expires_at: None,
            last_used_at: None,
        }
    }

    /// Makes a token the operator configured work: the organization that
    /// holds it (whatever the token's state), or else a new organization
    /// named `name` holding it, created with it in one transaction.
    pub async fn ensure_with_token(
        &self,
        name: &str,
        token: &BearerToken,
    ) -> Result<OrgId, OrganizationError> {
        let hash = token.hash();
        if let Some(grant) = self.store.token_grant(&hash).await? {
            return Ok(grant.tenant.org);
        }
        let organization = self.new_organization(NewOrganization {
            name: name.to_owned(),
            ..NewOrganization::default()
        })?;
        let info = self.token_info(token);
        self.store
            .create_organization_with_token(&organization, &info, &hash)
            .await?;
        Ok(organization.id)
    }

    /// On a first start (no organization at all): an organization named
    /// `name` with a new token. `None` when organizations exist.
    pub async fn create_first(
        &self,
        name: &str,
    ) -> Result<Option<(Organization, IssuedToken)>, OrganizationError> {
        if self.store.has_organizations().await? {
            return Ok(None);
        }
        let organization = self.new_organization(NewOrganization {
            name: name.to_owned(),
            ..NewOrganization::default()
        })?;
        let token = self.tokens.new_token();
        let info = self.token_info(&token);
        self.store
            .create_organization_with_token(&organization, &info, &token.hash())
            .await?;
        Ok(Some((organization, IssuedToken { info, token })))
    }

    /// A page of organizations in creation order after `after`; `limit` 0
    /// means [`DEFAULT_PAGE_SIZE`], more than [`MAX_PAGE_SIZE`] is that many.
    pub async fn list(
        &self,
        after: Option<OrgId>,
        limit: u64,
    ) -> Result<OrganizationPage, OrganizationError> {
        let limit = match limit {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let mut organizations = self
            .store
            .organizations(after, limit.saturating_add(1))
            .await?;
        let more = organizations.len() as u64 > limit;
        organizations.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_after = more.then(|| organizations.last().map(|o| o.id)).flatten();
        Ok(OrganizationPage {
            organizations,
            next_after,
        })
    }

    pub async fn get(&self, org: OrgId) -> Result<Organization, OrganizationError> {
        self.store
            .organization(org)
            .await?
            .ok_or(OrganizationError::NotFound)
    }

    /// Changes the workspace's name and which role new accounts get.
    /// Accounts already provisioned keep theirs. The synchronized workspace
    /// itself never changes (one per organization, its own): a
    /// `workspace_id` other than the current one is refused.
    pub async fn configure(
        &self,
        org: OrgId,
        change: ConnectionChange,
    ) -> Result<Organization, OrganizationError> {
        let mut organization = self.get(org).await?;
        if change
            .workspace_id
            .is_some_and(|id| id != organization.workspace_id)
        {
            return Err(OrganizationError::WorkspaceFixed(organization.workspace_id));
        }
        if let Some(name) = text(change.workspace_name, "workspace")? {
            organization.workspace_name = Some(name);
        }
        if let Some(role) = self.role(change.default_role)? {
            organization.default_role = role;
        }
        if !self.store.update_connection(&organization).await? {
            return Err(OrganizationError::NotFound);
        }
        Ok(organization)
    }

    pub async fn issue_token(&self, org: OrgId) -> Result<IssuedToken, OrganizationError> {
        self.get(org).await?;
        let token = self.tokens.new_token();
        let info = self.token_info(&token);
        self.store.add_token(org, &info, &token.hash()).await?;
        Ok(IssuedToken { info, token })
    }

    pub async fn tokens(&self, org: OrgId) -> Result<Vec<TokenInfo>, OrganizationError> {
        self.get(org).await?;
        Ok(self.store.tokens(org).await?)
    }

    /// Issues a successor of `token`; the old value keeps working for
    /// `overlap` (so the IdP can be switched over), then is refused.
    pub async fn rotate_token(
        &self,
        org: OrgId,
        token: Uuid,
        overlap: Option<chrono::Duration>,
    ) -> Result<(IssuedToken, DateTime<Utc>), OrganizationError> {
        let overlap = overlap.unwrap_or(DEFAULT_ROTATION_OVERLAP);
        if overlap < chrono::Duration::zero() || overlap > MAX_ROTATION_OVERLAP {
            return Err(OrganizationError::Invalid(format!(
                "the overlap must be between 0 and {} seconds",
                MAX_ROTATION_OVERLAP.num_seconds()
            )));
        }
        let current = self
            .store
            .tokens(org)
            .await?
            .into_iter()
            .find(|t| t.id == token && t.revoked_at.is_none())
            .ok_or(OrganizationError::TokenNotFound)?;
        let ends = self.clock.now() + overlap;
        let ends = current.expires_at.map_or(ends, |e| e.min(ends));
        let issued = self.issue_token(org).await?;
        if !self.store.expire_token(org, current.id, ends).await? {
            return Err(OrganizationError::TokenNotFound);
        }
        Ok((issued, ends))
    }

    /// Checks the connection as an IdP's "test connection" would, and says
    /// what is wrong: SCIM included in the subscription, a usable token (the
    /// one given, when the admin pastes it), the workspace and default role,
    /// and the SCIM view answering a lookup for this organization.
    pub async fn test_connection(
        &self,
        org: OrgId,
        token: Option<BearerToken>,
    ) -> Result<Vec<ConnectionCheck>, OrganizationError> {
        let organization = self.get(org).await?;
        let now = self.clock.now();
        let mut checks = vec![if organization.scim_included {
            check("subscription", true, "SCIM provisioning is included")
        } else {
            check(
                "subscription",
                false,
                "SCIM provisioning is not included in this organization's subscription: every SCIM request is refused (403)",
            )
        }];
        let usable = self
            .store
            .tokens(org)
            .await?
            .into_iter()
            .filter(|t| t.usable_at(now))
            .count();
        checks.push(if usable > 0 {
            check("tokens", true, format!("{usable} usable token(s)"))
        } else {
            check(
                "tokens",
                false,
                "no usable token: issue one and give it to the identity provider",
            )
        });
        if let Some(token) = token {
            checks.push(
                match authenticated_tenant(&self.store, &token, now).await? {
                    Some(tenant) if tenant.org == org => check(
                        "token",
                        true,
                        "the token authenticates to this organization",
                    ),
                    Some(_) => check("token", false, "the token belongs to another organization"),
                    None => check("token", false, "the token is unknown, revoked or expired"),
                },
            );
        }
        checks.push(check(
            "workspace",
            true,
            format!(
                "users are provisioned into workspace {}{}",
                organization
                    .workspace_name
                    .as_deref()
                    .map(|n| format!("\"{n}\" "))
                    .unwrap_or_default(),
                organization.workspace_id
            ),
        ));
        // The catalogue may have changed since the role was chosen.
        checks.push(if self.roles.contains(&organization.default_role) {
            check(
                "default_role",
                true,
                format!(
                    "new accounts get the role \"{}\"",
                    organization.default_role
                ),
            )
        } else {
            check(
                "default_role",
                false,
                format!(
                    "new accounts get the role \"{}\", which is not in the access catalogue ({}): choose one of those",
                    organization.default_role,
                    self.roles.join(", ")
                ),
            )
        });
        // What an IdP's test does first: look a user up by userName.
        let probe = format!("connection-test-{}@example.invalid", Uuid::now_v7());
        checks.push(match self.store.user_name_taken(org, &probe).await {
            Ok(_) => check(
                "scim_view",
                true,
                "the SCIM endpoint answers a userName lookup",
            ),
            Err(e) => check(
                "scim_view",
                false,
                format!("the SCIM endpoint cannot answer: {e}"),
            ),
        });
        Ok(checks)
    }

    /// Takes effect with the next request: tokens are checked against the
    /// database on every request.
    pub async fn revoke_token(&self, org: OrgId, token: Uuid) -> Result<(), OrganizationError> {
        if self
            .store
            .revoke_token(org, token, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(OrganizationError::TokenNotFound)
        }
    }
}
