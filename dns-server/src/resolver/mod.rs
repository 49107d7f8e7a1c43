//! Recursive resolution for names outside our zones: iterative from the root
//! hints (or forwarded), with a cache, QNAME minimisation (RFC 9156) and hard
//! limits on the work one client query may cause.

pub(crate) mod cache;
pub(crate) mod classify;
pub(crate) mod counters;
pub(crate) mod dnssec;
pub(crate) mod hints;
pub(crate) mod in_flight;
pub(crate) mod iterate;
pub(crate) mod select;
pub(crate) mod upstream;
pub(crate) mod validate;

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use cache::{Cache, CacheConfig, CachedRecord};
use select::ServerStats;

use crate::name::Name;

/// Hard limits on one client query (NXNS and loop attacks fail fast).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Referrals followed.
    pub max_referrals: u32,
    /// CNAME links followed.
    pub max_cname: u32,
    /// NS names whose addresses are looked up (the NXNS amplification knob).
    pub max_ns_lookups: u32,
    /// Queries sent upstream in total.
    pub max_upstream: u32,
    /// Nested resolutions (for NS addresses).
    pub max_depth: u32,
    /// Wall time for the whole resolution.
    pub max_time: Duration,
    /// Wait for one upstream answer.
    pub upstream_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_referrals: 24,
            max_cname: 12,
            max_ns_lookups: 8,
            max_upstream: 40,
            max_depth: 4,
            max_time: Duration::from_secs(5),
            upstream_timeout: Duration::from_millis(800),
        }
    }
}

/// Resolver settings.
#[derive(Debug, Clone)]
pub(crate) struct ResolverConfig {
    /// Root servers: name and address.
    pub root_hints: Vec<(Name, IpAddr)>,
    /// Forwarders; when non-empty, no iteration is done.
    pub forwarders: Vec<SocketAddr>,
    /// Port upstream servers listen on (53; labs may differ).
    pub port: u16,
    /// Work limits.
    pub limits: Limits,
    /// Cache settings.
    pub cache: CacheConfig,
    /// RFC 9156 QNAME minimisation.
    pub qname_minimisation: bool,
    /// Randomise the case of names sent upstream (draft-vixie-dnsext-dns0x20).
    pub case_randomisation: bool,
    /// Never ask loopback addresses learnt from the network (glue, NS
    /// names' records); root hints and forwarders are exempt.
    pub do_not_query_localhost: bool,
    /// DNSSEC validation (RFC 4035 5) from `anchors`; when forwarding,
    /// only with `validate_forwarded`.
    pub validation: bool,
    /// Validate forwarders' answers too (asked with CD=1, the chain of
    /// trust fetched through them).
    pub validate_forwarded: bool,
    /// Trust anchors (the root's built in, or `[resolver] trust_anchor_file`).
    pub anchors: dnssec::anchor::Anchors,
    /// RFC 5011 tracking of each anchored zone, when configured.
    pub auto_trust: Vec<std::sync::Arc<dnssec::autotrust::AutoTrust>>,
    /// Where upstream queries and responses are logged, when they are.
    pub dnstap: Option<std::sync::Arc<crate::dnstap::Dnstap>>,
}

/// The result of a resolution, ready to be written as a response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Resolution {
    pub rcode: u16,
    /// Answer records with their remaining TTLs.
    pub answer: Vec<(CachedRecord, u32)>,
    /// Authority records (the SOA of a negative answer).
    pub authority: Vec<(CachedRecord, u32)>,
    /// A popular cached entry used here is about to expire: refresh it now.
    pub prefetch: bool,
    /// The RRSIGs over the answer's RRsets (written for DO clients).
    pub sigs: Vec<(CachedRecord, u32)>,
    /// NSEC/NSEC3 records and RRSIGs proving a negative answer or a
    /// wildcard expansion (written in the authority section for DO clients).
    pub proof: Vec<(CachedRecord, u32)>,
    /// What validation says of the whole answer.
    pub security: dnssec::Security,
}

/// Why a resolution failed (the client gets SERVFAIL).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ResolveError {
    /// A limit was reached.
    #[error("limit reached: {0}")]
    Limit(&'static str),
    /// No server gave a usable answer.
    #[error("no usable answer from any server for {0}")]
    NoAnswer(String),
}

/// The work done so far for one client query.
#[derive(Debug)]
pub(crate) struct Budget {
    started: Instant,
    limits: Limits,
    referrals: u32,
    ns_lookups: u32,
    upstream: u32,
    /// Labels of the shortest zone whose keys this query is proving for
    /// others waiting on it (`usize::MAX` when none): it waits for another
    /// query's proof only of a shorter zone, so that no two wait on each other.
    proving: usize,
    /// The small budget of a proof started beside a referral
    /// (`Resolver::prove_beside`): what it fails to prove for want of
    /// budget is no verdict, so it is not kept.
    beside: bool,
}

