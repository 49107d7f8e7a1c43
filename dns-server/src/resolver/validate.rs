//! The chain of trust (RFC 4035 5): a zone's DNSKEYs proven by the DS its
//! parent signed (or by a trust anchor), and answers proven by those keys.
//! Validated key sets are kept beside the cache for their TTL.
//!
//! Not yet here: NSEC/NSEC3 proofs. A delegation whose parent answers "no DS"
//! is taken as insecure without checking the parent's denial proof, and
//! negative answers are passed on unchecked (never with AD).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use dns_wire::wire::{rcode, rtype};

use super::{
    Budget, Resolution, ResolveError, Resolver,
    cache::CachedRecord,
    classify::Outcome,
    dnssec::{
        Security, ede,
        verify::{self, Dnskey, Rrsig, SigError},
    },
    iterate::Boxed,
};
use crate::name::Name;

/// What is known of a zone's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ZoneKeys {
    /// The zone's DNSKEY RDATA, proven from an anchor.
    Secure(Vec<Vec<u8>>),
    /// No chain of trust reaches it (no DS, or only unsupported algorithms).
    Insecure,
    /// The chain breaks here; the RFC 8914 code says how.
    Bogus(u16),
}

/// Validated key sets by lower-cased zone, with when they expire.
#[derive(Default)]
pub(crate) struct KeyCache(Mutex<HashMap<Name, (ZoneKeys, Instant)>>);

/// Longest a key set is trusted before it is fetched again.
const MAX_KEY_TTL: u32 = 3600;
/// How long a broken chain is remembered (RFC 4035 4.7: briefly).
const BOGUS_KEY_TTL: u32 = 60;

impl KeyCache {
    fn get(&self, zone: &Name, now: Instant) -> Option<ZoneKeys> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(zone).filter(|(_, until)| *until > now).map(|(k, _)| k.clone())
    }

    fn put(&self, zone: Name, keys: ZoneKeys, ttl: u32, now: Instant) {
        let ttl = match keys {
            ZoneKeys::Bogus(_) => ttl.min(BOGUS_KEY_TTL),
            _ => ttl.min(MAX_KEY_TTL),
        };
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Expired entries go when the map grows: it holds one entry per zone visited.
        if map.len() > 10_000 {
            map.retain(|_, (_, until)| *until > now);
        }
        map.insert(zone, (keys, now + Duration::from_secs(ttl.into())));
    }
}

/// Seconds since the epoch, as RRSIG times count them (mod 2^32).
fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

fn same(a: &Name, b: &Name) -> bool {
    a.as_wire().eq_ignore_ascii_case(b.as_wire())
}

/// Checks `rrset` against the RRSIGs in `sigs` made by `zone` with `keys`.
pub(crate) fn check_rrset(zone: &Name, rrset: &[CachedRecord], sigs: &[CachedRecord], keys: &[Vec<u8>]) -> Security {
    let Some(first) = rrset.first() else {
        return Security::Bogus(ede::BOGUS);
    };
    let now = unix_now();
    let mut tried = false;
    let mut error = ede::BOGUS;
    for sig in sigs {
        let Some(parsed) = Rrsig::parse(&sig.rdata) else {
            continue;
        };
        if parsed.type_covered != first.rtype || !same(&parsed.signer, zone) || !same(&sig.owner, &first.owner) {
            continue;
        }
        for key in keys.iter().filter(|k| verify::key_tag(k) == parsed.key_tag) {
            tried = true;
            match verify::verify_rrset(rrset, &sig.rdata, key, now) {
                // A wildcard expansion holds only with the NSEC/NSEC3 proof that
                // no closer name exists (RFC 4035 5.3.4), not checked yet: no AD.
                Ok(()) if usize::from(parsed.labels) < first.owner.label_count() => return Security::Unchecked,
                Ok(()) => return Security::Secure,
                Err(SigError::Expired) => error = ede::SIGNATURE_EXPIRED,
                Err(SigError::NotYetValid) if error == ede::BOGUS => error = ede::SIGNATURE_NOT_YET_VALID,
                Err(_) => {}
            }
        }
    }
    if !tried && sigs.is_empty() {
        return Security::Bogus(ede::RRSIGS_MISSING);
    }
    Security::Bogus(error)
}

/// The longest a secure RRset may be cached (RFC 4035 5.3.3): its TTL, no
/// more than the RRSIGs' original TTL nor past their expiration.
pub(crate) fn capped_ttl(ttl: u32, rtype: u16, sigs: &[CachedRecord]) -> u32 {
    let now = unix_now();
    sigs.iter()
        .filter_map(|s| Rrsig::parse(&s.rdata))
        .filter(|s| s.type_covered == rtype)
        .map(|s| s.original_ttl.min(s.expiration.wrapping_sub(now)))
        .max()
        .map_or(ttl, |cap| ttl.min(cap))
}

