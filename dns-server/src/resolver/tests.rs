//! Resolutions against a fake forwarder on loopback that counts the queries
//! it gets and answers each after a delay: what shares one upstream query.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::net::UdpSocket;

use super::{Limits, Resolver, ResolverConfig, cache::CacheConfig};
use crate::name::Name;

/// The address every fake answer carries.
const ADDRESS: [u8; 4] = [192, 0, 2, 1];

/// A forwarder that answers every A query with [`ADDRESS`] after `delay`.
struct Forwarder {
    addr: SocketAddr,
    asked: Arc<AtomicU32>,
}

impl Forwarder {
    async fn start(delay: Duration) -> Forwarder {
        Self::start_dropping(delay, 0).await
    }

    /// A forwarder that ignores the first `dropped` queries it gets.
    async fn start_dropping(delay: Duration, dropped: u32) -> Forwarder {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind a loopback port"));
        let addr = socket.local_addr().expect("local address");
        let asked = Arc::new(AtomicU32::new(0));
        let counter = asked.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                if counter.fetch_add(1, Ordering::SeqCst) < dropped {
                    continue;
                }
                let Some(answer) = answer(&buf[..n]) else { continue };
                let socket = socket.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = socket.send_to(&answer, from).await;
                });
            }
        });
        Forwarder { addr, asked }
    }

    fn asked(&self) -> u32 {
        self.asked.load(Ordering::SeqCst)
    }

    /// Waits (at most 5 s) until `n` queries have arrived.
    async fn wait_for(&self, n: u32) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.asked() < n {
            assert!(
                Instant::now() < deadline,
                "expected {n} queries upstream, got {}",
                self.asked()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The response to `query`: its question, and one A record (TTL 300).
fn answer(query: &[u8]) -> Option<Vec<u8>> {
    let mut end = 12;
    while *query.get(end)? != 0 {
        end += 1 + usize::from(query[end]);
    }
    let question = query.get(12..end + 5)?;
    let mut out = query.get(..2)?.to_vec();
    out.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    out.extend_from_slice(question);
    out.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4]);
    out.extend_from_slice(&ADDRESS);
    Some(out)
}

fn resolver(forwarder: &Forwarder) -> Arc<Resolver> {
    resolver_with(vec![forwarder.addr], Duration::from_secs(3))
}

fn resolver_with(forwarders: Vec<SocketAddr>, upstream_timeout: Duration) -> Arc<Resolver> {
    Resolver::new(config_with(forwarders, upstream_timeout))
}

fn config_with(forwarders: Vec<SocketAddr>, upstream_timeout: Duration) -> ResolverConfig {
    ResolverConfig {
        root_hints: Vec::new(),
        forwarders,
        port: 53,
        limits: Limits {
            upstream_timeout,
            ..Limits::default()
        },
        cache: CacheConfig::default(),
        qname_minimisation: false,
        case_randomisation: false,
        do_not_query_localhost: true,
        validation: true,
        validate_forwarded: false,
        anchors: crate::resolver::dnssec::anchor::Anchors::root(),
        auto_trust: Vec::new(),
        dnstap: None,
    }
}

fn www() -> Name {
    Name::parse("www.example.test.", None).expect("name")
}

#[tokio::test]
async fn a_burst_of_prefetches_of_one_question_asks_upstream_once() {
    let forwarder = Forwarder::start(Duration::from_millis(300)).await;
    let resolver = resolver(&forwarder);
    let prefetches: Vec<_> = (0..10)
        .map(|_| {
            let resolver = resolver.clone();
            tokio::spawn(async move { resolver.refresh(&www(), 1).await })
        })
        .collect();
    for prefetch in prefetches {
        prefetch.await.expect("prefetch task");
    }
    assert_eq!(
        forwarder.asked(),
        1,
        "ten prefetches of one question at once: one upstream query"
    );
    assert!(
        resolver.resolve_cached(&www(), 1).is_some(),
        "the prefetch filled the cache"
    );
    let counted = resolver.counters.totals();
    assert_eq!(
        (counted.prefetches, counted.cache_hits, counted.latency.count),
        (1, 1, 1),
        "one prefetch started, one resolution, then a hit: {counted:?}"
    );
    assert!(counted.upstream.contains(&("noerror", 1)), "{counted:?}");
}

