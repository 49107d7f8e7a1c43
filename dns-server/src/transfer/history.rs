//! What changed between consecutive versions of each zone, kept in memory
//! within a bound so that IXFR (RFC 1995) can send differences.
//!
//! A difference is computed when a new version is swapped in: the names
//! [`Zone::changed_names`] reports (cheap after an update, one walk of the
//! zone after a full re-read), each compared record by record. A client
//! whose serial is not in the history gets the whole zone instead. The
//! histories of zones transferred out are also kept on disk ([`disk`]), so
//! that they outlive a restart.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    path::PathBuf,
    sync::{Arc, Mutex},
};

use dns_wire::wire::rtype;

use super::records::{OwnedRr, Rr, node_records, soa};
use crate::{catalog::Catalog, zone::tree::Zone};

/// Memory one zone's history may hold; older differences are dropped
/// first, and a single difference larger than this is not kept (its
/// clients get the whole zone, which costs no more to send).
pub(crate) const HISTORY_BYTES: usize = 32 << 20;
/// Differences kept per zone: as many versions back as a secondary may
/// fall behind and still be sent differences.
pub(crate) const HISTORY_VERSIONS: usize = 64;

/// The difference between two consecutive versions of a zone.
#[derive(Debug)]
pub(crate) struct Delta {
    /// The old version's SOA.
    pub from_soa: OwnedRr,
    /// The new version's SOA.
    pub to_soa: OwnedRr,
    /// Records in the old version only (the SOA aside).
    pub removed: Vec<OwnedRr>,
    /// Records in the new version only (the SOA aside).
    pub added: Vec<OwnedRr>,
    from_serial: u32,
    /// The new version's [`crate::catalog::ZoneVersion::id`].
    to_version: u64,
    bytes: usize,
}

impl Delta {
    /// Bytes it holds, for the history's bound.
    fn footprint(&self) -> usize {
        let records = self.removed.iter().chain(&self.added).map(OwnedRr::footprint);
        self.from_soa.footprint() + self.to_soa.footprint() + records.sum::<usize>()
    }

