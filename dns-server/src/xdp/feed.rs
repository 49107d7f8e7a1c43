//! The resolver's hot answers copied into the program's live response map.
//!
//! A question answered from the resolver's cache in userspace has been asked
//! at least twice within its TTL: it is offered here, and this thread writes
//! the response into the live map beside our zones' answers (no zone holds
//! the name, so the keys never meet), marked with a deadline; the program
//! answers it only for RD=1 queries from the clients the XDP allow lists
//! (the same prefixes as `[resolver] allow`) contain. One map rather than a
//! second one: a hit then costs one lookup, whichever answer it finds.
//!
//! TTLs: every [`PERIOD`] the thread rebuilds each entry from the cache
//! (without counting hits) with every TTL lowered by [`WINDOW_S`], and gives
//! it a deadline [`WINDOW_S`] seconds on; the program does not answer past
//! the deadline. The cache reports whole seconds left, rounded down, so at
//! any moment before the deadline each record's real time left is at least
//! the TTL written. A stalled thread therefore costs hits, never correctness.
//!
//! An entry leaves the map when the cache no longer has the answer, when it
//! enters the last tenth of its TTL (so userspace sees the queries again and
//! its prefetch of popular entries works as without XDP), or when its TTLs
//! are too short to lower. A reload that adds or removes zones removes
//! every entry (the flip to the new zones' map leaves them behind; the feed
//! starts again empty): names a new zone covers must never be answered from
//! the resolver's cache. A reload that only changes zones' data keeps them.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc::{Receiver, SyncSender, TryRecvError},
    },
    time::{Duration, Instant},
};

use dns_wire::{
    query::Edns,
    wire::{FLAG_RD, class},
};

use xdp_abi::{CacheKey, CacheValue, KEY_DO, KEY_EDNS};

use super::{SharedMaps, sync};
use crate::{
    catalog::Catalog,
    name::Name,
    query::{Identity, Pending},
    resolver::{Resolution, Resolver},
};

/// How often every entry is rebuilt.
pub(crate) const PERIOD: Duration = Duration::from_secs(1);
/// An entry's lifetime in the map, and what its TTLs are lowered by (seconds).
/// Twice [`PERIOD`], so a rebuild on time always lands before the deadline.
pub(crate) const WINDOW_S: u32 = 2;
/// How far the program's clock (`bpf_ktime_get_coarse_ns`, updated once a
/// tick: 4 ms at HZ=250, 10 ms at HZ=100) may lag [`monotonic_ns`]. Every
/// deadline is written this much early, so the program never answers past
/// the one meant. The fine clock costs ~55 ns a resolver hit on a VM.
pub(crate) const PROGRAM_CLOCK_LAG_NS: u64 = 50_000_000;
/// Offers waiting for the thread; more are dropped (the query was answered anyway).
const QUEUE: usize = 4096;
/// How often the thread takes the offers queued since. It sleeps between
/// times rather than waiting on the queue, so an offer never wakes it: a
/// wake per offer (a context switch on the server's CPU) cost more than the
/// offer, and a hot answer XDP cannot send itself (too long for the frame)
/// is offered again at every query userspace answers.
const OFFER_TICK: Duration = Duration::from_millis(10);

/// One question the map answers.
struct Entry {
    /// Lower-cased.
    name: Name,
    qtype: u16,
    edns: Option<Edns>,
}

struct State {
    /// The catalog XDP follows: a name one of its zones holds is never fed.
    catalog: Arc<Catalog>,
    entries: HashMap<CacheKey, Entry>,
}

/// The feed: offers in, the map kept.
pub(crate) struct Feed {
    tx: SyncSender<Entry>,
    state: Arc<Mutex<State>>,
    /// Cleared while the feed holds its bound of entries: offers are then not even sent.
    open: Arc<AtomicBool>,
}

/// What the feed needs to build responses.
struct Builder {
    resolver: Arc<Resolver>,
    identity: Identity,
}

