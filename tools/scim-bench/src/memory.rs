//! The `memory` scenario: what large list pages cost the server's memory and
//! whether it gets that memory back. A new organization gets `users`
//! users of about `user_chars` characters each (the largest the gateway's
//! limits let an IdP send); then `rounds` times, `concurrency` clients at
//! once read the largest page (`count=1000`) of them. The server's resident
//! memory (`/proc/<pid>/status`, VmRSS) is read before, sampled during, and
//! read at 1, 5 and 10 s after the last answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::client::{Scim, USER_SCHEMA};
use crate::report::Report;

pub struct MemoryRun {
    pub users: usize,
    pub user_chars: usize,
    pub max_string: usize,
    pub concurrency: usize,
    pub rounds: usize,
}

/// What the server's resident memory did, in KiB.
pub struct MemoryFigures {
    pub before_kib: u64,
    pub peak_kib: u64,
    pub after_kib: [u64; 3],
    pub page_items: u64,
    pub page_total: u64,
}

impl MemoryFigures {
    pub fn line(&self) -> String {
        let mib = |kib: u64| kib as f64 / 1024.0;
        format!(
            "memory: before={:.1}MiB peak={:.1}MiB (+{:.1}) after 1s={:.1}MiB 5s={:.1}MiB 10s={:.1}MiB; a page held {} of {} users",
            mib(self.before_kib),
            mib(self.peak_kib),
            mib(self.peak_kib.saturating_sub(self.before_kib)),
            mib(self.after_kib[0]),
            mib(self.after_kib[1]),
            mib(self.after_kib[2]),
            self.page_items,
            self.page_total,
        )
    }

    pub fn json(&self) -> Value {
        let mib = |kib: u64| (kib as f64 / 1024.0 * 10.0).round() / 10.0;
        json!({
            "scenario": "memory",
            "before_mib": mib(self.before_kib),
            "peak_mib": mib(self.peak_kib),
            "growth_mib": mib(self.peak_kib.saturating_sub(self.before_kib)),
            "after_1s_mib": mib(self.after_kib[0]),
            "after_5s_mib": mib(self.after_kib[1]),
            "after_10s_mib": mib(self.after_kib[2]),
            "page_items": self.page_items,
            "page_total": self.page_total,
        })
    }
}

/// A user of about `chars` characters: its strings at most `max_string`
/// each (`displayName`, `nickName`, `title`, then addresses' `formatted`).
fn large_user(run: &str, i: usize, chars: usize, max_string: usize) -> Value {
    let piece = |n: usize| "m".repeat(n);
    let mut lengths = Vec::new();
    let mut left = chars;
    while left > 0 && lengths.len() < 103 {
        let n = left.min(max_string.max(1));
        lengths.push(n);
        left -= n;
    }
    lengths.resize(lengths.len().max(3), 0);
    let (display, nick, title) = (lengths[0], lengths[1], lengths[2]);
    let addresses: Vec<Value> = lengths[3..]
        .iter()
        .map(|n| json!({ "type": "work", "formatted": piece(*n) }))
        .collect();
    json!({
        "schemas": [USER_SCHEMA],
        "userName": format!("memory-{run}-{i}@example.com"),
        "displayName": piece(display),
        "nickName": piece(nick),
        "title": piece(title),
        "addresses": addresses,
    })
}

fn resident_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading the memory of process {pid}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

pub async fn memory(
    scim: Scim,
    run: &str,
    pid: u32,
    plan: MemoryRun,
) -> anyhow::Result<(Report, MemoryFigures)> {
    for i in 0..plan.users {
        let user = large_user(run, i, plan.user_chars, plan.max_string);
        scim.post("/Users", &user)
            .await
            .and_then(|answer| answer.expect(201))
            .map_err(|e| anyhow::anyhow!("creating a large user: {e}"))?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_kib = resident_kib(pid)?;
    let peak = Arc::new(AtomicU64::new(before_kib));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Ok(kib) = resident_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let filter = crate::client::encode(&format!("userName sw \"memory-{run}-\""));
    let path = format!("/Users?filter={filter}&count=1000");
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let (mut page_items, mut page_total) = (0, 0);
    for _ in 0..plan.rounds {
        let pages = (0..plan.concurrency).map(|_| {
            let (scim, path) = (scim.clone(), path.clone());
            async move {
                let sent = Instant::now();
                let answer = scim.get(&path).await.and_then(|a| a.expect(200));
                (sent.elapsed(), answer)
            }
        });
        for (took, answer) in futures_util::future::join_all(pages).await {
            match answer {
                Ok(page) => {
                    latencies.push(took);
                    page_items = page["itemsPerPage"].as_u64().unwrap_or(0);
                    page_total = page["totalResults"].as_u64().unwrap_or(0);
                }
                Err(e) => *errors.entry(e).or_default() += 1,
            }
        }
    }
    let elapsed = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    sampler.await.ok();
    let mut after_kib = [0; 3];
    let mut waited = Duration::ZERO;
    for (slot, at) in after_kib.iter_mut().zip([1, 5, 10]) {
        let at = Duration::from_secs(at);
        tokio::time::sleep(at - waited).await;
        waited = at;
        *slot = resident_kib(pid)?;
    }
    if page_total != plan.users as u64 && errors.is_empty() {
        bail!(
            "the filter found {page_total} users, {} were created",
            plan.users
        );
    }
    let report = Report::new("memory-pages", latencies, errors, elapsed);
    let figures = MemoryFigures {
        before_kib,
        peak_kib: peak.load(Ordering::Relaxed),
        after_kib,
        page_items,
        page_total,
    };
    Ok((report, figures))
}
