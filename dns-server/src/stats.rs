//! Counters of what the server did and dropped, by reason.
//!
//! Each counter is a handle to its cell in every thread's shard
//! ([`Sharded`]): counting writes the calling thread's own cache line, never
//! one shared by every core; reading sums the shards. The metrics endpoint,
//! `ctl stats` and the shutdown summary all read [`Stats::snapshot`].

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use crate::metrics::counters::Sharded;

/// RCODE slots: BADCOOKIE (23) is the highest we send (others above it
/// would be folded into its slot).
const RCODE_SLOTS: usize = 24;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Names of the counters, in the order of their cells.
        const NAMES: &[&str] = &[$(stringify!($name),)*];

        /// Server-wide counters, counted per thread (see the module's docs).
        pub(crate) struct Stats {
            $($(#[$doc])* pub(crate) $name: Counter,)*
            /// Every thread's cells: the counters above, then responses by RCODE.
            cells: Arc<Sharded<Cells>>,
        }

        impl Default for Stats {
            fn default() -> Self {
                let cells = Arc::new(Sharded::default());
                let mut index = 0..;
                Stats {
                    $($name: Counter {
                        cells: cells.clone(),
                        index: index.next().unwrap_or_default(),
                    },)*
                    cells,
                }
            }
        }
    };
}

/// Cells per thread: the named counters, then the RCODEs.
const CELLS: usize = NAMES.len() + RCODE_SLOTS;

/// One thread's cells.
pub(crate) struct Cells([AtomicU64; CELLS]);

impl Default for Cells {
    fn default() -> Self {
        Cells(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// One counter: where its cell is in each thread's shard.
pub(crate) struct Counter {
    cells: Arc<Sharded<Cells>>,
    index: usize,
}

impl Counter {
    /// The counter summed over every thread.
    pub(crate) fn get(&self) -> u64 {
        self.cells.sum(|c| &c.0[self.index])
    }
}

counters! {
    /// Queries received over UDP.
    udp_queries,
    /// Queries received over TCP.
    tcp_queries,
    /// Dropped: shorter than a DNS header.
    dropped_too_short,
    /// Dropped: QR set, a response aimed at us.
    dropped_response,
    /// UDP responses that could not be sent (socket buffer full).
    dropped_send_failed,
    /// Responses with TC set.
    truncated,
    /// Answers served from the answer cache.
    cache_hits,
    /// Answers built by walking a zone.
    cache_misses,
    /// TCP connections admitted into the table.
    tcp_admitted,
    /// TCP connections closed at once: their source held `tcp_max_per_source` already.
    tcp_refused_per_source,
    /// TCP connections closed, the idlest, to admit a new one into a full table.
    tcp_closed_evicted,
    /// TCP connections closed for idleness.
    tcp_idle_closed,
    /// TCP connections closed because a query did not arrive whole within `tcp_message_timeout`.
    tcp_closed_slow_query,
    /// TCP connections closed because an answer was not taken within `tcp_write_timeout`.
    tcp_closed_slow_reader,
    /// TCP connections closed by the client between messages.
    tcp_closed_by_peer,
    /// TCP connections closed because a message was not a query.
    tcp_closed_not_a_query,
    /// TCP connections ended by a socket error or a close inside a message.
    tcp_closed_error,
    /// Queries with a client cookie and a valid server cookie of ours (RFC 7873 5.2.5).
    cookies_valid,
    /// Queries with a client cookie and a server cookie that is not (or no
    /// longer) valid: another secret, address, or past its hour.
    cookies_invalid,
    /// Queries with a client cookie only: the client has no server cookie yet.
    cookies_absent,
    /// Queries with a COOKIE option of a wrong length, answered FORMERR.
    cookies_malformed,
    /// Queries resolved recursively.
    recursions,
    /// Recursive queries answered SERVFAIL because too many were in flight.
    recursion_overloaded,
    /// AXFR and IXFR requests refused: the client is not in the zone's
    /// `allow_transfer`, or the name is not a zone we serve.
    transfers_refused,
    /// AXFR streams served.
    axfr_out,
    /// IXFR streams served with differences from the history.
    ixfr_out,
    /// IXFR answered with the whole zone: the client's serial is not in the history.
    ixfr_out_full,
    /// IXFR answered with the SOA alone over TCP: the client is current.
    ixfr_out_current,
    /// IXFR over UDP answered with the SOA alone.
    ixfr_out_udp,
    /// Transfers out cut short: a client that did not read, or a socket error.
    transfers_aborted,
    /// NOTIFY messages a secondary answered.
    notify_answered,
    /// NOTIFY messages answered with an error RCODE (the secondary refuses us).
    notify_refused,
    /// NOTIFY messages never answered after every retry.
    notify_unanswered,
    /// Zone reloads that succeeded.
    reloads,
    /// Zones that failed to load and kept their old version.
    reload_failures,
    /// Zone loads (at start or reload) that succeeded: the zone file was read.
    zones_loaded,
    /// Zones a reload found unchanged (same files, same bytes) and kept as they were.
    zones_unchanged,
    /// Zone loads that failed, at start or reload, whether or not an old version kept serving.
    zone_load_failures,
    /// Queries answered SERVFAIL because their zone failed to load and has no version to serve.
    zone_unloaded_servfail,
    /// Reloads abandoned at `reload_timeout`.
    reload_timeouts,
    /// Zone transactions committed (`ctl zone-commit`).
    zone_commits,
    /// Zone files not rewritten after a commit (the committed version is served).
    zone_file_write_failures,
}

impl Stats {
    /// Counts one response with `rcode`.
    pub(crate) fn count_rcode(&self, rcode: u16) {
        let slot = NAMES.len() + usize::from(rcode).min(RCODE_SLOTS - 1);
        self.cells.local().0[slot].fetch_add(1, Relaxed);
    }

    /// Adds one to a counter, in the calling thread's shard.
    pub(crate) fn bump(counter: &Counter) {
        counter.cells.local().0[counter.index].fetch_add(1, Relaxed);
    }

    /// Name and value of every counter (RCODEs only when nonzero), summed over threads.
    pub(crate) fn snapshot(&self) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| (name.to_string(), self.cells.sum(|c| &c.0[i])))
            .collect();
        let mut rcodes: Vec<(String, u64)> = Vec::new();
        for code in 0..RCODE_SLOTS {
            let count = self.cells.sum(|c| &c.0[NAMES.len() + code]);
            if count == 0 {
                continue;
            }
            // Codes without a name of their own add up under one `rcode_other`.
            let name = format!("rcode_{}", rcode_name(code as u16));
            match rcodes.iter_mut().find(|(n, _)| *n == name) {
                Some((_, sum)) => *sum += count,
                None => rcodes.push((name, count)),
            }
        }
        all.extend(rcodes);
        all
    }
}

impl fmt::Debug for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.snapshot()).finish()
    }
}

