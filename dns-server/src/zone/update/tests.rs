//! Updates against full loads: random adds and removes, applied one update
//! at a time, must answer byte for byte as a fresh load of the same records.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use dns_wire::wire::rtype;

use super::{Change, Update};
use crate::{
    catalog::Catalog,
    name::Name,
    query::{Identity, Responder, Transport},
    stats::Stats,
    zone::{load, parse, tree::Zone},
};

const ORIGIN: &str = "prop.test.";
const TTL: u32 = 300;

/// Every record the test may add: owner, type, RDATA as text. Chosen to
/// reach each answer state: CNAMEs (and a second, conflicting one),
/// wildcards, a delegation with glue, names that make and unmake empty
/// non-terminals, a DNAME that conflicts with data below it.
const UNIVERSE: &[(&str, &str, &str)] = &[
    ("@", "NS", "ns1"),
    ("@", "NS", "ns2"),
    ("@", "MX", "10 www"),
    ("@", "TXT", "\"apex\""),
    ("ns1", "A", "192.0.2.53"),
    ("www", "A", "192.0.2.1"),
    ("www", "A", "192.0.2.2"),
    ("www", "AAAA", "2001:db8::1"),
    ("www", "TXT", "\"one\""),
    ("www", "TXT", "\"two\""),
    ("b", "TXT", "\"b\""),
    ("a.b", "A", "192.0.2.10"),
    ("x.y.z", "A", "192.0.2.20"),
    ("q.x.y.z", "AAAA", "2001:db8::20"),
    ("*.w", "A", "192.0.2.30"),
    ("*.w", "TXT", "\"wild\""),
    ("sub.w", "A", "192.0.2.31"),
    ("deleg", "NS", "ns.deleg"),
    ("deleg", "NS", "ns.elsewhere.example."),
    ("ns.deleg", "A", "192.0.2.40"),
    ("alias", "CNAME", "www"),
    ("alias", "CNAME", "a.b"),
    ("alias", "A", "192.0.2.50"),
    ("mx", "MX", "10 www"),
    ("mx", "MX", "20 a.b"),
    ("dn", "DNAME", "www.example.net."),
    ("x.dn", "A", "192.0.2.60"),
];

/// Names asked about: existing, missing, below wildcards, ENTs, cuts.
const QNAMES: &[&str] = &[
    "prop.test.",
    "ns1.prop.test.",
    "www.prop.test.",
    "WWW.prop.test.",
    "b.prop.test.",
    "a.b.prop.test.",
    "nx.b.prop.test.",
    "nx.prop.test.",
    "y.z.prop.test.",
    "z.prop.test.",
    "x.y.z.prop.test.",
    "q.x.y.z.prop.test.",
    "foo.w.prop.test.",
    "w.prop.test.",
    "sub.w.prop.test.",
    "deep.sub.w.prop.test.",
    "deleg.prop.test.",
    "deep.deleg.prop.test.",
    "ns.deleg.prop.test.",
    "alias.prop.test.",
    "mx.prop.test.",
    "dn.prop.test.",
    "x.dn.prop.test.",
];

const QTYPES: &[u16] = &[
    rtype::A,
    rtype::AAAA,
    rtype::TXT,
    rtype::MX,
    rtype::NS,
    rtype::CNAME,
    rtype::SOA,
    rtype::DS,
    rtype::ANY,
];

/// The zone's content in the order a full load would keep: names in order
/// of first appearance, RRsets in order of first record, RDATAs in order.
#[derive(Clone, Default)]
struct Model {
    nodes: Vec<(String, Vec<Set>)>,
}

/// A type and its RDATAs, as text.
type Set = (String, Vec<String>);

impl Model {
    fn remove(&mut self, (owner, t, rdata): (&str, &str, &str)) {
        let Some(n) = self.nodes.iter().position(|(o, _)| o == owner) else {
            return;
        };
        let sets = &mut self.nodes[n].1;
        if let Some(s) = sets.iter().position(|(st, _)| st == t) {
            sets[s].1.retain(|r| r != rdata);
            if sets[s].1.is_empty() {
                sets.remove(s);
            }
        }
        if sets.is_empty() {
            self.nodes.remove(n);
        }
    }

    fn add(&mut self, (owner, t, rdata): (&str, &str, &str)) {
        let n = match self.nodes.iter().position(|(o, _)| o == owner) {
            Some(n) => n,
            None => {
                self.nodes.push((owner.into(), Vec::new()));
                self.nodes.len() - 1
            }
        };
        let sets = &mut self.nodes[n].1;
        let s = match sets.iter().position(|(st, _)| st == t) {
            Some(s) => s,
            None => {
                sets.push((t.into(), Vec::new()));
                sets.len() - 1
            }
        };
        if !sets[s].1.iter().any(|r| r == rdata) {
            sets[s].1.push(rdata.into());
        }
    }

