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
