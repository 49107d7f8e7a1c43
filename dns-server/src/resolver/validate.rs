//! The chain of trust (RFC 4035 5): a zone's DNSKEYs proven by the DS its
//! parent signed (or by a trust anchor), and answers proven by those keys.
//! Validated key sets are kept beside the cache for their TTL. Negative
//! answers, wildcard expansions and "no DS" (an insecure delegation) hold
//! only with their NSEC/NSEC3 proof (see [`denial`]), signed by the zone.
//! A server authoritative for a zone and its child answers for the child
//! without a referral: the RRSIG's signer names the zone then, and unsigned
//! data is insecure only where the zone proves an unsigned delegation.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use dns_wire::wire::{rcode, rtype};

use super::{
    Budget, Limits, Resolution, ResolveError, Resolver,
    cache::CachedRecord,
    classify::Outcome,
    dnssec::{
        Security,
        aggressive::{Expansion, Synthesised},
        denial::{Proof, Verdict},
        ede,
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
/// Upstream queries a proof started beside a referral may cost (no more than
/// the client has left): the DNSKEY query, retries to the child's other
/// servers, and a DS query if the referral's DS left the cache meanwhile.
const BESIDE_UPSTREAM: u32 = 8;

impl KeyCache {
    pub(super) fn get(&self, zone: &Name, now: Instant) -> Option<ZoneKeys> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(zone).filter(|(_, until)| *until > now).map(|(k, _)| k.clone())
    }

    pub(super) fn put(&self, zone: Name, keys: ZoneKeys, ttl: u32, now: Instant) {
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
/// A wildcard expansion is not secure by its signature alone: see [`verify_set`].
pub(crate) fn check_rrset(zone: &Name, rrset: &[CachedRecord], sigs: &[CachedRecord], keys: &[Vec<u8>]) -> Security {
    match verify_set(zone, rrset, sigs, keys) {
        Ok(labels) if labels < rrset[0].owner.label_count() => Security::Unchecked,
        Ok(_) => Security::Secure,
        Err(code) => Security::Bogus(code),
    }
}

/// Checks `rrset` against the RRSIGs in `sigs` made by `zone` with `keys`:
/// the label count of the RRSIG that holds (fewer than the owner's for a
/// wildcard expansion, RFC 4035 5.3.4), or the RFC 8914 code of why none does.
pub(crate) fn verify_set(
    zone: &Name,
    rrset: &[CachedRecord],
    sigs: &[CachedRecord],
    keys: &[Vec<u8>],
) -> Result<usize, u16> {
    let Some(first) = rrset.first() else {
        return Err(ede::BOGUS);
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
                Ok(()) => return Ok(usize::from(parsed.labels)),
                Err(SigError::Expired) => error = ede::SIGNATURE_EXPIRED,
                Err(SigError::NotYetValid) if error == ede::BOGUS => error = ede::SIGNATURE_NOT_YET_VALID,
                Err(_) => {}
            }
        }
    }
    let signed = sigs
        .iter()
        .any(|s| s.rtype == rtype::RRSIG && s.rdata.get(..2) == Some(&first.rtype.to_be_bytes()[..]));
    if !tried && !signed {
        return Err(ede::RRSIGS_MISSING);
    }
    Err(error)
}

/// Checks the signatures of every RRset in a denial `proof` (NSEC, NSEC3
/// and the SOA of a negative answer) with `zone`'s keys.
fn verify_proof(zone: &Name, soa: Option<&CachedRecord>, proof: &[CachedRecord], keys: &[Vec<u8>]) -> Result<(), u16> {
    let mut sets: Vec<Vec<CachedRecord>> = Vec::new();
    for r in proof.iter().filter(|r| r.rtype != rtype::RRSIG).chain(soa) {
        match sets
            .iter_mut()
            .find(|set| set[0].rtype == r.rtype && same(&set[0].owner, &r.owner))
        {
            Some(set) => set.push(r.clone()),
            None => sets.push(vec![r.clone()]),
        }
    }
    for set in &sets {
        let labels = verify_set(zone, set, proof, keys)?;
        // Denial records are never wildcard expansions (the owner of a
        // wildcard's own NSEC is signed with one label fewer, the `*`).
        let owner = &set[0].owner;
        let own = owner.label_count() - usize::from(owner.as_wire().starts_with(b"\x01*"));
        if labels < own {
            return Err(ede::BOGUS);
        }
    }
    Ok(())
}

/// Names between a zone cut and an unsigned answer searched for the
/// insecure delegation that explains it.
const MAX_CUT_SEARCH: usize = 4;

/// The signer of the RRSIGs in `sigs` when it is a zone strictly below `cut`
/// holding `name`.
fn signer_below(cut: &Name, name: &Name, sigs: &[CachedRecord]) -> Option<Name> {
    sigs.iter()
        .filter(|r| r.rtype == rtype::RRSIG)
        .filter_map(|r| Rrsig::parse(&r.rdata))
        .map(|r| r.signer.to_lowercase())
        .find(|signer| !same(signer, cut) && signer.is_within(cut) && name.is_within(signer))
}

/// In forwarding mode no referral shows the zone cuts: the zone whose
/// RRSIGs (among `sigs`) cover `name` says which zone it is in: an ancestor
/// of `name` (strictly, for a DS, which its parent signs). The deepest
/// such signer, if several.
fn signer_above(name: &Name, qtype: u16, sigs: &[CachedRecord]) -> Option<Name> {
    sigs.iter()
        .filter(|r| r.rtype == rtype::RRSIG)
        .filter_map(|r| Rrsig::parse(&r.rdata))
        .map(|r| r.signer.to_lowercase())
        .filter(|signer| name.is_within(signer) && !(qtype == rtype::DS && same(signer, name)))
        .max_by_key(Name::label_count)
}

/// The type an RRSIG covers.
fn covered(rrsig: &CachedRecord) -> Option<u16> {
    rrsig.rdata.get(..2).map(|t| u16::from_be_bytes([t[0], t[1]]))
}

/// What a denial verdict makes of an answer.
fn security_of(verdict: Verdict) -> Security {
    match verdict {
        Verdict::Secure => Security::Secure,
        Verdict::Insecure => Security::Insecure,
        Verdict::Bogus(code) => Security::Bogus(code),
    }
}

/// An RRset's signatures, and for a wildcard expansion the proof that the
/// name asked does not exist itself (RFC 4035 5.3.4, RFC 5155 8.8).
fn judge_answer(zone: &Name, name: &Name, rrset: &[CachedRecord], sigs: &[CachedRecord], keys: &[Vec<u8>]) -> Security {
    let labels = match verify_set(zone, rrset, sigs, keys) {
        Ok(labels) => labels,
        Err(code) => return Security::Bogus(code),
    };
    if labels >= rrset[0].owner.label_count() {
        return Security::Secure;
    }
    judge_denial(zone, None, sigs, keys, |p| p.wildcard_answer(name, labels))
}

/// RFC 6672 5.3.1: a DNAME is secure by its own RRSIG, and the unsigned
/// CNAME beside it only if it is the one the DNAME makes for `name`.
fn judge_dname(
    zone: &Name,
    name: &Name,
    dname: &CachedRecord,
    cname: &CachedRecord,
    sigs: &[CachedRecord],
    keys: &[Vec<u8>],
) -> Security {
    let security = judge_answer(zone, &dname.owner, std::slice::from_ref(dname), sigs, keys);
    let (qname, owner) = (name.as_wire(), dname.owner.as_wire());
    let Some(prefix) = qname.len().checked_sub(owner.len()).map(|at| &qname[..at]) else {
        return Security::Bogus(ede::BOGUS);
    };
    let mut synthesised = prefix.to_vec();
    synthesised.extend_from_slice(&dname.rdata);
    let made_here = same(&cname.owner, name) && cname.rdata.eq_ignore_ascii_case(&synthesised);
    match made_here {
        true => security,
        false => Security::Bogus(ede::BOGUS),
    }
}

/// A denial: its records' signatures, then what `proves` says of them.
fn judge_denial(
    zone: &Name,
    soa: Option<&CachedRecord>,
    proof: &[CachedRecord],
    keys: &[Vec<u8>],
    proves: impl Fn(&Proof) -> Verdict,
) -> Security {
    // Only denial records and their RRSIGs count (the answer's RRSIGs may be among them).
    let denial: Vec<CachedRecord> = proof
        .iter()
        .filter(|r| match r.rtype {
            rtype::NSEC | rtype::NSEC3 => true,
            rtype::RRSIG => r.rdata.get(..2).is_some_and(|t| {
                matches!(
                    u16::from_be_bytes([t[0], t[1]]),
                    rtype::NSEC | rtype::NSEC3 | rtype::SOA
                )
            }),
            _ => false,
        })
        .cloned()
        .collect();
    if let Err(code) = verify_proof(zone, soa, &denial, keys) {
        return Security::Bogus(code);
    }
    security_of(proves(&Proof::new(zone, &denial)))
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

/// The longest a secure negative answer may be cached: its negative TTL, capped
/// as [`capped_ttl`] caps each RRset of its proof (SOA, NSEC, NSEC3).
pub(crate) fn denial_ttl(ttl: u32, proof: &[CachedRecord]) -> u32 {
    [rtype::SOA, rtype::NSEC, rtype::NSEC3]
        .into_iter()
        .map(|t| capped_ttl(ttl, t, proof))
        .min()
        .unwrap_or(ttl)
}

impl Resolver {
    /// What validation says of a final `outcome` from `cut`'s servers to
    /// `name`/`qtype`.
    pub(super) async fn judge(
        &self,
        cut: &Name,
        name: &Name,
        qtype: u16,
        outcome: &Outcome,
        budget: &mut Budget,
        depth: u32,
    ) -> Security {
        // A zone's DNSKEY RRset is checked where the chain is built (judging
        // it here would ask for the keys being fetched), and so is a denial
        // of one at the zone's own apex; a denial below it is judged as any
        // other. A DS answer is judged with the parent's keys; its denial
        // proves an insecure delegation.
        let forwarding = !self.config.forwarders.is_empty();
        let key_set = qtype == rtype::DNSKEY && !matches!(outcome, Outcome::NxDomain(..) | Outcome::NoData(..));
        if !self.config.validation || (forwarding && !self.config.validate_forwarded) || key_set {
            return Security::Unchecked;
        }
        match outcome {
            Outcome::Answer(..)
            | Outcome::Cname(..)
            | Outcome::Dname { .. }
            | Outcome::NxDomain(..)
            | Outcome::NoData(..) => {}
            _ => return Security::Unchecked,
        }
        // A negative trust anchor: the operator said not to validate here.
        if self.config.anchors.negative(name) {
            return Security::Insecure;
        }
        // A server authoritative for a zone and its child answers names of
        // the child itself, without a referral: the signer says which zone
        // (its chain is proven like any other, from the parent's DS).
        let signatures = match outcome {
            Outcome::Answer(_, _, sigs) | Outcome::Cname(.., sigs) | Outcome::Dname { sigs, .. } => sigs,
            Outcome::NxDomain(_, _, proof) | Outcome::NoData(_, _, proof) => proof,
            _ => return Security::Unchecked,
        };
        let zone = match forwarding {
            false => signer_below(cut, name, signatures).unwrap_or_else(|| cut.clone()),
            true => match signer_above(name, qtype, signatures) {
                Some(zone) => zone,
                None => match self.forwarded_zone(name, qtype, budget, depth).await {
                    Ok(zone) => zone,
                    Err(security) => return security,
                },
            },
        };
        if qtype == rtype::DNSKEY && same(&zone, name) {
            return Security::Unchecked;
        }
        let keys = match self.zone_keys(zone.clone(), budget, depth).await {
            ZoneKeys::Insecure => return Security::Insecure,
            ZoneKeys::Bogus(code) => return Security::Bogus(code),
            ZoneKeys::Secure(keys) => keys,
        };
        let security = match outcome {
            Outcome::Answer(records, _, sigs) => judge_answer(&zone, name, records, sigs, &keys),
            Outcome::Cname(record, _, _, sigs) => judge_answer(&zone, name, std::slice::from_ref(record), sigs, &keys),
            Outcome::Dname { dname, cname, sigs, .. } => judge_dname(&zone, name, dname, cname, sigs, &keys),
            Outcome::NxDomain(soa, _, proof) => judge_denial(&zone, soa.as_ref(), proof, &keys, |p| p.nxdomain(name)),
            Outcome::NoData(soa, _, proof) => {
                judge_denial(&zone, soa.as_ref(), proof, &keys, |p| p.nodata(name, qtype))
            }
            _ => Security::Unchecked,
        };
        // Unsigned data below a signed zone's cut: from an unsigned child on
        // the same server, if the zone proves such a delegation.
        let unsigned = !signatures.iter().any(|r| r.rtype == rtype::RRSIG);
        if matches!(security, Security::Bogus(_))
            && unsigned
            && !forwarding
            && zone == *cut
            && let Some(insecure) = self.unsigned_child(cut, name, qtype, budget, depth).await
        {
            return insecure;
        }
        if let Security::Bogus(code) = security {
            tracing::info!(%zone, %name, qtype, code, "bogus answer");
        }
        security
    }

    /// RFC 4035 3.2.3: the answer to a DNSKEY question at a zone's apex is
    /// secure when a key the chain proved signs it (and bogus when the chain
    /// breaks), as Unbound answers it. The chain checks a key set where it
    /// builds it, not in [`Resolver::judge`] (that would ask for the keys
    /// being fetched), so a client's DNSKEY answer is judged here, once
    /// resolved; one the cache kept from a proof is secure already.
    pub(super) async fn judge_key_answer(
        &self,
        name: &Name,
        qtype: u16,
        resolution: &mut Resolution,
        budget: &mut Budget,
    ) {
        let forwarding = !self.config.forwarders.is_empty();
        if qtype != rtype::DNSKEY
            || resolution.security != Security::Unchecked
            || resolution.rcode != rcode::NOERROR
            || !self.config.validation
            || (forwarding && !self.config.validate_forwarded)
        {
            return;
        }
        let rrset: Vec<CachedRecord> = resolution
            .answer
            .iter()
            .filter(|(r, _)| r.rtype == rtype::DNSKEY && same(&r.owner, name))
            .map(|(r, _)| r.clone())
            .collect();
        // A CNAME chain, or no keys: judged as any answer was.
        if rrset.is_empty() || rrset.len() != resolution.answer.len() {
            return;
        }
        if self.config.anchors.negative(name) {
            resolution.security = Security::Insecure;
            return;
        }
        let sigs: Vec<CachedRecord> = resolution.sigs.iter().map(|(r, _)| r.clone()).collect();
        resolution.security = match self.zone_keys(name.clone(), budget, 0).await {
            ZoneKeys::Secure(keys) => check_rrset(name, &rrset, &sigs, &keys),
            ZoneKeys::Insecure => Security::Insecure,
            ZoneKeys::Bogus(code) => Security::Bogus(code),
        };
        // Kept as judged: this resolution cached the set unchecked, maybe
        // over what a proof beside it had kept.
        let ttl = resolution.answer.iter().map(|(_, t)| *t).min().unwrap_or(0);
        let ttl = capped_ttl(ttl, rtype::DNSKEY, &sigs);
        self.cache
            .put_signed(rrset, sigs, resolution.security, ttl, Instant::now());
    }

    /// Whether forwarders' answers are validated (and asked with CD=1).
    pub(super) fn validates_forwarded(&self) -> bool {
        self.config.validation && self.config.validate_forwarded && !self.config.forwarders.is_empty()
    }

    /// The zone an unsigned forwarded answer for `name` is in, found as no
    /// referral shows it: the DS of each name from the top down (above
    /// `name` for a DS question). `Err(Insecure)` at a delegation proven
    /// to have no DS; else the deepest zone with a proven DS, which should
    /// have signed the answer.
    async fn forwarded_zone(&self, name: &Name, qtype: u16, budget: &mut Budget, depth: u32) -> Result<Name, Security> {
        let mut names: Vec<Name> = Vec::new();
        let mut up = match qtype {
            rtype::DS => name.parent(),
            _ => Some(name.clone()),
        };
        while let Some(n) = up.filter(|n| n.label_count() > 0) {
            up = n.parent();
            names.push(n);
        }
        let mut zone = Name::root();
        for candidate in names.into_iter().rev() {
            let found = self
                .lookup(&candidate, rtype::DS, budget, depth)
                .await
                .map_err(|_| Security::Bogus(ede::BOGUS))?;
            let has_ds = found
                .answer
                .iter()
                .any(|(r, _)| r.rtype == rtype::DS && same(&r.owner, &candidate));
            match found.security {
                Security::Secure if has_ds => zone = candidate.to_lowercase(),
                // Nothing exists below: the answer should be signed by the zone found so far.
                Security::Secure if found.rcode == rcode::NXDOMAIN => break,
                Security::Secure => {
                    let records: Vec<CachedRecord> = found.proof.iter().map(|(r, _)| r.clone()).collect();
                    match Proof::new(&zone, &records).insecure_delegation(&candidate) {
                        Verdict::Secure | Verdict::Insecure => return Err(Security::Insecure),
                        // No cut here (a name of the zone): look one label down.
                        Verdict::Bogus(_) => continue,
                    }
                }
                Security::Insecure => return Err(Security::Insecure),
                Security::Bogus(code) => return Err(Security::Bogus(code)),
                Security::Unchecked => return Err(Security::Bogus(ede::BOGUS)),
            }
        }
        Ok(zone)
    }

    /// Looks for an insecure delegation between `cut` and `name` (top down,
    /// by asking each name's DS): `Some(Insecure)` when `cut` proves one.
    async fn unsigned_child(
        &self,
        cut: &Name,
        name: &Name,
        qtype: u16,
        budget: &mut Budget,
        depth: u32,
    ) -> Option<Security> {
        let mut between: Vec<Name> = Vec::new();
        let mut up = Some(name.clone());
        while let Some(n) = up.filter(|n| !same(n, cut) && n.is_within(cut)) {
            up = n.parent();
            between.push(n);
        }
        // A DS question is not asked again of its own name (it is the one being judged).
        if qtype == rtype::DS {
            between.retain(|n| !same(n, name));
        }
        for candidate in between.into_iter().rev().take(MAX_CUT_SEARCH) {
            let found = self.lookup(&candidate, rtype::DS, budget, depth).await.ok()?;
            let has_ds = found.answer.iter().any(|(r, _)| r.rtype == rtype::DS);
            if found.rcode != rcode::NOERROR || has_ds {
                return None;
            }
            match found.security {
                Security::Insecure => return Some(Security::Insecure),
                Security::Secure => {
                    let records: Vec<CachedRecord> = found.proof.iter().map(|(r, _)| r.clone()).collect();
                    match Proof::new(cut, &records).insecure_delegation(&candidate) {
                        Verdict::Secure | Verdict::Insecure => return Some(Security::Insecure),
                        // No cut here (a name of the zone): look one label down.
                        Verdict::Bogus(_) => continue,
                    }
                }
                _ => return None,
            }
        }
        None
    }

    /// The keys of `zone` (a zone cut), from the cache or proven now. Queries
    /// needing the same zone's keys at once wait for one proof (one DS and
    /// one DNSKEY fetch for all), as Unbound's validator waits for one key
    /// entry; the zone leaves the table when the proof ends, however it
    /// ends, and a failed proof is cached as bogus only briefly.
    pub(super) fn zone_keys<'a>(&'a self, zone: Name, budget: &'a mut Budget, depth: u32) -> Boxed<'a, ZoneKeys> {
        Box::pin(async move {
            let zone = zone.to_lowercase();
            if let Some(keys) = self.keys.get(&zone, Instant::now()) {
                return keys;
            }
            // A query waits only for the proof of a zone shorter than any it
            // proves for others itself: a chain waits upwards, never in a circle.
            let labels = zone.label_count();
            if labels >= budget.proving {
                return self.prove_and_keep(&zone, budget, depth).await;
            }
            let ticket = self.proving.join(zone.clone());
            let keys = ticket
                .resolution(|| async {
                    let outer = std::mem::replace(&mut budget.proving, labels);
                    let keys = self.prove_and_keep(&zone, budget, depth).await;
                    budget.proving = outer;
                    keys
                })
                .await;
            // A proof beside a referral that ran out of its few queries kept
            // nothing: a query that waited for it proves the keys itself.
            if matches!(keys, ZoneKeys::Bogus(_)) && !budget.beside && self.keys.get(&zone, Instant::now()).is_none() {
                return self.prove_and_keep(&zone, budget, depth).await;
            }
            keys
        })
    }

    /// Proves `zone`'s keys and keeps them (unless a proof that ended as
    /// this one began left them in the cache already). A proof beside a
    /// referral that fails once its budget has run out keeps nothing: that
    /// is no proof of bogus keys.
    async fn prove_and_keep(&self, zone: &Name, budget: &mut Budget, depth: u32) -> ZoneKeys {
        let now = Instant::now();
        if let Some(keys) = self.keys.get(zone, now) {
            return keys;
        }
        let (keys, ttl) = self.prove_keys(zone, budget, depth).await;
        tracing::debug!(%zone, ?keys, "zone keys");
        if matches!(keys, ZoneKeys::Bogus(_)) && budget.beside && budget.ran_out() {
            tracing::debug!(%zone, "proof beside a referral out of budget: nothing kept");
            return keys;
        }
        self.keys.put(zone.clone(), keys.clone(), ttl, now);
        keys
    }

    /// Builds the chain to `zone`: its DS (from the anchor, or signed by the
    /// parent), then its DNSKEY RRset signed by a key the DS names.
    pub(super) async fn prove_keys(&self, zone: &Name, budget: &mut Budget, depth: u32) -> (ZoneKeys, u32) {
        let anchors = &self.config.anchors;
        if !anchors.covers(zone) {
            return (ZoneKeys::Insecure, MAX_KEY_TTL);
        }
        let auto = self
            .config
            .auto_trust
            .iter()
            .map(|a| a.as_ref())
            .find(|a| a.zone() == zone);
        let (ds, trusted, ds_ttl) = match (anchors.for_zone(zone), auto) {
            // RFC 5011: what the tracking trusts now, not what was configured.
            (Some(_), Some(auto)) => {
                let (ds, keys) = auto.trusted();
                (ds, keys, MAX_KEY_TTL)
            }
            (Some(anchor), None) => (anchor.ds.clone(), anchor.keys.clone(), MAX_KEY_TTL),
            (None, _) => match self.proven_ds(zone, budget, depth).await {
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
        let security = match entry.is_empty() {
            true => {
                tracing::info!(%zone, "no DNSKEY matches the DS");
                Security::Bogus(ede::DNSKEY_MISSING)
            }
            false => check_rrset(zone, &rrset, &sigs, &entry),
        };
        // Kept as judged, so that a client's DNSKEY question answered from
        // the cache gets AD, or SERVFAIL, as a cold one does (RFC 4035 3.2.3).
        let covering = sigs
            .iter()
            .filter(|s| covered(s) == Some(rtype::DNSKEY))
            .cloned()
            .collect();
        let kept_ttl = capped_ttl(ttl, rtype::DNSKEY, &sigs);
        self.cache
            .put_signed(rrset.clone(), covering, security, kept_ttl, Instant::now());
        match security {
            Security::Secure => {
                if let Some(auto) = auto {
                    let published: Vec<Vec<u8>> = rrset.iter().map(|r| r.rdata.clone()).collect();
                    let now = unix_now();
                    auto.update(&published, now.into(), |key| {
                        sigs.iter()
                            .any(|s| verify::verify_revocation(&rrset, &s.rdata, key, now).is_ok())
                    });
                }
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
        // Top down: below an insecure parent (a TLD a referral proved
        // unsigned) nothing is signed, so no DS is asked (a query saved per
        // zone), unless an anchor of its own lies in between.
        if self.config.forwarders.is_empty()
            && let Some(above) = zone.parent()
        {
            let parent = self.closest_cut(&above).0;
            let mut between = Some(above);
            let mut island = false;
            while let Some(n) = between.filter(|n| n.label_count() > parent.label_count()) {
                island |= self.config.anchors.for_zone(&n).is_some();
                between = n.parent();
            }
            if !island {
                match self.zone_keys(parent, budget, depth).await {
                    ZoneKeys::Insecure => return Err(ZoneKeys::Insecure),
                    ZoneKeys::Bogus(code) => return Err(ZoneKeys::Bogus(code)),
                    ZoneKeys::Secure(_) => {}
                }
            }
        }
        let found = self
            .lookup(zone, rtype::DS, budget, depth)
            .await
            .map_err(|_| ZoneKeys::Bogus(ede::BOGUS))?;
        // The zone that answered: the closest cut above, as the walk left it
        // in the cache; when forwarding, the signer (or the zone found above).
        let parent = match zone.parent() {
            None => return Err(ZoneKeys::Bogus(ede::BOGUS)),
            Some(above) if self.config.forwarders.is_empty() => self.closest_cut(&above).0,
            Some(_) => {
                let sigs: Vec<CachedRecord> = found.sigs.iter().chain(&found.proof).map(|(r, _)| r.clone()).collect();
                match signer_above(zone, rtype::DS, &sigs) {
                    Some(parent) => parent,
                    None => match self.forwarded_zone(zone, rtype::DS, budget, depth).await {
                        Ok(parent) => parent,
                        Err(Security::Insecure) => return Err(ZoneKeys::Insecure),
                        Err(Security::Bogus(code)) => return Err(ZoneKeys::Bogus(code)),
                        Err(_) => return Err(ZoneKeys::Bogus(ede::BOGUS)),
                    },
                }
            }
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
            // No DS: an insecure delegation, if the parent proved it (its
            // NSEC/NSEC3 denial was judged with the answer); a bare "no DS"
            // is bogus, or anyone could switch validation off for a zone.
            ZoneKeys::Secure(_) if rrset.is_empty() && found.rcode == rcode::NOERROR => match found.security {
                Security::Insecure => Err(ZoneKeys::Insecure),
                // The (signed) proof must show the delegation itself, not only no DS.
                Security::Secure => {
                    let records: Vec<CachedRecord> = found.proof.iter().map(|(r, _)| r.clone()).collect();
                    match Proof::new(&parent, &records).insecure_delegation(zone) {
                        Verdict::Secure | Verdict::Insecure => Err(ZoneKeys::Insecure),
                        Verdict::Bogus(code) => {
                            tracing::info!(%zone, code, "no DS, and no delegation either");
                            Err(ZoneKeys::Bogus(code))
                        }
                    }
                }
                Security::Bogus(code) => {
                    tracing::info!(%zone, code, "no DS, and no proof of that");
                    Err(ZoneKeys::Bogus(code))
                }
                Security::Unchecked => Err(ZoneKeys::Bogus(ede::NSEC_MISSING)),
            },
            ZoneKeys::Secure(_) if rrset.is_empty() => Err(ZoneKeys::Bogus(ede::BOGUS)),
            ZoneKeys::Secure(keys) => {
                let sigs: Vec<CachedRecord> = found.sigs.iter().map(|(r, _)| r.clone()).collect();
                // Judged already with the parent's keys (by the walk, or from
                // the referral): one signature check per RRset is enough.
                let judged = found.security == Security::Secure
                    && !sigs.is_empty()
                    && sigs
                        .iter()
                        .all(|s| Rrsig::parse(&s.rdata).is_some_and(|s| same(&s.signer, &parent)));
                let security = match judged {
                    true => Security::Secure,
                    false => check_rrset(&parent, &rrset, &sigs, &keys),
                };
                match security {
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

    /// Keeps the NSEC ranges of a secure negative answer (RFC 8198).
    pub(super) fn remember_denial(
        &self,
        soa: Option<&CachedRecord>,
        proof: &[CachedRecord],
        ttl: u32,
        security: Security,
    ) {
        if security == Security::Secure {
            self.nsec.store(soa, proof, ttl, Instant::now());
        }
    }

    /// The zone whose cached NSEC ranges may answer for `name`, and now:
    /// with validation on, `name` not under a negative trust anchor, and
    /// the zone's keys still known secure.
    fn secure_nsec_zone(&self, name: &Name) -> Option<(Name, Instant)> {
        if !self.config.validation || self.config.anchors.negative(name) {
            return None;
        }
        let now = Instant::now();
        let zone = self.nsec.zone_of(name)?;
        matches!(self.keys.get(&zone, now), Some(ZoneKeys::Secure(_))).then_some((zone, now))
    }

    /// A negative answer for `name`/`qtype` synthesised from validated NSEC
    /// ranges (RFC 8198), while the zone's keys are still known secure.
    pub(super) fn synthesised_denial(&self, name: &Name, qtype: u16) -> Option<Synthesised> {
        let (zone, now) = self.secure_nsec_zone(name)?;
        let synthesised = self.nsec.synthesise(&zone, name, qtype, now)?;
        tracing::debug!(%name, qtype, nxdomain = synthesised.nxdomain, "answered from cached NSEC ranges");
        Some(synthesised)
    }

    /// Judges the DS RRset or the no-DS proof a referral from `cut` to
    /// `child` carried, when `cut`'s keys are known (RFC 4035 5.2), as
    /// Unbound does: a proven DS is cached, so that the chain needs no DS
    /// query, and a proven insecure delegation makes `child` insecure at
    /// once, so that nothing below it waits for DS queries. What does not
    /// hold is left for the chain to fetch and judge as before. True when
    /// `child` is proven signed (its DS holds).
    pub(super) fn remember_delegation(&self, cut: &Name, child: &Name, records: &[CachedRecord], ttl: u32) -> bool {
        let forwarding = !self.config.forwarders.is_empty();
        if !self.config.validation || forwarding || records.is_empty() {
            return false;
        }
        let now = Instant::now();
        let child = child.to_lowercase();
        // An anchor of its own, or one switched off: the chain decides.
        if self.config.anchors.for_zone(&child).is_some() || self.config.anchors.negative(&child) {
            return false;
        }
        let Some(ZoneKeys::Secure(keys)) = self.keys.get(&cut.to_lowercase(), now) else {
            return false;
        };
        let ds: Vec<CachedRecord> = records
            .iter()
            .filter(|r| r.rtype == rtype::DS && same(&r.owner, &child))
            .cloned()
            .collect();
        if !ds.is_empty() {
            if check_rrset(cut, &ds, records, &keys) != Security::Secure {
                return false;
            }
            let ttl = capped_ttl(ttl, rtype::DS, records);
            let sigs = records
                .iter()
                .filter(|r| r.rtype == rtype::RRSIG && same(&r.owner, &child) && covered(r) == Some(rtype::DS))
                .cloned()
                .collect();
            self.cache.put_signed(ds, sigs, Security::Secure, ttl, now);
            return true;
        }
        let verdict = judge_denial(cut, None, records, &keys, |p| p.insecure_delegation(&child));
        if matches!(verdict, Security::Secure | Security::Insecure) {
            tracing::debug!(zone = %child, "insecure delegation, proven by the referral");
            self.keys.put(child, ZoneKeys::Insecure, denial_ttl(ttl, records), now);
        }
        false
    }

    /// Starts proving `child`'s keys (its DS just proven from a referral)
    /// beside the query that follows the referral, instead of after its
    /// answer: the DNSKEY query and the query to the child go out together,
    /// one round trip less in sequence. The proof runs as a task of its own,
    /// in the zone's in-flight entry, so that the answer's judgement waits
    /// for it rather than asking again; its budget is the client's time
    /// left and a few queries (the DS is cached, the parent's keys known).
    pub(super) fn prove_beside(&self, child: &Name, budget: &Budget, depth: u32) {
        let child = child.to_lowercase();
        if self.keys.get(&child, Instant::now()).is_some() {
            return;
        }
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let limits = Limits {
            max_upstream: BESIDE_UPSTREAM.min(budget.limits.max_upstream.saturating_sub(budget.upstream)),
            max_time: budget.remaining(),
            ..budget.limits
        };
        tokio::spawn(async move {
            let mut budget = Budget::beside(limits);
            this.zone_keys(child, &mut budget, depth).await;
        });
    }

    /// Keeps a secure wildcard expansion (an answer whose RRSIGs have fewer
    /// labels than `name`) and its proof, for other names under the
    /// wildcard (RFC 8198 5.4); other answers are left alone.
    pub(super) fn remember_wildcard(
        &self,
        name: &Name,
        records: &[CachedRecord],
        sigs: &[CachedRecord],
        ttl: u32,
        security: Security,
    ) {
        if security == Security::Secure {
            // No longer than the proof's signatures allow either.
            let ttl = denial_ttl(ttl, sigs);
            self.nsec.store_wildcard(name, records, sigs, ttl, Instant::now());
        }
    }

    /// An answer for `name`/`qtype` expanded from a validated wildcard and
    /// the NSEC ranges proving `name` absent (RFC 8198 5.4), while the
    /// zone's keys are still known secure.
    pub(super) fn synthesised_wildcard(&self, name: &Name, qtype: u16) -> Option<Expansion> {
        let (zone, now) = self.secure_nsec_zone(name)?;
        let expansion = self.nsec.expand(&zone, name, qtype, now)?;
        tracing::debug!(%name, qtype, "answered from a cached wildcard");
        Some(expansion)
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
    fn a_secure_denial_lasts_no_longer_than_its_signatures() {
        let mut soa_sig = rrsig(3600, 86_400);
        soa_sig.rdata[..2].copy_from_slice(&rtype::SOA.to_be_bytes());
        let mut nsec_sig = rrsig(3600, 100);
        nsec_sig.rdata[..2].copy_from_slice(&rtype::NSEC.to_be_bytes());
        assert_eq!(denial_ttl(300, &[soa_sig.clone()]), 300);
        let near = denial_ttl(300, &[soa_sig, nsec_sig]);
        assert!((95..=100).contains(&near), "the NSEC's RRSIG expires first: {near}");
        assert_eq!(denial_ttl(300, &[]), 300);
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

    /// The NSEC-signed denial fixture (see dnssec/denial_tests.rs): its
    /// records (RRSIGs included), its SOA and its keys.
    fn signed_denial() -> (Vec<CachedRecord>, CachedRecord, Vec<Vec<u8>>) {
        let all = crate::resolver::dnssec::denial::fixture_records(include_str!("dnssec/testdata/denial-nsec.signed"));
        let soa = all.iter().find(|r| r.rtype == rtype::SOA).expect("SOA").clone();
        let keys = all
            .iter()
            .filter(|r| r.rtype == rtype::DNSKEY)
            .map(|r| r.rdata.clone())
            .collect();
        (all, soa, keys)
    }

    #[test]
    fn a_signed_denial_is_secure_and_an_altered_or_unsigned_one_bogus() {
        let (all, soa, keys) = signed_denial();
        let zone = Name::parse("example.", None).expect("name");
        let nope = Name::parse("nope.example.", None).expect("name");
        let nxdomain = |records: &[CachedRecord], soa: Option<&CachedRecord>| {
            judge_denial(&zone, soa, records, &keys, |p| p.nxdomain(&nope))
        };
        assert_eq!(nxdomain(&all, Some(&soa)), Security::Secure);
        // Unsigned NSEC records prove nothing.
        let unsigned: Vec<CachedRecord> = all
            .iter()
            .filter(|r| !(r.rtype == rtype::RRSIG && r.rdata[..2] == rtype::NSEC.to_be_bytes()))
            .cloned()
            .collect();
        assert_eq!(nxdomain(&unsigned, Some(&soa)), Security::Bogus(ede::RRSIGS_MISSING));
        // A bitmap changed after signing.
        let altered: Vec<CachedRecord> = all
            .iter()
            .cloned()
            .map(|mut r| {
                if r.rtype == rtype::NSEC {
                    *r.rdata.last_mut().expect("bitmap") ^= 0x40;
                }
                r
            })
            .collect();
        assert_eq!(nxdomain(&altered, Some(&soa)), Security::Bogus(ede::BOGUS));
        // An SOA changed after signing.
        let mut forged_soa = soa;
        *forged_soa.rdata.last_mut().expect("minimum") ^= 1;
        assert_eq!(nxdomain(&all, Some(&forged_soa)), Security::Bogus(ede::BOGUS));
        // No denial records at all.
        let bare: Vec<CachedRecord> = all.iter().filter(|r| r.rtype == rtype::SOA).cloned().collect();
        assert_eq!(nxdomain(&bare, None), Security::Bogus(ede::NSEC_MISSING));
    }

    #[test]
    fn a_signer_below_the_cut_names_the_zone_only_between_cut_and_name() {
        let name = |t: &str| Name::parse(t, None).expect("name");
        let signed_by = |signer: &str| {
            let mut sig = rrsig(300, 86_400);
            sig.rdata.truncate(18);
            sig.rdata.extend_from_slice(name(signer).as_wire());
            sig
        };
        let (cut, www) = (name("example."), name("www.child.example."));
        assert_eq!(
            signer_below(&cut, &www, &[signed_by("child.example.")]),
            Some(name("child.example."))
        );
        assert_eq!(
            signer_below(&cut, &www, &[signed_by("example.")]),
            None,
            "the cut itself"
        );
        assert_eq!(
            signer_below(&cut, &www, &[signed_by("other.example.")]),
            None,
            "not above the name"
        );
        assert_eq!(
            signer_below(&cut, &www, &[signed_by("org.")]),
            None,
            "not below the cut"
        );
        assert_eq!(signer_below(&cut, &www, &[]), None);
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
