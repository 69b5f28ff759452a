//! `scimctl org limits`: an organization's request limits (the gateway's
//! `/admin/v1/organizations/{org}/limits`), and the limits and 429 counts of
//! every organization that `scimctl status` shows (`/admin/v1/limits`).

use clap::Args;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::admin::Admin;

#[derive(Args)]
pub struct LimitsArgs {
    /// The organization's id.
    pub org: String,
    /// Requests of the organization answered at once (0: no limit).
    #[arg(long)]
    pub max_in_flight: Option<u32>,
    /// Requests a second, on average (0: no limit).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Requests admitted at once after a quiet time.
    #[arg(long)]
    pub burst: Option<u32>,
    /// Back to the gateway's defaults (with no other flag).
    #[arg(long, conflicts_with_all = ["max_in_flight", "rate", "burst"])]
    pub reset: bool,
}

/// Shows the organization's limits, or changes the ones given.
pub async fn run(admin: &Admin, gateway: &str, args: LimitsArgs) -> anyhow::Result<Value> {
    let url = format!("{gateway}/admin/v1/organizations/{}/limits", args.org);
    if args.reset {
        return admin.send(Method::DELETE, &url, None).await;
    }
    let mut change = Map::new();
    if let Some(n) = args.max_in_flight {
        change.insert("max_in_flight".into(), json!(n));
    }
    if let Some(r) = args.rate {
        change.insert("rate_per_second".into(), json!(r));
    }
    if let Some(b) = args.burst {
        change.insert("burst".into(), json!(b));
    }
    if change.is_empty() {
        admin.send(Method::GET, &url, None).await
    } else {
        admin
            .send(Method::PUT, &url, Some(Value::Object(change)))
            .await
    }
}

/// Every organization's limits and 429 counts as the gateway process sees
/// them, or what kept `status` from reading them.
pub async fn of_all(admin: Option<&Admin>, gateway: &str) -> Value {
    let Some(admin) = admin else {
        return json!({"error": "no admin key: pass --admin-key or set SCIM_ADMIN_KEY to see them"});
    };
    match admin
        .send(Method::GET, &format!("{gateway}/admin/v1/limits"), None)
        .await
    {
        Ok(limits) => limits,
        Err(e) => json!({"error": e.to_string()}),
    }
}
