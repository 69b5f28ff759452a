//! `scimctl replay --service S [slice] [--dry-run]`: reads the slice of the
//! journal from the gateway, a page at a time, and hands each page to that
//! service's replay endpoint, which applies it through the service's own
//! consumer and inbox: events applied before are skipped and counted, and no
//! other service receives anything. Ctrl-C stops after the page in flight and
//! says where to resume.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::Admin;
use crate::events::{Service, Slice, Urls, page};

/// Problems and would-be deliveries listed in the summary, at most.
const LISTED: usize = 1000;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The one service to re-deliver to.
    #[arg(long, value_enum)]
    pub service: Service,
    #[command(flatten)]
    pub slice: Slice,
    /// Say what would be delivered (events the service has not applied),
    /// deliver nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Events per request to the service (at most 1000).
    #[arg(long, default_value_t = 500)]
    pub batch: u32,
}

/// Progress on a terminal (a spinner with counts), a line every few seconds
/// otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    last_line: Instant,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed} {pos} events  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            last_line: Instant::now(),
        }
    }

    fn update(&mut self, seen: u64, counts: &BTreeMap<String, u64>) {
        let summary = counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        match &self.bar {
            Some(bar) => {
                bar.set_position(seen);
                bar.set_message(summary);
            }
            None if self.last_line.elapsed() >= Duration::from_secs(2) => {
                self.last_line = Instant::now();
                eprintln!("replay: {seen} events ({summary})");
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub async fn run(admin: &Admin, urls: &Urls, args: ReplayArgs) -> anyhow::Result<Value> {
    if !(1..=1000).contains(&args.batch) {
        bail!("--batch must be between 1 and 1000");
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let service = args.service;
    let endpoint = format!(
        "{}/admin/v1/services/{}/replay",
        urls.of(service),
        service.name()
    );
    let mut progress = Progress::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut would_apply = Vec::new();
    let (mut seen, mut last_seq) = (0u64, None::<i64>);
    let started = Instant::now();
    loop {
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        let (items, next) = page(admin, urls, &args.slice, last_seq, args.batch).await?;
        if items.is_empty() {
            break;
        }
        let events: Vec<&Value> = items.iter().map(|item| &item["event"]).collect();
        let answer = admin
            .send(
                Method::POST,
                &endpoint,
                Some(json!({"events": events, "dry_run": args.dry_run})),
            )
            .await?;
        for outcome in answer["outcomes"].as_array().into_iter().flatten() {
            let kind = outcome["outcome"].as_str().unwrap_or("unknown").to_owned();
            if matches!(kind.as_str(), "failed" | "out_of_order") && problems.len() < LISTED {
                problems.push(outcome.clone());
            }
            *counts.entry(kind).or_default() += 1;
        }
        if args.dry_run {
            for (item, outcome) in items
                .iter()
                .zip(answer["outcomes"].as_array().into_iter().flatten())
            {
                if outcome["outcome"] == "would_apply" && would_apply.len() < LISTED {
                    let event = &item["event"];
                    would_apply.push(json!({
                        "seq": item["seq"],
                        "event_id": event["id"],
                        "type": event["type"],
                        "aggregate_id": event["aggregate"]["id"],
                        "version": event["aggregate"]["version"],
                    }));
                }
            }
        }
        seen += items.len() as u64;
        last_seq = items.last().and_then(|i| i["seq"].as_i64()).or(last_seq);
        progress.update(seen, &counts);
        if next.is_none() {
            break;
        }
    }
    progress.finish();
    let elapsed = started.elapsed().as_secs_f64();
    let mut summary = json!({
        "service": service.name(),
        "dry_run": args.dry_run,
        "events": seen,
        "counts": counts,
        "last_seq": last_seq,
        "seconds": (elapsed * 1000.0).round() / 1000.0,
        "problems": problems,
    });
    if args.dry_run {
        summary["would_apply"] = Value::Array(would_apply);
    }
    if interrupted.load(Ordering::SeqCst) {
        summary["interrupted"] = json!(true);
        println!("{}", serde_json::to_string_pretty(&summary)?);
        match last_seq {
            Some(seq) => bail!("interrupted; resume with --after-seq {seq}"),
            None => bail!("interrupted before the first page"),
        }
    }
    Ok(summary)
}
