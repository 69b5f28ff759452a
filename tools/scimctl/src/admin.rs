//! The admin APIs' client: the admin key and authenticated requests whose
//! failures read as one line.

use anyhow::{Context, anyhow, bail};
use serde_json::Value;

/// A client of the admin APIs, with the admin key.
pub struct Admin {
    http: reqwest::Client,
    key: String,
}

impl Admin {
    /// The key from `--admin-key` or `SCIM_ADMIN_KEY` (`flag`), else
    /// `./data/admin-key`.
    pub fn new(flag: Option<String>) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::new(),
            key: admin_key(flag)?,
        })
    }

    /// GET `url` decoded straight into `T` (no intermediate JSON tree: the
    /// rebuild reads the journal this way).
    pub async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> anyhow::Result<T> {
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.key)
            .send()
            .await
            .with_context(|| format!("GET {url}: no answer"))?;
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let detail = value["detail"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            bail!("GET {url}: {status}: {detail}");
        }
        serde_json::from_slice(&bytes).with_context(|| format!("GET {url}: unexpected answer"))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
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
            .with_context(|| format!("{method} {url}: no answer"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let detail = value["detail"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            bail!("{method} {url}: {status}: {detail}");
        }
        Ok(value)
    }
}

fn admin_key(flag: Option<String>) -> anyhow::Result<String> {
    if let Some(key) = flag.filter(|k| !k.is_empty()) {
        return Ok(key);
    }
    std::fs::read_to_string("data/admin-key")
        .map(|k| k.trim().to_owned())
        .ok()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| anyhow!("no admin key: pass --admin-key, set SCIM_ADMIN_KEY, or run from the embedded process's folder (./data/admin-key)"))
}
