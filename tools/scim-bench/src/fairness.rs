//! `fairness` (issue 22): organization A creates users as fast as
//! `a_connections` connections allow while organization B sends 20 requests
//! a second (GET /Users/{id}, a create every 4th request: one every 200 ms
//! at 20/s). Both organizations run under the gateway's default limits. B
//! is measured alone first, then beside A. B must see no error; A may see
//! only 201, or 429 with an integer `Retry-After` — never a 5xx or a timeout.
//! A honours `Retry-After` as Okta and Entra do, unless told not to.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::RngExt;

use crate::client::{Scim, user_document};
use crate::load;
use crate::report::Report;

pub struct Fairness {
    pub a: Scim,
    pub b: Scim,
    pub run: String,
    pub duration: Duration,
    pub a_connections: usize,
    pub b_rate: f64,
    /// B's users the GETs pick from, created before the run.
    pub b_users: usize,
    pub honour_retry_after: bool,
}

/// B's reports (alone, beside A), A's creates and A's answers by status.
pub struct Outcome {
    pub b_alone: Report,
    pub b_beside_a: Report,
    pub a_created: Report,
    pub a_statuses: BTreeMap<String, usize>,
}

impl Outcome {
    /// A's answers, one line: status → count.
    pub fn a_line(&self) -> String {
        let counts: Vec<String> = self
            .a_statuses
            .iter()
            .map(|(status, count)| format!("{status}: {count}"))
            .collect();
        format!("organization A's answers: {}", counts.join(", "))
    }

    /// Whether A saw anything but 201 and 429 with an integer Retry-After.
    pub fn a_misbehaved(&self) -> bool {
        self.a_statuses
            .keys()
            .any(|s| s != "201" && s != "429 (integer Retry-After)")
    }
}

impl Fairness {
    pub async fn run(self) -> anyhow::Result<Outcome> {
        let ids = Arc::new(self.seed_b().await?);
        let b_alone = self.b_load(ids.clone(), "B alone").await;
        let statuses: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let (b_beside_a, a_created) = tokio::join!(
            self.b_load(ids, "B beside A"),
            self.a_load(statuses.clone())
        );
        let a_statuses =
            std::mem::take(&mut *statuses.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(Outcome {
            b_alone,
            b_beside_a,
            a_created,
            a_statuses,
        })
    }

    async fn seed_b(&self) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::with_capacity(self.b_users);
        for i in 0..self.b_users {
            let name = format!("bench-fair-b-{}-{i}@example.com", self.run);
            let user = self
                .b
                .post("/Users", &user_document(&name, &name, "B"))
                .await
                .and_then(|a| a.expect(201))
                .map_err(|e| anyhow::anyhow!("seeding organization B: {e}"))?;
            let id = user["id"].as_str().unwrap_or_default().to_owned();
            ids.push(id);
        }
        Ok(ids)
    }

    /// B: GETs of its users, every 4th request a create.
    async fn b_load(&self, ids: Arc<Vec<String>>, phase: &str) -> Report {
        let (scim, run, phase_tag) = (self.b.clone(), self.run.clone(), phase.replace(' ', "-"));
        let name = format!(
            "fairness: organization {phase} ({:.0} requests/s, a create every 4th)",
            self.b_rate
        );
        load::paced(&name, self.b_rate, self.duration, 64, move |i| {
            let scim = scim.clone();
            let id = ids[rand::rng().random_range(0..ids.len())].clone();
            let user_name = format!("bench-fair-b-{run}-{phase_tag}-{i}@example.com");
            async move {
                if i % 4 == 3 {
                    let body = user_document(&user_name, &user_name, "B");
                    scim.post("/Users", &body).await?.expect(201).map(drop)
                } else {
                    let user = scim.get(&format!("/Users/{id}")).await?.expect(200)?;
                    if user["id"] == id.as_str() {
                        Ok(())
                    } else {
                        Err("another user came back".to_owned())
                    }
                }
            }
        })
        .await
    }

    /// A: `a_connections` workers creating users back to back; a 429 makes
    /// a worker wait its Retry-After (unless told not to). The report holds
    /// the 201s' latencies; every answer is counted in `statuses`.
    async fn a_load(&self, statuses: Arc<Mutex<BTreeMap<String, usize>>>) -> Report {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let deadline = started + self.duration;
        let workers: Vec<_> = (0..self.a_connections.max(1))
            .map(|_| {
                let (scim, next, statuses) = (self.a.clone(), next.clone(), statuses.clone());
                let (run, honour) = (self.run.clone(), self.honour_retry_after);
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
                    while Instant::now() < deadline {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let name = format!("bench-fair-a-{run}-{i}@example.com");
                        let sent = Instant::now();
                        let answer = scim.post("/Users", &user_document(&name, &name, "A")).await;
                        let latency = sent.elapsed();
                        let (status, wait) = match &answer {
                            Ok(a) if a.status == 201 => ("201".to_owned(), None),
                            Ok(a) if a.status == 429 => {
                                match a.retry_after.as_deref().map(str::parse::<u64>) {
                                    Some(Ok(secs)) if secs >= 1 => (
                                        "429 (integer Retry-After)".to_owned(),
                                        Some(Duration::from_secs(secs)),
                                    ),
                                    _ => ("429 without an integer Retry-After".to_owned(), None),
                                }
                            }
                            Ok(a) => (a.status.to_string(), None),
                            Err(e) => (e.clone(), None),
                        };
                        if status == "201" {
                            latencies.push(latency);
                        } else if !status.starts_with("429 (") {
                            *errors.entry(status.clone()).or_default() += 1;
                        }
                        *statuses
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .entry(status)
                            .or_default() += 1;
                        if let (Some(wait), true) = (wait, honour) {
                            let left = deadline.saturating_duration_since(Instant::now());
                            tokio::time::sleep(wait.min(left)).await;
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        let (mut latencies, mut errors) = (Vec::new(), BTreeMap::new());
        for worker in workers {
            match worker.await {
                Ok((l, e)) => {
                    latencies.extend(l);
                    for (error, count) in e {
                        *errors.entry(error).or_default() += count;
                    }
                }
                Err(e) => *errors.entry(format!("worker failed: {e}")).or_default() += 1,
            }
        }
        let name = format!(
            "fairness: organization A's creates ({} connections{})",
            self.a_connections,
            if self.honour_retry_after {
                ", honouring Retry-After"
            } else {
                ", ignoring Retry-After"
            }
        );
        Report::new(&name, latencies, errors, started.elapsed())
    }
}