impl Budget {
    /// A fresh budget.
    pub(crate) fn new(limits: Limits) -> Self {
        Budget {
            started: Instant::now(),
            limits,
            referrals: 0,
            ns_lookups: 0,
            upstream: 0,
            proving: usize::MAX,
            beside: false,
        }
    }

    /// The budget of a proof started beside a referral (see [`Budget::beside`]).
    pub(crate) fn beside(limits: Limits) -> Self {
        Budget {
            beside: true,
            ..Budget::new(limits)
        }
    }

    /// Whether a limit refused something: what failed since may have
    /// failed for want of budget rather than for what upstream said.
    pub(crate) fn ran_out(&self) -> bool {
        let l = &self.limits;
        self.upstream > l.max_upstream
            || self.referrals > l.max_referrals
            || self.ns_lookups > l.max_ns_lookups
            || self.started.elapsed() > l.max_time
    }

    fn spend(count: &mut u32, max: u32, what: &'static str) -> Result<(), ResolveError> {
        *count += 1;
        if *count > max {
            Err(ResolveError::Limit(what))
        } else {
            Ok(())
        }
    }

    /// Counts a referral.
    pub(crate) fn referral(&mut self) -> Result<(), ResolveError> {
        self.time()?;
        Self::spend(&mut self.referrals, self.limits.max_referrals, "referrals")
    }

    /// Counts an NS-name address lookup.
    pub(crate) fn ns_lookup(&mut self) -> Result<(), ResolveError> {
        Self::spend(&mut self.ns_lookups, self.limits.max_ns_lookups, "ns lookups")
    }

    /// Counts a query sent upstream.
    pub(crate) fn upstream(&mut self) -> Result<(), ResolveError> {
        self.time()?;
        Self::spend(&mut self.upstream, self.limits.max_upstream, "upstream queries")
    }

    /// Time left before the limit.
    pub(crate) fn remaining(&self) -> Duration {
        self.limits.max_time.saturating_sub(self.started.elapsed())
    }

    /// Fails once the time limit is past.
    pub(crate) fn time(&self) -> Result<(), ResolveError> {
        if self.started.elapsed() > self.limits.max_time {
            Err(ResolveError::Limit("time"))
        } else {
            Ok(())
        }
    }
}

/// The resolver: configuration, cache and server statistics.
pub(crate) struct Resolver {
    pub config: ResolverConfig,
    pub cache: Cache,
    servers: ServerStats,
    /// Resolutions under way, clients' and prefetches', by lower-cased name
    /// and type: the same question asked meanwhile waits for that one.
    in_flight: in_flight::InFlight,
    /// Zones' validated keys (or why there are none), beside the cache.
    keys: validate::KeyCache,
    /// Zones whose keys are being proven: concurrent queries needing the
    /// same zone's keys wait for the one proof (one DS and DNSKEY fetch).
    proving: in_flight::InFlight<Name, validate::ZoneKeys>,
    /// What it did, per thread.
    pub counters: counters::ResolverCounters,
    /// Validated NSEC ranges, for answers synthesised from them (RFC 8198).
    nsec: dnssec::aggressive::NsecCache,
    /// Whether a DNAME was ever cached: until then a cache miss does not
    /// look for one at the name's ancestors.
    dnames: std::sync::atomic::AtomicBool,
    /// The resolver itself, for the tasks it starts (a signed child's keys
    /// proven beside the query that follows its referral).
    this: std::sync::Weak<Resolver>,
}

impl Resolver {
    /// A resolver with an empty cache.
    pub(crate) fn new(config: ResolverConfig) -> std::sync::Arc<Self> {
        std::sync::Arc::new_cyclic(|this| Resolver {
            cache: Cache::new(config.cache),
            config,
            servers: ServerStats::default(),
            in_flight: in_flight::InFlight::default(),
            keys: validate::KeyCache::default(),
            proving: in_flight::InFlight::default(),
            counters: counters::ResolverCounters::default(),
            nsec: dnssec::aggressive::NsecCache::default(),
            dnames: std::sync::atomic::AtomicBool::new(false),
            this: this.clone(),
        })
    }
}

/// Recursion as the query path sees it: the resolver, who may use it, and
/// a bound on resolutions in flight.
pub(crate) struct Recursion {
    pub resolver: std::sync::Arc<Resolver>,
    /// Clients allowed to recurse.
    pub allow: Vec<crate::prefix::Prefix>,
    /// Resolutions in flight; when none is left the client gets SERVFAIL at once.
    pub in_flight: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Resolutions allowed in flight at once.
pub(crate) const MAX_IN_FLIGHT: usize = 2048;

impl Recursion {
    /// Recursion with a new resolver of `config`, for the clients in `allow`.
    pub(crate) fn new(config: ResolverConfig, allow: Vec<crate::prefix::Prefix>) -> Recursion {
        Recursion {
            resolver: Resolver::new(config),
            allow,
            in_flight: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Whether `client` may recurse.
    pub(crate) fn allows(&self, client: IpAddr) -> bool {
        self.allow.iter().any(|p| p.contains(client))
    }
}

#[cfg(test)]
mod tests;
