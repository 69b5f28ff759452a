//! Where the relay's next read of unpublished journal entries starts.
//!
//! Publishing updates `published_at`, and until PostgreSQL vacuums the
//! journal every published entry leaves a dead entry in the unpublished
//! index: reading "unpublished, lowest seq first" from the start walks them
//! all, a cost that grows with the journal (measured: docs/benchmarks.md).
//! So reads start a margin below the lowest unpublished seq last seen: an
//! entry committed late with a lower seq (its transaction began earlier) is
//! still found when it is within the margin, and a full read every
//! [`FULL_SCAN_EVERY`] finds any other.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Default)]
pub(super) struct RelayScan {
    state: Mutex<RelayScanState>,
}

#[derive(Default)]
struct RelayScanState {
    lowest_seen: Option<i64>,
    last_full_scan: Option<Instant>,
}

/// Seqs below the lowest unpublished one that the relay still reads: the
/// entries allocated while a late transaction was in flight. Each read walks
/// the margin's dead index entries (10,000 cost 0.9 ms a read, the gateway's
/// most expensive statement under load); an entry committed later than that
/// waits for the next full read.
const LATE_COMMIT_MARGIN: i64 = 1_000;
const FULL_SCAN_EVERY: Duration = Duration::from_secs(10);

impl RelayScan {
    /// The seq to read from; `None`: read everything.
    pub(super) fn start_seq(&self) -> Option<i64> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let due = state
            .last_full_scan
            .is_none_or(|at| at.elapsed() >= FULL_SCAN_EVERY);
        match state.lowest_seen {
            Some(lowest) if !due => Some(lowest.saturating_sub(LATE_COMMIT_MARGIN)),
            _ => None,
        }
    }

    /// Records a read's lowest unpublished seq (`None`: nothing unpublished).
    pub(super) fn saw(&self, lowest: Option<i64>, full_scan: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if full_scan {
            state.last_full_scan = Some(Instant::now());
        }
        if let Some(lowest) = lowest {
            state.lowest_seen = Some(lowest);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_start_a_margin_below_the_lowest_unpublished_seq_between_full_reads() {
        let scan = RelayScan::default();
        assert_eq!(scan.start_seq(), None, "the first read is a full one");
        scan.saw(Some(50_000), true);
        assert_eq!(scan.start_seq(), Some(50_000 - LATE_COMMIT_MARGIN));
        // Drained: the start stays where it was.
        scan.saw(None, false);
        assert_eq!(scan.start_seq(), Some(50_000 - LATE_COMMIT_MARGIN));
        scan.saw(Some(70_000), false);
        assert_eq!(scan.start_seq(), Some(70_000 - LATE_COMMIT_MARGIN));
        // A full read is due again after a while.
        scan.state.lock().unwrap().last_full_scan =
            Some(Instant::now() - FULL_SCAN_EVERY - Duration::from_millis(1));
        assert_eq!(scan.start_seq(), None);
    }
}
