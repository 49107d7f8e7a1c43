//! Aggressive use of the validated cache (RFC 8198): the NSEC records of
//! secure negative answers are kept by zone in canonical order, NSEC3
//! records by owner hash under the zone's one parameter set, and a later
//! name they prove absent (or a type they prove missing) is answered from
//! them without asking, which turns a random-subdomain flood against a
//! signed zone into cache hits. The proof is judged by the same code as one
//! from the wire ([`super::denial`]); an NSEC3 span with Opt-Out proves no
//! name absent (RFC 8198 5.3: an unsigned delegation may hide in it).
//! Validated wildcard RRsets are kept too, and a new name under one that
//! the ranges prove absent is answered from it (RFC 8198 5.4), as Unbound
//! does: a flood of random names under a wildcard costs no upstream query.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::{Duration, Instant},
};

use dns_wire::wire::rtype;

use super::{
    denial::{MAX_NSEC3_ITERATIONS, Proof, Verdict, common_ancestor, name_len},
    verify::Rrsig,
};
use crate::{
    name::{Name, wildcard_of},
    resolver::cache::CachedRecord,
    zone::{canonical::Key, nsec3},
};

/// Zones whose ranges are kept at most, and ranges per zone (a bound on
/// memory: each range is one NSEC and its RRSIGs).
const MAX_ZONES: usize = 10_000;
const MAX_RANGES: usize = 10_000;

/// NSEC3 hashes one synthesised answer may compute (each up to 151 SHA-1
/// rounds): a name this far below its zone is asked instead.
const MAX_NSEC3_HASHES: usize = 16;

/// NSEC3 flag: Opt-Out (RFC 5155 3.1.2.1).
const OPT_OUT: u8 = 1;

/// An NSEC with its RRSIGs, until when it may be used.
#[derive(Clone)]
struct Range {
    records: Vec<CachedRecord>,
    until: Instant,
}

/// A validated wildcard RRset (owned by the `*` name) and its RRSIGs,
/// until when it may be used.
struct Wildcard {
    records: Vec<CachedRecord>,
    sigs: Vec<CachedRecord>,
    until: Instant,
}

/// One zone's validated NSEC ranges and its signed SOA.
#[derive(Default)]
struct ZoneRanges {
    /// The SOA, its RRSIGs, the negative TTL and until when.
    soa: Option<(CachedRecord, Vec<CachedRecord>, u32, Instant)>,
    /// By the canonical key of the NSEC's owner.
    ranges: BTreeMap<Vec<u8>, Range>,
    /// The zone's NSEC3 spans, if it uses NSEC3.
    nsec3: Option<Nsec3Ranges>,
    /// Validated wildcard RRsets, by lower-cased owner (`*.…`) and type.
    wildcards: HashMap<(Name, u16), Wildcard>,
}

/// One zone's validated NSEC3 spans, all under one parameter set (a zone
/// re-hashed with new parameters starts a new set).
struct Nsec3Ranges {
    params: nsec3::Params,
    /// By the owner's hash.
    ranges: BTreeMap<nsec3::Hash, Range>,
}

impl ZoneRanges {
    fn live(&self, now: Instant) -> bool {
        self.ranges.values().any(|r| r.until > now)
            || self
                .nsec3
                .as_ref()
                .is_some_and(|n| n.ranges.values().any(|r| r.until > now))
            || self.wildcards.values().any(|w| w.until > now)
    }
}

/// A negative answer made from cached ranges.
pub(crate) struct Synthesised {
    pub nxdomain: bool,
    pub soa: CachedRecord,
    /// The NSEC records used, their RRSIGs and the SOA's.
    pub proof: Vec<CachedRecord>,
    pub ttl: u32,
}

/// A positive answer expanded from a cached wildcard (RFC 8198 5.4).
pub(crate) struct Expansion {
    /// The wildcard's RRset, owned by the name asked.
    pub records: Vec<CachedRecord>,
    /// Its RRSIGs (owned by the name asked, as a server sends them), then
    /// the NSEC/NSEC3 records proving that name absent and their RRSIGs.
    pub sigs: Vec<CachedRecord>,
    pub ttl: u32,
}