    /// The difference from `old` to `new`, or `None` when it would hold
    /// more than `budget` bytes.
    pub(crate) fn between(old: &Zone, new: &Zone, to_version: u64, budget: usize) -> Option<Delta> {
        let (from_soa, to_soa) = (OwnedRr::of(soa(old)), OwnedRr::of(soa(new)));
        let mut delta = Delta {
            bytes: from_soa.footprint() + to_soa.footprint(),
            from_soa,
            to_soa,
            removed: Vec::new(),
            added: Vec::new(),
            from_serial: old.serial,
            to_version,
        };
        let apex = new.origin.as_wire();
        for name in Zone::changed_names(old, new) {
            let at_apex = name.as_wire().eq_ignore_ascii_case(apex);
            let records = |zone: &Zone| -> Vec<OwnedRr> {
                zone.node(name.as_wire())
                    .map(|node| {
                        node_records(node)
                            .filter(|rr| !(at_apex && rr.rtype == rtype::SOA))
                            .map(OwnedRr::of)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (before, after) = (records(old), records(new));
            let key = |rr: &Rr<'_>| (rr.rtype, rr.class, rr.ttl, rr.rdata.to_vec());
            let kept_before: HashSet<_> = before.iter().map(|r| key(&r.as_rr())).collect();
            let kept_after: HashSet<_> = after.iter().map(|r| key(&r.as_rr())).collect();
            for rr in before.into_iter().filter(|r| !kept_after.contains(&key(&r.as_rr()))) {
                delta.bytes += rr.footprint();
                delta.removed.push(rr);
            }
            for rr in after.into_iter().filter(|r| !kept_before.contains(&key(&r.as_rr()))) {
                delta.bytes += rr.footprint();
                delta.added.push(rr);
            }
            if delta.bytes > budget {
                return None;
            }
        }
        Some(delta)
    }
}

/// `text` as the IXFR history file of `zone` kept in `dir`, taken back and
/// written again (the fuzz target `ixfr_history`; see `disk::reread`).
pub(crate) fn reread_on_disk(dir: &std::path::Path, zone: &Zone, text: &[u8]) -> Option<usize> {
    disk::reread(dir, zone, text)
}

/// `a` is newer than `b` in serial number arithmetic (RFC 1982).
pub(crate) fn serial_newer(a: u32, b: u32) -> bool {
    a != b && (a.wrapping_sub(b) as i32) > 0
}

/// One zone's differences, oldest first, each ending where the next begins.
struct History {
    deltas: VecDeque<Arc<Delta>>,
    bytes: usize,
    /// Its file, when the zone's history is kept on disk.
    disk: disk::OnDisk,
}

impl Default for History {
    fn default() -> History {
        History {
            deltas: VecDeque::new(),
            bytes: 0,
            // Whatever file there is was not written from this history.
            disk: disk::OnDisk {
                stale: true,
                ..disk::OnDisk::default()
            },
        }
    }
}

impl History {
    fn push(&mut self, delta: Delta) {
        self.bytes += delta.bytes;
        self.disk.unsaved += 1;
        self.deltas.push_back(Arc::new(delta));
        while self.bytes > HISTORY_BYTES || self.deltas.len() > HISTORY_VERSIONS {
            let Some(old) = self.deltas.pop_front() else { break };
            self.bytes -= old.bytes;
        }
    }
}

/// Every zone's history, by lower-cased wire origin.
#[derive(Default)]
pub(crate) struct Histories {
    zones: Mutex<HashMap<Box<[u8]>, History>>,
    /// Where [`Histories::save`] keeps them (`None`: in memory only).
    dir: Option<PathBuf>,
}

impl Histories {
    /// Histories that [`Histories::save`] keeps in `dir` and
    /// [`Histories::restore`] reads back from it.
    pub(crate) fn kept_in(dir: PathBuf) -> Histories {
        Histories {
            zones: Mutex::default(),
            dir: Some(dir),
        }
    }

    /// At start: takes back from disk the history of each zone of
    /// `catalog` that `keep` selects (those transferred out), when it ends
    /// at the version served.
    pub(crate) fn restore(&self, catalog: &Catalog, keep: impl Fn(&[u8]) -> bool) {
        let Some(dir) = &self.dir else { return };
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        for served in catalog.zones() {
            let Some(version) = &served.version else { continue };
            let origin = served.origin.as_wire();
            if !keep(origin) {
                continue;
            }
            if let Some(history) = disk::restore(dir, &version.zone, version.id) {
                let serial = history.deltas.front().map_or(0, |d| d.from_serial);
                tracing::info!(zone = %served.origin, differences = history.deltas.len(), from_serial = serial, "IXFR history taken back from disk");
                zones.insert(origin.into(), history);
            }
        }
    }

    /// Writes to disk what the histories that `keep` selects recorded
    /// since the last save. Called after [`Histories::record`], under the
    /// same lock (saves are made in version order).
    pub(crate) fn save(&self, keep: impl Fn(&[u8]) -> bool) {
        let Some(dir) = &self.dir else { return };
        let saves: Vec<(Box<[u8]>, disk::Save)> = {
            let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
            zones
                .iter_mut()
                .filter(|(origin, _)| keep(origin))
                .filter_map(|(origin, history)| Some((origin.clone(), history.save(dir, origin)?)))
                .collect()
        };
        // Written outside the lock: IXFR requests read the histories meanwhile.
        for (origin, save) in saves {
            let file = save.path().to_path_buf();
            if let Err(error) = save.write() {
                tracing::warn!(file = %file.display(), %error, "IXFR history not kept on disk; a restart will send whole zones");
                let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(history) = zones.get_mut(&origin) {
                    history.disk.stale = true;
                }
            }
        }
    }

    /// Records what changed from the zones of `old` to those of `new` (just
    /// swapped in); returns the origins whose serial changed, to announce.
    pub(crate) fn record(&self, old: &Catalog, new: &Catalog) -> Vec<Arc<Zone>> {
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        zones.retain(|origin, _| new.zone(origin).is_some_and(|z| z.version.is_some()));
        let mut announce = Vec::new();
        for served in new.zones() {
            let Some(version) = &served.version else { continue };
            let origin = served.origin.as_wire();
            let before = old.zone(origin).and_then(|z| z.version.as_ref());
            let Some(before) = before else {
                zones.remove(origin);
                announce.push(version.zone.clone());
                continue;
            };
            if before.id == version.id {
                continue;
            }
            let (from, to) = (&before.zone, &version.zone);
            if from.serial != to.serial {
                announce.push(to.clone());
            }
            let history = zones.entry(origin.into()).or_default();
            let continues = history.deltas.back().is_none_or(|last| last.to_version == before.id);
            if !serial_newer(to.serial, from.serial) || !continues {
                if from.serial == to.serial {
                    tracing::warn!(zone = %served.origin, serial = to.serial, "zone changed without a new serial; secondaries will not see the change");
                }
                *history = History::default();
                if !serial_newer(to.serial, from.serial) {
                    continue;
                }
            }
            match Delta::between(from, to, version.id, HISTORY_BYTES) {
                Some(delta) => history.push(delta),
                None => *history = History::default(),
            }
        }
        announce
    }

    /// The differences leading from `serial` to the version `current` of
    /// the zone at `origin`, or `None` when the history does not reach back
    /// to it.
    pub(crate) fn since(&self, origin: &[u8], serial: u32, current: u64) -> Option<Vec<Arc<Delta>>> {
        let zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        let history = zones.get(origin)?;
        if history.deltas.back()?.to_version != current {
            return None;
        }
        let first = history.deltas.iter().position(|d| d.from_serial == serial)?;
        Some(history.deltas.iter().skip(first).cloned().collect())
    }
}

mod disk;

#[cfg(test)]
mod tests;
