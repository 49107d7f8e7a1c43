//! Per-thread query counters and histograms, summed only when scraped.
//!
//! Every worker thread counts into its own cache-line-aligned shard, so
//! counting a query never writes a line another core is writing: no shared
//! atomic per packet. A scrape sums the shards; values only ever increase
//! (nothing is reset on read, so several scrapers may read).

use std::{
    net::IpAddr,
    sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed},
    time::Duration,
};

use dns_wire::wire::rtype;

/// Shards; threads beyond this share one (still correct, just contended).
/// A power of two above the worker threads of a large PoP server.
pub(crate) const SHARDS: usize = 64;

/// Transports counted in userspace (XDP's answers come from its own map).
pub(crate) const TRANSPORTS: [&str; 2] = ["udp", "tcp"];
/// Address families.
pub(crate) const FAMILIES: [&str; 2] = ["ipv4", "ipv6"];

/// The query types with a label of their own: the common ones, so the
/// number of series stays bounded whatever clients send.
pub(crate) const QTYPES: [(u16, &str); 21] = [
    (rtype::A, "A"),
    (rtype::NS, "NS"),
    (rtype::CNAME, "CNAME"),
    (rtype::SOA, "SOA"),
    (rtype::PTR, "PTR"),
    (rtype::MX, "MX"),
    (rtype::TXT, "TXT"),
    (rtype::AAAA, "AAAA"),
    (rtype::SRV, "SRV"),
    (rtype::NAPTR, "NAPTR"),
    (rtype::DS, "DS"),
    (rtype::RRSIG, "RRSIG"),
    (rtype::NSEC, "NSEC"),
    (rtype::DNSKEY, "DNSKEY"),
    (rtype::NSEC3, "NSEC3"),
    (rtype::SVCB, "SVCB"),
    (rtype::HTTPS, "HTTPS"),
    (257, "CAA"),
    (rtype::ANY, "ANY"),
    (rtype::AXFR, "AXFR"),
    (rtype::IXFR, "IXFR"),
];
/// Label of every other query type (and of a question that cannot be read).
pub(crate) const QTYPE_OTHER: &str = "other";
const QTYPE_SLOTS: usize = QTYPES.len() + 1;

/// Header RCODEs with a label of their own; the rest are `other`.
/// Extended RCODEs (BADVERS, BADCOOKIE) count under their header bits here;
/// `dns_server_rcode_responses_total` has them exactly.
pub(crate) const RCODES: [&str; 8] = [
    "noerror", "formerr", "servfail", "nxdomain", "notimp", "refused", "notauth", "other",
];

/// Upper bounds of the answer-latency buckets, in seconds: from a cached
/// answer (microseconds) to a slow recursion (seconds).
pub(crate) const LATENCY_BOUNDS: [f64; 16] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0,
];
/// Upper bounds of the response-size buckets, in bytes: the classic 512, the
/// 1232 of DNS flag day 2020, an Ethernet MTU, then TCP sizes.
pub(crate) const SIZE_BOUNDS: [f64; 11] = [
    64.0, 128.0, 256.0, 512.0, 768.0, 1024.0, 1232.0, 1500.0, 4096.0, 16384.0, 65535.0,
];

/// One histogram's buckets (not cumulative; the last is above every bound), sum and count.
pub(crate) struct HistogramCells<const N: usize> {
    buckets: [AtomicU64; N],
    sum: AtomicU64,
}

impl<const N: usize> Default for HistogramCells<N> {
    fn default() -> Self {
        HistogramCells {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum: AtomicU64::new(0),
        }
    }
}

impl<const N: usize> HistogramCells<N> {
    /// Counts `value` in the first bucket whose bound (in `bounds`, one fewer than `N`) holds it.
    pub(crate) fn observe(&self, bounds: &[u64], value: u64) {
        self.observe_n(bounds, value, 1, false);
    }

    /// Counts `n` observations of `value` at once; `owned` as for [`add`].
    fn observe_n(&self, bounds: &[u64], value: u64, n: u64, owned: bool) {
        let bucket = bounds.iter().position(|&b| value <= b).unwrap_or(bounds.len());
        add(&self.buckets[bucket.min(N - 1)], n, owned);
        add(&self.sum, value.saturating_mul(n), owned);
    }
}

