//! Keeping the response maps in step with the catalog, zone by zone.
//!
//! At start-up, and on a reload that adds or removes zones (a name may then
//! belong to another zone), the idle map (A or B) is emptied, filled with
//! a response for every owner name × RRset type × EDNS variant of the new
//! catalog, and made live by flipping `active` in the config map; only
//! then is the catalog swapped in and the old map emptied.
//!
//! On a reload that keeps the same zones, only the zones at a new version
//! are touched, in the live map; the other zones' keys, their run-time
//! copies included, stay. A new version that records which names changed
//! from the one the map holds (a reload diffs the two; an update knows)
//! has only the answers those names reach rewritten (see [`owned`]): the
//! changed names' responses written over, the answers depending on them
//! removed, every other key kept. Any other new version has its whole
//! zone's responses written over and every other key it had removed. For
//! this, userspace keeps which keys of the live map belong to which zone
//! version and what each depends on ([`Owners`]). All of it happens before
//! the catalog is swapped in, so XDP never answers from a zone version
//! that is no longer served.
//!
//! [`owned`]: super::owned
//!
//! Answers userspace caches later (negative answers, types not present)
//! reach the live map through a bounded channel, tagged with their catalog
//! and zone version: one from a zone version no longer followed, or from a
//! catalog older than the last whole refill, is never written.
//!
//! When a map is full, inserts fail and are counted; those questions are
//! simply answered by userspace. Two names whose keys collide (the key
//! holds a hash of the name) are told apart by the name kept in the value;
//! the key is then recorded for the zone that wrote it last.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        mpsc::{Receiver, SyncSender, TrySendError},
    },
};

use dns_wire::{
    csum,
    query::Query,
    wire::{FLAG_CD, FLAG_RD, FLAG_TC, HEADER_LEN, class, rcode},
};

use xdp_abi::{CacheKey, CacheValue, KEY_DO, KEY_EDNS, MAX_BODY};

use super::{
    SharedMaps, XdpError,
    maps::Maps,
    owned::{Depends, NameKey, Owned, depends},
};
use crate::{
    catalog::{Catalog, Change, ServedZone},
    fast_path::NoFastPath,
    message::write::{OPT_LEN, Writer},
    name::Name,
    query::{Identity, Responder, Transport},
    stats::Stats,
    zone::{canonical::Key, node::Node},
};

/// Run-time answers waiting to be copied into the map; more are dropped
/// (the query stays with userspace), so the packet path never blocks.
const QUEUE: usize = 4096;

/// The key for a question (`lower` is the lower-cased wire name).
pub(crate) fn key(lower: &[u8], qtype: u16, qclass: u16, flags: u8) -> CacheKey {
    CacheKey::new(lower, qtype, qclass, flags)
}

/// The map value for a response to a question named `lower`; `None` when
/// XDP must not serve it (truncated, too large, odd).
pub(crate) fn value(lower: &[u8], response: &[u8]) -> Option<Box<CacheValue>> {
    let word = |at: usize| Some(u16::from_be_bytes([*response.get(at)?, *response.get(at + 1)?]));
    let flags = word(2)?;
    let end = HEADER_LEN + lower.len() + 4;
    let body = response.get(end..)?;
    if flags & FLAG_TC != 0 || word(4)? != 1 || body.len() > MAX_BODY || lower.len() > dns_wire::wire::MAX_NAME_LEN {
        return None;
    }
    let mut v = Box::new(CacheValue::zeroed());
    v.header_flags = flags & !(FLAG_RD | FLAG_CD);
    v.ancount = word(6)?;
    v.nscount = word(8)?;
    v.arcount = word(10)?;
    v.set_name_and_body(lower, body);
    v.body_csum = u32::from(csum::fold(csum::add_bytes(0, body)));
    Some(v)
}