impl Feed {
    /// Starts the feed thread; at most `max_entries` questions are kept in the map.
    pub(crate) fn start(
        maps: SharedMaps,
        resolver: Arc<Resolver>,
        identity: Identity,
        catalog: Arc<Catalog>,
        max_entries: usize,
    ) -> Feed {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let state = Arc::new(Mutex::new(State {
            catalog,
            entries: HashMap::new(),
        }));
        let open = Arc::new(AtomicBool::new(true));
        let worker = Worker {
            maps,
            state: state.clone(),
            open: open.clone(),
            builder: Builder { resolver, identity },
            max_entries,
        };
        std::thread::Builder::new()
            .name("xdp-feed".into())
            .spawn(move || worker.run(&rx))
            .expect("spawning the xdp-feed thread");
        Feed { tx, state, open }
    }

    /// Offers a question just answered from the resolver's cache.
    pub(crate) fn offer(&self, pending: &Pending) {
        if !self.open.load(Ordering::Relaxed) || pending.qclass != class::IN {
            return;
        }
        let entry = Entry {
            name: pending.qname.to_lowercase(),
            qtype: pending.qtype,
            edns: pending.edns,
        };
        let _ = self.tx.try_send(entry);
    }

    /// Removes every entry and follows `catalog` from now on; call before
    /// XDP's zone answers flip to it. (An entry added between this and the
    /// flip is left behind in the old map; the next rebuild writes it again.)
    pub(crate) fn follow(&self, catalog: Arc<Catalog>, maps: &SharedMaps) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut maps = maps.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(live) = maps.live() {
            for key in state.entries.keys() {
                let _ = live.remove(key);
            }
        }
        state.entries.clear();
        state.catalog = catalog;
        self.open.store(true, Ordering::Relaxed);
    }

    /// Follows `catalog`, which has the same zones as the one followed (so
    /// the same names are ours and every entry stays), from now on.
    pub(crate) fn follow_zones(&self, catalog: Arc<Catalog>) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).catalog = catalog;
    }
}

struct Worker {
    maps: SharedMaps,
    state: Arc<Mutex<State>>,
    open: Arc<AtomicBool>,
    builder: Builder,
    max_entries: usize,
}

