//! The resolution walk: cache, then referrals from the closest known zone cut
//! down to the name (RFC 1034 5.3.3), with QNAME minimisation (RFC 9156) and
//! its relaxed fallback, CNAME chains across zones, and serve-stale.

use std::{
    future::Future,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    time::{Duration, Instant},
};

use dns_wire::wire::{rcode, rtype};

use super::{
    Budget, Resolution, ResolveError, Resolver,
    cache::{Cached, CachedRecord, Denial, Hit},
    classify::{Outcome, classify},
    dnssec::{Security, aggressive::Expansion},
    upstream::{self, Ask},
    validate::{capped_ttl, denial_ttl},
};
use crate::name::Name;

/// What the walk found for one name (before CNAME following).
enum Found {
    /// An RRset, its RRSIGs and what validation said.
    Records(Vec<(CachedRecord, u32)>, Vec<(CachedRecord, u32)>, Security),
    /// A CNAME, its TTL, target, RRSIGs and what validation said.
    Cname(CachedRecord, u32, Name, Vec<(CachedRecord, u32)>, Security),
    /// A DNAME, the CNAME synthesised from it, their TTL, the target, the
    /// DNAME's RRSIGs and what validation said.
    Dname(
        CachedRecord,
        CachedRecord,
        u32,
        Name,
        Vec<(CachedRecord, u32)>,
        Security,
    ),
    Negative {
        nxdomain: bool,
        soa: Option<(CachedRecord, u32)>,
        /// NSEC/NSEC3 records and RRSIGs, and what validation said of them.
        proof: Vec<(CachedRecord, u32)>,
        security: Security,
    },
}

/// A record with its TTL.
type Timed = (CachedRecord, u32);

/// Splits the records kept beside an RRset into its RRSIGs and the denial
/// records of a wildcard expansion (NSEC/NSEC3 and the RRSIGs over them).
fn split_proof(sigs: Vec<Timed>, answered: u16) -> (Vec<Timed>, Vec<Timed>) {
    let denial = |t: u16| matches!(t, rtype::NSEC | rtype::NSEC3) && t != answered;
    sigs.into_iter().partition(|(r, _)| {
        let t = match r.rtype {
            rtype::RRSIG => r.rdata.get(..2).map_or(0, |t| u16::from_be_bytes([t[0], t[1]])),
            t => t,
        };
        !denial(t)
    })
}

/// Adds what was found for one name to `result`: the CNAME's target when
/// the chain goes on, `None` when the answer is complete.
fn absorb(result: &mut Resolution, found: Found, seen: &mut Vec<Name>) -> Result<Option<Name>, ResolveError> {
    match found {
        Found::Records(records, sigs, security) => {
            let (sigs, proof) = split_proof(sigs, records.first().map_or(0, |(r, _)| r.rtype));
            result.answer.extend(records);
            result.sigs.extend(sigs);
            result.proof.extend(proof);
            result.security = result.security.and(security);
            Ok(None)
        }
        Found::Cname(record, ttl, target, sigs, security) => {
            result.answer.push((record, ttl));
            let (sigs, proof) = split_proof(sigs, rtype::CNAME);
            result.sigs.extend(sigs);
            result.proof.extend(proof);
            result.security = result.security.and(security);
            let lower = target.to_lowercase();
            if seen.contains(&lower) {
                return Err(ResolveError::Limit("cname loop"));
            }
            seen.push(lower);
            Ok(Some(target))
        }
        Found::Dname(dname, cname, ttl, target, sigs, security) => {
            result.answer.push((dname, ttl));
            result.sigs.extend(sigs);
            absorb(result, Found::Cname(cname, ttl, target, Vec::new(), security), seen)
        }
        Found::Negative {
            nxdomain,
            soa,
            proof,
            security,
        } => {
            result.security = result.security.and(security);
            result.rcode = if nxdomain { rcode::NXDOMAIN } else { rcode::NOERROR };
            result.authority.extend(soa);
            result.proof.extend(proof);
            Ok(None)
        }
    }
}

/// Per-resolution switches passed down the walk.
struct Hops<'a> {
    /// Skip the cache for the first name.
    refresh: bool,
    /// Set when a cache hit was a prefetch candidate.
    prefetch: &'a mut bool,
}

/// How to ask upstream servers.
#[derive(Clone, Copy)]
struct How {
    /// Set RD (forwarding mode).
    recursion_desired: bool,
    /// Wait for each server's answer (capped by the client's budget).
    wait: Duration,
}

/// TTL of a stale answer (RFC 8767 4 recommends 30 seconds).
const STALE_TTL: u32 = 30;