/// Adds `n` to a cell of the calling thread's shard. A thread that owns its
/// shard (see [`Sharded::owned`]) is the only writer of its cells, so a
/// plain load and store does: no locked instruction, which costs ~20
/// cycles each, several times a query. Readers see the old value or the
/// new one (aligned 64-bit accesses are atomic), never a torn one. A thread
/// sharing the overflow shard adds atomically.
#[inline(always)]
pub(crate) fn add(cell: &AtomicU64, n: u64, owned: bool) {
    if owned {
        cell.store(cell.load(Relaxed).wrapping_add(n), Relaxed);
    } else {
        cell.fetch_add(n, Relaxed);
    }
}

/// Cells of kind `S`, one copy per thread, each alone on its cache lines;
/// read by summing every copy. The one mechanism behind every counter the
/// server keeps per packet: the query counters here, the server's
/// [`Stats`](crate::stats::Stats), the resolver's counters.
pub(crate) struct Sharded<S> {
    shards: Box<[Aligned<S>]>,
}

/// One thread's cells, alone on their cache lines (128: two lines, as the
/// adjacent-line prefetcher pulls pairs).
#[repr(align(128))]
#[derive(Default)]
struct Aligned<S>(S);

impl<S: Default> Default for Sharded<S> {
    fn default() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| Aligned::default()).collect(),
        }
    }
}

impl<S> Sharded<S> {
    /// The calling thread's cells: count into these.
    pub(crate) fn local(&self) -> &S {
        &self.shards[shard_index()].0
    }

    /// The calling thread's cells, and whether the thread owns them (is
    /// their only writer, so [`add`] may skip the locked add) or shares
    /// the overflow shard.
    pub(crate) fn owned(&self) -> (&S, bool) {
        let index = shard_index();
        (&self.shards[index].0, index != OVERFLOW)
    }

    /// One cell summed over every thread.
    pub(crate) fn sum(&self, cell: impl Fn(&S) -> &AtomicU64) -> u64 {
        self.sum_with(|s| cell(s).load(Relaxed))
    }

    /// What `read` says of each thread's cells, summed.
    pub(crate) fn sum_with(&self, read: impl Fn(&S) -> u64) -> u64 {
        self.shards.iter().map(|s| read(&s.0)).fold(0, u64::wrapping_add)
    }

    /// A histogram summed over every thread, with `bounds` (one fewer than
    /// `N`, the last bucket being +Inf); the sum as the cells hold it.
    pub(crate) fn histogram<const N: usize>(
        &self,
        bounds: &[f64],
        cells: impl Fn(&S) -> &HistogramCells<N>,
    ) -> Histogram {
        let mut count = 0;
        let mut out = Vec::with_capacity(N);
        for i in 0..N {
            let n = self.sum(|s| &cells(s).buckets[i]);
            count += n;
            out.push((bounds.get(i).copied().unwrap_or(f64::INFINITY), n));
        }
        Histogram {
            buckets: out,
            sum: self.sum(|s| &cells(s).sum) as f64,
            count,
        }
    }
}

/// One thread's query counters.
#[derive(Default)]
struct Shard {
    /// [transport][family][qtype slot]
    queries: [[[AtomicU64; QTYPE_SLOTS]; 2]; 2],
    /// [transport][family][rcode slot]
    responses: [[[AtomicU64; RCODES.len()]; 2]; 2],
    /// [transport], sum in nanoseconds.
    latency: [HistogramCells<{ LATENCY_BOUNDS.len() + 1 }>; 2],
    /// [transport], sum in bytes.
    size: [HistogramCells<{ SIZE_BOUNDS.len() + 1 }>; 2],
}

/// The shard every thread past the first `SHARDS - 1` shares (a thread's
/// shard is never handed to another, even after it exits: its cells hold
/// counts already, and a late write of it would race).
const OVERFLOW: usize = SHARDS - 1;

