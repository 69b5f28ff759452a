//! HTTP clients of the load tool: the SCIM API of one organization, and the
//! admin APIs used to set a run up (organizations, seats) and to read back
//! where events were applied.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::Method;
use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// One HTTP connection pool for the whole run: every organization's client
/// shares it, as an IdP's connector would.
pub fn http_pool(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency.max(16) * 2)
        // Below the servers' keep-alive (actix-web: 5 s): a connection the
        // server is closing is never picked for the next request.
        .pool_idle_timeout(Duration::from_secs(4))
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// The SCIM API as one organization's token sees it.
#[derive(Clone)]
pub struct Scim {
    http: reqwest::Client,
    /// The gateways' base URLs, taken in turn (`next`).
    bases: Arc<[String]>,
    next: Arc<AtomicUsize>,
    auth: String,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// The `Retry-After` header as sent (429, 503).
    pub retry_after: Option<String>,
}

impl Answer {
    /// `Ok` when the status is `expected`, else what came back, short.
    pub fn expect(self, expected: u16) -> Result<Value, String> {
        if self.status == expected {
            Ok(self.body)
        } else {
            Err(format!("{} {}", self.status, scim_detail(&self.body)))
        }
    }
}

fn scim_detail(body: &Value) -> String {
    let detail = body["detail"].as_str().unwrap_or_default();
    // Numbers in details ("3 of 3 seats") would make every error distinct.
    detail
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .take(80)
        .collect()
}

impl Scim {
    pub fn new(http: reqwest::Client, base_urls: &[String], token: &str) -> Self {
        Self {
            http,
            bases: base_urls
                .iter()
                .map(|b| b.trim_end_matches('/').to_owned())
                .collect(),
            next: Arc::new(AtomicUsize::new(0)),
            auth: format!("Bearer {token}"),
        }
    }

    /// The next gateway's base URL.
    fn base(&self) -> &str {
        match self.bases.len() {
            1 => &self.bases[0],
            n => &self.bases[self.next.fetch_add(1, Ordering::Relaxed) % n],
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base()))
            .header("Authorization", &self.auth);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let bytes = response.bytes().await.map_err(transport)?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| format!("{status} unreadable body: {e}"))?
        };
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }

    pub async fn get(&self, path: &str) -> Result<Answer, String> {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Answer, String> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Answer, String> {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// The id of the user called `user_name`, if there is one.
    pub async fn find_user(&self, user_name: &str) -> Result<Option<String>, String> {
        let filter = format!("userName eq \"{user_name}\"");
        let body = self
            .get(&format!("/Users?attributes=id&filter={}", encode(&filter)))
            .await?
            .expect(200)?;
        Ok(body["Resources"][0]["id"].as_str().map(str::to_owned))
    }
}

fn transport(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".to_owned()
    } else if e.is_connect() {
        "connection refused".to_owned()
    } else {
        format!("transport: {e}")
    }
}

/// A user document as IdPs send it.
pub fn user_document(user_name: &str, external_id: &str, family_name: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "externalId": external_id,
        "name": {"givenName": "Bench", "familyName": family_name},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true
    })
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The admin APIs (`Authorization: Bearer <admin key>`): the gateway's and
/// the services'. In the embedded process they are all one address.
pub struct Admin {
    http: reqwest::Client,
    key: String,
    pub gateway: String,
    pub licensing: String,
    pub identity: String,
}

pub struct Organization {
    pub id: String,
    pub token: String,
}

impl Admin {
    pub fn new(
        http: reqwest::Client,
        key: String,
        gateway: String,
        licensing: String,
        identity: String,
    ) -> Self {
        Self {
            http,
            key,
            gateway,
            licensing,
            identity,
        }
    }