/// A query as a resolver would send it: ID 0, no RD; with an OPT record
/// advertising `payload` when `edns` is `Some(dnssec_ok)`.
pub(crate) fn synth_query(lower: &[u8], qtype: u16, edns: Option<bool>, payload: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(HEADER_LEN + lower.len() + 4 + OPT_LEN);
    let mut w = Writer::new(&mut q, usize::MAX, 0, 0, Some((lower, qtype, class::IN)));
    if let Some(dnssec_ok) = edns {
        w.opt(payload, 0, dnssec_ok, &[]);
    }
    w.finish();
    q
}

/// A precomputed response and the zone it belongs to: the zone that
/// answered it (a parent's delegation seen from a child we also serve
/// belongs to the child).
pub(crate) struct Precomputed {
    /// The zone's origin, lower-cased wire form.
    pub origin: Box<[u8]>,
    pub key: CacheKey,
    pub value: Box<CacheValue>,
    /// What the answer depends on, for updating the zone by changed names.
    pub depends: Depends,
}

/// A response for every owner × type × EDNS variant of `catalog`, built by
/// the same [`Responder`] that answers userspace queries.
pub(crate) fn precompute(catalog: &Catalog, identity: &Identity) -> Vec<(CacheKey, Box<CacheValue>)> {
    precompute_zones(catalog, identity, None, usize::MAX)
        .into_iter()
        .map(|p| (p.key, p.value))
        .collect()
}

/// As [`precompute`], with the zone of each response; only the responses
/// of the zone at `only` (lower-cased wire origin) when given; at most
/// `limit` of them (in canonical order of names, zone by zone).
pub(crate) fn precompute_zones(
    catalog: &Catalog,
    identity: &Identity,
    only: Option<&[u8]>,
    limit: usize,
) -> Vec<Precomputed> {
    let mut precomputer = Precomputer::new(catalog, identity);
    // One zone is looked up, not searched for: a reload may change many of 100,000.
    let zones: Box<dyn Iterator<Item = &ServedZone>> = match only {
        Some(origin) => Box::new(catalog.zone(origin).into_iter()),
        None => Box::new(catalog.zones()),
    };
    for served in zones {
        let Some(version) = &served.version else { continue };
        for node in version.zone.nodes() {
            if precomputer.entries.len() >= limit {
                return precomputer.entries;
            }
            precomputer.node(node, only);
        }
    }
    precomputer.entries
}

/// The responses for the names `changed` (lower-cased) of the zone at
/// `origin` (lower-cased wire form) in `catalog`: what a new version whose
/// changes are known rewrites, beside removing the answers that depended on them.
pub(crate) fn precompute_names(
    catalog: &Catalog,
    identity: &Identity,
    origin: &[u8],
    changed: &[Name],
) -> Vec<Precomputed> {
    let mut precomputer = Precomputer::new(catalog, identity);
    if let Some(version) = catalog.zone(origin).and_then(|z| z.version.as_ref()) {
        for name in changed {
            if let Some(node) = version.zone.node(name.as_wire()) {
                precomputer.node(node, Some(origin));
            }
        }
    }
    precomputer.entries
}

/// Builds responses with the same [`Responder`] that answers userspace queries.
struct Precomputer<'c> {
    catalog: &'c Catalog,
    identity: &'c Identity,
    stats: Stats,
    entries: Vec<Precomputed>,
    out: Vec<u8>,
}

impl<'c> Precomputer<'c> {
    fn new(catalog: &'c Catalog, identity: &'c Identity) -> Self {
        Precomputer {
            catalog,
            identity,
            stats: Stats::default(),
            entries: Vec::new(),
            out: Vec::new(),
        }
    }