    fn text(&self) -> String {
        let mut text = format!("$ORIGIN {ORIGIN}\n");
        for (owner, sets) in &self.nodes {
            for (t, rdatas) in sets {
                for r in rdatas {
                    text.push_str(&format!("{owner} {TTL} {t} {r}\n"));
                }
            }
        }
        text
    }

    fn records(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (owner, sets) in &self.nodes {
            for (t, rdatas) in sets {
                for r in rdatas {
                    out.push((owner.clone(), t.clone(), r.clone()));
                }
            }
        }
        out
    }
}

/// xorshift64*: a fixed sequence, so a failure repeats.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

fn origin() -> Name {
    Name::parse(ORIGIN, None).expect("origin")
}

fn change(owner: &str, t: &str, rdata: &str) -> Change {
    let line = format!("{owner} {TTL} {t} {rdata}\n");
    let mut records = parse::parse_str(&line, Path::new("change"), &origin())
        .unwrap_or_else(|e| panic!("{line:?} should parse: {e}"));
    let r = records.pop().expect("one record");
    Change {
        owner: r.owner,
        rtype: r.rtype,
        class: r.class,
        ttl: r.ttl,
        rdata: r.rdata,
    }
}

fn soa(serial: u32) -> String {
    format!("ns1 hostmaster {serial} 7200 3600 1209600 60")
}

fn answers(zone: &Zone) -> Vec<Vec<u8>> {
    let catalog = Catalog::new([Arc::new(zone.clone())], 1000);
    let identity = Identity {
        identity: "prop".into(),
        version: None,
        udp_payload: 1232,
    };
    let stats = Stats::default();
    let responder = Responder {
        catalog: &catalog,
        identity: &identity,
        stats: &stats,
        fast_path: &crate::fast_path::NoFastPath,
    };
    let mut all = Vec::new();
    for qname in QNAMES {
        for &qtype in QTYPES {
            for transport in [Transport::Udp, Transport::Tcp] {
                let q = test_support::Query::new(qname, qtype).id(7).edns(1232).to_wire();
                let mut out = Vec::new();
                let _ = responder.respond(&q, transport, &mut out);
                all.push(out);
            }
        }
    }
    all
}

/// Node keys and contents, to find the changed names by brute force.
fn contents(zone: &Zone) -> BTreeMap<Vec<u8>, String> {
    zone.nodes()
        .map(|n| (n.owner().to_ascii_lowercase(), format!("{n:?}")))
        .collect()
}

#[test]
fn random_updates_answer_as_a_full_load_of_the_same_records() {
    let mut model = Model::default();
    let mut serial = 1;
    model.add(("@", "SOA", &soa(serial)));
    model.add(("@", "NS", "ns1"));
    model.add(("ns1", "A", "192.0.2.53"));
    let mut zone = load::from_str(&origin(), &model.text(), Path::new("start")).expect("the start loads");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut applied, mut refused) = (0, 0);
    for step in 0..300 {
        // Removals from what the zone has, additions from the universe;
        // the model takes them in the update's order: removals first.
        let mut removed = Vec::new();
        let mut added = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let records = model.records();
            if rng.below(3) == 0 {
                let (o, t, r) = records[rng.below(records.len())].clone();
                if t != "SOA" {
                    removed.push((o, t, r));
                }
            } else {
                let (o, t, r) = UNIVERSE[rng.below(UNIVERSE.len())];
                added.push((o.to_string(), t.to_string(), r.to_string()));
            }
        }
        if rng.below(10) == 0 {
            removed.push(("@".into(), "SOA".into(), soa(serial)));
            serial += 1;
            added.push(("@".into(), "SOA".into(), soa(serial)));
        }
        let mut next = model.clone();
        let mut update = Update::default();
        for (o, t, r) in &removed {
            update.remove.push(change(o, t, r));
            next.remove((o, t, r));
        }
        for (o, t, r) in &added {
            update.add.push(change(o, t, r));
            next.add((o, t, r));
        }
        let text = next.text();
        let loaded = load::from_str(&origin(), &text, Path::new("final"));
        match (zone.apply(&update), loaded) {
            (Ok(updated), Ok(loaded)) => {
                assert_eq!(updated.serial, loaded.serial, "step {step}: serial");
                assert_eq!(
                    updated.nodes().map(|n| format!("{n:?}")).collect::<Vec<_>>(),
                    loaded.nodes().map(|n| format!("{n:?}")).collect::<Vec<_>>(),
                    "step {step}: the same nodes in the same order, after {update:?}\n{text}"
                );
                let (got, want) = (answers(&updated), answers(&loaded));
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(
                        g,
                        w,
                        "step {step}: answer {i} ({} type {}) differs after {update:?}\n{text}",
                        QNAMES[i / (QTYPES.len() * 2)],
                        QTYPES[i / 2 % QTYPES.len()]
                    );
                }
                // The diff names exactly the names whose nodes changed.
                let (before, after) = (contents(&zone), contents(&updated));
                let mut expected: Vec<Vec<u8>> = before
                    .keys()
                    .chain(after.keys())
                    .filter(|k| before.get(*k) != after.get(*k))
                    .cloned()
                    .collect();
                expected.sort_by(|a, b| crate::zone::canonical::compare(a, b));
                expected.dedup();
                let changed: Vec<Vec<u8>> = Zone::changed_names(&zone, &updated)
                    .iter()
                    .map(|n| n.as_wire().to_vec())
                    .collect();
                assert_eq!(changed, expected, "step {step}: changed names after {update:?}");
                zone = updated;
                model = next;
                applied += 1;
            }
            (Err(_), Err(_)) => refused += 1,
            (got, want) => panic!(
                "step {step}: an update and a full load disagree on whether {update:?} is valid: \
                 update {:?}, load {:?}\n{text}",
                got.map(|z| z.serial),
                want.map(|z| z.serial)
            ),
        }
    }
    eprintln!("{applied} updates applied, {refused} refused by both");
    assert!(
        applied > 150 && refused > 5,
        "the walk should mostly apply and sometimes be refused: {applied} applied, {refused} refused"
    );
}