#[tokio::test]
async fn a_client_miss_during_a_prefetch_waits_for_it() {
    const DELAY: Duration = Duration::from_millis(600);
    let forwarder = Forwarder::start(DELAY).await;
    let resolver = resolver(&forwarder);
    let prefetch = {
        let resolver = resolver.clone();
        tokio::spawn(async move { resolver.refresh(&www(), 1).await })
    };
    forwarder.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The cache has nothing yet, so a client's query goes to `resolve`.
    let started = Instant::now();
    let resolution = resolver
        .resolve(&Name::parse("WWW.example.test.", None).expect("name"), 1)
        .await;
    let waited = started.elapsed();
    prefetch.await.expect("prefetch task");
    assert_eq!(
        resolution.answer.first().map(|(r, _)| r.rdata.as_slice()),
        Some(&ADDRESS[..]),
        "the client gets the prefetch's answer: {resolution:?}"
    );
    assert_eq!(
        forwarder.asked(),
        1,
        "the client waited for the prefetch instead of asking again"
    );
    assert!(
        waited < DELAY,
        "a client joining a prefetch waits for what is left of it ({waited:?}), not a whole resolution ({DELAY:?})"
    );
}

#[tokio::test]
async fn no_prefetch_starts_while_a_client_resolves_the_question() {
    let forwarder = Forwarder::start(Duration::from_millis(300)).await;
    let resolver = resolver(&forwarder);
    let client = {
        let resolver = resolver.clone();
        tokio::spawn(async move { resolver.resolve(&www(), 1).await })
    };
    forwarder.wait_for(1).await;
    resolver.refresh(&www(), 1).await;
    let resolution = client.await.expect("client task");
    assert_eq!(resolution.answer.len(), 1, "{resolution:?}");
    assert_eq!(
        forwarder.asked(),
        1,
        "the prefetch left the question to the resolution under way"
    );
    assert_eq!(resolver.counters.totals().prefetches, 0, "none started");
}

#[tokio::test]
async fn a_forwarder_that_drops_the_first_query_is_asked_again() {
    let forwarder = Forwarder::start_dropping(Duration::ZERO, 1).await;
    let resolver = resolver_with(vec![forwarder.addr], Duration::from_millis(300));
    let resolution = resolver.resolve(&www(), 1).await;
    assert_eq!(
        resolution.answer.first().map(|(r, _)| r.rdata.as_slice()),
        Some(&ADDRESS[..]),
        "the second try gets the answer: {resolution:?}"
    );
    assert_eq!(forwarder.asked(), 2, "one lost query, one answered");
}

#[tokio::test]
async fn forwarders_are_tried_in_turn_and_rounds_end() {
    // The first drops everything; the second answers from its second query on.
    let silent = Forwarder::start_dropping(Duration::ZERO, u32::MAX).await;
    let late = Forwarder::start_dropping(Duration::ZERO, 1).await;
    let resolver = resolver_with(vec![silent.addr, late.addr], Duration::from_millis(200));
    let resolution = resolver.resolve(&www(), 1).await;
    assert_eq!(
        resolution.answer.len(),
        1,
        "an answer in the second round: {resolution:?}"
    );
    assert_eq!(late.asked(), 2, "the answering forwarder was asked twice");

    let other = Name::parse("other.example.test.", None).expect("name");
    let started = Instant::now();
    let resolution = resolver_with(vec![silent.addr], Duration::from_millis(200))
        .resolve(&other, 1)
        .await;
    assert_eq!(
        resolution.rcode, 2,
        "SERVFAIL when no forwarder answers: {resolution:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "three rounds of 200 ms, not the whole budget: {:?}",
        started.elapsed()
    );
}

