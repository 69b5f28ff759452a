//! What a scenario measured: successful requests' latencies, errors by
//! kind, and the rate of successful requests over the wall-clock time.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

pub struct Report {
    pub name: String,
    latencies: Vec<Duration>,
    pub errors: BTreeMap<String, usize>,
    elapsed: Duration,
}

impl Report {
    pub fn new(
        name: &str,
        mut latencies: Vec<Duration>,
        errors: BTreeMap<String, usize>,
        elapsed: Duration,
    ) -> Self {
        latencies.sort_unstable();
        Self {
            name: name.to_owned(),
            latencies,
            errors,
            elapsed,
        }
    }

    pub fn ok(&self) -> usize {
        self.latencies.len()
    }

    pub fn error_count(&self) -> usize {
        self.errors.values().sum()
    }

    pub fn rate(&self) -> f64 {
        self.ok() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency below which a fraction `p` of the successful requests
    /// answered (nearest rank), in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies, p).as_secs_f64() * 1000.0
    }

    pub fn line(&self) -> String {
        let mut line = format!(
            "{}: ok={} errors={} rate={:.0}/s p50={:.2}ms p95={:.2}ms p99={:.2}ms max={:.2}ms ({:.1}s)",
            self.name,
            self.ok(),
            self.error_count(),
            self.rate(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.95),
            self.percentile_ms(0.99),
            self.percentile_ms(1.0),
            self.elapsed.as_secs_f64(),
        );
        for (error, count) in &self.errors {
            line.push_str(&format!("\n  {count} × {error}"));
        }
        line
    }

    pub fn json(&self) -> Value {
        json!({
            "scenario": self.name,
            "ok": self.ok(),
            "errors": self.error_count(),
            "error_kinds": self.errors,
            "rate": (self.rate() * 10.0).round() / 10.0,
            "p50_ms": round(self.percentile_ms(0.50)),
            "p95_ms": round(self.percentile_ms(0.95)),
            "p99_ms": round(self.percentile_ms(0.99)),
            "max_ms": round(self.percentile_ms(1.0)),
            "seconds": round(self.elapsed.as_secs_f64()),
        })
    }
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

/// Nearest-rank percentile of sorted `values`; zero when there are none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let sorted = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&sorted, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&ms(&[7]), 0.99), Duration::from_millis(7));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }

    #[test]
    fn rate_counts_successes_only() {
        let mut errors = BTreeMap::new();
        errors.insert("503 busy".to_owned(), 5);
        let report = Report::new("x", ms(&[3, 1, 2, 4]), errors, Duration::from_secs(2));
        assert_eq!(report.ok(), 4);
        assert_eq!(report.error_count(), 5);
        assert_eq!(report.rate(), 2.0);
        assert_eq!(report.percentile_ms(0.5), 2.0);
        assert!(report.line().contains("5 × 503 busy"));
    }
}