impl Resolver {
    /// What validation says of a final `outcome` from `cut`'s servers.
    pub(super) async fn judge(
        &self,
        cut: &Name,
        qtype: u16,
        outcome: &Outcome,
        budget: &mut Budget,
        depth: u32,
    ) -> Security {
        // DS and DNSKEY answers are checked where the chain is built.
        if !self.config.validation || !self.config.forwarders.is_empty() || matches!(qtype, rtype::DS | rtype::DNSKEY) {
            return Security::Unchecked;
        }
        let (rrset, sigs) = match outcome {
            Outcome::Answer(records, _, sigs) => (records.clone(), sigs),
            Outcome::Cname(record, _, _, sigs) => (vec![record.clone()], sigs),
            _ => return Security::Unchecked,
        };
        match self.zone_keys(cut.clone(), budget, depth).await {
            ZoneKeys::Insecure => Security::Insecure,
            ZoneKeys::Bogus(code) => Security::Bogus(code),
            ZoneKeys::Secure(keys) => {
                let security = check_rrset(cut, &rrset, sigs, &keys);
                if let Security::Bogus(code) = security {
                    tracing::info!(zone = %cut, owner = %rrset[0].owner, rtype = rrset[0].rtype, code, "bogus answer");
                }
                security
            }
        }
    }

    /// The keys of `zone` (a zone cut), from the cache or proven now.
    pub(super) fn zone_keys<'a>(&'a self, zone: Name, budget: &'a mut Budget, depth: u32) -> Boxed<'a, ZoneKeys> {
        Box::pin(async move {
            let zone = zone.to_lowercase();
            let now = Instant::now();
            if let Some(keys) = self.keys.get(&zone, now) {
                return keys;
            }
            let (keys, ttl) = self.prove_keys(&zone, budget, depth).await;
            tracing::debug!(%zone, ?keys, "zone keys");
            self.keys.put(zone, keys.clone(), ttl, now);
            keys
        })
    }

    /// Builds the chain to `zone`: its DS (from the anchor, or signed by the
    /// parent), then its DNSKEY RRset signed by a key the DS names.
    async fn prove_keys(&self, zone: &Name, budget: &mut Budget, depth: u32) -> (ZoneKeys, u32) {
        let anchors = &self.config.anchors;
        if !anchors.covers(zone) {
            return (ZoneKeys::Insecure, MAX_KEY_TTL);
        }
        let (ds, trusted, ds_ttl) = match anchors.for_zone(zone) {
            Some(anchor) => (anchor.ds.clone(), anchor.keys.clone(), MAX_KEY_TTL),
            None => match self.proven_ds(zone, budget, depth).await {
                Ok((ds, ttl)) => (ds, Vec::new(), ttl),
                Err(keys) => return (keys, BOGUS_KEY_TTL.max(300)),
            },
        };
        // RFC 4035 5.2: a DS set of algorithms we cannot check is as no DS.
        let usable: Vec<&Vec<u8>> = ds
            .iter()
            .filter(|d| d.len() > 4 && verify::supported_algorithm(d[2]) && verify::supported_digest(d[3]))
            .collect();
        if usable.is_empty() && trusted.is_empty() {
            return (ZoneKeys::Insecure, ds_ttl);
        }
        let Ok(found) = self.lookup(zone, rtype::DNSKEY, budget, depth).await else {
            return (ZoneKeys::Bogus(ede::DNSKEY_MISSING), BOGUS_KEY_TTL);
        };
        let rrset: Vec<CachedRecord> = found
            .answer
            .iter()
            .filter(|(r, _)| r.rtype == rtype::DNSKEY && same(&r.owner, zone))
            .map(|(r, _)| r.clone())
            .collect();
        let ttl = found.answer.iter().map(|(_, t)| *t).min().unwrap_or(0).min(ds_ttl);
        let sigs: Vec<CachedRecord> = found.sigs.iter().map(|(r, _)| r.clone()).collect();
        // The keys the DS (or anchor) vouches for; one of them must sign the set.
        let entry: Vec<Vec<u8>> = rrset
            .iter()
            .map(|r| r.rdata.clone())
            .filter(|k| trusted.contains(k) || usable.iter().any(|d| verify::ds_matches(zone, d, k)))
            .collect();
        if entry.is_empty() {
            tracing::info!(%zone, "no DNSKEY matches the DS");
            return (ZoneKeys::Bogus(ede::DNSKEY_MISSING), BOGUS_KEY_TTL);
        }
        match check_rrset(zone, &rrset, &sigs, &entry) {
            Security::Secure => {
                let keys = rrset
                    .into_iter()
                    .map(|r| r.rdata)
                    .filter(|k| Dnskey::parse(k).is_some_and(|k| k.usable()))
                    .collect();
                (ZoneKeys::Secure(keys), ttl)
            }
            Security::Bogus(code) => (ZoneKeys::Bogus(code), BOGUS_KEY_TTL),
            _ => (ZoneKeys::Bogus(ede::BOGUS), BOGUS_KEY_TTL),
        }
    }