/// Rounds over the forwarders before giving up: three tries each, as a stub
/// resolver makes (glibc's `attempts:2` plus one); with the default 800 ms
/// doubled each round (0.8, 1.6, 3.2 s) the last is cut short by the 5 s a
/// client waits.
const FORWARD_ROUNDS: u32 = 3;

pub(super) type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Resolver {
    /// Resolves `qname`/`qtype` for a client; failures become SERVFAIL.
    /// A client asking while the same question is being resolved, for
    /// another client or by a prefetch, waits for that resolution. It never
    /// waits longer than its own would take: that one started earlier, under
    /// the same limits, so its time runs out first.
    pub(crate) async fn resolve(&self, qname: &Name, qtype: u16) -> Resolution {
        let ticket = self.in_flight.join((qname.to_lowercase(), qtype));
        ticket.resolution(|| self.resolve_with(qname, qtype, false)).await
    }

    /// Resolves again from the network, bypassing the cache for `qname`
    /// itself, so that a popular entry is fresh before it expires. Nothing
    /// is done while the question is being resolved already: a burst of
    /// hits near expiry costs one prefetch, and clients missing meanwhile
    /// wait for it.
    pub(crate) async fn refresh(&self, qname: &Name, qtype: u16) {
        let Some(ticket) = self.in_flight.start((qname.to_lowercase(), qtype)) else {
            tracing::trace!(name = %qname, qtype, "prefetch skipped: being resolved already");
            return;
        };
        self.counters.prefetch();
        let resolution = ticket.resolution(|| self.resolve_with(qname, qtype, true)).await;
        tracing::debug!(name = %qname, qtype, rcode = resolution.rcode, "prefetched");
    }

    async fn resolve_with(&self, qname: &Name, qtype: u16, refresh: bool) -> Resolution {
        let started = Instant::now();
        let mut budget = Budget::new(self.config.limits);
        let mut prefetch = false;
        let hops = Hops {
            refresh,
            prefetch: &mut prefetch,
        };
        let resolution = match self.resolve_in(qname.clone(), qtype, &mut budget, 0, hops).await {
            Ok(mut resolution) => {
                self.judge_key_answer(qname, qtype, &mut resolution, &mut budget).await;
                Resolution { prefetch, ..resolution }
            }
            Err(error) => {
                tracing::debug!(name = %qname, qtype, %error, "resolution failed");
                Resolution {
                    rcode: rcode::SERVFAIL,
                    ..Resolution::default()
                }
            }
        };
        self.counters.resolved(started.elapsed());
        if self.config.validation && self.config.forwarders.is_empty() {
            self.counters.validated(resolution.security);
        }
        resolution
    }

    /// Resolves with a budget shared by nested lookups.
    fn resolve_in<'a>(
        &'a self,
        qname: Name,
        qtype: u16,
        budget: &'a mut Budget,
        depth: u32,
        hops: Hops<'a>,
    ) -> Boxed<'a, Result<Resolution, ResolveError>> {
        Box::pin(async move {
            let mut result = Resolution {
                rcode: rcode::NOERROR,
                // Each part found narrows it (see `Security::and`).
                security: Security::Secure,
                ..Resolution::default()
            };
            let Hops { mut refresh, prefetch } = hops;
            let mut name = qname;
            let mut seen: Vec<Name> = Vec::new();
            for _ in 0..=self.config.limits.max_cname {
                let cached = if refresh {
                    None
                } else {
                    self.cached(&name, qtype, false, prefetch)
                };
                refresh = false;
                let found = match cached {
                    Some(found) => found,
                    None => match self.find(&name, qtype, budget, depth).await {
                        Ok(found) => found,
                        // RFC 8767: every server failed; an expired answer beats none.
                        Err(error) => {
                            let stale = self.cached(&name, qtype, true, &mut false).ok_or(error)?;
                            self.counters.stale_answer();
                            stale
                        }
                    },
                };
                match absorb(&mut result, found, &mut seen)? {
                    Some(target) => name = target,
                    None => return Ok(result),
                }
            }
            Err(ResolveError::Limit("cname chain"))
        })
    }

    /// Resolves a name the chain of trust needs (a DS or DNSKEY RRset),
    /// with the client's budget.
    pub(super) async fn resolve_step(
        &self,
        qname: Name,
        qtype: u16,
        budget: &mut Budget,
        depth: u32,
    ) -> Result<Resolution, ResolveError> {
        let mut prefetch = false;
        let hops = Hops {
            refresh: false,
            prefetch: &mut prefetch,
        };
        self.resolve_in(qname, qtype, budget, depth, hops).await
    }

    /// The whole answer from the cache alone (CNAME chain included), or
    /// `None` when any link is missing: a hit is answered without a task.
    /// Names the cache misses that validated NSEC ranges deny, or that a
    /// validated wildcard answers (RFC 8198), are answered here too.
    pub(crate) fn resolve_cached(&self, qname: &Name, qtype: u16) -> Option<Resolution> {
        let now = Instant::now();
        let mut prefetch = false;
        let lookup = |name: &Name, t: u16| {
            let hit = self.cache.get(name, t, false, now)?;
            prefetch |= hit.prefetch;
            Some(hit)
        };
        let result = self.walk_cache(qname, qtype, lookup, true);
        self.counters.cache_lookup(result.is_some());
        Some(Resolution { prefetch, ..result? })
    }

    /// As [`Resolver::resolve_cached`], but without counting hits (the
    /// XDP feed's copies must not make entries look popular), and with
    /// whether any entry used is in the last tenth of its TTL.
    pub(crate) fn peek_cached(&self, qname: &Name, qtype: u16) -> Option<(Resolution, bool)> {
        let now = Instant::now();
        let mut late = false;
        let lookup = |name: &Name, t: u16| {
            let hit = self.cache.peek(name, t, now)?;
            late |= hit.late;
            Some(hit)
        };
        let result = self.walk_cache(qname, qtype, lookup, false)?;
        Some((result, late))
    }

    /// Follows `qname`'s CNAME chain through the cache with `lookup`, and
    /// with `synthesise` through what validated NSEC ranges and wildcards prove.
    fn walk_cache(
        &self,
        qname: &Name,
        qtype: u16,
        mut lookup: impl FnMut(&Name, u16) -> Option<Hit>,
        synthesise: bool,
    ) -> Option<Resolution> {
        let mut result = Resolution {
            rcode: rcode::NOERROR,
            security: Security::Secure,
            ..Resolution::default()
        };
        let mut name = qname.clone();
        let mut seen = Vec::new();
        for _ in 0..=self.config.limits.max_cname {
            let found = match self.lookup_found(&name, qtype, &mut lookup) {
                Some(found) => found,
                None if synthesise => self.synthesised(&name, qtype)?,
                None => return None,
            };
            match absorb(&mut result, found, &mut seen).ok()? {
                Some(target) => name = target,
                None => return Some(result),
            }
        }
        None
    }

    /// What the cache knows of `name`/`qtype`: the RRset, a CNAME, or a negative answer.
    fn cached(&self, name: &Name, qtype: u16, stale: bool, prefetch: &mut bool) -> Option<Found> {
        let now = Instant::now();
        self.lookup_found(name, qtype, &mut |n: &Name, t: u16| {
            let hit = self.cache.get(n, t, stale, now)?;
            *prefetch |= hit.prefetch;
            Some(hit)
        })
    }

    /// What `lookup` finds for `name`/`qtype`: the RRset, a CNAME, a
    /// negative answer, or a DNAME kept at an ancestor with the CNAME it
    /// makes for `name` (RFC 6672).
    fn lookup_found(
        &self,
        name: &Name,
        qtype: u16,
        lookup: &mut impl FnMut(&Name, u16) -> Option<Hit>,
    ) -> Option<Found> {
        if let Some(hit) = hit_or_cname(qtype, |t| lookup(name, t)) {
            return found(hit, qtype);
        }
        // Only once a DNAME was ever kept: a miss costs a lookup per label then.
        if !self.dnames.load(std::sync::atomic::Ordering::Relaxed) || qtype == rtype::DNAME {
            return None;
        }
        let mut up = name.parent().filter(|n| n.label_count() > 0);
        while let Some(owner) = up {
            if let Some(hit) = lookup(&owner, rtype::DNAME)
                && let Cached::Records(records) = &hit.data
                && let Some(dname) = records.first()
            {
                return dname_found(name, dname, &hit);
            }
            up = owner.parent().filter(|n| n.label_count() > 0);
        }
        None
    }

    /// A negative answer from validated NSEC ranges, or an answer expanded
    /// from a validated wildcard (RFC 8198), when iterating. Either is
    /// cached under the name, so that a name asked again is a plain hit
    /// (and the XDP feed, which copies cache entries, can serve it).
    fn synthesised(&self, name: &Name, qtype: u16) -> Option<Found> {
        if !self.config.forwarders.is_empty() {
            return None;
        }
        let now = Instant::now();
        if let Some(s) = self.synthesised_denial(name, qtype) {
            let denial = Denial {
                proof: s.proof,
                security: Security::Secure,
            };
            return Some(self.negative(name, qtype, s.nxdomain, Some(s.soa), s.ttl, denial, now));
        }
        let x = self.synthesised_wildcard(name, qtype)?;
        self.cache
            .put_signed(x.records.clone(), x.sigs.clone(), Security::Secure, x.ttl, now);
        expanded(x, qtype)
    }

    /// Asks the network (forwarders, or iteration from the closest cut).
    async fn find(&self, name: &Name, qtype: u16, budget: &mut Budget, depth: u32) -> Result<Found, ResolveError> {
        if !self.config.forwarders.is_empty() {
            return self.forward(name, qtype, budget, depth).await;
        }
        // RFC 8198: a name or type that cached, validated NSEC ranges deny,
        // or a name under a validated wildcard they prove absent (5.4).
        if let Some(found) = self.synthesised(name, qtype) {
            return Ok(found);
        }
        // A DS lives on the parent's side of the cut (RFC 4035 3.1.4.1).
        let (mut cut, mut servers) = match name.parent() {
            Some(above) if qtype == rtype::DS => self.closest_cut(&above),
            _ => self.closest_cut(name),
        };
        // Labels of the next minimised question (RFC 9156 2.3).
        let mut probe = cut.label_count() + 1;
        let mut minimise = self.config.qname_minimisation;
        // Whether the NS names without an address were looked up for this cut.
        let mut looked_up = false;
        loop {
            budget.referral()?;
            let minimised = minimise && probe < name.label_count();
            let (ask_name, ask_type) = if minimised {
                (trim(name, probe), rtype::A)
            } else {
                (name.clone(), qtype)
            };
            let how = How {
                recursion_desired: false,
                wait: self.config.limits.upstream_timeout,
            };
            let (outcome, _server) = match self.ask(&servers, &cut, &ask_name, ask_type, how, budget).await {
                Ok(answer) => answer,
                // RFC 9156 4: a server failing the minimised question may
                // still answer the full one.
                Err(ResolveError::NoAnswer(_)) if minimised => {
                    minimise = false;
                    continue;
                }
                // Every server with an address failed or was lame: the NS
                // names without glue may name working ones.
                Err(ResolveError::NoAnswer(_)) if !looked_up => {
                    looked_up = true;
                    servers = self.unglued_addresses(&cut, budget, depth).await?;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let outcome = match outcome {
                // A DS query answered by a referral to the child itself:
                // the parent has no DS to give (a lame or odd parent).
                Outcome::Referral { ref child, .. } if qtype == rtype::DS && !minimised && same(child, name) => {
                    Outcome::NoData(None, 0, Vec::new())
                }
                outcome => outcome,
            };
            match outcome {
                Outcome::Referral {
                    child,
                    ns,
                    ttl,
                    glue,
                    ds: (ds, ds_ttl),
                } => {
                    self.cache_referral(&ns, ttl, &glue);
                    let signed = self.remember_delegation(&cut, &child, &ds, ds_ttl);
                    servers = self.addresses(&ns, &glue, &child, budget, depth).await?;
                    if signed {
                        self.prove_beside(&child, budget, depth);
                    }
                    probe = child.label_count() + 1;
                    cut = child;
                    looked_up = false;
                }
                // The minimised name exists in this zone: one label more.
                Outcome::Answer(..) | Outcome::NoData(..) | Outcome::Cname(..) | Outcome::Dname { .. } if minimised => {
                    probe += 1
                }
                // RFC 8020 says nothing exists below, but some servers answer
                // NXDOMAIN for empty non-terminals: ask the full name (RFC 9156 relaxed).
                Outcome::NxDomain(..) if minimised => minimise = false,
                outcome => {
                    let security = self.judge(&cut, name, qtype, &outcome, budget, depth).await;
                    return self.settle(name, qtype, secure_ttls(outcome, security), security);
                }
            }
        }
    }

    /// Asks the forwarders in turn, and again in further rounds while the
    /// client's time budget lasts: a forwarder may drop a query (loss, its own
    /// rate limit), and one try each would turn that into SERVFAIL.
    async fn forward(&self, name: &Name, qtype: u16, budget: &mut Budget, depth: u32) -> Result<Found, ResolveError> {
        let servers = self.config.forwarders.clone();
        let mut round = 1;
        loop {
            // Each round waits twice as long as the one before (a forwarder
            // slow under load gets time to answer); `ask` caps every wait at
            // the client's remaining budget.
            let how = How {
                recursion_desired: true,
                wait: self.config.limits.upstream_timeout * (1 << (round - 1)),
            };
            match self.ask(&servers, &Name::root(), name, qtype, how, budget).await {
                Ok((outcome, _)) => {
                    // Judged only with `validate_forwarded` (else Unchecked).
                    let security = self.judge(&Name::root(), name, qtype, &outcome, budget, depth).await;
                    return self.settle(name, qtype, secure_ttls(outcome, security), security);
                }
                Err(error @ ResolveError::Limit(_)) => return Err(error),
                Err(error) if round >= FORWARD_ROUNDS => return Err(error),
                Err(_) => round += 1,
            }
        }
    }

    /// Caches a final outcome and turns it into a [`Found`].
    fn settle(&self, name: &Name, qtype: u16, outcome: Outcome, security: Security) -> Result<Found, ResolveError> {
        let now = Instant::now();
        let with_ttl = |records: Vec<CachedRecord>, ttl: u32| records.into_iter().map(|r| (r, ttl)).collect();
        match outcome {
            Outcome::Answer(records, ttl, sigs) => {
                self.cache.put_signed(records.clone(), sigs.clone(), security, ttl, now);
                self.remember_wildcard(name, &records, &sigs, ttl, security);
                Ok(Found::Records(with_ttl(records, ttl), with_ttl(sigs, ttl), security))
            }
            Outcome::Cname(record, ttl, target, sigs) => {
                self.cache
                    .put_signed(vec![record.clone()], sigs.clone(), security, ttl, now);
                self.remember_wildcard(name, std::slice::from_ref(&record), &sigs, ttl, security);
                Ok(Found::Cname(record, ttl, target, with_ttl(sigs, ttl), security))
            }
            Outcome::NxDomain(soa, ttl, proof) => {
                self.remember_denial(soa.as_ref(), &proof, ttl, security);
                let denial = Denial { proof, security };
                Ok(self.negative(name, qtype, true, soa, ttl, denial, now))
            }
            Outcome::NoData(soa, ttl, proof) => {
                self.remember_denial(soa.as_ref(), &proof, ttl, security);
                let denial = Denial { proof, security };
                Ok(self.negative(name, qtype, false, soa, ttl, denial, now))
            }
            // The DNAME is kept under its own name; later names below it get
            // their CNAME made from it (see `lookup_found`), never cached alone.
            Outcome::Dname {
                dname,
                cname,
                ttl,
                target,
                sigs,
            } => {
                self.cache
                    .put_signed(vec![dname.clone()], sigs.clone(), security, ttl, now);
                self.dnames.store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(Found::Dname(dname, cname, ttl, target, with_ttl(sigs, ttl), security))
            }
            Outcome::Referral { .. } | Outcome::Unusable(_) => Err(ResolveError::NoAnswer(format!("{name}/{qtype}"))),
        }
    }
}

/// A secure answer is cached no longer than its signatures allow (RFC 4035
/// 5.3.3), a secure denial no longer than its proof's.
fn secure_ttls(outcome: Outcome, security: Security) -> Outcome {
    if security != Security::Secure {
        return outcome;
    }
    match outcome {
        Outcome::Answer(records, ttl, sigs) => {
            let ttl = capped_ttl(ttl, records[0].rtype, &sigs);
            Outcome::Answer(records, ttl, sigs)
        }
        Outcome::Cname(record, ttl, target, sigs) => {
            Outcome::Cname(record, capped_ttl(ttl, rtype::CNAME, &sigs), target, sigs)
        }
        Outcome::Dname {
            dname,
            cname,
            ttl,
            target,
            sigs,
        } => Outcome::Dname {
            ttl: capped_ttl(ttl, rtype::DNAME, &sigs),
            dname,
            cname,
            target,
            sigs,
        },
        Outcome::NxDomain(soa, ttl, proof) => Outcome::NxDomain(soa, denial_ttl(ttl, &proof), proof),
        Outcome::NoData(soa, ttl, proof) => Outcome::NoData(soa, denial_ttl(ttl, &proof), proof),
        outcome => outcome,
    }
}

impl Resolver {
    #[allow(clippy::too_many_arguments)]
    fn negative(
        &self,
        name: &Name,
        qtype: u16,
        nxdomain: bool,
        soa: Option<CachedRecord>,
        ttl: u32,
        denial: Denial,
        now: Instant,
    ) -> Found {
        self.cache
            .put_denial(name, qtype, nxdomain, soa.clone(), ttl, denial.clone(), now);
        Found::Negative {
            nxdomain,
            soa: soa.map(|s| (s, ttl)),
            proof: denial.proof.into_iter().map(|r| (r, ttl)).collect(),
            security: denial.security,
        }
    }

    /// The deepest cached zone cut above `name` whose servers' addresses are
    /// known, or the root with the hints.
    pub(super) fn closest_cut(&self, name: &Name) -> (Name, Vec<SocketAddr>) {
        let now = Instant::now();
        let mut cut = Some(name.to_lowercase());
        while let Some(zone) = cut {
            if let Some(hit) = self.cache.get(&zone, rtype::NS, false, now)
                && let Cached::Records(ns) = hit.data
            {
                let addrs = self.cached_addresses(&ns, now);
                if !addrs.is_empty() {
                    return (zone, addrs);
                }
            }
            cut = zone.parent();
        }
        let port = self.config.port;
        let hints = self
            .config
            .root_hints
            .iter()
            .map(|(_, ip)| SocketAddr::new(*ip, port))
            .collect();
        (Name::root(), hints)
    }

    /// Cached addresses of the NS names in `ns`.
    fn cached_addresses(&self, ns: &[CachedRecord], now: Instant) -> Vec<SocketAddr> {
        let mut addrs = Vec::new();
        for record in ns {
            let Some(target) = Name::from_wire(&record.rdata) else {
                continue;
            };
            for t in [rtype::A, rtype::AAAA] {
                if let Some(hit) = self.cache.get(&target, t, false, now)
                    && let Cached::Records(records) = hit.data
                {
                    addrs.extend(
                        records
                            .iter()
                            .filter_map(address)
                            .filter(|ip| self.may_query(*ip))
                            .map(|ip| SocketAddr::new(ip, self.config.port)),
                    );
                }
            }
        }
        addrs
    }

    /// Caches a delegation's NS set and glue.
    fn cache_referral(&self, ns: &[CachedRecord], ttl: u32, glue: &[(CachedRecord, u32)]) {
        let now = Instant::now();
        self.cache.put_records(ns.to_vec(), ttl, now);
        let mut sets: Vec<(Name, u16, Vec<CachedRecord>, u32)> = Vec::new();
        for (record, ttl) in glue {
            let owner = record.owner.to_lowercase();
            match sets.iter_mut().find(|(o, t, ..)| *o == owner && *t == record.rtype) {
                Some(set) => {
                    set.2.push(record.clone());
                    set.3 = set.3.min(*ttl);
                }
                None => sets.push((owner, record.rtype, vec![record.clone()], *ttl)),
            }
        }
        for (_, _, records, ttl) in sets {
            self.cache.put_records(records, ttl, now);
        }
    }

    /// Addresses of a delegation's servers: glue and cache, else resolving
    /// NS names (each one counted against the budget).
    async fn addresses(
        &self,
        ns: &[CachedRecord],
        glue: &[(CachedRecord, u32)],
        child: &Name,
        budget: &mut Budget,
        depth: u32,
    ) -> Result<Vec<SocketAddr>, ResolveError> {
        let port = self.config.port;
        let mut addrs: Vec<SocketAddr> = glue
            .iter()
            .filter_map(|(r, _)| address(r))
            .filter(|ip| self.may_query(*ip))
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        // Servers of other NS names whose addresses are cached join the glued ones.
        for addr in self.cached_addresses(ns, Instant::now()) {
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        if !addrs.is_empty() {
            return Ok(addrs);
        }
        self.look_up_addresses(ns, child, budget, depth).await
    }

    /// Addresses of `cut`'s NS names that had none cached (no glue), for
    /// when every server with an address failed.
    async fn unglued_addresses(
        &self,
        cut: &Name,
        budget: &mut Budget,
        depth: u32,
    ) -> Result<Vec<SocketAddr>, ResolveError> {
        let ns = match self.cache.get(cut, rtype::NS, false, Instant::now()) {
            Some(Hit {
                data: Cached::Records(ns),
                ..
            }) => ns.to_vec(),
            _ => Vec::new(),
        };
        tracing::debug!(zone = %cut, "servers with addresses failed: looking up NS names without glue");
        self.look_up_addresses(&ns, cut, budget, depth).await
    }

    /// Resolves the addresses of the NS names in `ns` that have none in the
    /// cache, until one has some (each name counted against the budget).
    async fn look_up_addresses(
        &self,
        ns: &[CachedRecord],
        child: &Name,
        budget: &mut Budget,
        depth: u32,
    ) -> Result<Vec<SocketAddr>, ResolveError> {
        let port = self.config.port;
        let mut addrs = Vec::new();
        if depth >= self.config.limits.max_depth {
            return Err(ResolveError::Limit("nesting depth"));
        }
        for record in ns {
            let Some(target) = Name::from_wire(&record.rdata) else {
                continue;
            };
            // An NS name inside the child zone without glue cannot be reached.
            if target.is_within(child) {
                continue;
            }
            // Already known (glue or cache): those servers were asked.
            if !self
                .cached_addresses(std::slice::from_ref(record), Instant::now())
                .is_empty()
            {
                continue;
            }
            budget.ns_lookup()?;
            for t in [rtype::A, rtype::AAAA] {
                let nested = Hops {
                    refresh: false,
                    prefetch: &mut false,
                };
                let Ok(found) = self.resolve_in(target.clone(), t, budget, depth + 1, nested).await else {
                    continue;
                };
                addrs.extend(
                    found
                        .answer
                        .iter()
                        .filter_map(|(r, _)| address(r))
                        .filter(|ip| self.may_query(*ip))
                        .map(|ip| SocketAddr::new(ip, port)),
                );
            }
            if !addrs.is_empty() {
                return Ok(addrs);
            }
        }
        Err(ResolveError::NoAnswer(format!("no address for any server of {child}")))
    }

    /// Asks `servers` in SRTT order until one gives a usable answer; EDNS is
    /// dropped for a server that answers FORMERR or NOTIMP to it.
    async fn ask(
        &self,
        servers: &[SocketAddr],
        cut: &Name,
        name: &Name,
        qtype: u16,
        how: How,
        budget: &mut Budget,
    ) -> Result<(Outcome, SocketAddr), ResolveError> {
        let mut ips: Vec<IpAddr> = servers.iter().map(SocketAddr::ip).collect();
        ips.sort_unstable();
        ips.dedup();
        self.servers.order(&mut ips);
        // Servers lame for this zone and type go last (still asked when
        // every other one fails).
        ips.sort_by_key(|ip| self.servers.is_lame(*ip, cut, qtype));
        // RTTs are kept per address; servers on one address (forwarders on
        // several ports) keep their configured order.
        let mut ordered: Vec<SocketAddr> = Vec::with_capacity(servers.len());
        for ip in &ips {
            for server in servers.iter().filter(|s| s.ip() == *ip) {
                if !ordered.contains(server) {
                    ordered.push(*server);
                }
            }
        }
        let mut asked = name.clone();
        if self.config.case_randomisation {
            asked = randomise_case(&asked);
        }
        for server in ordered {
            let ip = server.ip();
            for edns in [true, false] {
                budget.upstream()?;
                let ask = Ask {
                    name: &asked,
                    rtype: qtype,
                    edns,
                    recursion_desired: how.recursion_desired,
                    dnssec_ok: edns && self.config.validation,
                    checking_disabled: how.recursion_desired && self.validates_forwarded(),
                };
                let started = Instant::now();
                // No try may outlast the client's budget.
                let wait = how.wait.min(budget.remaining());
                let answer = upstream::exchange(server, &ask, wait, self.config.dnstap.as_deref()).await;
                self.counters.upstream(answer.as_ref().map(|m| m.rcode()));
                match answer {
                    Ok(message) => {
                        self.servers.answered(ip, started.elapsed());
                        if edns && matches!(message.rcode(), rcode::FORMERR | rcode::NOTIMP) {
                            continue;
                        }
                        match classify(&message, cut, name, qtype) {
                            Outcome::Unusable(why) => {
                                tracing::debug!(%server, %name, qtype, why, "unusable answer");
                                // A forwarder's failure is the name's, not the forwarder's.
                                if !how.recursion_desired {
                                    self.servers.lame(ip, cut, qtype);
                                }
                                break;
                            }
                            outcome => return Ok((outcome, server)),
                        }
                    }
                    Err(error) => {
                        tracing::debug!(%server, %name, qtype, %error, "upstream failed");
                        self.servers.failed(ip);
                        break;
                    }
                }
            }
        }
        Err(ResolveError::NoAnswer(format!("{name}/{qtype}")))
    }
}

/// The cache's entry for `qtype`, else (for other types) a CNAME standing for the name.
fn hit_or_cname(qtype: u16, mut get: impl FnMut(u16) -> Option<Hit>) -> Option<Hit> {
    get(qtype).or_else(|| (qtype != rtype::CNAME).then(|| get(rtype::CNAME)).flatten())
}

/// A cache hit as a step of the walk.
fn found(hit: Hit, qtype: u16) -> Option<Found> {
    // RFC 8767 4: stale answers go out with a short TTL.
    let ttl = if hit.stale { STALE_TTL } else { hit.ttl };
    let sigs = hit.sigs.iter().map(|r| (r.clone(), ttl)).collect();
    Some(match hit.data {
        Cached::Records(records) => {
            let first = records.first()?;
            if first.rtype == rtype::CNAME && qtype != rtype::CNAME {
                let target = Name::from_wire(&first.rdata)?;
                Found::Cname(first.clone(), ttl, target, sigs, hit.security)
            } else {
                Found::Records(records.iter().map(|r| (r.clone(), ttl)).collect(), sigs, hit.security)
            }
        }
        Cached::NxDomain(soa) => Found::Negative {
            nxdomain: true,
            soa: soa.map(|s| ((*s).clone(), ttl)),
            proof: sigs,
            security: hit.security,
        },
        Cached::NoData(soa) => Found::Negative {
            nxdomain: false,
            soa: soa.map(|s| ((*s).clone(), ttl)),
            proof: sigs,
            security: hit.security,
        },
    })
}

/// A DNAME found in the cache at an ancestor of `name`, with the CNAME it
/// makes for `name` (RFC 6672 3.2); `None` when that would be too long.
fn dname_found(name: &Name, dname: &CachedRecord, hit: &Hit) -> Option<Found> {
    let prefix = name.as_wire().len().checked_sub(dname.owner.as_wire().len())?;
    let mut wire = name.as_wire()[..prefix].to_vec();
    wire.extend_from_slice(&dname.rdata);
    let target = Name::from_wire(&wire)?;
    let ttl = if hit.stale { STALE_TTL } else { hit.ttl };
    let cname = CachedRecord {
        owner: name.clone(),
        rtype: rtype::CNAME,
        class: dname.class,
        rdata: wire,
    };
    let sigs = hit.sigs.iter().map(|r| (r.clone(), ttl)).collect();
    Some(Found::Dname(dname.clone(), cname, ttl, target, sigs, hit.security))
}

/// An answer expanded from a wildcard as a step of the walk: the RRset,
/// or the CNAME to follow; secure, as the wildcard and its proof were.
fn expanded(x: Expansion, qtype: u16) -> Option<Found> {
    let sigs = x.sigs.into_iter().map(|r| (r, x.ttl)).collect();
    let first = x.records.first()?.clone();
    if first.rtype == rtype::CNAME && qtype != rtype::CNAME {
        let target = Name::from_wire(&first.rdata)?;
        return Some(Found::Cname(first, x.ttl, target, sigs, Security::Secure));
    }
    let records = x.records.into_iter().map(|r| (r, x.ttl)).collect();
    Some(Found::Records(records, sigs, Security::Secure))
}

/// The address in an A or AAAA record.
fn address(record: &CachedRecord) -> Option<IpAddr> {
    match record.rdata.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(&record.rdata[..]).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(&record.rdata[..]).ok()?)),
        _ => None,
    }
}

