//! `scim-bench`: drives a running SCIM gateway over HTTP the way identity
//! providers do and reports throughput and latency percentiles. Every response
//! is checked; a wrong answer counts as an error, not as a fast request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use futures_util::StreamExt;
use rand::RngExt;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Load tool for the SCIM gateway")]
struct Cli {
    /// SCIM base URL.
    #[arg(
        long,
        env = "SCIM_BENCH_URL",
        default_value = "http://127.0.0.1:8080/scim/v2"
    )]
    base_url: String,
    /// Bearer token of the organization to use.
    #[arg(long, env = "SCIM_BENCH_TOKEN")]
    token: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates users bench-user-<i>@example.com (idempotent: existing ones are skipped).
    Seed {
        #[arg(long)]
        users: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// `GET /Users?filter=<attribute> eq "…"` for random seeded users.
    Lookup {
        #[arg(long, value_enum, default_value_t = LookupBy::UserName)]
        by: LookupBy,
        /// How many users were seeded (lookups pick among them).
        #[arg(long)]
        users: usize,
        #[arg(long, default_value_t = 5000)]
        samples: usize,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// Builds a group of `members` seeded users, then times PATCHes that add
    /// one more member each (users after the first `members`).
    GroupAdd {
        #[arg(long)]
        members: usize,
        #[arg(long, default_value_t = 500)]
        samples: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LookupBy {
    UserName,
    ExternalId,
}

struct Client {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", &self.auth);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        };
        Ok((status, value))
    }
}

fn user_name(i: usize) -> String {
    format!("bench-user-{i}@example.com")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Report {
    name: String,
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Report {
    fn print(mut self) {
        self.latencies.sort();
        let n = self.latencies.len();
        let pct = |p: f64| -> f64 {
            if n == 0 {
                return 0.0;
            }
            let idx = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            self.latencies[idx].as_secs_f64() * 1000.0
        };
        println!(
            "{}: ok={} errors={} rate={:.0}/s p50={:.2}ms p99={:.2}ms max={:.2}ms",
            self.name,
            n,
            self.errors,
            n as f64 / self.elapsed.as_secs_f64().max(1e-9),
            pct(0.50),
            pct(0.99),
            pct(1.0),
        );
    }
}

/// Runs `total` requests, `concurrency` at a time; `op(i)` returns whether the answer was right.
async fn run<F, Fut>(name: &str, total: usize, concurrency: usize, op: F) -> Report
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let latencies: Vec<Option<Duration>> = futures_util::stream::iter(0..total)
        .map(|i| {
            let errors = errors.clone();
            let fut = op(i);
            async move {
                let t = Instant::now();
                let ok = fut.await;
                let elapsed = t.elapsed();
                if ok {
                    Some(elapsed)
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    None
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    Report {
        name: name.to_owned(),
        latencies: latencies.into_iter().flatten().collect(),
        errors: errors.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let client = Arc::new(Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?,
        base: cli.base_url.trim_end_matches('/').to_owned(),
        auth: format!("Bearer {}", cli.token),
    });
    match cli.command {
        Command::Seed { users, concurrency } => {
            let report = run("seed", users, concurrency, |i| {
                let client = client.clone();
                async move {
                    let body = json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": user_name(i),
                        "externalId": format!("bench-ext-{i}"),
                        "name": {"givenName": "Bench", "familyName": format!("User {i}")},
                        "emails": [{"value": user_name(i), "type": "work", "primary": true}],
                        "active": true
                    });
                    matches!(
                        client
                            .send(reqwest::Method::POST, "/Users", Some(&body))
                            .await,
                        Ok((201 | 409, _))
                    )
                }
            })
            .await;
            report.print();
        }
        Command::Lookup {
            by,
            users,
            samples,
            concurrency,
        } => {
            let picks: Vec<usize> = (0..samples)
                .map(|_| rand::rng().random_range(0..users))
                .collect();
            let picks = Arc::new(picks);
            let name = match by {
                LookupBy::UserName => "filter userName eq",
                LookupBy::ExternalId => "filter externalId eq",
            };
            let report = run(name, samples, concurrency, |k| {
                let client = client.clone();
                let i = picks[k];
                async move {
                    let filter = match by {
                        LookupBy::UserName => format!("userName eq \"{}\"", user_name(i)),
                        LookupBy::ExternalId => format!("externalId eq \"bench-ext-{i}\""),
                    };
                    let path = format!("/Users?filter={}", encode(&filter));
                    matches!(client.send(reqwest::Method::GET, &path, None).await,
                        Ok((200, body)) if body["totalResults"] == 1)
                }
            })
            .await;
            report.print();
        }
        Command::GroupAdd { members, samples } => {
            let ids = user_ids(&client, members + samples).await?;
            let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": format!("bench-group-{}", rand::rng().random::<u32>())});
            let (status, created) = client
                .send(reqwest::Method::POST, "/Groups", Some(&group))
                .await?;
            if status != 201 {
                bail!("creating the group: {status} {created}");
            }
            let group_path = format!("/Groups/{}", created["id"].as_str().context("group id")?);
            let fill = Instant::now();
            for chunk in ids[..members].chunks(1000) {
                let value: Vec<Value> = chunk.iter().map(|id| json!({"value": id})).collect();
                let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Add", "path": "members", "value": value}]});
                let (status, body) = client
                    .send(reqwest::Method::PATCH, &group_path, Some(&patch))
                    .await?;
                if status != 204 {
                    bail!("filling the group: {status} {body}");
                }
            }
            println!(
                "filled a group with {members} members in {:.1}s",
                fill.elapsed().as_secs_f64()
            );
            let extra = Arc::new(ids[members..].to_vec());
            let report = run(&format!("add 1 member to a {members}-member group"), samples, 1, |k| {
                let client = client.clone();
                let id = extra[k].clone();
                let path = group_path.clone();
                async move {
                    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "Add", "path": "members", "value": [{"value": id}]}]});
                    matches!(client.send(reqwest::Method::PATCH, &path, Some(&patch)).await, Ok((204, _)))
                }
            })
            .await;
            report.print();
        }
    }
    Ok(())
}

/// Ids of the first `n` seeded users, looked up by userName.
async fn user_ids(client: &Arc<Client>, n: usize) -> anyhow::Result<Vec<String>> {
    let found: Vec<anyhow::Result<String>> = futures_util::stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            async move {
                let path = format!(
                    "/Users?attributes=id&filter={}",
                    encode(&format!("userName eq \"{}\"", user_name(i)))
                );
                let (status, body) = client.send(reqwest::Method::GET, &path, None).await?;
                match body["Resources"][0]["id"].as_str() {
                    Some(id) if status == 200 => Ok(id.to_owned()),
                    _ => bail!("user {i} is not seeded (run `seed` with enough users)"),
                }
            }
        })
        .buffered(16)
        .collect()
        .await;
    found.into_iter().collect()
}
