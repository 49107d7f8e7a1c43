//! The set of zones served, and the most-specific-zone match for a query name.

use std::{collections::HashMap, sync::Arc};

use crate::{answer_cache::AnswerCache, name::suffixes, zone::tree::Zone};

/// One immutable generation of served data: zones plus the wire answers
/// cached from them. A reload builds a new one and swaps it in whole, so a
/// query never sees a mix of old and new data.
pub struct Catalog {
    zones: HashMap<Box<[u8]>, Arc<Zone>>,
    /// Responses already built from these zones, by question.
    pub answers: AnswerCache,
    /// Told of each response newly put in `answers` (the XDP fast path copies it).
    pub on_cached: std::sync::OnceLock<CachedHook>,
}

/// See [`Catalog::on_cached`]: the query and the stored response (ID 0, RD/CD clear).
pub type CachedHook = Box<dyn Fn(&dns_wire::query::Query<'_>, &[u8]) + Send + Sync>;

impl Catalog {
    /// A catalog of `zones` with an empty answer cache of `cache_entries`.
    pub fn new(zones: impl IntoIterator<Item = Arc<Zone>>, cache_entries: usize) -> Self {
        let zones = zones.into_iter().map(|z| (z.origin.as_wire().into(), z)).collect();
        Catalog {
            zones,
            answers: AnswerCache::new(cache_entries),
            on_cached: std::sync::OnceLock::new(),
        }
    }

    /// The most specific zone containing `lower` (a lower-cased wire name).
    pub fn find(&self, lower: &[u8]) -> Option<&Arc<Zone>> {
        suffixes(lower).find_map(|s| self.zones.get(s))
    }

    /// The zone to answer `lower`/`qtype` from: the most specific, except
    /// that DS at the apex of a zone is answered from its parent when we
    /// serve that too (RFC 4035 3.1.4.1).
    pub fn find_for(&self, lower: &[u8], qtype: u16) -> Option<&Arc<Zone>> {
        let zone = self.find(lower)?;
        if qtype == dns_wire::wire::rtype::DS && zone.origin.as_wire() == lower {
            let parent = crate::name::parent(lower).and_then(|p| self.find(p));
            return parent.or(Some(zone));
        }
        Some(zone)
    }

    /// The zone whose apex is exactly `origin` (lower-cased wire name).
    pub fn zone(&self, origin: &[u8]) -> Option<&Arc<Zone>> {
        self.zones.get(origin)
    }

    /// Every zone, in no particular order.
    pub fn zones(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.zones.values()
    }
}