/// The name with each letter's case picked at random (0x20 bits as entropy).
fn randomise_case(name: &Name) -> Name {
    let wire: Vec<u8> = name
        .as_wire()
        .iter()
        .map(|&b| {
            if b.is_ascii_alphabetic() && rand::random::<bool>() {
                b ^ 0x20
            } else {
                b
            }
        })
        .collect();
    // Length bytes are below 64 and never alphabetic, so the shape is unchanged.
    Name::from_wire(&wire).unwrap_or_else(|| name.clone())
}

/// The last `labels` labels of `name`.
fn trim(name: &Name, labels: usize) -> Name {
    let wire = name.as_wire();
    let skip = name.label_count() - labels;
    let mut at = 0;
    for _ in 0..skip {
        at += 1 + wire[at] as usize;
    }
    Name::from_wire(&wire[at..]).expect("a suffix of a name is a name")
}

fn same(a: &Name, b: &Name) -> bool {
    a.as_wire().eq_ignore_ascii_case(b.as_wire())
}

impl Resolver {
    /// Whether an address learnt from the network (glue, an NS name's
    /// records) may be asked: never an unspecified, broadcast or multicast
    /// one, and a loopback one only when `do_not_query_localhost` is off
    /// (as Unbound). Root hints and forwarders are the operator's and exempt.
    fn may_query(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
        let allowed = !(ip.is_unspecified()
            || broadcast
            || ip.is_multicast()
            || (ip.is_loopback() && self.config.do_not_query_localhost));
        if !allowed {
            tracing::debug!(%ip, "server address not queried");
        }
        allowed
    }
}
