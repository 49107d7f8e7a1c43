//! Aggressive use of the validated cache (RFC 8198), NSEC only: the NSEC
//! records of secure negative answers are kept by zone in canonical order,
//! and a later name they prove absent (or a type they prove missing) is
//! answered from them without asking, which turns a random-subdomain flood
//! against a signed zone into cache hits. The proof is judged by the same
//! code as one from the wire ([`super::denial`]).
//!
//! Not here: NSEC3 ranges (hashes would need a chain per zone and
//! parameters), and positive answers synthesised from a cached wildcard.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::{Duration, Instant},
};

use dns_wire::wire::rtype;

use super::{
    denial::{Proof, Verdict, common_ancestor, name_len},
    verify::Rrsig,
};
use crate::{
    name::{Name, wildcard_of},
    resolver::cache::CachedRecord,
    zone::canonical::Key,
};

/// Zones whose ranges are kept at most, and ranges per zone (a bound on
/// memory: each range is one NSEC and its RRSIGs).
const MAX_ZONES: usize = 10_000;
const MAX_RANGES: usize = 10_000;

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
}

/// A negative answer made from cached ranges.
pub(crate) struct Synthesised {
    pub nxdomain: bool,
    pub soa: CachedRecord,
    /// The NSEC records used, their RRSIGs and the SOA's.
    pub proof: Vec<CachedRecord>,
    pub ttl: u32,
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

impl NsecCache {
    /// Keeps the NSEC ranges of a validated negative answer (`proof`, with
    /// `soa`) for `ttl` seconds.
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
        for nsec in proof.iter().filter(|r| r.rtype == rtype::NSEC) {
            let owner = nsec.owner.to_lowercase();
            let sigs = sigs_of(&owner, rtype::NSEC);
            // The zone is the signer; only what it signed was validated.
            let Some(zone) = sigs
                .iter()
                .find_map(|s| Rrsig::parse(&s.rdata))
                .map(|s| s.signer.to_lowercase())
            else {
                continue;
            };
            let Some(at) = key(&owner) else { continue };
            if !map.contains_key(&zone) && map.len() >= MAX_ZONES {
                map.retain(|_, z| z.ranges.values().any(|r| r.until > now));
                if map.len() >= MAX_ZONES {
                    return;
                }
            }
            let ranges = map.entry(zone.clone()).or_default();
            if ranges.ranges.len() >= MAX_RANGES {
                ranges.ranges.retain(|_, r| r.until > now);
                if ranges.ranges.len() >= MAX_RANGES {
                    continue;
                }
            }
            let mut records = vec![nsec.clone()];
            records.extend(sigs);
            ranges.ranges.insert(at, Range { records, until });
            if let Some(soa) = soa.filter(|s| s.owner.to_lowercase() == zone) {
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
}