/// `record` owned by `owner`.
fn owned_by(record: &CachedRecord, owner: &Name) -> CachedRecord {
    CachedRecord {
        owner: owner.clone(),
        ..record.clone()
    }
}

/// The ancestor of `name` (or itself) with `labels` labels.
fn ancestor(name: &Name, labels: usize) -> Option<Name> {
    let mut up = Some(name.clone());
    while let Some(n) = up {
        if n.label_count() <= labels {
            return (n.label_count() == labels).then_some(n);
        }
        up = n.parent();
    }
    None
}

/// The hash an NSEC3 record's owner names, and its zone (the owner minus that label).
fn nsec3_owner(record: &CachedRecord) -> Option<(nsec3::Hash, Name)> {
    let wire = record.owner.as_wire();
    let len = usize::from(*wire.first()?);
    let label = wire.get(1..1 + len)?.to_ascii_lowercase();
    let hash = data_encoding::BASE32_DNSSEC.decode(&label).ok()?;
    Some((hash.try_into().ok()?, record.owner.parent()?.to_lowercase()))
}

/// The ranges of every zone, by lower-cased apex.
#[derive(Default)]
pub(crate) struct NsecCache(Mutex<HashMap<Name, ZoneRanges>>);

fn covered(rrsig: &CachedRecord) -> Option<u16> {
    rrsig.rdata.get(..2).map(|t| u16::from_be_bytes([t[0], t[1]]))
}

fn key(name: &Name) -> Option<Vec<u8>> {
    Key::of(name.as_wire()).map(|k| k.as_bytes().to_vec())
}

/// Inserts `range` at `at` unless the map is full of live ranges.
fn bounded_insert<K: Ord>(ranges: &mut BTreeMap<K, Range>, at: K, range: Range, now: Instant) -> bool {
    if ranges.len() >= MAX_RANGES {
        ranges.retain(|_, r| r.until > now);
        if ranges.len() >= MAX_RANGES {
            return false;
        }
    }
    ranges.insert(at, range);
    true
}

/// Keeps one NSEC3 span of `zone` (`range.records[0]`), when its owner is a
/// hash in the zone and its parameters are ones a proof is judged secure with.
fn store_nsec3(ranges: &mut ZoneRanges, zone: &Name, range: Range, now: Instant) -> bool {
    let record = &range.records[0];
    let (Some((hash, owner_zone)), Some(params)) = (nsec3_owner(record), nsec3::Params::of(&record.rdata)) else {
        return false;
    };
    if owner_zone != *zone || params.iterations > MAX_NSEC3_ITERATIONS {
        return false;
    }
    let set = match &mut ranges.nsec3 {
        Some(set) if set.params == params => set,
        other => other.insert(Nsec3Ranges {
            params,
            ranges: BTreeMap::new(),
        }),
    };
    bounded_insert(&mut set.ranges, hash, range, now)
}

impl NsecCache {
    /// Keeps the NSEC and NSEC3 ranges of a validated negative answer
    /// (`proof`, with `soa`) for `ttl` seconds.
    pub(crate) fn store(&self, soa: Option<&CachedRecord>, proof: &[CachedRecord], ttl: u32, now: Instant) {
        let until = now + Duration::from_secs(ttl.into());
        let sigs_of = |owner: &Name, t: u16| -> Vec<CachedRecord> {
            proof
                .iter()
                .filter(|r| r.rtype == rtype::RRSIG && covered(r) == Some(t) && r.owner.to_lowercase() == *owner)
                .cloned()
                .collect()
        };
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for record in proof.iter().filter(|r| matches!(r.rtype, rtype::NSEC | rtype::NSEC3)) {
            let owner = record.owner.to_lowercase();
            let sigs = sigs_of(&owner, record.rtype);
            // The zone is the signer; only what it signed was validated.
            let Some(zone) = sigs
                .iter()
                .find_map(|s| Rrsig::parse(&s.rdata))
                .map(|s| s.signer.to_lowercase())
            else {
                continue;
            };
            if !map.contains_key(&zone) && map.len() >= MAX_ZONES {
                map.retain(|_, z| z.live(now));
                if map.len() >= MAX_ZONES {
                    return;
                }
            }
            let ranges = map.entry(zone.clone()).or_default();
            let mut records = vec![record.clone()];
            records.extend(sigs);
            let range = Range { records, until };
            let kept = match record.rtype {
                rtype::NSEC => key(&owner).is_some_and(|at| bounded_insert(&mut ranges.ranges, at, range, now)),
                _ => store_nsec3(ranges, &zone, range, now),
            };
            if kept && let Some(soa) = soa.filter(|s| s.owner.to_lowercase() == zone) {
                ranges.soa = Some((soa.clone(), sigs_of(&zone, rtype::SOA), ttl, until));
            }
        }
    }

