//! Zone versions whose changed names are known update only the live map's
//! answers those names reach: after every step of a random walk of updates
//! (the store's own property test walk), every answer left in the map is
//! the one the new version gives, and most answers of unchanged names stay.

use std::{collections::HashMap, sync::Arc};

use dns_wire::wire::{class, rtype};
use xdp_abi::{CacheKey, CacheValue, KEY_DO, KEY_EDNS};

use super::{FastPath, configure};
use crate::{
    answer_cache::CacheBudget,
    catalog::{Catalog, ServedZone, ZoneVersion},
    name::Name,
    query::{Identity, Responder, Transport},
    stats::Stats,
    xdp::sync::{self, Inserter},
    zone::{
        load,
        update::walk::{ORIGIN, QNAMES, QTYPES, UNIVERSE, Walk, origin},
    },
};

/// A question the map may hold an answer to.
#[derive(Clone)]
struct Question {
    lower: Vec<u8>,
    qtype: u16,
    edns: Option<bool>,
}

const VARIANTS: [(Option<bool>, u8); 3] = [(None, 0), (Some(false), KEY_EDNS), (Some(true), KEY_EDNS | KEY_DO)];

/// Every question the walk's zones can be asked, by key: the names asked
/// and every owner the walk adds, × the types asked and added, × EDNS variants.
fn questions() -> HashMap<CacheKey, Question> {
    let mut names: Vec<Name> = QNAMES.iter().map(|n| Name::parse(n, None).expect("qname")).collect();
    for (owner, _, _) in UNIVERSE {
        names.push(Name::parse(owner, Some(&origin())).expect("owner"));
    }
    let mut types: Vec<u16> = QTYPES.to_vec();
    types.extend([rtype::DNAME, rtype::SRV]);
    let mut out = HashMap::new();
    for name in names {
        let lower = name.as_wire().to_ascii_lowercase();
        for &qtype in &types {
            for (edns, flags) in VARIANTS {
                let key = sync::key(&lower, qtype, class::IN, flags);
                let question = Question {
                    lower: lower.clone(),
                    qtype,
                    edns,
                };
                out.insert(key, question);
            }
        }
    }
    out
}

fn identity() -> Identity {
    Identity {
        identity: "walk".into(),
        version: None,
        udp_payload: 1232,
    }
}

/// What `catalog` answers to `q`, as a map value (`None`: not for the map).
fn expected(catalog: &Catalog, q: &Question) -> (Vec<u8>, Vec<u8>) {
    let identity = identity();
    let stats = Stats::default();
    let responder = Responder {
        catalog,
        identity: &identity,
        stats: &stats,
        fast_path: &crate::fast_path::NoFastPath,
        secondaries: None,
    };
    let query = sync::synth_query(&q.lower, q.qtype, q.edns, identity.udp_payload);
    let mut out = Vec::new();
    let _ = responder.respond(&query, Transport::Udp, &mut out);
    (query, out)
}

/// The parts of a map value an answer is built from.
fn served(v: &CacheValue) -> (u16, u16, u16, u16, Vec<u8>) {
    let end = usize::from(v.body_at) + usize::from(v.body_len);
    (
        v.header_flags,
        v.ancount,
        v.nscount,
        v.arcount,
        v.bytes()[..end].to_vec(),
    )
}

/// Copies the answers to every question into the live map, as the server
/// does for the answers it caches at run time.
fn warm(inserter: &Inserter, catalog: &Catalog, questions: &HashMap<CacheKey, Question>) {
    for q in questions.values() {
        let (query, response) = expected(catalog, q);
        let parsed = dns_wire::query::parse(&query).expect("our own query parses");
        inserter.copy_now(catalog, &parsed, &response);
    }
}

#[test]
fn zone_updates_rewrite_only_the_xdp_answers_their_names_reach() {
    test_support::require_root!("loading the XDP program");
    let fast = FastPath::load(8192, None).expect("the XDP program loads");
    configure(&fast);
    let inserter = Inserter::start(fast.maps.clone());
    let questions = questions();
    let budget = CacheBudget::new(1000);
    let identity = identity();
    let origin_wire = Name::parse(ORIGIN, None)
        .expect("origin")
        .as_wire()
        .to_ascii_lowercase();

    let mut walk = Walk::new();
    let zone = load::from_str(&origin(), &walk.text(), std::path::Path::new("start")).expect("the start loads");
    let mut version = ZoneVersion::new(Arc::new(zone), Vec::new(), &budget);
    let catalog = Catalog::of(vec![ServedZone::loaded(version.clone(), None)], budget.clone());
    inserter
        .refill(&catalog, &sync::precompute_zones(&catalog, &identity, None, usize::MAX))
        .expect("filled");
    warm(&inserter, &catalog, &questions);

    let (mut steps, mut kept, mut rewritten) = (0, 0, 0);
    for step in 0..120 {
        let (update, next) = walk.propose();
        let Ok(zone) = version.zone.apply(&update) else {
            continue;
        };
        walk.accept(next);
        let new = ZoneVersion::replacing(&version, Arc::new(zone), Vec::new(), &budget);
        let catalog = Catalog::of(vec![ServedZone::loaded(new.clone(), None)], budget.clone());
        let before: HashMap<CacheKey, (u16, u16, u16, u16, Vec<u8>)> = {
            let mut maps = fast.maps.lock().expect("maps");
            let live = maps.live().expect("live map");
            live.iter()
                .map(|e| e.expect("entry"))
                .map(|(k, v)| (k, served(&v)))
                .collect()
        };
        assert!(inserter.can_update(&catalog), "step {step}: the same zone");
        let names = inserter
            .changed_names(catalog.zone(&origin_wire).expect("zone"))
            .expect("a known change");
        let entries = sync::precompute_names(&catalog, &identity, &origin_wire, names);
        inserter.update(&catalog, entries).expect("updated");

        let mut maps = fast.maps.lock().expect("maps");
        let live = maps.live().expect("live map");
        for entry in live.iter() {
            let (key, value) = entry.expect("entry");
            let q = questions
                .get(&key)
                .unwrap_or_else(|| panic!("step {step}: a key no question of the walk has"));
            let (_, response) = expected(&catalog, q);
            let want = sync::value(&q.lower, &response).map(|v| served(&v));
            let name = Name::from_wire(&q.lower).map_or_else(String::new, |n| n.to_string());
            assert_eq!(
                Some(served(&value)),
                want,
                "step {step}: the map's answer to {name} type {} ({:?}) is not the new version's, after {update:?}",
                q.qtype,
                q.edns
            );
            match before.get(&key) {
                Some(old) if *old == served(&value) => kept += 1,
                _ => rewritten += 1,
            }
        }
        drop(maps);
        warm(&inserter, &catalog, &questions);
        version = new;
        steps += 1;
    }
    eprintln!("{steps} updates: {kept} answers kept, {rewritten} written");
    assert!(steps > 60, "the walk mostly applies: {steps} steps");
    assert!(
        kept > 10 * rewritten,
        "an update keeps most answers of the names it does not reach: {kept} kept, {rewritten} written"
    );
}
