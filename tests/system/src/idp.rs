//! An identity provider's SCIM client as IdPs behave: a write that got no
//! answer (its connection died, the platform said 502/503/504 or 429) is
//! sent again until it is answered; a create sent again first looks the
//! resource up, since a lost attempt may have committed. How many of each it retried is counted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Writes retried, by why.
#[derive(Default, Debug)]
pub struct Retries {
    /// The connection died before an answer (the gateway killed, say).
    pub connection: AtomicUsize,
    /// 502, 503 or 504 (a seat request unanswered while licensing restarts).
    pub unavailable: AtomicUsize,
    /// 429: the organization's request limits.
    pub throttled: AtomicUsize,
    /// Creates whose lost attempt had committed (found by the look-up).
    pub found_committed: AtomicUsize,
}

impl Retries {
    pub fn report(&self) -> String {
        format!(
            "writes retried: {} after a dead connection, {} after 502/503/504, {} after 429; \
             {} retried creates found committed",
            self.connection.load(Ordering::SeqCst),
            self.unavailable.load(Ordering::SeqCst),
            self.throttled.load(Ordering::SeqCst),
            self.found_committed.load(Ordering::SeqCst),
        )
    }
}

/// Why an attempt got no answer.
enum Unanswered {
    Connection,
    Unavailable,
    Throttled,
}

/// How long one write may go unanswered before the test fails: far beyond
/// a restart of any service.
const WRITE_DEADLINE: Duration = Duration::from_secs(180);

#[derive(Clone)]
pub struct Idp {
    pub http: reqwest::Client,
    /// `<gateway>/scim/v2`.
    pub scim: String,
    pub token: String,
    pub retries: Arc<Retries>,
}

impl Idp {
    async fn attempt(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Unanswered> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.scim))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(60));
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|_| Unanswered::Connection)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|_| Unanswered::Connection)?;
        match status {
            429 => Err(Unanswered::Throttled),
            502..=504 => Err(Unanswered::Unavailable),
            _ => Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null))),
        }
    }

    fn count(&self, why: &Unanswered) {
        let counter = match why {
            Unanswered::Connection => &self.retries.connection,
            Unanswered::Unavailable => &self.retries.unavailable,
            Unanswered::Throttled => &self.retries.throttled,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }

    /// A read, sent until answered (not counted).
    pub async fn get(&self, path: &str) -> Value {
        let deadline = Instant::now() + WRITE_DEADLINE;
        loop {
            if let Ok((status, body)) = self.attempt("GET", path, None).await {
                assert_eq!(status, 200, "GET {path}: {body}");
                return body;
            }
            assert!(Instant::now() < deadline, "GET {path} unanswered");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// An idempotent write (PATCH, DELETE), sent until answered; the
    /// answer's status and body, and whether it was sent more than once.
    pub async fn write(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value, bool) {
        let deadline = Instant::now() + WRITE_DEADLINE;
        let mut retried = false;
        loop {
            match self.attempt(method, path, body.as_ref()).await {
                Ok((status, answer)) => return (status, answer, retried),
                Err(why) => self.count(&why),
            }
            retried = true;
            assert!(
                Instant::now() < deadline,
                "{method} {path} unanswered for {WRITE_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// POSTs `body` to `/{resource}` until created; before sending it
    /// again, looks for it with `filter` (a SCIM filter, URL-encoded). The
    /// new resource's id.
    pub async fn create(&self, resource: &str, body: Value, filter: &str) -> String {
        let deadline = Instant::now() + WRITE_DEADLINE;
        let mut maybe_committed = false;
        loop {
            if maybe_committed {
                let found = self
                    .get(&format!("/{resource}?filter={filter}&count=2"))
                    .await;
                if let Some(id) = found["Resources"][0]["id"].as_str() {
                    self.retries.found_committed.fetch_add(1, Ordering::SeqCst);
                    return id.to_owned();
                }
            }
            match self
                .attempt("POST", &format!("/{resource}"), Some(&body))
                .await
            {
                Ok((201, answer)) => return answer["id"].as_str().unwrap().to_owned(),
                // A lost attempt committed: the look-up finds it.
                Ok((409, _)) if maybe_committed => {}
                Ok((status, answer)) => panic!("POST /{resource}: {status} {answer}"),
                Err(why) => {
                    // Only a dead connection leaves the outcome unknown,
                    // but a look-up costs nothing.
                    maybe_committed = true;
                    self.count(&why);
                }
            }
            assert!(
                Instant::now() < deadline,
                "POST /{resource} unanswered for {WRITE_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