    /// A response for each RRset type × EDNS variant of `node`; only those
    /// the zone at `only` answers when given.
    fn node(&mut self, node: &Node, only: Option<&[u8]>) {
        // Answers cached meanwhile are in `entries` already: nothing to copy.
        let responder = Responder {
            catalog: self.catalog,
            identity: self.identity,
            stats: &self.stats,
            fast_path: &NoFastPath,
            secondaries: None,
        };
        let variants = [(None, 0), (Some(false), KEY_EDNS), (Some(true), KEY_EDNS | KEY_DO)];
        let owner = &node.owner().to_ascii_lowercase()[..];
        // RRSIGs are one RRset per type covered, but one question.
        let mut types: Vec<u16> = node.rrsets().map(|r| r.rtype).collect();
        types.sort_unstable();
        types.dedup();
        for rtype in types {
            // The zone answering this question, which may be another of ours.
            let Some(answering) = self.catalog.find_for(owner, rtype) else {
                continue;
            };
            if only.is_some_and(|o| answering.origin.as_wire() != o) {
                continue;
            }
            for (edns, flags) in variants {
                let query = synth_query(owner, rtype, edns, self.identity.udp_payload);
                let out = &mut self.out;
                if responder.respond(&query, Transport::Udp, out).is_ok()
                    && matches!(
                        out.get(3).map(|b| u16::from(b & 0x0f)),
                        Some(rcode::NOERROR | rcode::NXDOMAIN)
                    )
                    && let Some(value) = value(owner, out)
                {
                    self.entries.push(Precomputed {
                        origin: answering.origin.as_wire().into(),
                        key: key(owner, rtype, class::IN, flags),
                        value,
                        depends: depends(owner, out),
                    });
                }
            }
        }
    }
}

/// How a fill went.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Filled {
    /// Entries written.
    pub inserted: usize,
    /// Entries that did not fit (map full).
    pub failed: usize,
    /// Entries removed (their zone's new version has no such answer).
    pub removed: usize,
    /// The map now live (0 = A, 1 = B).
    pub active: u32,
}

/// Fills the idle map with `entries`, makes it live, and empties the other.
pub(crate) fn install(maps: &SharedMaps, entries: &[(CacheKey, Box<CacheValue>)]) -> Result<Filled, XdpError> {
    let mut maps = maps.lock().unwrap_or_else(|e| e.into_inner());
    install_locked(&mut maps, entries.iter().map(|(k, v)| (k, v.as_ref())), |_| {})
}

/// [`install`] with the maps locked; `written` is told of each key written.
fn install_locked<'a>(
    maps: &mut Maps,
    entries: impl Iterator<Item = (&'a CacheKey, &'a CacheValue)>,
    mut written: impl FnMut(&CacheKey),
) -> Result<Filled, XdpError> {
    let mut config = maps.config()?;
    let old = config.active as usize & 1;
    let idle = old ^ 1;
    clear(&mut maps.cache[idle])?;
    let mut filled = Filled::default();
    for (k, v) in entries {
        match maps.cache[idle].insert(k, v, 0) {
            Ok(()) => {
                filled.inserted += 1;
                written(k);
            }
            Err(_) => filled.failed += 1,
        }
    }
    config.active = idle as u32;
    maps.set_config(config)?;
    filled.active = idle as u32;
    clear(&mut maps.cache[old])?;
    Ok(filled)
}

fn clear(map: &mut aya::maps::HashMap<aya::maps::MapData, CacheKey, CacheValue>) -> Result<(), XdpError> {
    let keys: Vec<CacheKey> = map.keys().filter_map(Result::ok).collect();
    for k in keys {
        let _ = map.remove(&k);
    }
    Ok(())
}

/// Which zone version each zone answer in the live map came from: the
/// userspace record that lets a reload rewrite one zone's keys and leave
/// every other zone's alone, run-time copies included.
#[derive(Default)]
struct Owners {
    /// Copies from catalogs older than this are never written: the maps
    /// were refilled whole from it, and a name may belong to another zone
    /// since (a zone added or removed).
    since_generation: u64,
    /// By lower-cased wire origin: every configured zone, with or without data.
    zones: HashMap<Box<[u8]>, Owned>,
}

impl Owners {
    /// The part of the map `insert` may be written into: none when it comes
    /// from a zone version no longer followed, or from a catalog older than
    /// the last whole refill.
    fn accepting(&mut self, insert: &Insert) -> Option<&mut Owned> {
        if insert.generation < self.since_generation || insert.version == 0 {
            return None;
        }
        self.zones
            .get_mut(&insert.origin)
            .filter(|o| o.version == insert.version)
    }

