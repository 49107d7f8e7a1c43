//! Counters of what the server did and dropped, by reason.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Server-wide counters; relaxed atomics, read for logs and `stats`.
        #[derive(Default, Debug)]
        pub(crate) struct Stats {
            $($(#[$doc])* pub(crate) $name: AtomicU64,)*
            /// Responses by RCODE, BADCOOKIE (23) the highest we send
            /// (others above it would be folded into its slot).
            pub(crate) rcodes: [AtomicU64; 24],
        }

        impl Stats {
            /// Name and value of every counter, for printing.
            pub(crate) fn snapshot(&self) -> Vec<(String, u64)> {
                let mut all = vec![$((stringify!($name).to_string(), self.$name.load(Relaxed)),)*];
                for (code, count) in self.rcodes.iter().enumerate() {
                    let count = count.load(Relaxed);
                    if count > 0 {
                        all.push((format!("rcode_{}", rcode_name(code as u16)), count));
                    }
                }
                all
            }
        }
    };
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
}

impl Stats {
    /// Counts one response with `rcode`.
    pub(crate) fn count_rcode(&self, rcode: u16) {
        self.rcodes[(rcode as usize).min(23)].fetch_add(1, Relaxed);
    }

    /// Adds one to a counter.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
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
