//! The set of zones served, and the most-specific-zone match for a query name.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::{answer_cache::AnswerCache, name::suffixes, zone::tree::Zone};

/// One immutable generation of served data: zones plus the wire answers
/// cached from them. A reload builds a new one and swaps it in whole, so a
/// query never sees a mix of old and new data.
pub(crate) struct Catalog {
    zones: HashMap<Box<[u8]>, Arc<Zone>>,
    /// Responses already built from these zones, by question.
    pub answers: AnswerCache,
    generation: u64,
}

/// The last generation number given out.
static GENERATIONS: AtomicU64 = AtomicU64::new(0);

impl Catalog {
    /// A catalog of `zones` with an empty answer cache of `cache_entries`.
    pub(crate) fn new(zones: impl IntoIterator<Item = Arc<Zone>>, cache_entries: usize) -> Self {
        let zones = zones.into_iter().map(|z| (z.origin.as_wire().into(), z)).collect();
        Catalog {
            zones,
            answers: AnswerCache::new(cache_entries),
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    /// This catalog's number, different for every catalog built in this
    /// process and never 0: what the XDP fast path tags an answer copied
    /// from it with, so a late one never lands in the next catalog's map.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The most specific zone containing `lower` (a lower-cased wire name).
    pub(crate) fn find(&self, lower: &[u8]) -> Option<&Arc<Zone>> {
        suffixes(lower).find_map(|s| self.zones.get(s))
    }

    /// The zone to answer `lower`/`qtype` from: the most specific, except
    /// that DS at the apex of a zone is answered from its parent when we
    /// serve that too (RFC 4035 3.1.4.1).
    pub(crate) fn find_for(&self, lower: &[u8], qtype: u16) -> Option<&Arc<Zone>> {
        let zone = self.find(lower)?;
        if qtype == dns_wire::wire::rtype::DS && zone.origin.as_wire() == lower {
            let parent = crate::name::parent(lower).and_then(|p| self.find(p));
            return parent.or(Some(zone));
        }
        Some(zone)
    }

    /// The zone whose apex is exactly `origin` (lower-cased wire name).
    pub(crate) fn zone(&self, origin: &[u8]) -> Option<&Arc<Zone>> {
        self.zones.get(origin)
    }

    /// Every zone, in no particular order.
    pub(crate) fn zones(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.zones.values()
    }
}