    /// A negative answer for `name`/`qtype` from the cached ranges of
    /// `zone`, when they prove it (never for DS, which the parent answers).
    pub(crate) fn synthesise(&self, zone: &Name, name: &Name, qtype: u16, now: Instant) -> Option<Synthesised> {
        if qtype == rtype::DS {
            return None;
        }
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let ranges = map.get(&zone.to_lowercase())?;
        let (soa, soa_sigs, negative_ttl, soa_until) = ranges.soa.as_ref()?;
        if *soa_until <= now {
            return None;
        }
        let used = match ranges.nsec3.as_ref() {
            Some(set) if ranges.ranges.is_empty() => nsec3_spans(set, &zone.to_lowercase(), name, now)?,
            _ => nsec_spans(ranges, name, now)?,
        };
        let records: Vec<CachedRecord> = used.iter().flat_map(|r| r.records.iter().cloned()).collect();
        let proof = Proof::new(zone, &records);
        let nxdomain = match (proof.nxdomain(name), proof.nodata(name, qtype)) {
            (Verdict::Secure, _) => true,
            (_, Verdict::Secure) => false,
            _ => return None,
        };
        let left = used
            .iter()
            .map(|r| r.until)
            .chain([*soa_until])
            .min()?
            .saturating_duration_since(now)
            .as_secs() as u32;
        let mut proof = records;
        proof.extend(soa_sigs.iter().cloned());
        Some(Synthesised {
            nxdomain,
            soa: soa.clone(),
            proof,
            ttl: left.min(*negative_ttl),
        })
    }