    async fn send(&self, method: Method, url: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), url)
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{method} {url}: {status} {text}");
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {url}: unreadable answer"))
    }

    /// A new organization with `seats` seats and a SCIM token, as
    /// `scimctl org create` makes one, without per-organization request
    /// limits: the throughput scenarios measure the gateway, not its limiter
    /// (`fairness` measures that, with [`Self::create_limited_organization`]).
    pub async fn create_organization(
        &self,
        name: &str,
        seats: u64,
    ) -> anyhow::Result<Organization> {
        let org = self.create_limited_organization(name, seats).await?;
        let limits = format!("{}/admin/v1/organizations/{}/limits", self.gateway, org.id);
        let unlimited = json!({"max_in_flight": 0, "rate_per_second": 0});
        match self.send(Method::PUT, &limits, Some(unlimited)).await {
            Ok(_) => Ok(org),
            // A gateway from before per-organization limits (A/B runs).
            Err(e) if e.to_string().contains(" 404 ") => Ok(org),
            Err(e) => Err(e),
        }
    }

    /// [`Self::create_organization`] under the gateway's default limits.
    pub async fn create_limited_organization(
        &self,
        name: &str,
        seats: u64,
    ) -> anyhow::Result<Organization> {
        let orgs = format!("{}/admin/v1/organizations", self.gateway);
        let org = self
            .send(Method::POST, &orgs, Some(json!({"name": name})))
            .await?;
        let id = org["org_id"]
            .as_str()
            .ok_or_else(|| anyhow!("the gateway returned no org_id"))?
            .to_owned();
        self.send(
            Method::PUT,
            &format!(
                "{}/admin/v1/organizations/{id}/subscription",
                self.licensing
            ),
            Some(json!({"seat_quota": seats})),
        )
        .await?;
        let token = self
            .send(Method::POST, &format!("{orgs}/{id}/tokens"), None)
            .await?;
        let token = token["token"]
            .as_str()
            .ok_or_else(|| anyhow!("the gateway issued no token"))?
            .to_owned();
        Ok(Organization { id, token })
    }

    /// The gateway's `/admin/v1/limits`: every organization's limits and 429
    /// counts.
    pub async fn limits(&self) -> anyhow::Result<Value> {
        self.send(
            Method::GET,
            &format!("{}/admin/v1/limits", self.gateway),
            None,
        )
        .await
    }

    /// Seats licensing counts in `org`: (used, confirmed); used counts
    /// reservations not yet confirmed by the user's event.
    pub async fn seats(&self, org: &str) -> anyhow::Result<(u64, u64)> {
        let subscription = self
            .send(
                Method::GET,
                &format!(
                    "{}/admin/v1/organizations/{org}/subscription",
                    self.licensing
                ),
                None,
            )
            .await?;
        let seats = &subscription["seats"];
        match (seats["used"].as_u64(), seats["confirmed"].as_u64()) {
            (Some(used), Some(confirmed)) => Ok((used, confirmed)),
            _ => bail!("licensing reported no seat counts: {subscription}"),
        }
    }

    /// One page of the journal of `org` with events of `event_type`.
    pub async fn journal_page(
        &self,
        org: &str,
        event_type: &str,
        after_seq: Option<i64>,
    ) -> anyhow::Result<(Vec<Value>, Option<i64>)> {
        let mut url = format!(
            "{}/admin/v1/events?org={org}&type={event_type}&limit=1000",
            self.gateway
        );
        if let Some(after) = after_seq {
            url.push_str(&format!("&after_seq={after}"));
        }
        let page = self.send(Method::GET, &url, None).await?;
        let events = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| item["event"].clone())
            .collect();
        Ok((events, page["next_after_seq"].as_i64()))
    }

    /// For each event, when identity applied it (its inbox's instant), from
    /// a dry-run replay: it reads the inbox and changes nothing.
    pub async fn identity_applied_at(
        &self,
        events: &[Value],
    ) -> anyhow::Result<Vec<Option<String>>> {
        let answer = self
            .send(
                Method::POST,
                &format!("{}/admin/v1/services/identity/replay", self.identity),
                Some(json!({"events": events, "dry_run": true})),
            )
            .await?;
        Ok(answer["outcomes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|outcome| {
                (outcome["outcome"] == "already_applied")
                    .then(|| outcome["detail"].as_str().map(str::to_owned))
                    .flatten()
            })
            .collect())
    }
}
