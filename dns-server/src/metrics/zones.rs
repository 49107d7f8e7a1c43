//! Queries and responses per zone (`[metrics] per_zone = true`, off by default).
//!
//! Memory is bounded by the zones configured, never by the names clients
//! ask: each zone gets a slot (an index) the first time one of its queries
//! is counted, and keeps it for the life of the process; past [`MAX_ZONES`]
//! slots, zones count together under `zone="other"`. Each thread's cells
//! (one row of queries and responses by RCODE per slot) are allocated the
//! first time it counts, and summed when scraped, as every counter here.

use std::{
    collections::HashMap,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use arc_swap::ArcSwap;
use dns_wire::{query, wire};

use super::counters::{RCODES, Sharded, rcode_slot};
use crate::catalog::Catalog;

/// Zones with a slot of their own; the next slot counts every other zone.
/// A row is 9 counters (72 bytes), so a counting thread holds about 300 KB.
pub(crate) const MAX_ZONES: usize = 4096;
/// Cells per slot: queries, then responses by RCODE slot.
const ROW: usize = 1 + RCODES.len();
/// Label of the slot shared by the zones past [`MAX_ZONES`].
const OTHER: &str = "other";

/// The per-zone counters.
#[derive(Default)]
pub(crate) struct ZoneCounters {
    /// Lower-cased origin (wire form) to slot; replaced whole when a zone
    /// gets its slot, so counting reads it without a lock.
    slots: ArcSwap<HashMap<Box<[u8]>, usize>>,
    /// Each slot's zone (as text), and the lock a new slot is given under.
    names: Mutex<Vec<String>>,
    /// Each thread's rows, `[slot * ROW + cell]`, allocated when it first counts.
    cells: Sharded<OnceLock<Box<[AtomicU64]>>>,
}

/// One zone's sums.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ZoneTotals {
    /// The zone's origin, or `other`.
    pub zone: String,
    pub queries: u64,
    /// (rcode label, responses), nonzero only.
    pub responses: Vec<(&'static str, u64)>,
}

impl ZoneCounters {
    /// Counts a query in the zone `catalog` answers it from, with its
    /// response (empty: none sent). Queries outside every zone are not counted here.
    pub(crate) fn record(&self, catalog: &Catalog, query: &[u8], response: &[u8]) {
        let Some(question) = query.get(wire::HEADER_LEN..) else {
            return;
        };
        let Some(len) = query::question_name_len(question) else {
            return;
        };
        let qtype = question
            .get(len..len + 2)
            .map_or(0, |t| u16::from_be_bytes([t[0], t[1]]));
        let mut lower = [0u8; wire::MAX_NAME_LEN];
        let len = query::lowercase_name(&question[..len], &mut lower);
        let Some(zone) = catalog.find_for(&lower[..len], qtype) else {
            return;
        };
        let origin = zone.origin.as_wire();
        let slot = match self.slots.load().get(origin) {
            Some(&slot) => slot,
            None => self.assign(origin, &zone.origin.to_string()),
        };
        let row = self
            .cells
            .local()
            .get_or_init(|| (0..(MAX_ZONES + 1) * ROW).map(|_| AtomicU64::new(0)).collect());
        row[slot * ROW].fetch_add(1, Relaxed);
        if let Some(rcode) = rcode_slot(response) {
            row[slot * ROW + 1 + rcode].fetch_add(1, Relaxed);
        }
    }

    /// Gives `origin` its slot (the shared one when every slot is taken).
    #[cold]
    fn assign(&self, origin: &[u8], name: &str) -> usize {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&slot) = self.slots.load().get(origin) {
            return slot;
        }
        if names.len() >= MAX_ZONES {
            return MAX_ZONES;
        }
        let slot = names.len();
        names.push(name.to_string());
        let mut slots = HashMap::clone(&self.slots.load());
        slots.insert(origin.into(), slot);
        self.slots.store(slots.into());
        slot
    }

    /// Every zone counted so far, summed over threads (zones with no query yet are left out).
    pub(crate) fn totals(&self) -> Vec<ZoneTotals> {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner()).clone();
        names.push(OTHER.to_string());
        let cell = |slot: usize, i: usize| {
            self.cells
                .sum_with(|row| row.get().map_or(0, |r| r[slot * ROW + i].load(Relaxed)))
        };
        let mut out = Vec::new();
        for (slot, zone) in names.into_iter().enumerate() {
            let slot = if zone == OTHER { MAX_ZONES } else { slot };
            let queries = cell(slot, 0);
            if queries == 0 {
                continue;
            }
            let responses = RCODES
                .iter()
                .enumerate()
                .map(|(i, label)| (*label, cell(slot, 1 + i)))
                .filter(|(_, n)| *n > 0)
                .collect();
            out.push(ZoneTotals {
                zone,
                queries,
                responses,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{name::Name, zone::load};

    fn catalog(origins: &[&str]) -> Catalog {
        let zones = origins.iter().map(|o| {
            let origin = Name::parse(o, None).expect("origin");
            let text = "@ 60 SOA ns h 1 2 3 4 5\n@ 60 NS ns\nns 60 A 192.0.2.1\n";
            Arc::new(load::from_str(&origin, text, std::path::Path::new("<test>")).expect("zone"))
        });
        Catalog::new(zones, 16)
    }

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        test_support::Query::new(name, qtype).to_wire()
    }

    #[test]
    fn counts_by_zone_and_rcode_and_leaves_other_names_out() {
        let catalog = catalog(&["a.test.", "b.test."]);
        let counters = ZoneCounters::default();
        let mut nxdomain = query("x.b.test.", 1);
        nxdomain[2] |= 0x80;
        nxdomain[3] = 3;
        counters.record(&catalog, &query("WWW.A.test.", 1), &query("www.a.test.", 1));
        counters.record(&catalog, &query("ns.a.test.", 28), &[]);
        counters.record(&catalog, &query("x.b.test.", 1), &nxdomain);
        counters.record(&catalog, &query("www.example.org.", 1), &[]);
        counters.record(&catalog, &[0; 5], &[]);
        let totals = counters.totals();
        assert_eq!(
            totals,
            [
                ZoneTotals {
                    zone: "a.test.".into(),
                    queries: 2,
                    responses: vec![("noerror", 1)],
                },
                ZoneTotals {
                    zone: "b.test.".into(),
                    queries: 1,
                    responses: vec![("nxdomain", 1)],
                },
            ]
        );
    }

    #[test]
    fn zones_past_the_bound_share_one_slot() {
        let counters = ZoneCounters::default();
        for i in 0..MAX_ZONES + 3 {
            let slot = counters.assign(format!("z{i}").as_bytes(), &format!("z{i}."));
            assert_eq!(slot, i.min(MAX_ZONES));
        }
        assert_eq!(counters.assign(b"z7", "z7."), 7, "a zone keeps its slot");
    }
}
