//! The resolver's cache: RRsets and negative answers with TTLs counted down,
//! clamps, a memory bound with CLOCK eviction, and stale entries kept for
//! serve-stale (RFC 8767).
//!
//! Eviction is CLOCK (second chance), a cheap approximation of LRU: entries
//! sit in a ring in insertion order, each with a bit set whenever a client
//! reads it ([`Cache::get`]). Under the memory bound the hand, at the front
//! of the ring, evicts the first entry whose bit is clear; an entry with its
//! bit set has it cleared and goes to the back for another lap. So names
//! asked once (a scan, a random-subdomain flood) go first, and names that
//! keep being asked stay, at O(1) amortised cost and one bit per entry.
//! [`Cache::peek`] (copies of the cache elsewhere) leaves the bit alone.
//! Expired entries are not removed early: they stay for serve-stale until
//! the hand reaches them or a new answer replaces them.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::dnssec::Security;
use crate::name::Name;

/// Bytes counted per entry on top of its records, for the memory bound.
const ENTRY_OVERHEAD: usize = 96;
/// Type slot under which an NXDOMAIN is cached: it answers every type.
const ANY_TYPE: u16 = 0;
/// Longest a bogus RRset is kept (RFC 4035 4.7: briefly, to spare the servers).
const BOGUS_TTL: u32 = 60;

/// One cached record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedRecord {
    /// Owner, as received.
    pub owner: Name,
    pub rtype: u16,
    pub class: u16,
    /// RDATA, names expanded.
    pub rdata: Vec<u8>,
}

/// What is cached for a name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cached {
    /// An RRset (or a CNAME standing for the name).
    Records(Arc<[CachedRecord]>),
    /// The name does not exist (RFC 2308 5); the SOA proves it.
    NxDomain(Option<Arc<CachedRecord>>),
    /// The name exists but has no such type.
    NoData(Option<Arc<CachedRecord>>),
}

/// A negative answer's proof and what validation said of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Denial {
    /// NSEC/NSEC3 records and the RRSIGs over them and over the SOA.
    pub proof: Vec<CachedRecord>,
    pub security: Security,
}

/// A cache hit with the TTL left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub data: Cached,
    /// Seconds left (0 for a stale entry being served).
    pub ttl: u32,
    /// Whether the entry is past its TTL (served under serve-stale).
    pub stale: bool,
    /// Whether the entry is close to expiry and worth refreshing now.
    pub prefetch: bool,
    /// Whether the entry is in the last tenth of its TTL (popular or not).
    pub late: bool,
    /// The RRSIGs that came with an RRset (for DO clients and validation),
    /// and its denial records (a wildcard's), or a negative answer's proof.
    pub sigs: Arc<[CachedRecord]>,
    /// What validation said when it was stored.
    pub security: Security,
}

/// Cache settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheConfig {
    /// Approximate memory bound in bytes.
    pub max_bytes: usize,
    /// TTLs below this are raised to it.
    pub min_ttl: u32,
    /// TTLs above this are lowered to it (RFC 8767 suggests 7 days at most).
    pub max_ttl: u32,
    /// Negative answers are kept at most this long (RFC 2308 5: 1-3 hours).
    pub max_negative_ttl: u32,
    /// How long past expiry an entry may still be served when every server fails.
    pub stale_window: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: 64 << 20,
            min_ttl: 0,
            max_ttl: 86_400,
            max_negative_ttl: 3600,
            stale_window: Duration::from_secs(86_400),
        }
    }
}

struct Entry {
    data: Cached,
    stored: Instant,
    ttl: u32,
    bytes: usize,
    hits: u32,
    /// Read by a client since the hand last passed (CLOCK's reference bit).
    referenced: bool,
    sigs: Arc<[CachedRecord]>,
    security: Security,
}

/// Lower-cased owner in wire form, and the type slot.
type Key = (Box<[u8]>, u16);

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Entry>,
    /// Every key of `map` once; the front is the CLOCK hand.
    ring: VecDeque<Key>,
    /// Sum of the entries' `bytes`.
    bytes: usize,
    /// Entries evicted to keep within the memory bound (counted under the
    /// lock eviction holds anyway).
    evictions: u64,
}