impl Worker {
    fn run(&self, rx: &Receiver<Entry>) {
        let mut next = Instant::now() + PERIOD;
        loop {
            std::thread::sleep(OFFER_TICK.min(next.saturating_duration_since(Instant::now())));
            loop {
                match rx.try_recv() {
                    Ok(entry) => self.add(entry),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            if Instant::now() >= next {
                self.rebuild_all();
                next = Instant::now() + PERIOD;
            }
        }
    }

    fn add(&self, entry: Entry) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let lower = entry.name.as_wire();
        let key = sync::key(lower, entry.qtype, class::IN, edns_flags(entry.edns));
        if state.entries.contains_key(&key) || state.catalog.find_for(lower, entry.qtype).is_some() {
            return;
        }
        if state.entries.len() >= self.max_entries {
            if self.open.swap(false, Ordering::Relaxed) {
                tracing::info!(
                    entries = self.max_entries,
                    "XDP resolver entries full ([xdp] recursive_entries); more hot answers stay in userspace"
                );
            }
            return;
        }
        let Some(value) = self.builder.value(&entry) else {
            return;
        };
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        match maps.live().and_then(|live| Ok(live.insert(key, value.as_ref(), 0)?)) {
            Ok(()) => {
                state.entries.insert(key, entry);
            }
            Err(error) => tracing::debug!(%error, "XDP resolver entry not written"),
        }
    }

    /// Rebuilds every entry with current TTLs, or removes it.
    fn rebuild_all(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Built first, then written under one lock of the maps.
        let values: Vec<(CacheKey, Option<Box<CacheValue>>)> = state
            .entries
            .iter()
            .map(|(key, entry)| (*key, self.builder.value(entry)))
            .collect();
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(live) = maps.live() else { return };
        for (key, value) in values {
            let written = value.is_some_and(|v| live.insert(key, v.as_ref(), 0).is_ok());
            if !written {
                let _ = live.remove(&key);
                state.entries.remove(&key);
            }
        }
        if state.entries.len() < self.max_entries {
            self.open.store(true, Ordering::Relaxed);
        }
    }
}

impl Builder {
    /// The map value for `entry` from the cache now, or `None` when it must not be in the map.
    fn value(&self, entry: &Entry) -> Option<Box<CacheValue>> {
        // The clock is read before the cache, so the deadline errs early.
        let expires_ns = monotonic_ns() + u64::from(WINDOW_S) * 1_000_000_000 - PROGRAM_CLOCK_LAG_NS;
        let (mut resolution, late) = self.resolver.peek_cached(&entry.name, entry.qtype)?;
        // Bogus data is answered per client (SERVFAIL, or the data for CD=1): not from the map.
        if late || matches!(resolution.security, crate::resolver::dnssec::Security::Bogus(_)) {
            return None;
        }
        lower_ttls(&mut resolution, WINDOW_S)?;
        value(
            &entry.name,
            entry.qtype,
            entry.edns,
            &resolution,
            &self.identity,
            expires_ns,
        )
    }
}

/// The map value answering `name`/`qtype` (asked with `edns`) with
/// `resolution`, as userspace writes it, valid until `expires_ns`; `None`
/// when XDP cannot serve it (too large).
pub(crate) fn value(
    name: &Name,
    qtype: u16,
    edns: Option<Edns>,
    resolution: &Resolution,
    identity: &Identity,
    expires_ns: u64,
) -> Option<Box<CacheValue>> {
    let pending = Pending {
        id: 0,
        flags: FLAG_RD,
        qname: name.clone(),
        qtype,
        qclass: class::IN,
        edns,
        limit: usize::from(u16::MAX),
        permit: None,
        // Shared by every client the map answers: never one client's cookie.
        cookie: crate::query::Judged::None,
    };
    let mut out = Vec::new();
    pending.write(&mut out, resolution, identity);
    let lower = name.to_lowercase();
    let mut answer = sync::value(lower.as_wire(), &out)?;
    answer.recursive_until_ns = expires_ns;
    Some(answer)
}

/// Lowers every TTL by `by`; `None` when a TTL would not stay above zero,
/// or there is none (an answer without records says nothing about its lifetime).
fn lower_ttls(resolution: &mut Resolution, by: u32) -> Option<()> {
    let mut any = false;
    let records = (resolution.answer.iter_mut().chain(resolution.authority.iter_mut()))
        .chain(resolution.sigs.iter_mut().chain(resolution.proof.iter_mut()));
    for (_, ttl) in records {
        *ttl = ttl.checked_sub(by).filter(|t| *t > 0)?;
        any = true;
    }
    any.then_some(())
}

/// The key flags for a query's EDNS.
pub(crate) fn edns_flags(edns: Option<Edns>) -> u8 {
    edns.map_or(0, |e| KEY_EDNS | if e.dnssec_ok { KEY_DO } else { 0 })
}

/// CLOCK_MONOTONIC in nanoseconds: the program's `bpf_ktime_get_coarse_ns`,
/// give or take [`PROGRAM_CLOCK_LAG_NS`].
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::cache::CachedRecord;

    fn rec(ttl: u32) -> (CachedRecord, u32) {
        let record = CachedRecord {
            owner: Name::parse("a.example.", None).expect("name"),
            rtype: 1,
            class: 1,
            rdata: vec![192, 0, 2, 1],
        };
        (record, ttl)
    }

    #[test]
    fn ttls_are_lowered_or_the_entry_refused() {
        let mut r = Resolution {
            answer: vec![rec(300), rec(10)],
            authority: vec![rec(60)],
            ..Resolution::default()
        };
        assert_eq!(lower_ttls(&mut r, 2), Some(()));
        let ttls: Vec<u32> = r.answer.iter().chain(&r.authority).map(|(_, t)| *t).collect();
        assert_eq!(ttls, [298, 8, 58]);
        let mut short = Resolution {
            answer: vec![rec(300), rec(2)],
            ..Resolution::default()
        };
        assert_eq!(lower_ttls(&mut short, 2), None, "a TTL of 2 cannot be lowered by 2");
        assert_eq!(
            lower_ttls(&mut Resolution::default(), 2),
            None,
            "no records, no lifetime"
        );
    }

    #[test]
    fn the_clock_is_the_programs() {
        let a = monotonic_ns();
        std::thread::sleep(Duration::from_millis(5));
        let b = monotonic_ns();
        assert!(b > a && b - a >= 5_000_000);
    }
}