/// Where the calling thread counts: a shard of its own for the first
/// `SHARDS - 1` threads that count (the workers, started first), then
/// [`OVERFLOW`].
pub(crate) fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Relaxed).min(OVERFLOW);
    }
    INDEX.with(|i| *i)
}

/// Upper bounds of the latency buckets in nanoseconds, for the hot path.
const LATENCY_BOUNDS_NS: [u64; 16] = scaled(LATENCY_BOUNDS, 1e9);

/// Upper bounds of the size buckets in bytes, for the hot path.
const SIZE_BOUNDS_BYTES: [u64; 11] = scaled(SIZE_BOUNDS, 1.0);

/// `bounds` times `scale` as integers (seconds to nanoseconds), for the hot path.
pub(crate) const fn scaled<const N: usize>(bounds: [f64; N], scale: f64) -> [u64; N] {
    let mut out = [0u64; N];
    let mut i = 0;
    while i < N {
        out[i] = (bounds[i] * scale) as u64;
        i += 1;
    }
    out
}

/// The per-thread counters of every query answered in userspace.
#[derive(Default)]
pub(crate) struct QueryCounters {
    shards: Sharded<Shard>,
    /// By zone, with `[metrics] per_zone = true`.
    zones: Option<super::zones::ZoneCounters>,
}

/// A histogram summed over shards: counts per bucket (not cumulative, as
/// prometheus-client's encoder takes them), then +Inf; the sum and count.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    /// (upper bound, observations above the previous bound and at or below this one); the last is +Inf.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of the observations (seconds or bytes).
    pub sum: f64,
    /// Observations.
    pub count: u64,
}