    /// The deepest zone with ranges kept that `name` is in.
    pub(crate) fn zone_of(&self, name: &Name) -> Option<Name> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut up = Some(name.to_lowercase());
        while let Some(zone) = up {
            if map.contains_key(&zone) {
                return Some(zone);
            }
            up = zone.parent();
        }
        None
    }

    /// Keeps a validated wildcard expansion: `rrset` answered `name` from
    /// the wildcard its RRSIGs (among `sigs`) name by their label count,
    /// and the NSEC/NSEC3 records among `sigs` prove `name` absent; both
    /// kept for `ttl` seconds. Anything else (no RRSIG, RRSIGs that
    /// disagree, no expansion) is left out.
    pub(crate) fn store_wildcard(
        &self,
        name: &Name,
        rrset: &[CachedRecord],
        sigs: &[CachedRecord],
        ttl: u32,
        now: Instant,
    ) {
        let Some(first) = rrset.first() else { return };
        let own: Vec<&CachedRecord> = sigs
            .iter()
            .filter(|s| s.rtype == rtype::RRSIG && covered(s) == Some(first.rtype))
            .collect();
        let parsed: Vec<Rrsig> = own.iter().filter_map(|s| Rrsig::parse(&s.rdata)).collect();
        let Some(sig) = parsed.first() else { return };
        let (labels, zone) = (usize::from(sig.labels), sig.signer.to_lowercase());
        let agree = parsed.len() == own.len()
            && parsed
                .iter()
                .all(|s| usize::from(s.labels) == labels && s.signer.to_lowercase() == zone);
        if !agree || labels >= name.label_count() || !name.is_within(&zone) {
            return;
        }
        let Some(wildcard) = ancestor(name, labels)
            .filter(|source| source.is_within(&zone))
            .and_then(|source| wildcard_of(source.as_wire()))
            .and_then(|w| Name::from_wire(&w))
        else {
            return;
        };
        // The ranges proving the name absent, kept as a negative answer's are.
        self.store(None, sigs, ttl, now);
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // No range kept (unsigned, or another zone's): nothing could prove an expansion.
        let Some(ranges) = map.get_mut(&zone) else { return };
        if ranges.wildcards.len() >= MAX_RANGES {
            ranges.wildcards.retain(|_, w| w.until > now);
            if ranges.wildcards.len() >= MAX_RANGES {
                return;
            }
        }
        let wild = Wildcard {
            records: rrset.iter().map(|r| owned_by(r, &wildcard)).collect(),
            sigs: own.into_iter().map(|s| owned_by(s, &wildcard)).collect(),
            until: now + Duration::from_secs(ttl.into()),
        };
        ranges.wildcards.insert((wildcard.to_lowercase(), first.rtype), wild);
    }

    /// An answer for `name`/`qtype` expanded from a wildcard of `zone`
    /// kept by [`NsecCache::store_wildcard`] (its RRset of `qtype`, else its
    /// CNAME), when the cached ranges prove `name` absent below the
    /// wildcard's parent, its closest encloser (RFC 8198 5.4, RFC 4035 5.3.4).
    pub(crate) fn expand(&self, zone: &Name, name: &Name, qtype: u16, now: Instant) -> Option<Expansion> {
        // A DS is the parent's, never a wildcard's; ANY is asked of servers.
        if matches!(qtype, rtype::DS | rtype::ANY) {
            return None;
        }
        let zone = zone.to_lowercase();
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let ranges = map.get(&zone)?;
        if ranges.wildcards.is_empty() {
            return None;
        }
        // The deepest ancestor with such a wildcard kept; the proof decides
        // whether it is the closest encloser (a deeper name existing fails it).
        let mut up = name.to_lowercase().parent();
        while let Some(encloser) = up.filter(|e| e.is_within(&zone)) {
            let wildcard = wildcard_of(encloser.as_wire()).and_then(|w| Name::from_wire(&w))?;
            let kept = |t: u16| ranges.wildcards.get(&(wildcard.clone(), t)).filter(|w| w.until > now);
            let wild = kept(qtype).or_else(|| (qtype != rtype::CNAME).then(|| kept(rtype::CNAME)).flatten());
            if let Some(wild) = wild {
                return expansion(ranges, &zone, name, &encloser, wild, now);
            }
            up = encloser.parent();
        }
        None
    }
}

/// The expansion of `wild` (at `*.encloser`) for `name`, with the cached
/// range proving the next closer name absent: judged by the same code as
/// an expansion from the wire.
fn expansion(
    ranges: &ZoneRanges,
    zone: &Name,
    name: &Name,
    encloser: &Name,
    wild: &Wildcard,
    now: Instant,
) -> Option<Expansion> {
    let closer = ancestor(name, encloser.label_count() + 1)?;
    let range = match ranges.nsec3.as_ref() {
        Some(set) if ranges.ranges.is_empty() => {
            let (range, exact) = nsec3_span(set, &nsec3::hash(closer.as_wire(), &set.params), now)?;
            // An Opt-Out span may hide an unsigned delegation at the next closer name.
            if exact || nsec3_opt_out(range) {
                return None;
            }
            range
        }
        _ => {
            let (_, range) = ranges.ranges.range(..=key(&closer)?).next_back()?;
            (range.until > now).then_some(range)?
        }
    };
    let verdict = Proof::new(zone, &range.records).wildcard_answer(name, encloser.label_count());
    if verdict != Verdict::Secure {
        return None;
    }
    let ttl = wild.until.min(range.until).saturating_duration_since(now).as_secs() as u32;
    let mut sigs: Vec<CachedRecord> = wild.sigs.iter().map(|s| owned_by(s, name)).collect();
    sigs.extend(range.records.iter().cloned());
    Some(Expansion {
        records: wild.records.iter().map(|r| owned_by(r, name)).collect(),
        sigs,
        ttl,
    })
}