/// Mnemonic of an RCODE.
pub(crate) fn rcode_name(code: u16) -> &'static str {
    match code {
        0 => "noerror",
        1 => "formerr",
        2 => "servfail",
        3 => "nxdomain",
        4 => "notimp",
        5 => "refused",
        9 => "notauth",
        16 => "badvers",
        23 => "badcookie",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_count_apart_and_every_reader_sees_the_sums() {
        let stats = Arc::new(Stats::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let stats = stats.clone();
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        Stats::bump(&stats.udp_queries);
                        stats.count_rcode(3);
                    }
                    Stats::bump(&stats.reload_timeouts);
                    stats.count_rcode(4000);
                    stats.count_rcode(6);
                    stats.count_rcode(8);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("counting thread");
        }
        assert_eq!(stats.udp_queries.get(), 2000);
        assert_eq!(stats.reload_timeouts.get(), 4, "the last counter has a cell of its own");
        assert_eq!(stats.tcp_queries.get(), 0);
        let snapshot = stats.snapshot();
        for (name, value) in [
            ("udp_queries", 2000),
            ("rcode_nxdomain", 2000),
            ("rcode_badcookie", 4),
            ("rcode_other", 8),
        ] {
            assert!(snapshot.contains(&(name.to_string(), value)), "{name}: {snapshot:?}");
        }
        assert_eq!(
            snapshot.iter().filter(|(n, _)| n == "rcode_other").count(),
            1,
            "one line (one series) per name"
        );
        assert_eq!(stats.snapshot(), snapshot, "a read resets nothing");
    }
}