/// Everything summed over shards at one moment.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Totals {
    /// (transport, family, qtype label, count), nonzero only.
    pub queries: Vec<(&'static str, &'static str, &'static str, u64)>,
    /// (transport, family, rcode label, count), nonzero only.
    pub responses: Vec<(&'static str, &'static str, &'static str, u64)>,
    /// (transport, latency in seconds), every transport.
    pub latency: Vec<(&'static str, Histogram)>,
    /// (transport, response size in bytes), every transport.
    pub size: Vec<(&'static str, Histogram)>,
}

impl QueryCounters {
    /// Counters for the metrics endpoint; `per_zone` counts by zone too.
    pub(crate) fn new(per_zone: bool) -> Self {
        QueryCounters {
            zones: per_zone.then(Default::default),
            ..QueryCounters::default()
        }
    }

    /// Counts a query by the zone `catalog` answers it from, with `per_zone` on.
    pub(crate) fn record_zone(
        &self,
        catalog: &arc_swap::ArcSwap<crate::catalog::Catalog>,
        query: &[u8],
        response: &[u8],
    ) {
        if let Some(zones) = &self.zones {
            zones.record(&catalog.load(), query, response);
        }
    }

    /// The per-zone sums, with `per_zone` on.
    pub(crate) fn zone_totals(&self) -> Option<Vec<super::zones::ZoneTotals>> {
        self.zones.as_ref().map(super::zones::ZoneCounters::totals)
    }

    /// Counts one query from `client` answered with `response` (empty: no
    /// response was sent), `elapsed` after it was received. `tcp` says the transport.
    pub(crate) fn record(&self, tcp: bool, client: IpAddr, query: &[u8], response: &[u8], elapsed: Duration) {
        self.record_slot(tcp, client, qtype_slot(query), response, elapsed);
    }

    /// As [`QueryCounters::record`] without the latency, for a query of a
    /// batch whose answers all leave together: the batch's latency is
    /// counted once for them all ([`QueryCounters::record_batch_latency`]).
    /// Returns whether a response was sent (and so is to be counted there).
    pub(crate) fn record_in_batch(&self, client: IpAddr, query: &[u8], response: &[u8]) -> bool {
        let (shard, owned) = self.shards.owned();
        self.count_slot(shard, owned, false, client, qtype_slot(query), response)
            .is_some()
    }

    /// Counts `answered` UDP answers of one batch as `elapsed` after the
    /// batch arrived: they wait for each other and are sent together, so
    /// one clock read at the batch's end times them all, and one bucket
    /// takes them all.
    pub(crate) fn record_batch_latency(&self, answered: u64, elapsed: Duration) {
        if answered == 0 {
            return;
        }
        let (shard, owned) = self.shards.owned();
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        shard.latency[0].observe_n(&LATENCY_BOUNDS_NS, ns, answered, owned);
    }

    /// As [`QueryCounters::record`], for a query whose QTYPE is known
    /// (one answered after recursion, its bytes long gone).
    pub(crate) fn record_qtype(&self, tcp: bool, client: IpAddr, qtype: u16, response: &[u8], elapsed: Duration) {
        let slot = QTYPES.iter().position(|&(t, _)| t == qtype).unwrap_or(QTYPES.len());
        self.record_slot(tcp, client, slot, response, elapsed);
    }

    fn record_slot(&self, tcp: bool, client: IpAddr, qtype_slot: usize, response: &[u8], elapsed: Duration) {
        let (shard, owned) = self.shards.owned();
        if self
            .count_slot(shard, owned, tcp, client, qtype_slot, response)
            .is_none()
        {
            return;
        }
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        shard.latency[usize::from(tcp)].observe_n(&LATENCY_BOUNDS_NS, ns, 1, owned);
    }

    /// Counts the query, its response's RCODE and size (not its latency);
    /// `None` when no response was sent.
    fn count_slot(
        &self,
        shard: &Shard,
        owned: bool,
        tcp: bool,
        client: IpAddr,
        qtype_slot: usize,
        response: &[u8],
    ) -> Option<()> {
        let (t, f) = (usize::from(tcp), usize::from(client.is_ipv6() && !is_v4_mapped(client)));
        add(&shard.queries[t][f][qtype_slot], 1, owned);
        let rcode_slot = rcode_slot(response)?;
        add(&shard.responses[t][f][rcode_slot], 1, owned);
        shard.size[t].observe_n(&SIZE_BOUNDS_BYTES, response.len() as u64, 1, owned);
        Some(())
    }

    /// Sums every shard.
    pub(crate) fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for (t, transport) in TRANSPORTS.iter().enumerate() {
            for (f, family) in FAMILIES.iter().enumerate() {
                for slot in 0..QTYPE_SLOTS {
                    let n = self.shards.sum(|s| &s.queries[t][f][slot]);
                    if n > 0 {
                        let label = QTYPES.get(slot).map_or(QTYPE_OTHER, |(_, l)| l);
                        totals.queries.push((transport, family, label, n));
                    }
                }
                for (slot, label) in RCODES.iter().enumerate() {
                    let n = self.shards.sum(|s| &s.responses[t][f][slot]);
                    if n > 0 {
                        totals.responses.push((transport, family, label, n));
                    }
                }
            }
            let latency = self.shards.histogram(&LATENCY_BOUNDS, |s| &s.latency[t]);
            totals.latency.push((
                transport,
                Histogram {
                    sum: latency.sum / 1e9,
                    ..latency
                },
            ));
            let size = self.shards.histogram(&SIZE_BOUNDS, |s| &s.size[t]);
            totals.size.push((transport, size));
        }
        totals
    }
}

/// The [`RCODES`] slot of a response's header RCODE; `None` when no response was sent.
pub(crate) fn rcode_slot(response: &[u8]) -> Option<usize> {
    let rcode = usize::from(response.get(3)? & 0x0f);
    Some(match rcode {
        0..=5 => rcode,
        9 => 6,
        _ => 7,
    })
}

fn is_v4_mapped(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}

/// The label slot of a query's QTYPE, read after its QNAME; `other` when
/// the question cannot be read.
fn qtype_slot(query: &[u8]) -> usize {
    let mut at = dns_wire::wire::HEADER_LEN;
    loop {
        let Some(&len) = query.get(at) else {
            return QTYPES.len();
        };
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            // A compression pointer in a question: not ours to follow here.
            return QTYPES.len();
        }
        at += 1 + usize::from(len);
    }
    let Some(bytes) = query.get(at + 1..at + 3) else {
        return QTYPES.len();
    };
    let qtype = u16::from_be_bytes([bytes[0], bytes[1]]);
    QTYPES.iter().position(|&(t, _)| t == qtype).unwrap_or(QTYPES.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(qtype: u16) -> Vec<u8> {
        test_support::Query::new("www.example.com.", qtype).to_wire()
    }

    #[test]
    fn counts_by_transport_family_qtype_and_rcode() {
        let counters = QueryCounters::default();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let mut nxdomain = query(rtype::AAAA);
        nxdomain[2] |= 0x80;
        nxdomain[3] = 3;
        counters.record(false, v4, &query(rtype::A), &query(rtype::A), Duration::from_micros(30));
        counters.record(true, v6, &query(rtype::AAAA), &nxdomain, Duration::from_millis(2));
        counters.record(false, v4, &query(999), &[], Duration::ZERO);
        let t = counters.totals();
        assert!(t.queries.contains(&("udp", "ipv4", "A", 1)), "{:?}", t.queries);
        assert!(t.queries.contains(&("tcp", "ipv6", "AAAA", 1)), "{:?}", t.queries);
        assert!(t.queries.contains(&("udp", "ipv4", "other", 1)), "{:?}", t.queries);
        assert!(
            t.responses.contains(&("tcp", "ipv6", "nxdomain", 1)),
            "{:?}",
            t.responses
        );
        assert!(
            t.responses.contains(&("udp", "ipv4", "noerror", 1)),
            "{:?}",
            t.responses
        );
        let (_, udp) = &t.latency[0];
        assert_eq!(udp.count, 1, "the dropped query has no answer latency");
        assert_eq!(udp.buckets[1], (0.000_025, 0), "30µs is above 25µs");
        assert_eq!(udp.buckets[2], (0.000_05, 1), "and below 50µs");
        assert_eq!(udp.buckets.last(), Some(&(f64::INFINITY, 0)));
        let (_, tcp) = &t.size[1];
        assert_eq!(tcp.sum, nxdomain.len() as f64);
    }

    #[test]
    fn a_batch_is_counted_query_by_query_and_timed_once() {
        let counters = QueryCounters::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut answered = 0;
        for response in [&query(rtype::A)[..], &[], &query(rtype::A)[..]] {
            answered += u64::from(counters.record_in_batch(ip, &query(rtype::A), response));
        }
        counters.record_batch_latency(answered, Duration::from_micros(30));
        let t = counters.totals();
        assert_eq!(t.queries, [("udp", "ipv4", "A", 3)]);
        assert_eq!(t.responses, [("udp", "ipv4", "noerror", 2)], "one was dropped");
        let (_, udp) = &t.latency[0];
        assert_eq!(udp.count, 2, "the answered ones, at the batch's latency");
        assert_eq!(udp.buckets[2], (0.000_05, 2));
        assert!((udp.sum - 60e-6).abs() < 1e-12, "{}", udp.sum);
        assert_eq!(t.size[0].1.count, 2);
    }

    #[test]
    fn threads_past_the_owned_shards_share_one_and_lose_nothing() {
        let counters = std::sync::Arc::new(QueryCounters::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        // More threads than shards, all alive at once: the last share the overflow shard.
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(SHARDS + 8));
        let threads: Vec<_> = (0..SHARDS + 8)
            .map(|_| {
                let (c, barrier) = (counters.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    for _ in 0..200 {
                        c.record(false, ip, &query(rtype::A), &query(rtype::A), Duration::ZERO);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("counting thread");
        }
        let total = (SHARDS as u64 + 8) * 200;
        assert_eq!(counters.totals().queries, [("udp", "ipv4", "A", total)]);
        assert_eq!(counters.totals().latency[0].1.count, total);
    }

    #[test]
    fn threads_count_apart_and_sum_together() {
        let counters = std::sync::Arc::new(QueryCounters::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = counters.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.record(false, ip, &query(rtype::A), &query(rtype::A), Duration::ZERO);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("counting thread");
        }
        assert_eq!(counters.totals().queries, [("udp", "ipv4", "A", 4000)]);
        assert_eq!(
            counters.totals().queries,
            [("udp", "ipv4", "A", 4000)],
            "a read resets nothing"
        );
    }
}