impl Inner {
    /// Moves the CLOCK hand to the first entry not read since its last pass
    /// and evicts it; false when the ring is empty. Each entry passed over
    /// loses its bit, so this ends within two laps.
    fn evict_one(&mut self) -> bool {
        while let Some(key) = self.ring.pop_front() {
            let Some(entry) = self.map.get_mut(&key) else {
                continue;
            };
            if std::mem::replace(&mut entry.referenced, false) {
                self.ring.push_back(key);
                continue;
            }
            if let Some(old) = self.map.remove(&key) {
                self.bytes -= old.bytes;
                self.evictions += 1;
            }
            return true;
        }
        false
    }
}

/// The cache, shared by every resolution.
pub(crate) struct Cache {
    inner: Mutex<Inner>,
    config: CacheConfig,
}

impl Cache {
    /// An empty cache.
    pub(crate) fn new(config: CacheConfig) -> Self {
        Cache {
            inner: Mutex::new(Inner::default()),
            config,
        }
    }

    /// Looks up `name`/`rtype` (NXDOMAIN for the name answers any type).
    /// Expired entries are returned only with `allow_stale`, within the window.
    pub(crate) fn get(&self, name: &Name, rtype: u16, allow_stale: bool, now: Instant) -> Option<Hit> {
        self.lookup(name, rtype, allow_stale, true, now)
    }

    /// [`Cache::get`] without counting a hit (for copies of the cache
    /// elsewhere, which must not make an entry look popular), never stale.
    pub(crate) fn peek(&self, name: &Name, rtype: u16, now: Instant) -> Option<Hit> {
        self.lookup(name, rtype, false, false, now)
    }

    fn lookup(&self, name: &Name, rtype: u16, allow_stale: bool, count: bool, now: Instant) -> Option<Hit> {
        let key = name.to_lowercase();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let slots = [(key.as_wire(), ANY_TYPE), (key.as_wire(), rtype)];
        for (name, t) in slots {
            let Some(entry) = inner.map.get_mut(&(Box::from(name), t)) else {
                continue;
            };
            let age = now.saturating_duration_since(entry.stored);
            let ttl = Duration::from_secs(entry.ttl.into());
            let stale = age >= ttl;
            if stale && (!allow_stale || age >= ttl + self.config.stale_window) {
                continue;
            }
            if count {
                entry.hits = entry.hits.saturating_add(1);
                entry.referenced = true;
            }
            let left = ttl.saturating_sub(age).as_secs() as u32;
            let late = left * 10 <= entry.ttl;
            // Prefetch popular entries in the last tenth of their life.
            let prefetch = count && !stale && entry.hits >= 3 && late && entry.ttl >= 10;
            return Some(Hit {
                data: entry.data.clone(),
                ttl: left,
                stale,
                prefetch,
                late,
                sigs: entry.sigs.clone(),
                security: entry.security,
            });
        }
        None
    }

    /// Stores an RRset under its owner and type; the TTL is the lowest of the records' (clamped).
    pub(crate) fn put_records(&self, records: Vec<CachedRecord>, ttl: u32, now: Instant) {
        self.put_signed(records, Vec::new(), Security::Unchecked, ttl, now);
    }

    /// Stores an RRset with its RRSIGs and validation status; a bogus one
    /// only briefly, so that a repaired zone is tried again soon.
    pub(crate) fn put_signed(
        &self,
        records: Vec<CachedRecord>,
        sigs: Vec<CachedRecord>,
        security: Security,
        ttl: u32,
        now: Instant,
    ) {
        let Some(first) = records.first() else { return };
        let key = (Box::from(first.owner.to_lowercase().as_wire()), first.rtype);
        let mut ttl = ttl.clamp(self.config.min_ttl, self.config.max_ttl);
        if matches!(security, Security::Bogus(_)) {
            ttl = ttl.min(BOGUS_TTL);
        }
        let bytes = records
            .iter()
            .chain(&sigs)
            .map(|r| r.owner.as_wire().len() + r.rdata.len() + 16)
            .sum::<usize>();
        self.insert(
            key,
            Cached::Records(records.into()),
            ttl,
            bytes,
            now,
            sigs.into(),
            security,
        );
    }

