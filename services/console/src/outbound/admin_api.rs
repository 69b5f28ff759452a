//! The platform's admin APIs over HTTP, with the admin key: the gateway's
//! organizations, connections and tokens, licensing's seats, identity's
//! access catalogue. One base URL per service (in the embedded process all
//! are the process's own loopback address). A refusal (400, 409) keeps the
//! service's words for the operator; anything else unexpected is
//! `Unavailable`, logged here without the key or any personal value.

use std::time::Duration;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::models::{
    Catalogue, ConnectionCheck, IssuedToken, NewOrganization, OrgId, Organization, Page, SeatUsage,
    Token, TokenId, TokenValue, UsagePoint,
};
use crate::domain::ports::{
    AccessCatalogue, OrganizationDirectory, PlatformError, ScimConnection, SeatLedger,
};

/// Where each service's admin API answers.
#[derive(Debug, Clone)]
pub struct ServiceUrls {
    pub gateway: String,
    pub identity: String,
    pub team: String,
    pub licensing: String,
}

pub struct AdminApis {
    pub(super) http: reqwest::Client,
    key: String,
    pub(super) urls: ServiceUrls,
}

impl AdminApis {
    pub fn new(urls: ServiceUrls, admin_key: String, timeout: Duration) -> anyhow::Result<Self> {
        let trim = |u: String| u.trim_end_matches('/').to_owned();
        Ok(Self {
            http: reqwest::Client::builder().timeout(timeout).build()?,
            key: admin_key,
            urls: ServiceUrls {
                gateway: trim(urls.gateway),
                identity: trim(urls.identity),
                team: trim(urls.team),
                licensing: trim(urls.licensing),
            },
        })
    }

    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        service: &'static str,
        method: Method,
        url: String,
        body: Option<Value>,
    ) -> Result<T, PlatformError> {
        let unavailable = |source: anyhow::Error| PlatformError::Unavailable { service, source };
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(anyhow!("{method} {url}: no answer: {e}")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unavailable(anyhow!("{method} {url}: {e}")))?;
        if status.is_success() {
            let bytes = if bytes.is_empty() {
                &b"null"[..]
            } else {
                &bytes[..]
            };
            return serde_json::from_slice(bytes)
                .map_err(|e| unavailable(anyhow!("{method} {url}: unexpected answer: {e}")));
        }
        let detail = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Err(match status {
            StatusCode::NOT_FOUND => PlatformError::NotFound,
            StatusCode::BAD_REQUEST | StatusCode::CONFLICT => PlatformError::Refused(detail),
            _ => unavailable(anyhow!("{method} {url}: {status}: {detail}")),
        })
    }

    fn org_url(&self, org: OrgId) -> String {
        format!("{}/admin/v1/organizations/{}", self.urls.gateway, org.0)
    }
}

#[derive(Deserialize)]
struct OrganizationJson {
    org_id: Uuid,
    name: String,
    workspace_id: Uuid,
    workspace: Option<String>,
    default_role: String,
    scim_included: bool,
    created_at: DateTime<Utc>,
}

impl From<OrganizationJson> for Organization {
    fn from(o: OrganizationJson) -> Self {
        Organization {
            id: OrgId(o.org_id),
            name: o.name,
            workspace_id: o.workspace_id,
            workspace: o.workspace,
            default_role: o.default_role,
            scim_included: o.scim_included,
            created_at: o.created_at,
        }
    }
}

#[derive(Deserialize)]
struct OrganizationPage {
    items: Vec<OrganizationJson>,
    next_after: Option<Uuid>,
}

#[derive(Deserialize)]
struct TokenJson {
    id: Uuid,
    prefix: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<TokenJson> for Token {
    fn from(t: TokenJson) -> Self {
        Token {
            id: TokenId(t.id),
            prefix: t.prefix,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        }
    }
}

#[derive(Deserialize)]
struct Tokens {
    items: Vec<TokenJson>,
}

#[derive(Deserialize)]
struct Previous {
    expires_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct IssuedJson {
    #[serde(flatten)]
    info: TokenJson,
    token: String,
    previous: Option<Previous>,
}

impl From<IssuedJson> for IssuedToken {
    fn from(issued: IssuedJson) -> Self {
        IssuedToken {
            token: issued.info.into(),
            value: TokenValue::new(issued.token),
            previous_ends: issued.previous.map(|p| p.expires_at),
        }
    }
}

#[derive(Deserialize)]
struct CheckJson {
    check: String,
    ok: bool,
    detail: String,
}

#[derive(Deserialize)]
struct TestJson {
    checks: Vec<CheckJson>,
}

#[derive(Deserialize)]
struct SeatsJson {
    confirmed: u64,
    reserved: u64,
    quota: u32,
}

#[derive(Deserialize)]
struct UsageJson {
    seats: SeatsJson,
}

impl From<UsageJson> for SeatUsage {
    fn from(u: UsageJson) -> Self {
        SeatUsage {
            quota: u.seats.quota,
            confirmed: u.seats.confirmed,
            reserved: u.seats.reserved,
        }
    }
}

#[derive(Deserialize)]
struct PointJson {
    hour: DateTime<Utc>,
    last: u32,
    peak: u32,
    quota: u32,
}

#[derive(Deserialize)]
struct HistoryJson {
    points: Vec<PointJson>,
}

#[derive(Deserialize)]
struct CatalogueJson {
    roles: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

pub(super) const GATEWAY: &str = "the gateway";
const LICENSING: &str = "licensing";
pub(super) const IDENTITY: &str = "identity";

impl OrganizationDirectory for AdminApis {
    async fn organizations(
        &self,
        after: Option<OrgId>,
        limit: u64,
    ) -> Result<Page<Organization, OrgId>, PlatformError> {
        let mut url = format!("{}/admin/v1/organizations?limit={limit}", self.urls.gateway);
        if let Some(after) = after {
            url.push_str(&format!("&after={}", after.0));
        }
        let page: OrganizationPage = self.call(GATEWAY, Method::GET, url, None).await?;
        Ok(Page {
            items: page.items.into_iter().map(Into::into).collect(),
            next_after: page.next_after.map(OrgId),
        })
    }