#[test]
fn an_update_shares_the_old_version_and_leaves_it_whole() {
    let text = "$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n";
    let old = load::from_str(&origin(), text, Path::new("t")).expect("loads");
    let update = Update {
        remove: vec![change("www", "A", "192.0.2.2")],
        add: vec![change("a.b.c", "A", "192.0.2.3")],
    };
    let new = old.apply(&update).expect("applies");
    assert!(
        old.node(b"\x03www\x04prop\x04test\x00").is_some(),
        "the old version is unchanged"
    );
    assert!(new.node(b"\x03www\x04prop\x04test\x00").is_none(), "www went");
    assert!(
        new.node(b"\x01b\x01c\x04prop\x04test\x00")
            .is_some_and(|n| n.is_empty()),
        "b.c came as an empty non-terminal"
    );
    let ns1 = b"\x03ns1\x04prop\x04test\x00";
    assert!(
        old.node(ns1).expect("ns1").ptr_eq(new.node(ns1).expect("ns1")),
        "an untouched node is shared"
    );
    let changed: Vec<String> = Zone::changed_names(&old, &new).iter().map(Name::to_string).collect();
    assert_eq!(
        changed,
        ["c.prop.test.", "b.c.prop.test.", "a.b.c.prop.test.", "www.prop.test."],
        "canonical order"
    );
    let back = new
        .apply(&Update {
            remove: update.add.clone(),
            add: update.remove,
        })
        .expect("applies");
    assert_eq!(
        back.node_count(),
        old.node_count(),
        "the empty non-terminals went with a.b.c"
    );
    let out = Update {
        remove: vec![],
        add: vec![Change {
            owner: Name::parse("www.example.org.", None).expect("name"),
            ..change("www", "A", "192.0.2.2")
        }],
    };
    let e = old.apply(&out).expect_err("out of zone");
    assert!(e.message.contains("out of the zone"), "{e}");
}

/// Timings for the case (d), in release mode:
/// `cargo test --release -p dns-server --lib one_record_change_in_a_big_zone -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: a million records, run by hand in release mode"]
fn one_record_change_in_a_big_zone() {
    use std::time::Instant;
    let mut text = String::from("$TTL 3600\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n");
    for i in 0..250_000u32 {
        text.push_str(&format!(
            "h{i} A 10.{}.{}.{}\nh{i} AAAA 2001:db8::{:x}:{:x}\nt{i} TXT \"text {i}\"\nd{i} NS ns.d{i}\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255,
            i >> 16,
            i & 0xffff
        ));
    }
    let started = Instant::now();
    let zone = load::from_str(&origin(), &text, Path::new("big")).expect("loads");
    let loaded = started.elapsed();
    let names: Vec<Vec<u8>> = (0..250_000u32)
        .map(|i| {
            Name::parse(&format!("h{}.{ORIGIN}", i * 7 % 250_000), None)
                .expect("name")
                .as_wire()
                .to_vec()
        })
        .collect();
    let started = Instant::now();
    let found = names.iter().filter(|n| zone.node(n).is_some()).count();
    let per_lookup = started.elapsed() / names.len() as u32;
    assert_eq!(found, names.len());
    let update = Update {
        remove: vec![change("h777", "A", "10.0.3.9")],
        add: vec![change("h777", "A", "192.0.2.77"), change("new.name", "TXT", "\"new\"")],
    };
    let started = Instant::now();
    let new = zone.apply(&update).expect("applies");
    let applied = started.elapsed();
    let started = Instant::now();
    let changed = Zone::changed_names(&zone, &new);
    let diffed = started.elapsed();
    let started = Instant::now();
    drop(zone);
    let dropped = started.elapsed();
    eprintln!(
        "1M records ({} names): load {loaded:?}; exact lookup {per_lookup:?}; one update {applied:?}; \
         changed names {diffed:?} ({} names); old version dropped in {dropped:?}",
        new.node_count(),
        changed.len()
    );
    assert_eq!(
        changed.len(),
        3,
        "h777, new.name and its empty parent name: {changed:?}"
    );
}