    /// Whether `catalog` has the same zones (origins) as those followed, so
    /// that each zone's keys can be rewritten alone.
    fn same_zones(&self, catalog: &Catalog) -> bool {
        self.since_generation != 0
            && catalog.zones().count() == self.zones.len()
            && catalog.zones().all(|z| self.zones.contains_key(z.origin.as_wire()))
    }
}

/// A run-time answer for the live map, tagged with the catalog and the
/// zone version it came from. It holds the response as it was sent: the
/// map's value and what the answer depends on are worked out on the
/// xdp-sync thread, not on the query's.
pub(crate) struct Insert {
    generation: u64,
    origin: Box<[u8]>,
    version: u64,
    key: CacheKey,
    /// The question's name, lower-cased wire form.
    lower: Box<[u8]>,
    response: Box<[u8]>,
}

impl Insert {
    /// The copy of `response` (to `q`, from its zone in `catalog`) for the live map.
    fn of(catalog: &Catalog, q: &Query<'_>, response: &[u8]) -> Option<Insert> {
        let lower = q.qname.to_ascii_lowercase();
        let zone = catalog.find_for(&lower, q.qtype)?;
        let flags = q.edns.map_or(0, |e| KEY_EDNS | if e.dnssec_ok { KEY_DO } else { 0 });
        Some(Insert {
            generation: catalog.generation(),
            origin: zone.origin.as_wire().into(),
            version: zone.version_id(),
            key: key(&lower, q.qtype, q.qclass, flags),
            lower: lower.into(),
            response: response.into(),
        })
    }
}

/// Keeps the live map in step with the catalog's zone versions: whole
/// refills, per-zone updates, and run-time answers copied in (version permitting).
pub(crate) struct Inserter {
    tx: SyncSender<Insert>,
    maps: SharedMaps,
    owners: Arc<Mutex<Owners>>,
}

impl Inserter {
    /// Starts the copying thread.
    pub(crate) fn start(maps: SharedMaps) -> Inserter {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let owners = Arc::new(Mutex::new(Owners::default()));
        let (thread_maps, thread_owners) = (maps.clone(), owners.clone());
        std::thread::Builder::new()
            .name("xdp-sync".into())
            .spawn(move || copy_in(&thread_maps, &rx, &thread_owners))
            .expect("spawning the xdp-sync thread");
        Inserter { tx, maps, owners }
    }

    /// Whether [`Inserter::update`] can bring the live map to `catalog`
    /// (the same zones as now, some at new versions); otherwise it takes a
    /// whole [`Inserter::refill`].
    pub(crate) fn can_update(&self, catalog: &Catalog) -> bool {
        self.owners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .same_zones(catalog)
    }

    /// Keys the zones followed hold in the live map now.
    pub(crate) fn entries(&self) -> usize {
        let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners.zones.values().map(|o| o.len()).sum()
    }

    /// Whether the live map holds `zone` at the version served.
    pub(crate) fn follows(&self, zone: &ServedZone) -> bool {
        let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners
            .zones
            .get(zone.origin.as_wire())
            .is_some_and(|o| o.version == zone.version_id())
    }