    async fn organization(&self, org: OrgId) -> Result<Organization, PlatformError> {
        let o: OrganizationJson = self
            .call(GATEWAY, Method::GET, self.org_url(org), None)
            .await?;
        Ok(o.into())
    }

    async fn create_organization(
        &self,
        new: &NewOrganization,
    ) -> Result<Organization, PlatformError> {
        let url = format!("{}/admin/v1/organizations", self.urls.gateway);
        let body = json!({"name": new.name, "default_role": new.default_role});
        let o: OrganizationJson = self.call(GATEWAY, Method::POST, url, Some(body)).await?;
        Ok(o.into())
    }

    async fn set_default_role(
        &self,
        org: OrgId,
        role: &str,
    ) -> Result<Organization, PlatformError> {
        let url = format!("{}/connection", self.org_url(org));
        let body = json!({"default_role": role});
        let o: OrganizationJson = self.call(GATEWAY, Method::PUT, url, Some(body)).await?;
        Ok(o.into())
    }
}

impl ScimConnection for AdminApis {
    async fn tokens(&self, org: OrgId) -> Result<Vec<Token>, PlatformError> {
        let url = format!("{}/tokens", self.org_url(org));
        let tokens: Tokens = self.call(GATEWAY, Method::GET, url, None).await?;
        Ok(tokens.items.into_iter().map(Into::into).collect())
    }

    async fn issue_token(&self, org: OrgId) -> Result<IssuedToken, PlatformError> {
        let url = format!("{}/tokens", self.org_url(org));
        let issued: IssuedJson = self.call(GATEWAY, Method::POST, url, None).await?;
        Ok(issued.into())
    }

    async fn rotate_token(
        &self,
        org: OrgId,
        token: TokenId,
        overlap: chrono::Duration,
    ) -> Result<IssuedToken, PlatformError> {
        let url = format!("{}/tokens/{}/rotate", self.org_url(org), token.0);
        let body = json!({"overlap_seconds": overlap.num_seconds()});
        let issued: IssuedJson = self.call(GATEWAY, Method::POST, url, Some(body)).await?;
        Ok(issued.into())
    }

    async fn revoke_token(&self, org: OrgId, token: TokenId) -> Result<(), PlatformError> {
        let url = format!("{}/tokens/{}", self.org_url(org), token.0);
        let _: Value = self.call(GATEWAY, Method::DELETE, url, None).await?;
        Ok(())
    }

    async fn test_connection(&self, org: OrgId) -> Result<Vec<ConnectionCheck>, PlatformError> {
        let url = format!("{}/connection/test", self.org_url(org));
        let test: TestJson = self.call(GATEWAY, Method::POST, url, None).await?;
        Ok(test
            .checks
            .into_iter()
            .map(|c| ConnectionCheck {
                check: c.check,
                ok: c.ok,
                detail: c.detail,
            })
            .collect())
    }
}

impl SeatLedger for AdminApis {
    async fn set_seats(&self, org: OrgId, seats: u32) -> Result<SeatUsage, PlatformError> {
        let url = format!(
            "{}/admin/v1/organizations/{}/subscription",
            self.urls.licensing, org.0
        );
        let body = json!({"seat_quota": seats});
        let usage: UsageJson = self.call(LICENSING, Method::PUT, url, Some(body)).await?;
        Ok(usage.into())
    }

    async fn seats(&self, org: OrgId) -> Result<SeatUsage, PlatformError> {
        let url = format!(
            "{}/admin/v1/organizations/{}/subscription",
            self.urls.licensing, org.0
        );
        let usage: UsageJson = self.call(LICENSING, Method::GET, url, None).await?;
        Ok(usage.into())
    }

    async fn usage_history(
        &self,
        org: OrgId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<UsagePoint>, PlatformError> {
        let instant = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let url = format!(
            "{}/admin/v1/organizations/{}/subscription/usage?since={}&until={}",
            self.urls.licensing,
            org.0,
            instant(since),
            instant(until)
        );
        let history: HistoryJson = self.call(LICENSING, Method::GET, url, None).await?;
        Ok(history
            .points
            .into_iter()
            .map(|p| UsagePoint {
                hour: p.hour,
                last: p.last,
                peak: p.peak,
                quota: p.quota,
            })
            .collect())
    }
}

impl AccessCatalogue for AdminApis {
    async fn roles(&self) -> Result<Vec<String>, PlatformError> {
        Ok(self.catalogue().await?.roles)
    }

    async fn catalogue(&self) -> Result<Catalogue, PlatformError> {
        let url = format!("{}/admin/v1/access-catalogue", self.urls.identity);
        let catalogue: CatalogueJson = self.call(IDENTITY, Method::GET, url, None).await?;
        Ok(Catalogue {
            roles: catalogue.roles,
            permissions: catalogue.permissions,
        })
    }
}
