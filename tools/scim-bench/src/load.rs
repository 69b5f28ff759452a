//! Running a scenario: closed loop (N workers, each sends its next request
//! when the previous answered) or paced (a fixed arrival rate, latency counted
//! from each request's scheduled start so a stalled server is not hidden by
//! the load tool waiting for it).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::report::Report;

/// How much load a closed-loop scenario applies.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub concurrency: usize,
    /// Stop after this long…
    pub duration: Option<Duration>,
    /// …or after this many requests, whichever comes first.
    pub requests: Option<usize>,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, usize>,
}

impl Tally {
    fn record(&mut self, outcome: Result<(), String>, latency: Duration) {
        match outcome {
            Ok(()) => self.latencies.push(latency),
            Err(error) => *self.errors.entry(error).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        for (error, count) in other.errors {
            *self.errors.entry(error).or_default() += count;
        }
    }
}

/// Runs `op(i)` for i = 0, 1, 2, … on `load.concurrency` workers. `op`
/// checks the answer: `Err` is a wrong or failed request, counted apart.
pub async fn closed_loop<F, Fut>(name: &str, load: Load, op: F) -> Report
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = load.duration.map(|d| started + d);
    let limit = load.requests.unwrap_or(usize::MAX);
    let workers: Vec<_> = (0..load.concurrency.max(1))
        .map(|_| {
            let (op, next) = (op.clone(), next.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= limit {
                        break;
                    }
                    let sent = Instant::now();
                    let outcome = op(i).await;
                    tally.record(outcome, sent.elapsed());
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        match worker.await {
            Ok(worker_tally) => tally.merge(worker_tally),
            Err(e) => {
                *tally
                    .errors
                    .entry(format!("load worker failed: {e}"))
                    .or_default() += 1
            }
        }
    }
    Report::new(name, tally.latencies, tally.errors, started.elapsed())
}

/// Starts `op(i)` at `rate` per second for `duration`, at most `max_in_flight`
/// at once (beyond that a request waits, and its wait counts in its latency).
pub async fn paced<F, Fut>(
    name: &str,
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    op: F,
) -> Report
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let op = Arc::new(op);
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let total = (rate * duration.as_secs_f64()).round() as usize;
    let started = Instant::now();
    let mut running = Vec::with_capacity(total);
    for i in 0..total {
        let scheduled = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(scheduled.into()).await;
        let (op, slots, tally) = (op.clone(), slots.clone(), tally.clone());
        running.push(tokio::spawn(async move {
            // The semaphore is never closed.
            let Ok(_slot) = slots.acquire_owned().await else {
                return;
            };
            let outcome = op(i).await;
            tally
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record(outcome, scheduled.elapsed());
        }));
    }
    let mut failed = 0;
    for request in running {
        failed += usize::from(request.await.is_err());
    }
    let mut tally = std::mem::take(&mut *tally.lock().unwrap_or_else(PoisonError::into_inner));
    if failed > 0 {
        tally
            .errors
            .insert("request task failed".to_owned(), failed);
    }
    Report::new(name, tally.latencies, tally.errors, started.elapsed())
}
