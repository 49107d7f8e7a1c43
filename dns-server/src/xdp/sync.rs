//! Keeping the response maps in step with the catalog.
//!
//! Every generation of the catalog gets its own map: at start-up and on
//! each reload the idle map (A or B) is emptied, filled with a response for
//! every owner name × RRset type × EDNS variant of the new catalog, and
//! made live by flipping `active` in the config map; only then is the
//! catalog swapped in and the old map emptied. So XDP never answers from a
//! zone that is no longer loaded. Answers userspace caches later (negative
//! answers, types not present) reach the live map through a bounded
//! channel, tagged with their generation so a late one is never written
//! into the next generation's map.
//!
//! When a map is full, inserts fail and are counted; those questions are
//! simply answered by userspace.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
    mpsc::{Receiver, SyncSender, TrySendError},
};

use dns_wire::{
    csum,
    query::Query,
    wire::{FLAG_CD, FLAG_RD, FLAG_TC, HEADER_LEN, class},
};

use xdp_abi::{CacheKey, CacheValue, KEY_DO, KEY_EDNS, MAX_BODY};

use super::{SharedMaps, XdpError};
use crate::{
    catalog::Catalog,
    fast_path::NoFastPath,
    message::write::{OPT_LEN, Writer},
    query::{Identity, Responder, Transport},
    stats::Stats,
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

/// A response for every owner × type × EDNS variant of `catalog`, built by
/// the same [`Responder`] that answers userspace queries.
pub(crate) fn precompute(catalog: &Catalog, identity: &Identity) -> Vec<(CacheKey, Box<CacheValue>)> {
    let stats = Stats::default();
    // Answers cached meanwhile are in `entries` already: nothing to copy.
    let responder = Responder {
        catalog,
        identity,
        stats: &stats,
        fast_path: &NoFastPath,
    };
    let variants = [(None, 0), (Some(false), KEY_EDNS), (Some(true), KEY_EDNS | KEY_DO)];
    let mut entries = Vec::new();
    let mut out = Vec::new();
    for zone in catalog.zones() {
        for node in zone.nodes() {
            let owner = &node.owner().to_ascii_lowercase()[..];
            for rrset in node.rrsets() {
                for (edns, flags) in variants {
                    let query = synth_query(owner, rrset.rtype, edns, identity.udp_payload);
                    if responder.respond(&query, Transport::Udp, &mut out).is_ok()
                        && let Some(v) = value(owner, &out)
                    {
                        entries.push((key(owner, rrset.rtype, class::IN, flags), v));
                    }
                }
            }
        }
    }
    entries
}

/// How a fill went.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Filled {
    /// Entries written.
    pub inserted: usize,
    /// Entries that did not fit (map full).
    pub failed: usize,
    /// The map now live (0 = A, 1 = B).
    pub active: u32,
}

/// Fills the idle map with `entries`, makes it live, and empties the other.
pub(crate) fn install(maps: &SharedMaps, entries: &[(CacheKey, Box<CacheValue>)]) -> Result<Filled, XdpError> {
    let mut maps = maps.lock().unwrap_or_else(|e| e.into_inner());
    let mut config = maps.config()?;
    let old = config.active as usize & 1;
    let idle = old ^ 1;
    clear(&mut maps.cache[idle])?;
    let mut filled = Filled::default();
    for (k, v) in entries {
        match maps.cache[idle].insert(k, v.as_ref(), 0) {
            Ok(()) => filled.inserted += 1,
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

/// A run-time answer for the live map, tagged with its catalog generation.
pub(crate) struct Insert {
    generation: u64,
    key: CacheKey,
    value: Box<CacheValue>,
}

/// Copies run-time answers into the live map, generation permitting.
pub(crate) struct Inserter {
    tx: SyncSender<Insert>,
    generation: Arc<AtomicU64>,
}

impl Inserter {
    /// Starts the copying thread.
    pub(crate) fn start(maps: SharedMaps) -> Inserter {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let generation = Arc::new(AtomicU64::new(0));
        let current = generation.clone();
        std::thread::Builder::new()
            .name("xdp-sync".into())
            .spawn(move || copy_in(&maps, &rx, &current))
            .expect("spawning the xdp-sync thread");
        Inserter { tx, generation }
    }

    /// Follows `catalog`'s answer cache from now on (and no other
    /// catalog's). Call with the maps already flipped to that catalog's responses.
    pub(crate) fn follow(&self, catalog: &Catalog) {
        self.generation.store(catalog.generation(), Ordering::SeqCst);
    }

    /// Queues `response`, just put in `catalog`'s answer cache, for the
    /// live map, if `catalog` is the one followed; never blocks.
    pub(crate) fn offer(&self, catalog: &Catalog, q: &Query<'_>, response: &[u8]) {
        let generation = catalog.generation();
        if generation != self.generation.load(Ordering::SeqCst) {
            return;
        }
        let lower = q.qname.to_ascii_lowercase();
        let flags = q.edns.map_or(0, |e| KEY_EDNS | if e.dnssec_ok { KEY_DO } else { 0 });
        let Some(value) = value(&lower, response) else { return };
        let insert = Insert {
            generation,
            key: key(&lower, q.qtype, q.qclass, flags),
            value,
        };
        if let Err(TrySendError::Full(_)) = self.tx.try_send(insert) {
            tracing::debug!("xdp-sync queue full; answer stays in userspace");
        }
    }
}

fn copy_in(maps: &SharedMaps, rx: &Receiver<Insert>, current: &AtomicU64) {
    let mut full_logged = false;
    for insert in rx {
        let mut maps = maps.lock().unwrap_or_else(|e| e.into_inner());
        if insert.generation != current.load(Ordering::SeqCst) {
            continue;
        }
        let Ok(config) = maps.config() else { continue };
        let live = config.active as usize & 1;
        if let Err(error) = maps.cache[live].insert(insert.key, insert.value.as_ref(), 0)
            && !full_logged
        {
            tracing::warn!(%error, "XDP response map full; further answers stay in userspace");
            full_logged = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use test_support::Query;

    use super::synth_query;

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
}