    /// The names changed in `zone`'s version since the one the live map
    /// holds, when they are known: then only they need precomputing.
    pub(crate) fn changed_names<'z>(&self, zone: &'z ServedZone) -> Option<&'z [Name]> {
        let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let followed = owners.zones.get(zone.origin.as_wire())?.version;
        known_change(zone, followed).map(|c| &c.names[..])
    }

    /// Fills the idle map with `entries` (precomputed from `catalog`), makes
    /// it live, empties the other, and follows `catalog`'s zone versions
    /// from now on (and no older catalog's copies).
    pub(crate) fn refill(&self, catalog: &Catalog, entries: &[Precomputed]) -> Result<Filled, XdpError> {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        let mut zones: HashMap<Box<[u8]>, Owned> = catalog
            .zones()
            .map(|z| (z.origin.as_wire().into(), Owned::at(z.version_id())))
            .collect();
        let by_key: HashMap<&CacheKey, &Precomputed> = entries.iter().map(|p| (&p.key, p)).collect();
        let filled = install_locked(&mut maps, entries.iter().map(|p| (&p.key, p.value.as_ref())), |key| {
            if let Some(p) = by_key.get(key)
                && let Some(owned) = zones.get_mut(&p.origin)
            {
                owned.insert(*key, p.depends.clone());
            }
        })?;
        *owners = Owners {
            since_generation: catalog.generation(),
            zones,
        };
        Ok(filled)
    }

    /// Takes out of the live map the answers the changes of `catalog`'s
    /// zones can reach, before their new answers are worked out (which
    /// takes a while for a big change): until [`Inserter::update`] writes
    /// them, userspace answers those questions rather than XDP the old
    /// answer (such as a name's NXDOMAIN from before it was added).
    pub(crate) fn retire(&self, catalog: &Catalog) -> Result<(), XdpError> {
        let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        let live = maps.live()?;
        for zone in catalog.zones() {
            let Some(owned) = owners.zones.get(zone.origin.as_wire()) else {
                continue;
            };
            if owned.version == zone.version_id() {
                continue;
            }
            let Some(changed) = incremental_from(zone, owned.version) else {
                continue;
            };
            let apex = Key::of(zone.origin.as_wire())
                .map(|k| k.as_bytes().to_vec())
                .unwrap_or_default();
            for stale in owned.affected(&changed, &apex) {
                let _ = live.remove(&stale);
            }
        }
        Ok(())
    }

    /// Rewrites, in the live map, the keys of every zone whose version in
    /// `catalog` is not the one followed. A version whose changes from the
    /// one followed are known ([`ZoneVersion::change`]) has only the keys
    /// those changes can reach rewritten: `entries` for its changed names
    /// written over, the other affected keys removed, and every other key
    /// kept (now for the new version). Any other changed zone has its
    /// `entries` (precomputed for the whole zone) written over and every
    /// other key it had (run-time copies included) removed. Other zones'
    /// keys are not touched. From now on copies of the changed zones' old
    /// versions are dropped. Call only when [`Inserter::can_update`] said so.
    ///
    /// [`ZoneVersion::change`]: crate::catalog::ZoneVersion::change
    pub(crate) fn update(&self, catalog: &Catalog, entries: Vec<Precomputed>) -> Result<Filled, XdpError> {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        let live = maps.live()?;
        let mut filled = Filled::default();
        let mut by_zone: HashMap<Box<[u8]>, Vec<Precomputed>> = HashMap::new();
        for p in entries {
            by_zone.entry(p.origin.clone()).or_default().push(p);
        }
        for zone in catalog.zones() {
            let Some(owned) = owners.zones.get_mut(zone.origin.as_wire()) else {
                continue;
            };
            if owned.version == zone.version_id() {
                continue;
            }
            let entries = by_zone.remove(zone.origin.as_wire()).unwrap_or_default();
            let mut next = match incremental_from(zone, owned.version) {
                // Keep what the change cannot reach; drop the rest.
                Some(changed) => {
                    let apex = Key::of(zone.origin.as_wire())
                        .map(|k| k.as_bytes().to_vec())
                        .unwrap_or_default();
                    let fresh: HashSet<CacheKey> = entries.iter().map(|p| p.key).collect();
                    for stale in owned.affected(&changed, &apex) {
                        owned.remove(&stale);
                        // Taken out by `retire` already, unless copied back
                        // since (from a version userspace still served).
                        let _ = live.remove(&stale);
                        if !fresh.contains(&stale) {
                            filled.removed += 1;
                        }
                    }
                    std::mem::take(owned)
                }
                // Whole zone: every key not written again goes.
                None => {
                    let fresh: HashSet<CacheKey> = entries.iter().map(|p| p.key).collect();
                    for stale in owned.keys().filter(|k| !fresh.contains(k)) {
                        if live.remove(stale).is_ok() {
                            filled.removed += 1;
                        }
                    }
                    Owned::default()
                }
            };
            for p in entries {
                match live.insert(p.key, p.value.as_ref(), 0) {
                    Ok(()) => {
                        filled.inserted += 1;
                        next.insert(p.key, p.depends);
                    }
                    Err(_) => {
                        filled.failed += 1;
                        // The old answer under this key must not stay.
                        if live.remove(&p.key).is_ok() {
                            filled.removed += 1;
                        }
                    }
                }
            }
            next.version = zone.version_id();
            *owned = next;
        }
        Ok(filled)
    }

    /// Queues `response`, just put in the answer cache of its zone in
    /// `catalog`, for the live map; never blocks. It is written only if
    /// that zone version is still the one the map follows by then. `false`
    /// when the queue is full: offer it again later (the answer cache does,
    /// on a later hit).
    pub(crate) fn offer(&self, catalog: &Catalog, q: &Query<'_>, response: &[u8]) -> bool {
        let Some(insert) = Insert::of(catalog, q, response) else {
            return true;
        };
        match self.tx.try_send(insert) {
            Err(TrySendError::Full(_)) => {
                tracing::debug!("xdp-sync queue full; the answer is offered again on its next hit");
                false
            }
            _ => true,
        }
    }

    /// [`Inserter::offer`], written (or not) before it returns.
    #[cfg(test)]
    pub(crate) fn copy_now(&self, catalog: &Catalog, q: &Query<'_>, response: &[u8]) {
        if let Some(insert) = Insert::of(catalog, q, response) {
            let _ = copy_one(&self.maps, &self.owners, insert);
        }
    }
}

