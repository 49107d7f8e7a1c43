//! Aggressive use of the validated cache (RFC 8198): the NSEC records of
//! secure negative answers are kept by zone in canonical order, NSEC3
//! records by owner hash under the zone's one parameter set, and a later
//! name they prove absent (or a type they prove missing) is answered from
//! them without asking, which turns a random-subdomain flood against a
//! signed zone into cache hits. The proof is judged by the same code as one
//! from the wire ([`super::denial`]); an NSEC3 span with Opt-Out proves no
//! name absent (RFC 8198 5.3: an unsigned delegation may hide in it).
//!
//! Not here: positive answers synthesised from a cached wildcard.

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

/// One zone's validated NSEC ranges and its signed SOA.
#[derive(Default)]
struct ZoneRanges {
    /// The SOA, its RRSIGs, the negative TTL and until when.
    soa: Option<(CachedRecord, Vec<CachedRecord>, u32, Instant)>,
    /// By the canonical key of the NSEC's owner.
    ranges: BTreeMap<Vec<u8>, Range>,
    /// The zone's NSEC3 spans, if it uses NSEC3.
    nsec3: Option<Nsec3Ranges>,
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
    // The span whose owner is the hash or the greatest below it (else the
    // last, which wraps round to the first); whether the owner is the hash.
    let span = |hash: &nsec3::Hash| -> Option<(&Range, bool)> {
        let (owner, range) = set
            .ranges
            .range(..=*hash)
            .next_back()
            .or_else(|| set.ranges.iter().next_back())?;
        (range.until > now).then_some((range, owner == hash))
    };
    let opt_out = |range: &Range| range.records[0].rdata.get(1).is_some_and(|f| f & OPT_OUT != 0);
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
        if !exact && opt_out(range) {
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
mod tests {

    use super::*;

    /// The NSEC-signed denial fixture's records (see denial_tests.rs).
    fn fixture() -> Vec<CachedRecord> {
        super::super::denial::fixture_records(include_str!("testdata/denial-nsec.signed"))
    }

    fn name(text: &str) -> Name {
        Name::parse(text, None).expect("name")
    }

    /// The records a server sends with the NXDOMAIN for nope.example.: the
    /// NSEC covering it (a.b.ent. to ns.), the apex's (covering *.example.),
    /// their RRSIGs and the SOA's.
    fn nope_answer(all: &[CachedRecord]) -> (CachedRecord, Vec<CachedRecord>) {
        let soa = all.iter().find(|r| r.rtype == rtype::SOA).expect("SOA").clone();
        let owners = [name("a.b.ent.example."), name("example.")];
        let proof = all
            .iter()
            .filter(|r| {
                (r.rtype == rtype::NSEC && owners.contains(&r.owner.to_lowercase()))
                    || (r.rtype == rtype::RRSIG
                        && (covered(r) == Some(rtype::NSEC) && owners.contains(&r.owner.to_lowercase())
                            || covered(r) == Some(rtype::SOA)))
            })
            .cloned()
            .collect();
        (soa, proof)
    }

    #[test]
    fn names_in_a_cached_range_are_denied_without_asking() {
        let all = fixture();
        let (soa, proof) = nope_answer(&all);
        let cache = NsecCache::default();
        let now = Instant::now();
        cache.store(Some(&soa), &proof, 300, now);
        let zone = name("example.");
        assert_eq!(cache.zone_of(&name("x.y.example.")), Some(zone.clone()));
        assert_eq!(cache.zone_of(&name("other.")), None);

        // Another name in the same range, and below it.
        for other in ["nope2.example.", "new.example.", "a.nope.example."] {
            let s = cache.synthesise(&zone, &name(other), rtype::A, now).expect(other);
            assert!(s.nxdomain, "{other}");
            assert_eq!(s.ttl, 300);
            assert!(s.proof.iter().any(|r| r.rtype == rtype::NSEC));
            assert!(s.proof.iter().any(|r| covered(r) == Some(rtype::SOA)));
        }
        // The apex's NSEC says it has no AAAA.
        let s = cache
            .synthesise(&zone, &zone, rtype::AAAA, now)
            .expect("NODATA at the apex");
        assert!(!s.nxdomain);
        // Names outside the cached ranges, types the bitmap has, and DS: asked.
        assert!(cache.synthesise(&zone, &name("www.example."), rtype::A, now).is_none());
        assert!(cache.synthesise(&zone, &zone, rtype::SOA, now).is_none());
        assert!(
            cache
                .synthesise(&zone, &name("nope.example."), rtype::DS, now)
                .is_none()
        );
        // Nor after the TTL.
        let later = now + Duration::from_secs(301);
        assert!(
            cache
                .synthesise(&zone, &name("nope2.example."), rtype::A, later)
                .is_none()
        );
    }

    #[test]
    fn unsigned_ranges_are_not_kept() {
        let all = fixture();
        let (soa, proof) = nope_answer(&all);
        let unsigned: Vec<CachedRecord> = proof.into_iter().filter(|r| r.rtype != rtype::RRSIG).collect();
        let cache = NsecCache::default();
        cache.store(Some(&soa), &unsigned, 300, Instant::now());
        assert_eq!(cache.zone_of(&name("nope.example.")), None);
    }

    /// Every NSEC3 record of an NSEC3 fixture, with the RRSIGs over them and
    /// over the SOA, and the SOA: all a resolver would have kept after
    /// enough negative answers.
    fn nsec3_answers(text: &str) -> (CachedRecord, Vec<CachedRecord>) {
        let all = super::super::denial::fixture_records(text);
        let soa = all.iter().find(|r| r.rtype == rtype::SOA).expect("SOA").clone();
        let proof = all
            .iter()
            .filter(|r| {
                r.rtype == rtype::NSEC3
                    || (r.rtype == rtype::RRSIG && matches!(covered(r), Some(rtype::NSEC3 | rtype::SOA)))
            })
            .cloned()
            .collect();
        (soa, proof)
    }

    #[test]
    fn names_an_nsec3_chain_proves_absent_are_denied_without_asking() {
        let (soa, proof) = nsec3_answers(include_str!("testdata/denial-nsec3.signed"));
        let cache = NsecCache::default();
        let now = Instant::now();
        cache.store(Some(&soa), &proof, 300, now);
        let zone = name("example.");
        assert_eq!(cache.zone_of(&name("nope.example.")), Some(zone.clone()));
        for nx in ["nope.example.", "NoPe2.example.", "x.nope.example.", "a.b.c.example."] {
            let s = cache.synthesise(&zone, &name(nx), rtype::A, now).expect(nx);
            assert!(s.nxdomain, "{nx}");
            assert!(s.proof.iter().any(|r| r.rtype == rtype::NSEC3), "{nx}: with its NSEC3");
            assert!(
                s.proof.iter().any(|r| covered(r) == Some(rtype::NSEC3)),
                "{nx}: and RRSIGs"
            );
        }
        // NODATA: a matching NSEC3, an empty non-terminal's, a wildcard's.
        for (nodata, qtype) in [
            ("www.example.", rtype::AAAA),
            ("b.ent.example.", rtype::A),
            ("x.wild.example.", rtype::AAAA),
        ] {
            let s = cache.synthesise(&zone, &name(nodata), qtype, now).expect(nodata);
            assert!(!s.nxdomain, "{nodata}");
        }
        // What exists is asked for: a type the bitmap has, a wildcard's answer, DS.
        assert!(cache.synthesise(&zone, &name("www.example."), rtype::A, now).is_none());
        assert!(
            cache
                .synthesise(&zone, &name("x.wild.example."), rtype::A, now)
                .is_none()
        );
        assert!(
            cache
                .synthesise(&zone, &name("nope.example."), rtype::DS, now)
                .is_none()
        );
        // Nor below a delegation, nor after the TTL.
        assert!(
            cache
                .synthesise(&zone, &name("x.deleg.example."), rtype::A, now)
                .is_none()
        );
        let later = now + Duration::from_secs(301);
        assert!(
            cache
                .synthesise(&zone, &name("nope.example."), rtype::A, later)
                .is_none()
        );
    }

    #[test]
    fn an_nsec3_chain_with_a_span_missing_proves_nothing_there() {
        let (soa, proof) = nsec3_answers(include_str!("testdata/denial-nsec3.signed"));
        let zone = name("example.");
        let params =
            nsec3::Params::of(&proof.iter().find(|r| r.rtype == rtype::NSEC3).expect("NSEC3").rdata).expect("params");
        // Take away the span covering the wildcard at the apex.
        let wildcard = nsec3::hash(name("*.example.").as_wire(), &params);
        let full = NsecCache::default();
        full.store(Some(&soa), &proof, 300, Instant::now());
        let (owner, _) = {
            let map = full.0.lock().expect("lock");
            let set = map[&zone].nsec3.as_ref().expect("NSEC3 kept");
            let (owner, range) = set
                .ranges
                .range(..=wildcard)
                .next_back()
                .or_else(|| set.ranges.iter().next_back())
                .expect("a span");
            (*owner, range.records[0].owner.clone())
        };
        let label = data_encoding::BASE32_DNSSEC.encode(&owner);
        let without: Vec<CachedRecord> = proof
            .into_iter()
            .filter(|r| !r.owner.to_lowercase().as_wire()[1..].starts_with(label.as_bytes()))
            .collect();
        let cache = NsecCache::default();
        let now = Instant::now();
        cache.store(Some(&soa), &without, 300, now);
        assert!(
            cache.synthesise(&zone, &name("nope.example."), rtype::A, now).is_none(),
            "the wildcard is not proven absent"
        );
    }

    #[test]
    fn opt_out_spans_deny_no_name() {
        let (soa, proof) = nsec3_answers(include_str!("testdata/denial-optout.signed"));
        let cache = NsecCache::default();
        let now = Instant::now();
        cache.store(Some(&soa), &proof, 300, now);
        let zone = name("example.");
        assert!(
            cache.synthesise(&zone, &name("nope.example."), rtype::A, now).is_none(),
            "an Opt-Out span may hide an unsigned delegation"
        );
        let s = cache
            .synthesise(&zone, &name("www.example."), rtype::AAAA, now)
            .expect("a matching NSEC3 still proves NODATA");
        assert!(!s.nxdomain);
    }

    #[test]
    fn nsec3_past_the_iteration_limit_is_not_kept() {
        let (soa, mut proof) = nsec3_answers(include_str!("testdata/denial-nsec3.signed"));
        for r in proof.iter_mut().filter(|r| r.rtype == rtype::NSEC3) {
            r.rdata[2..4].copy_from_slice(&200u16.to_be_bytes());
        }
        let cache = NsecCache::default();
        let now = Instant::now();
        cache.store(Some(&soa), &proof, 300, now);
        assert!(
            cache
                .synthesise(&name("example."), &name("nope.example."), rtype::A, now)
                .is_none()
        );
    }
}