/// The NSEC3 span whose owner is `hash` or the greatest below it (else the
/// last, which wraps round to the first), if still valid; whether the owner is the hash.
fn nsec3_span<'a>(set: &'a Nsec3Ranges, hash: &nsec3::Hash, now: Instant) -> Option<(&'a Range, bool)> {
    let (owner, range) = set
        .ranges
        .range(..=*hash)
        .next_back()
        .or_else(|| set.ranges.iter().next_back())?;
    (range.until > now).then_some((range, owner == hash))
}

/// Whether an NSEC3 span has the Opt-Out flag.
fn nsec3_opt_out(range: &Range) -> bool {
    range.records[0].rdata.get(1).is_some_and(|f| f & OPT_OUT != 0)
}

/// The NSEC ranges that may prove `name` absent: the one at or before it,
/// and the one at or before the wildcard at the closest encloser it implies.
fn nsec_spans<'a>(ranges: &'a ZoneRanges, name: &Name, now: Instant) -> Option<Vec<&'a Range>> {
    // The range at or before a name, if still valid.
    let before = |n: &Name| -> Option<&Range> {
        let (_, range) = ranges.ranges.range(..=key(n)?).next_back()?;
        (range.until > now).then_some(range)
    };
    let first = before(name)?;
    let mut used = vec![first];
    // The wildcard at the closest encloser must be proven absent too:
    // look it up from what the first range says the encloser is.
    let nsec = &first.records[0];
    let next = Name::from_wire(nsec.rdata.get(..name_len(&nsec.rdata)?)?)?;
    let encloser = [common_ancestor(name, &nsec.owner), common_ancestor(name, &next)]
        .into_iter()
        .max_by_key(Name::label_count)?;
    if let Some(wildcard) = wildcard_of(encloser.as_wire()).and_then(|w| Name::from_wire(&w))
        && let Some(range) = before(&wildcard)
        && !std::ptr::eq(range, first)
    {
        used.push(range);
    }
    Some(used)
}

/// The NSEC3 spans that may prove `name` absent (RFC 5155 8.3-8.7): up from
/// `name`, the span matching or covering each name's hash and its
/// wildcard's, until an existing name (the closest encloser) matches. None
/// when a span the proof needs is gone, or covers with Opt-Out.
fn nsec3_spans<'a>(set: &'a Nsec3Ranges, zone: &Name, name: &Name, now: Instant) -> Option<Vec<&'a Range>> {
    let span = |hash: &nsec3::Hash| nsec3_span(set, hash, now);
    let mut used: Vec<&Range> = Vec::new();
    let mut hashes = 0;
    let mut up = Some(name.to_lowercase());
    while let Some(n) = up.filter(|n| n.is_within(zone)) {
        hashes += 2;
        if hashes > MAX_NSEC3_HASHES {
            return None;
        }
        let (range, exact) = span(&nsec3::hash(n.as_wire(), &set.params))?;
        // Opt-Out spans prove nothing absent (an unsigned delegation may be in one).
        if !exact && nsec3_opt_out(range) {
            return None;
        }
        if !used.iter().any(|u| std::ptr::eq(*u, range)) {
            used.push(range);
        }
        if let Some(wildcard) = wildcard_of(n.as_wire()).and_then(|w| Name::from_wire(&w)) {
            let (range, _) = span(&nsec3::hash(wildcard.as_wire(), &set.params))?;
            if !used.iter().any(|u| std::ptr::eq(*u, range)) {
                used.push(range);
            }
        }
        if exact {
            break;
        }
        up = n.parent();
    }
    (!used.is_empty()).then_some(used)
}

#[cfg(test)]
#[path = "aggressive_tests.rs"]
mod tests;