    /// Stores a negative answer; its TTL is min(SOA TTL, SOA MINIMUM) as the caller computed.
    #[cfg(test)]
    pub(crate) fn put_negative(
        &self,
        name: &Name,
        rtype: u16,
        nxdomain: bool,
        soa: Option<CachedRecord>,
        ttl: u32,
        now: Instant,
    ) {
        let unproven = Denial {
            proof: Vec::new(),
            security: Security::Unchecked,
        };
        self.put_denial(name, rtype, nxdomain, soa, ttl, unproven, now);
    }

    /// Stores a negative answer with its denial records (NSEC/NSEC3 and
    /// RRSIGs, kept where an RRset keeps its RRSIGs) and what validation
    /// said of them; a bogus one only briefly.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn put_denial(
        &self,
        name: &Name,
        rtype: u16,
        nxdomain: bool,
        soa: Option<CachedRecord>,
        ttl: u32,
        denial: Denial,
        now: Instant,
    ) {
        let slot = if nxdomain { ANY_TYPE } else { rtype };
        let key = (Box::from(name.to_lowercase().as_wire()), slot);
        let mut ttl = ttl
            .min(self.config.max_negative_ttl)
            .max(self.config.min_ttl.min(self.config.max_negative_ttl));
        if matches!(denial.security, Security::Bogus(_)) {
            ttl = ttl.min(BOGUS_TTL);
        }
        let bytes = soa.as_ref().map_or(0, |s| s.rdata.len() + s.owner.as_wire().len())
            + denial
                .proof
                .iter()
                .map(|r| r.owner.as_wire().len() + r.rdata.len() + 16)
                .sum::<usize>();
        let soa = soa.map(Arc::new);
        let data = if nxdomain {
            Cached::NxDomain(soa)
        } else {
            Cached::NoData(soa)
        };
        self.insert(key, data, ttl, bytes, now, denial.proof.into(), denial.security);
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &self,
        key: Key,
        data: Cached,
        ttl: u32,
        bytes: usize,
        now: Instant,
        sigs: Arc<[CachedRecord]>,
        security: Security,
    ) {
        let bytes = bytes + ENTRY_OVERHEAD + key.0.len();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // A new answer for a key keeps its place in the ring and its bit: being
        // refreshed (a prefetch) says nothing about being read.
        let referenced = match inner.map.remove(&key) {
            Some(old) => {
                inner.bytes -= old.bytes;
                old.referenced
            }
            None => {
                inner.ring.push_back(key.clone());
                false
            }
        };
        inner.bytes += bytes;
        inner.map.insert(
            key,
            Entry {
                data,
                stored: now,
                ttl,
                bytes,
                hits: 0,
                referenced,
                sigs,
                security,
            },
        );
        while inner.bytes > self.config.max_bytes && inner.evict_one() {}
    }

    /// Approximate bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }

    /// Entries evicted so far to stay within the memory bound.
    pub(crate) fn evictions(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).evictions
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).map.len()
    }

    /// Forgets every entry (`ctl cache-flush`), or with `name`, the entries
    /// of that name and every name below it; returns how many went.
    pub(crate) fn flush(&self, name: Option<&Name>) -> usize {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(name) = name else {
            let gone = inner.map.len();
            *inner = Inner::default();
            return gone;
        };
        let lower = name.to_lowercase();
        let before = inner.map.len();
        let mut freed = 0;
        inner.map.retain(|(owner, _), entry| {
            let keep = !crate::name::is_within(owner, lower.as_wire());
            if !keep {
                freed += entry.bytes;
            }
            keep
        });
        inner.bytes -= freed;
        // The ring skips keys no longer in the map (see `evict_one`).
        before - inner.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, rdata: &[u8]) -> CachedRecord {
        CachedRecord {
            owner: Name::parse(name, None).expect("name"),
            rtype: 1,
            class: 1,
            rdata: rdata.to_vec(),
        }
    }

    #[test]
    fn ttl_counts_down_and_expires() {
        let cache = Cache::new(CacheConfig::default());
        let t0 = Instant::now();
        cache.put_records(vec![rec("a.example.", &[192, 0, 2, 1])], 100, t0);
        let name = Name::parse("A.example.", None).expect("name");
        assert_eq!(
            cache
                .get(&name, 1, false, t0 + Duration::from_secs(30))
                .expect("hit")
                .ttl,
            70
        );
        assert!(
            cache.get(&name, 1, false, t0 + Duration::from_secs(100)).is_none(),
            "expired"
        );
        let stale = cache
            .get(&name, 1, true, t0 + Duration::from_secs(200))
            .expect("stale hit");
        assert!(stale.stale && stale.ttl == 0);
        assert!(
            cache
                .get(&name, 1, true, t0 + Duration::from_secs(100 + 86_400))
                .is_none(),
            "past the stale window"
        );
    }

    #[test]
    fn nxdomain_answers_every_type_and_nodata_only_its_own() {
        let cache = Cache::new(CacheConfig::default());
        let t0 = Instant::now();
        let nx = Name::parse("nx.example.", None).expect("name");
        cache.put_negative(&nx, 1, true, None, 60, t0);
        assert!(matches!(
            cache.get(&nx, 28, false, t0).expect("hit").data,
            Cached::NxDomain(_)
        ));
        let nd = Name::parse("nd.example.", None).expect("name");
        cache.put_negative(&nd, 28, false, None, 60, t0);
        assert!(cache.get(&nd, 1, false, t0).is_none());
        assert!(matches!(
            cache.get(&nd, 28, false, t0).expect("hit").data,
            Cached::NoData(_)
        ));
    }

    #[test]
    fn memory_bound_evicts_unread_entries_oldest_first() {
        let cache = Cache::new(CacheConfig {
            max_bytes: 4000,
            ..CacheConfig::default()
        });
        let t0 = Instant::now();
        for i in 0..200 {
            cache.put_records(vec![rec(&format!("n{i}.example."), &[0; 16])], 300, t0);
        }
        assert!(cache.bytes() <= 4000, "bound kept: {}", cache.bytes());
        assert_eq!(
            cache.evictions(),
            200 - cache.len() as u64,
            "every entry gone was an eviction"
        );
        let newest = Name::parse("n199.example.", None).expect("name");
        let oldest = Name::parse("n0.example.", None).expect("name");
        assert!(cache.get(&newest, 1, false, t0).is_some());
        assert!(cache.get(&oldest, 1, false, t0).is_none());
    }

    /// The bytes one `n{i:05}.example.` A entry with 4 bytes of RDATA costs.
    fn entry_bytes() -> usize {
        let cache = Cache::new(CacheConfig::default());
        cache.put_records(vec![rec("n00000.example.", &[0; 4])], 300, Instant::now());
        cache.bytes()
    }

    #[test]
    fn entries_read_again_survive_a_scan_of_one_off_names() {
        const HOLDS: usize = 40;
        const HOT: usize = 10;
        let cache = Cache::new(CacheConfig {
            max_bytes: HOLDS * entry_bytes(),
            ..CacheConfig::default()
        });
        let t0 = Instant::now();
        let name = |i: usize| format!("n{i:05}.example.");
        for i in 0..HOT {
            cache.put_records(vec![rec(&name(i), &[0; 4])], 300, t0);
        }
        // A scan of 25 times the cache's size in names asked once, while
        // clients keep reading the hot ones (each once per 10 new names).
        for i in HOT..HOT + 25 * HOLDS {
            cache.put_records(vec![rec(&name(i), &[0; 4])], 300, t0);
            if i % 10 == 0 {
                for hot in 0..HOT {
                    let hot = Name::parse(&name(hot), None).expect("name");
                    cache.get(&hot, 1, false, t0);
                }
            }
        }
        assert_eq!(cache.len(), HOLDS, "the bound holds {HOLDS} entries and is full");
        let lost: Vec<String> = (0..HOT)
            .map(name)
            .filter(|n| cache.peek(&Name::parse(n, None).expect("name"), 1, t0).is_none())
            .collect();
        assert!(
            lost.is_empty(),
            "entries read again were evicted by one-off names: {lost:?}"
        );
    }

    #[test]
    fn peeking_does_not_save_an_entry_from_eviction() {
        const HOLDS: usize = 20;
        let cache = Cache::new(CacheConfig {
            max_bytes: HOLDS * entry_bytes(),
            ..CacheConfig::default()
        });
        let t0 = Instant::now();
        let name = |i: usize| format!("n{i:05}.example.");
        let peeked = Name::parse(&name(0), None).expect("name");
        for i in 0..3 * HOLDS {
            cache.put_records(vec![rec(&name(i), &[0; 4])], 300, t0);
            cache.peek(&peeked, 1, t0);
        }
        assert!(
            cache.peek(&peeked, 1, t0).is_none(),
            "an entry only peeked at (the XDP feed) must age like one never read"
        );
    }

    #[test]
    fn bytes_are_the_sum_of_the_entries_through_evictions_and_replacements() {
        let cache = Cache::new(CacheConfig {
            max_bytes: 3000,
            ..CacheConfig::default()
        });
        let t0 = Instant::now();
        for i in 0..500usize {
            // Varying sizes, some names stored again with new data, some read.
            let owner = format!("n{}.example.", i % 37);
            cache.put_records(vec![rec(&owner, &vec![0; i % 50])], 300, t0);
            if i % 3 == 0 {
                let nx = Name::parse(&format!("nx{}.example.", i % 11), None).expect("name");
                cache.put_negative(&nx, 1, i % 2 == 0, None, 60, t0);
            }
            if i % 5 == 0 {
                cache.get(&Name::parse(&owner, None).expect("name"), 1, false, t0);
            }
            let inner = cache.inner.lock().expect("lock");
            let sum: usize = inner.map.values().map(|e| e.bytes).sum();
            assert_eq!(inner.bytes, sum, "bytes counted after step {i}");
            assert!(inner.bytes <= 3000, "over the bound after step {i}: {}", inner.bytes);
            assert_eq!(
                inner.ring.len(),
                inner.map.len(),
                "one ring slot per entry after step {i}"
            );
        }
    }

    #[test]
    fn popular_entries_near_expiry_ask_for_prefetch() {
        let cache = Cache::new(CacheConfig::default());
        let t0 = Instant::now();
        cache.put_records(vec![rec("hot.example.", &[1, 2, 3, 4])], 100, t0);
        let name = Name::parse("hot.example.", None).expect("name");
        let early = cache.get(&name, 1, false, t0 + Duration::from_secs(10)).expect("hit");
        assert!(!early.prefetch, "not near expiry");
        cache.get(&name, 1, false, t0 + Duration::from_secs(20));
        let late = cache.get(&name, 1, false, t0 + Duration::from_secs(95)).expect("hit");
        assert!(late.prefetch, "third hit in the last tenth of the TTL");
    }

    #[test]
    fn ttls_are_clamped() {
        let cache = Cache::new(CacheConfig {
            min_ttl: 30,
            max_ttl: 600,
            ..CacheConfig::default()
        });
        let t0 = Instant::now();
        cache.put_records(vec![rec("lo.example.", &[1, 1, 1, 1])], 5, t0);
        cache.put_records(vec![rec("hi.example.", &[1, 1, 1, 1])], 99_999, t0);
        let get = |n: &str| {
            cache
                .get(&Name::parse(n, None).expect("name"), 1, false, t0)
                .expect("hit")
                .ttl
        };
        assert_eq!((get("lo.example."), get("hi.example.")), (30, 600));
    }
}
