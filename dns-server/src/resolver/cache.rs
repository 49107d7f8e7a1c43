//! The resolver's cache: RRsets and negative answers with TTLs counted down,
//! clamps, a memory bound with FIFO eviction, and stale entries kept for
//! serve-stale (RFC 8767).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::name::Name;

/// Bytes counted per entry on top of its records, for the memory bound.
const ENTRY_OVERHEAD: usize = 96;
/// Type slot under which an NXDOMAIN is cached: it answers every type.
const ANY_TYPE: u16 = 0;

/// One cached record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedRecord {
    /// Owner, as received.
    pub owner: Name,
    /// TYPE.
    pub rtype: u16,
    /// CLASS.
    pub class: u16,
    /// RDATA, names expanded.
    pub rdata: Vec<u8>,
}

/// What is cached for a name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// An RRset (or a CNAME standing for the name).
    Records(Arc<[CachedRecord]>),
    /// The name does not exist (RFC 2308 5); the SOA proves it.
    NxDomain(Option<Arc<CachedRecord>>),
    /// The name exists but has no such type.
    NoData(Option<Arc<CachedRecord>>),
}

/// A cache hit with the TTL left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The data.
    pub data: Cached,
    /// Seconds left (0 for a stale entry being served).
    pub ttl: u32,
    /// Whether the entry is past its TTL (served under serve-stale).
    pub stale: bool,
    /// Whether the entry is close to expiry and worth refreshing now.
    pub prefetch: bool,
    /// Whether the entry is in the last tenth of its TTL (popular or not).
    pub late: bool,
}

/// Cache settings.
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
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
}

#[derive(Default)]
struct Inner {
    map: HashMap<(Box<[u8]>, u16), Entry>,
    order: VecDeque<(Box<[u8]>, u16)>,
    bytes: usize,
}

/// The cache, shared by every resolution.
pub struct Cache {
    inner: Mutex<Inner>,
    config: CacheConfig,
}

impl Cache {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Self {
        Cache {
            inner: Mutex::new(Inner::default()),
            config,
        }
    }

    /// Looks up `name`/`rtype` (NXDOMAIN for the name answers any type).
    /// Expired entries are returned only with `allow_stale`, within the window.
    pub fn get(&self, name: &Name, rtype: u16, allow_stale: bool, now: Instant) -> Option<Hit> {
        self.lookup(name, rtype, allow_stale, true, now)
    }

    /// [`Cache::get`] without counting a hit (for copies of the cache
    /// elsewhere, which must not make an entry look popular), never stale.
    pub fn peek(&self, name: &Name, rtype: u16, now: Instant) -> Option<Hit> {
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
            });
        }
        None
    }

    /// Stores an RRset under its owner and type; the TTL is the lowest of the records' (clamped).
    pub fn put_records(&self, records: Vec<CachedRecord>, ttl: u32, now: Instant) {
        let Some(first) = records.first() else { return };
        let key = (Box::from(first.owner.to_lowercase().as_wire()), first.rtype);
        let ttl = ttl.clamp(self.config.min_ttl, self.config.max_ttl);
        let bytes = records
            .iter()
            .map(|r| r.owner.as_wire().len() + r.rdata.len() + 16)
            .sum::<usize>();
        self.insert(key, Cached::Records(records.into()), ttl, bytes, now);
    }

    /// Stores a negative answer; its TTL is min(SOA TTL, SOA MINIMUM) as the caller computed.
    pub fn put_negative(
        &self,
        name: &Name,
        rtype: u16,
        nxdomain: bool,
        soa: Option<CachedRecord>,
        ttl: u32,
        now: Instant,
    ) {
        let slot = if nxdomain { ANY_TYPE } else { rtype };
        let key = (Box::from(name.to_lowercase().as_wire()), slot);
        let ttl = ttl
            .min(self.config.max_negative_ttl)
            .max(self.config.min_ttl.min(self.config.max_negative_ttl));
        let bytes = soa.as_ref().map_or(0, |s| s.rdata.len() + s.owner.as_wire().len());
        let soa = soa.map(Arc::new);
        let data = if nxdomain {
            Cached::NxDomain(soa)
        } else {
            Cached::NoData(soa)
        };
        self.insert(key, data, ttl, bytes, now);
    }

    fn insert(&self, key: (Box<[u8]>, u16), data: Cached, ttl: u32, bytes: usize, now: Instant) {
        let bytes = bytes + ENTRY_OVERHEAD + key.0.len();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = inner.map.remove(&key) {
            inner.bytes -= old.bytes;
        } else {
            inner.order.push_back(key.clone());
        }
        inner.bytes += bytes;
        inner.map.insert(
            key,
            Entry {
                data,
                stored: now,
                ttl,
                bytes,
                hits: 0,
            },
        );
        // Evict the oldest insertions until under the bound.
        while inner.bytes > self.config.max_bytes {
            let Some(oldest) = inner.order.pop_front() else { break };
            if let Some(old) = inner.map.remove(&oldest) {
                inner.bytes -= old.bytes;
            }
        }
    }

    /// Approximate bytes held.
    pub fn bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).map.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    fn memory_bound_evicts_oldest() {
        let cache = Cache::new(CacheConfig {
            max_bytes: 4000,
            ..CacheConfig::default()
        });
        let t0 = Instant::now();
        for i in 0..200 {
            cache.put_records(vec![rec(&format!("n{i}.example."), &[0; 16])], 300, t0);
        }
        assert!(cache.bytes() <= 4000, "bound kept: {}", cache.bytes());
        let newest = Name::parse("n199.example.", None).expect("name");
        let oldest = Name::parse("n0.example.", None).expect("name");
        assert!(cache.get(&newest, 1, false, t0).is_some());
        assert!(cache.get(&oldest, 1, false, t0).is_none());
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