/// The canonical keys of the names changed since `followed`, when `zone`'s
/// version says what they are; `None` when the whole zone must be rewritten.
fn incremental_from(zone: &ServedZone, followed: u64) -> Option<Vec<NameKey>> {
    known_change(zone, followed)?
        .names
        .iter()
        .map(|n| Key::of(n.as_wire()).map(|k| k.as_bytes().into()))
        .collect()
}

/// `zone`'s change from the version `followed`, if its version records one.
fn known_change(zone: &ServedZone, followed: u64) -> Option<&Change> {
    let change = zone.version.as_ref()?.change.as_deref()?;
    (followed != 0 && change.from == followed).then_some(change)
}

fn copy_in(maps: &SharedMaps, rx: &Receiver<Insert>, owners: &Mutex<Owners>) {
    let mut full_logged = false;
    for insert in rx {
        if let Err(error) = copy_one(maps, owners, insert)
            && !full_logged
        {
            tracing::warn!(%error, "XDP response map full; further answers stay in userspace");
            full_logged = true;
        }
    }
}

/// Writes `insert` if its zone version is still the one followed.
fn copy_one(maps: &SharedMaps, owners: &Mutex<Owners>, insert: Insert) -> Result<(), aya::maps::MapError> {
    // Worked out before the locks are taken. An answer the map cannot hold
    // (truncated, too long) stays in userspace.
    let Some(value) = value(&insert.lower, &insert.response) else {
        return Ok(());
    };
    let depends = depends(&insert.lower, &insert.response);
    let mut owners = owners.lock().unwrap_or_else(|e| e.into_inner());
    let Some(owned) = owners.accepting(&insert) else {
        return Ok(());
    };
    let mut maps = maps.lock().unwrap_or_else(|e| e.into_inner());
    let Ok(live) = maps.live() else { return Ok(()) };
    live.insert(insert.key, value.as_ref(), 0)?;
    owned.insert(insert.key, depends);
    Ok(())
}

#[cfg(test)]
mod tests {
    use test_support::Query;

    use super::synth_query;

