//! What the resolver did, counted per thread (the metrics module's shards)
//! and summed when scraped: cache hits and misses, prefetches, stale answers,
//! upstream queries by result, validation outcomes, resolution latency.

use std::{
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Duration,
};

use super::{dnssec::Security, upstream::UpstreamError};
use crate::metrics::counters::{Histogram, HistogramCells, Sharded, scaled};

/// Labels of an upstream query's result: the answer's header RCODE (the
/// common ones, else `other`), or why there was no answer.
pub(crate) const UPSTREAM_RESULTS: [&str; 9] = [
    "noerror", "formerr", "servfail", "nxdomain", "notimp", "refused", "other", "timeout", "error",
];
/// Labels of what validation said of a resolution's answer (RFC 4033 5);
/// `indeterminate`: not checked (a negative answer, a DS or DNSKEY query,
/// no chain to judge it by).
pub(crate) const VALIDATION_RESULTS: [&str; 4] = ["secure", "insecure", "bogus", "indeterminate"];

/// Upper bounds of the resolution-latency buckets, in seconds: from a
/// nearby server (a millisecond) to the 5 s a resolution may take at most.
pub(crate) const RESOLUTION_BOUNDS: [f64; 12] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const RESOLUTION_BOUNDS_NS: [u64; 12] = scaled(RESOLUTION_BOUNDS, 1e9);

/// One thread's cells.
#[derive(Default)]
struct Cells {
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    prefetches: AtomicU64,
    stale_answers: AtomicU64,
    upstream: [AtomicU64; UPSTREAM_RESULTS.len()],
    validation: [AtomicU64; VALIDATION_RESULTS.len()],
    /// Sum in nanoseconds.
    latency: HistogramCells<{ RESOLUTION_BOUNDS.len() + 1 }>,
}

/// The resolver's counters.
#[derive(Default)]
pub(crate) struct ResolverCounters(Sharded<Cells>);

/// The counters summed over threads at one moment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResolverTotals {
    /// Client questions answered whole from the cache.
    pub cache_hits: u64,
    /// Client questions that needed the network.
    pub cache_misses: u64,
    /// Prefetches started (a popular entry refreshed before it expired).
    pub prefetches: u64,
    /// Answers served stale (RFC 8767): every server failed.
    pub stale_answers: u64,
    /// (result label, upstream queries), every label.
    pub upstream: Vec<(&'static str, u64)>,
    /// (outcome label, resolutions), every label; only while validating.
    pub validation: Vec<(&'static str, u64)>,
    /// Time the resolutions that went to the network took, sum in seconds.
    pub latency: Histogram,
}

impl ResolverCounters {
    fn bump(cell: &AtomicU64) {
        cell.fetch_add(1, Relaxed);
    }

    /// A client question answered whole from the cache (`hit`), or not.
    pub(crate) fn cache_lookup(&self, hit: bool) {
        let c = self.0.local();
        Self::bump(if hit { &c.cache_hits } else { &c.cache_misses });
    }

    /// A prefetch started.
    pub(crate) fn prefetch(&self) {
        Self::bump(&self.0.local().prefetches);
    }

    /// An expired answer served because every server failed.
    pub(crate) fn stale_answer(&self) {
        Self::bump(&self.0.local().stale_answers);
    }

    /// One upstream exchange: the answer's RCODE, or why none came.
    pub(crate) fn upstream(&self, result: Result<u16, &UpstreamError>) {
        let slot = match result {
            Ok(rcode @ 0..=5) => usize::from(rcode),
            Ok(_) => 6,
            Err(UpstreamError::Timeout) => 7,
            Err(_) => 8,
        };
        Self::bump(&self.0.local().upstream[slot]);
    }

    /// What validation said of a resolution's answer.
    pub(crate) fn validated(&self, security: Security) {
        let slot = match security {
            Security::Secure => 0,
            Security::Insecure => 1,
            Security::Bogus(_) => 2,
            Security::Unchecked => 3,
        };
        Self::bump(&self.0.local().validation[slot]);
    }

    /// A resolution that went to the network took `elapsed`.
    pub(crate) fn resolved(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.0.local().latency.observe(&RESOLUTION_BOUNDS_NS, ns);
    }

    /// Sums every thread's cells.
    pub(crate) fn totals(&self) -> ResolverTotals {
        let labelled = |labels: &[&'static str], cell: &dyn Fn(&Cells, usize) -> &AtomicU64| {
            labels
                .iter()
                .enumerate()
                .map(|(i, label)| (*label, self.0.sum(|c| cell(c, i))))
                .collect()
        };
        let latency = self.0.histogram(&RESOLUTION_BOUNDS, |c| &c.latency);
        ResolverTotals {
            cache_hits: self.0.sum(|c| &c.cache_hits),
            cache_misses: self.0.sum(|c| &c.cache_misses),
            prefetches: self.0.sum(|c| &c.prefetches),
            stale_answers: self.0.sum(|c| &c.stale_answers),
            upstream: labelled(&UPSTREAM_RESULTS, &|c, i| &c.upstream[i]),
            validation: labelled(&VALIDATION_RESULTS, &|c, i| &c.validation[i]),
            latency: Histogram {
                sum: latency.sum / 1e9,
                ..latency
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_lands_under_its_label() {
        let counters = ResolverCounters::default();
        counters.cache_lookup(true);
        counters.cache_lookup(false);
        counters.cache_lookup(false);
        counters.upstream(Ok(3));
        counters.upstream(Ok(16));
        counters.upstream(Err(&UpstreamError::Timeout));
        counters.validated(Security::Bogus(6));
        counters.validated(Security::Unchecked);
        counters.resolved(Duration::from_millis(30));
        let t = counters.totals();
        assert_eq!(
            (t.cache_hits, t.cache_misses, t.prefetches, t.stale_answers),
            (1, 2, 0, 0)
        );
        for label in ["nxdomain", "other", "timeout"] {
            assert!(t.upstream.contains(&(label, 1)), "{label}: {:?}", t.upstream);
        }
        assert!(t.upstream.contains(&("noerror", 0)), "every label, zero or not");
        assert!(t.validation.contains(&("bogus", 1)) && t.validation.contains(&("indeterminate", 1)));
        assert_eq!(t.latency.count, 1);
        assert_eq!(t.latency.buckets[5], (0.05, 1), "30 ms is in the 50 ms bucket");
    }
}
