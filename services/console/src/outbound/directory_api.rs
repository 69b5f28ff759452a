//! Identity's accounts and team's teams over their admin APIs, on the same
//! client as [`AdminApis`]. Personal values arrive in the answers for the
//! pages; no log line here carries them (a failure names the URL, whose
//! parts are ids only).

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::admin_api::{AdminApis, IDENTITY};
use crate::domain::models::{
    Access, AccessChange, Account, AccountFilter, AccountId, Member, OrgId, Page, Team, TeamId,
};
use crate::domain::ports::{AccountDirectory, PlatformError, TeamDirectory};

const TEAM: &str = "team";

#[derive(Deserialize)]
struct ProfileJson {
    user_name: String,
    email: Option<String>,
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct AccountJson {
    id: Uuid,
    scim_user_id: String,
    status: String,
    label: String,
    role: String,
    permissions: Vec<String>,
    profile: Option<ProfileJson>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<AccountJson> for Account {
    fn from(a: AccountJson) -> Self {
        let (user_name, email, display_name) = match a.profile {
            Some(p) => (Some(p.user_name), p.email, p.display_name),
            None => (None, None, None),
        };
        Account {
            id: AccountId(a.id),
            scim_user_id: a.scim_user_id,
            status: a.status,
            label: a.label,
            access: Access {
                role: a.role,
                permissions: a.permissions,
            },
            user_name,
            email,
            display_name,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Deserialize)]
struct AccountPage {
    items: Vec<AccountJson>,
    next_after: Option<Uuid>,
}

#[derive(Deserialize)]
struct AccessJson {
    role: String,
    permissions: Vec<String>,
}

impl From<AccessJson> for Access {
    fn from(a: AccessJson) -> Self {
        Access {
            role: a.role,
            permissions: a.permissions,
        }
    }
}

#[derive(Deserialize)]
struct ChangeJson {
    changed_by: String,
    changed_at: DateTime<Utc>,
    before: AccessJson,
    after: AccessJson,
}

#[derive(Deserialize)]
struct Changes {
    items: Vec<ChangeJson>,
}

#[derive(Deserialize)]
struct TeamJson {
    id: Uuid,
    name: String,
    group_id: String,
    created_at: DateTime<Utc>,
    member_count: Option<u64>,
}

impl From<TeamJson> for Team {
    fn from(t: TeamJson) -> Self {
        Team {
            id: TeamId(t.id),
            name: t.name,
            group_id: t.group_id,
            created_at: t.created_at,
            member_count: t.member_count,
        }
    }
}

#[derive(Deserialize)]
struct TeamPage {
    items: Vec<TeamJson>,
    next_after: Option<String>,
}

#[derive(Deserialize)]
struct MemberJson {
    scim_user_id: String,
    account_id: Option<Uuid>,
    account_status: Option<String>,
}

#[derive(Deserialize)]
struct MemberPage {
    items: Vec<MemberJson>,
    next_after: Option<String>,
}

/// `&after=…` for a paging key, encoded (a team key is the service's text).
fn after_param(after: Option<&str>) -> String {
    after
        .map(|a| format!("&after={}", urlencoding(a)))
        .unwrap_or_default()
}

fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl AdminApis {
    fn accounts_url(&self, org: OrgId) -> String {
        format!(
            "{}/admin/v1/organizations/{}/accounts",
            self.urls.identity, org.0
        )
    }

    fn teams_url(&self, org: OrgId) -> String {
        format!("{}/admin/v1/organizations/{}/teams", self.urls.team, org.0)
    }
}

impl AccountDirectory for AdminApis {
    async fn accounts(
        &self,
        org: OrgId,
        filter: &AccountFilter,
        after: Option<AccountId>,
        limit: u64,
    ) -> Result<Page<Account, AccountId>, PlatformError> {
        let mut url = format!("{}?limit={limit}", self.accounts_url(org));
        for (name, value) in [
            ("q", &filter.search),
            ("status", &filter.status),
            ("scim_user_id", &filter.scim_user_id),
        ] {
            if let Some(value) = value {
                url.push_str(&format!("&{name}={}", urlencoding(value)));
            }
        }
        if let Some(after) = after {
            url.push_str(&format!("&after={}", after.0));
        }
        let page: AccountPage = self.call(IDENTITY, Method::GET, url, None).await?;
        Ok(Page {
            items: page.items.into_iter().map(Into::into).collect(),
            next_after: page.next_after.map(AccountId),
        })
    }

    async fn account(&self, org: OrgId, account: AccountId) -> Result<Account, PlatformError> {
        let url = format!("{}/{}", self.accounts_url(org), account.0);
        let a: AccountJson = self.call(IDENTITY, Method::GET, url, None).await?;
        Ok(a.into())
    }

    async fn change_access(
        &self,
        org: OrgId,
        account: AccountId,
        access: &Access,
        changed_by: &str,
    ) -> Result<Account, PlatformError> {
        let url = format!("{}/{}", self.accounts_url(org), account.0);
        let body = json!({
            "role": access.role,
            "permissions": access.permissions,
            "changed_by": changed_by,
        });
        let a: AccountJson = self.call(IDENTITY, Method::PATCH, url, Some(body)).await?;
        Ok(a.into())
    }

    async fn access_changes(
        &self,
        org: OrgId,
        account: AccountId,
    ) -> Result<Vec<AccessChange>, PlatformError> {
        let url = format!("{}/{}/access-changes", self.accounts_url(org), account.0);
        let changes: Changes = self.call(IDENTITY, Method::GET, url, None).await?;
        Ok(changes
            .items
            .into_iter()
            .map(|c| AccessChange {
                changed_by: c.changed_by,
                changed_at: c.changed_at,
                before: c.before.into(),
                after: c.after.into(),
            })
            .collect())
    }
}

impl TeamDirectory for AdminApis {
    async fn teams(
        &self,
        org: OrgId,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Page<Team, String>, PlatformError> {
        let url = format!(
            "{}?limit={limit}{}",
            self.teams_url(org),
            after_param(after)
        );
        let page: TeamPage = self.call(TEAM, Method::GET, url, None).await?;
        Ok(Page {
            items: page.items.into_iter().map(Into::into).collect(),
            next_after: page.next_after,
        })
    }

    async fn team(&self, org: OrgId, team: TeamId) -> Result<Team, PlatformError> {
        let url = format!("{}/{}", self.teams_url(org), team.0);
        let t: TeamJson = self.call(TEAM, Method::GET, url, None).await?;
        Ok(t.into())
    }

    async fn members(
        &self,
        org: OrgId,
        team: TeamId,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Page<Member, String>, PlatformError> {
        let url = format!(
            "{}/{}/members?limit={limit}{}",
            self.teams_url(org),
            team.0,
            after_param(after)
        );
        let page: MemberPage = self.call(TEAM, Method::GET, url, None).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|m| Member {
                    scim_user_id: m.scim_user_id,
                    account_id: m.account_id.map(AccountId),
                    account_status: m.account_status,
                })
                .collect(),
            next_after: page.next_after,
        })
    }
}
