//! What the batching writer did, for metrics: batches, their sizes and their commit
//! latencies as histograms (counted with atomics; reading never blocks the writer).

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the batch-size histogram (submissions per batch).
pub const BATCH_SIZE_BOUNDS: [u64; 14] = [
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
];

/// Upper bounds of the commit-latency histogram, in microseconds.
pub const COMMIT_MICROS_BOUNDS: [u64; 12] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];

/// Counters the writer updates after every batch.
#[derive(Debug, Default)]
pub struct WriterStats {
    batches: AtomicU64,
    failed: AtomicU64,
    submissions: AtomicU64,
    commit_micros: AtomicU64,
    sizes: [AtomicU64; BATCH_SIZE_BOUNDS.len()],
    latencies: [AtomicU64; COMMIT_MICROS_BOUNDS.len()],
}

/// A histogram as read: cumulative counts per upper bound, the total count and the sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    /// (upper bound, observations at or below it).
    pub buckets: Vec<(u64, u64)>,
    /// Every observation.
    pub count: u64,
    /// The sum of the observations.
    pub sum: u64,
}

/// The writer's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterSnapshot {
    /// Batches written (committed or failed).
    pub batches: u64,
    /// Batches whose transaction failed as a whole.
    pub failed: u64,
    /// Submissions per batch.
    pub batch_sizes: Histogram,
    /// Microseconds from the start of a batch's write to its commit.
    pub commit_micros: Histogram,
}

fn bucket(bounds: &[u64], value: u64) -> usize {
    bounds
        .iter()
        .position(|bound| value <= *bound)
        .unwrap_or(bounds.len())
}

fn cumulative(bounds: &[u64], counts: &[AtomicU64], count: u64, sum: u64) -> Histogram {
    let mut running = 0;
    let buckets = bounds
        .iter()
        .zip(counts)
        .map(|(bound, n)| {
            running += n.load(Ordering::Relaxed);
            (*bound, running)
        })
        .collect();
    Histogram {
        buckets,
        count,
        sum,
    }
}

impl WriterStats {
    /// Counts one batch of `size` submissions written in `micros`.
    pub fn record(&self, size: usize, micros: u64, committed: bool) {
        let size = u64::try_from(size).unwrap_or(u64::MAX);
        self.batches.fetch_add(1, Ordering::Relaxed);
        if !committed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.submissions.fetch_add(size, Ordering::Relaxed);
        self.commit_micros.fetch_add(micros, Ordering::Relaxed);
        if let Some(n) = self.sizes.get(bucket(&BATCH_SIZE_BOUNDS, size)) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(n) = self.latencies.get(bucket(&COMMIT_MICROS_BOUNDS, micros)) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> WriterSnapshot {
        let batches = self.batches.load(Ordering::Relaxed);
        WriterSnapshot {
            batches,
            failed: self.failed.load(Ordering::Relaxed),
            batch_sizes: cumulative(
                &BATCH_SIZE_BOUNDS,
                &self.sizes,
                batches,
                self.submissions.load(Ordering::Relaxed),
            ),
            commit_micros: cumulative(
                &COMMIT_MICROS_BOUNDS,
                &self.latencies,
                batches,
                self.commit_micros.load(Ordering::Relaxed),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let stats = WriterStats::default();
        stats.record(1, 90, true);
        stats.record(3, 600, true);
        stats.record(10_000, 2_000_000, false);
        let snapshot = stats.snapshot();
        assert_eq!((snapshot.batches, snapshot.failed), (3, 1));
        assert_eq!(snapshot.batch_sizes.buckets[0], (1, 1));
        assert_eq!(snapshot.batch_sizes.buckets[2], (4, 2));
        assert_eq!(snapshot.batch_sizes.buckets.last(), Some(&(8192, 2)));
        assert_eq!(snapshot.batch_sizes.sum, 10_004);
        assert_eq!(snapshot.commit_micros.buckets[0], (100, 1));
        assert_eq!(snapshot.commit_micros.buckets[3], (1_000, 2));
        assert_eq!(snapshot.commit_micros.count, 3);
    }
}