/// Proves the root's keys through `forwarders` from `tasks` tasks at once;
/// each gets what the proof found.
async fn prove_root_keys(resolver: &Arc<Resolver>, tasks: usize) -> Vec<super::validate::ZoneKeys> {
    let provers: Vec<_> = (0..tasks)
        .map(|_| {
            let resolver = resolver.clone();
            tokio::spawn(async move {
                let mut budget = super::Budget::new(resolver.config.limits);
                resolver.zone_keys(Name::root(), &mut budget, 0).await
            })
        })
        .collect();
    let mut found = Vec::new();
    for prover in provers {
        found.push(prover.await.expect("prover task"));
    }
    found
}

fn validating_forwarded(forwarder: &Forwarder) -> Arc<Resolver> {
    let mut resolver =
        Arc::into_inner(resolver_with(vec![forwarder.addr], Duration::from_millis(100))).expect("the only reference");
    resolver.config.validate_forwarded = true;
    Arc::new(resolver)
}

#[tokio::test]
async fn queries_needing_one_zones_keys_at_once_share_one_proof_even_a_failed_one() {
    // A forwarder that never answers: the DNSKEY fetch fails after its rounds.
    let alone = Forwarder::start_dropping(Duration::ZERO, u32::MAX).await;
    let found = prove_root_keys(&validating_forwarded(&alone), 1).await;
    assert!(matches!(found[..], [super::validate::ZoneKeys::Bogus(_)]), "{found:?}");
    let one_proof = alone.asked();
    assert!(one_proof >= 1, "the root's DNSKEY was asked for");

    let silent = Forwarder::start_dropping(Duration::ZERO, u32::MAX).await;
    let resolver = validating_forwarded(&silent);
    let found = prove_root_keys(&resolver, 8).await;
    assert!(
        found.iter().all(|k| matches!(k, super::validate::ZoneKeys::Bogus(_))),
        "{found:?}"
    );
    assert_eq!(
        silent.asked(),
        one_proof,
        "eight provers at once cost what one costs alone"
    );
    assert!(
        resolver.proving.is_empty(),
        "a failed proof leaves the table: it is tried again once its brief bogus entry expires"
    );
}

#[tokio::test]
async fn a_proof_beside_a_referral_out_of_budget_keeps_nothing_and_a_waiting_query_proves_itself() {
    use super::validate::ZoneKeys;
    // A forwarder that ignores the first query: a proof allowed one
    // upstream query runs out of budget waiting for it.
    let forwarder = Forwarder::start_dropping(Duration::ZERO, 1).await;
    let resolver = validating_forwarded(&forwarder);
    let beside = super::Limits {
        max_upstream: 1,
        ..resolver.config.limits
    };
    let prove_beside = |resolver: Arc<Resolver>| {
        tokio::spawn(async move {
            let mut budget = super::Budget::beside(beside);
            resolver.zone_keys(Name::root(), &mut budget, 0).await
        })
    };
    let alone = prove_beside(resolver.clone()).await.expect("beside task");
    assert!(matches!(alone, ZoneKeys::Bogus(_)), "{alone:?}");
    assert!(
        resolver.keys.get(&Name::root(), Instant::now()).is_none(),
        "running out of budget proves nothing: no verdict kept"
    );
    assert!(resolver.proving.is_empty(), "the proof left the table");

    // Again, with a client's query waiting for that proof: once it has run
    // out, the client proves the keys with its own budget, and that
    // verdict (the fake forwarder has no DNSKEY set: bogus) is kept.
    let silent_first = Forwarder::start_dropping(Duration::ZERO, 1).await;
    let resolver = validating_forwarded(&silent_first);
    let first = prove_beside(resolver.clone());
    silent_first.wait_for(1).await;
    let client = prove_root_keys(&resolver, 1).await;
    assert!(matches!(first.await.expect("beside task"), ZoneKeys::Bogus(_)));
    assert!(
        silent_first.asked() >= 2,
        "the waiting query asked for the keys itself: {} queries",
        silent_first.asked()
    );
    assert_eq!(
        resolver.keys.get(&Name::root(), Instant::now()),
        Some(client[0].clone()),
        "the client's own proof is kept"
    );
}