    /// `zone`'s DS RRset, proven by the parent's keys; `Err` with what the
    /// zone is when there is no proven DS (insecure, or bogus).
    async fn proven_ds(&self, zone: &Name, budget: &mut Budget, depth: u32) -> Result<(Vec<Vec<u8>>, u32), ZoneKeys> {
        let found = self
            .lookup(zone, rtype::DS, budget, depth)
            .await
            .map_err(|_| ZoneKeys::Bogus(ede::BOGUS))?;
        // The zone that answered: the closest cut above, as the walk left it in the cache.
        let parent = match zone.parent() {
            Some(above) => self.closest_cut(&above).0,
            None => return Err(ZoneKeys::Bogus(ede::BOGUS)),
        };
        let parent_keys = self.zone_keys(parent.clone(), budget, depth).await;
        let rrset: Vec<CachedRecord> = found
            .answer
            .iter()
            .filter(|(r, _)| r.rtype == rtype::DS && same(&r.owner, zone))
            .map(|(r, _)| r.clone())
            .collect();
        match parent_keys {
            ZoneKeys::Bogus(code) => Err(ZoneKeys::Bogus(code)),
            ZoneKeys::Insecure => Err(ZoneKeys::Insecure),
            // No DS: an insecure delegation. The parent's NSEC/NSEC3 proof of
            // that is not checked yet.
            ZoneKeys::Secure(_) if rrset.is_empty() && found.rcode == rcode::NOERROR => Err(ZoneKeys::Insecure),
            ZoneKeys::Secure(_) if rrset.is_empty() => Err(ZoneKeys::Bogus(ede::BOGUS)),
            ZoneKeys::Secure(keys) => {
                let sigs: Vec<CachedRecord> = found.sigs.iter().map(|(r, _)| r.clone()).collect();
                match check_rrset(&parent, &rrset, &sigs, &keys) {
                    Security::Secure => {
                        let ttl = found.answer.iter().map(|(_, t)| *t).min().unwrap_or(0);
                        Ok((rrset.into_iter().map(|r| r.rdata).collect(), ttl))
                    }
                    Security::Bogus(code) => Err(ZoneKeys::Bogus(code)),
                    _ => Err(ZoneKeys::Bogus(ede::BOGUS)),
                }
            }
        }
    }

    /// Resolves `name`/`qtype` for the chain, with the client's budget.
    async fn lookup(
        &self,
        name: &Name,
        qtype: u16,
        budget: &mut Budget,
        depth: u32,
    ) -> Result<Resolution, ResolveError> {
        self.resolve_step(name.clone(), qtype, budget, depth).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RRSIG over A records with `original_ttl`, expiring `left` seconds from now.
    fn rrsig(original_ttl: u32, left: u32) -> CachedRecord {
        let now = unix_now();
        let mut rdata = Vec::new();
        rdata.extend_from_slice(&rtype::A.to_be_bytes());
        rdata.extend_from_slice(&[13, 2]);
        rdata.extend_from_slice(&original_ttl.to_be_bytes());
        rdata.extend_from_slice(&now.wrapping_add(left).to_be_bytes());
        rdata.extend_from_slice(&now.wrapping_sub(3600).to_be_bytes());
        rdata.extend_from_slice(&[0, 1, 0]);
        rdata.extend_from_slice(&[0; 64]);
        CachedRecord {
            owner: Name::parse("www.example.", None).expect("name"),
            rtype: rtype::RRSIG,
            class: 1,
            rdata,
        }
    }

    #[test]
    fn a_secure_ttl_is_capped_by_the_original_ttl_and_the_expiration() {
        assert_eq!(capped_ttl(3600, rtype::A, &[rrsig(300, 86_400)]), 300);
        let near = capped_ttl(3600, rtype::A, &[rrsig(3600, 100)]);
        assert!((95..=100).contains(&near), "{near}");
        assert_eq!(capped_ttl(50, rtype::A, &[rrsig(300, 86_400)]), 50);
        assert_eq!(
            capped_ttl(3600, rtype::AAAA, &[rrsig(300, 86_400)]),
            3600,
            "another type's RRSIG"
        );
        assert_eq!(capped_ttl(3600, rtype::A, &[]), 3600);
    }

    #[test]
    fn an_rrset_without_its_signatures_is_bogus_for_want_of_rrsigs() {
        let zone = Name::parse("example.", None).expect("name");
        let www = vec![CachedRecord {
            owner: Name::parse("www.example.", None).expect("name"),
            rtype: rtype::A,
            class: 1,
            rdata: vec![192, 0, 2, 1],
        }];
        assert_eq!(check_rrset(&zone, &www, &[], &[]), Security::Bogus(ede::RRSIGS_MISSING));
        // A signature no key verifies: bogus, not missing.
        let mut sig = rrsig(300, 86_400);
        sig.rdata.splice(18..19, zone.as_wire().iter().copied());
        assert_eq!(check_rrset(&zone, &www, &[sig], &[]), Security::Bogus(ede::BOGUS));
    }

    #[test]
    fn a_chain_is_secure_only_when_every_part_is() {
        use Security::*;
        assert_eq!(Secure.and(Secure), Secure);
        assert_eq!(Secure.and(Insecure), Insecure);
        assert_eq!(Insecure.and(Bogus(7)), Bogus(7));
        assert_eq!(Secure.and(Unchecked), Unchecked);
    }
}