    /// A late copy from a zone version the map no longer follows, or from a
    /// catalog older than the last whole refill, is never written; copies
    /// of the versions followed are, whichever catalog they came from.
    #[test]
    fn late_copies_of_replaced_versions_are_never_written() {
        use super::{Insert, Owned, Owners};
        let insert = |generation: u64, origin: &[u8], version: u64| Insert {
            generation,
            origin: origin.into(),
            version,
            key: super::key(origin, 1, 1, 0),
            lower: origin.into(),
            response: Box::default(),
        };
        let (a, b) = (&b"\x01a\x00"[..], &b"\x01b\x00"[..]);
        let mut owners = Owners {
            since_generation: 10,
            zones: [(a.into(), Owned::at(5)), (b.into(), Owned::at(7))]
                .into_iter()
                .collect(),
        };
        assert!(owners.accepting(&insert(10, a, 5)).is_some(), "the version followed");
        assert!(
            owners.accepting(&insert(12, a, 5)).is_some(),
            "from a later catalog, same version"
        );
        assert!(
            owners.accepting(&insert(9, a, 5)).is_none(),
            "from before the last whole refill"
        );
        // b is updated to version 8 (a per-zone update): copies of 7 in flight are dropped.
        owners.zones.get_mut(b).expect("b").version = 8;
        assert!(
            owners.accepting(&insert(11, b, 7)).is_none(),
            "a late copy of the replaced version"
        );
        assert!(
            owners.accepting(&insert(12, b, 8)).is_some(),
            "the new version's copies"
        );
        assert!(
            owners.accepting(&insert(12, b"\x01c\x00", 1)).is_none(),
            "a zone not followed"
        );
        assert!(owners.accepting(&insert(12, a, 0)).is_none(), "no version: never");
    }

    /// The server's writer and test-support's independent builder agree byte for byte.
    #[test]
    fn synthetic_queries_are_what_a_resolver_sends() {
        let lower = test_support::encode_name("www.example.com");
        assert_eq!(
            synth_query(&lower, 1, None, 1232),
            Query::new("www.example.com", 1).to_wire()
        );
        assert_eq!(
            synth_query(&lower, 28, Some(false), 1232),
            Query::new("www.example.com", 28).edns(1232).to_wire()
        );
        assert_eq!(
            synth_query(&lower, 16, Some(true), 4096),
            Query::new("www.example.com", 16).edns(4096).dnssec_ok().to_wire()
        );
    }
    /// DO=1 answers of a signed zone are precomputed by the same responder,
    /// so the map holds each RRset with its RRSIG, and DO=0 answers without.
    #[test]
    fn signed_answers_are_precomputed_with_their_signatures() {
        use std::{path::Path, sync::Arc};

        use xdp_abi::{KEY_DO, KEY_EDNS};

        use super::{key, precompute};
        use crate::{catalog::Catalog, name::Name, query::Identity, zone::load};

        let sig = |covered: &str, labels: u8| format!("RRSIG {covered} 13 {labels} 3600 1 0 1 example. AQID");
        let text = format!(
            "$ORIGIN example.\n$TTL 3600\n@ SOA ns1 host 1 7200 3600 1209600 300\n@ NS ns1\n\
             @ NSEC ns1 NS SOA RRSIG NSEC\nns1 A 192.0.2.1\nns1 NSEC example. A RRSIG NSEC\n\
             @ {}\n@ {}\n@ {}\nns1 {}\nns1 {}\n",
            sig("SOA", 1),
            sig("NS", 1),
            sig("NSEC", 1),
            sig("A", 2),
            sig("NSEC", 2)
        );
        let origin = Name::parse("example.", None).expect("origin");
        let zone = load::from_str(&origin, &text, Path::new("signed.zone")).expect("the zone loads");
        let catalog = Catalog::new([Arc::new(zone)], 1000);
        let identity = Identity {
            identity: "pop-test".into(),
            version: None,
            udp_payload: 1232,
        };
        let entries = precompute(&catalog, &identity);
        let ns1 = b"\x03ns1\x07example\x00";
        let counts = |flags: u8| {
            let wanted = key(ns1, 1, 1, flags);
            entries
                .iter()
                .find(|(k, _)| *k == wanted)
                .map(|(_, v)| (v.ancount, v.nscount))
                .expect("ns1 A is precomputed")
        };
        assert_eq!(counts(KEY_EDNS | KEY_DO), (2, 0), "DO=1: the A and its RRSIG");
        assert_eq!(counts(KEY_EDNS), (1, 0), "DO=0: the A alone");
    }
}
