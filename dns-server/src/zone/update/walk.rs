//! A random walk of updates over a small zone that reaches every answer
//! state (CNAMEs, wildcards, a delegation with glue, empty non-terminals,
//! a DNAME): the property tests of updates, in the store and in the XDP
//! maps, take their steps from it.

use std::path::Path;

use dns_wire::wire::rtype;

use super::{Change, Update};
use crate::{name::Name, zone::parse};

pub(crate) const ORIGIN: &str = "prop.test.";
const TTL: u32 = 300;

/// Every record the test may add: owner, type, RDATA as text. Chosen to
/// reach each answer state: CNAMEs (and a second, conflicting one),
/// wildcards, a delegation with glue, names that make and unmake empty
/// non-terminals, a DNAME that conflicts with data below it.
pub(crate) const UNIVERSE: &[(&str, &str, &str)] = &[
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
pub(crate) const QNAMES: &[&str] = &[
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

pub(crate) const QTYPES: &[u16] = &[
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
pub(crate) struct Model {
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

    pub(crate) fn text(&self) -> String {
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

pub(crate) fn origin() -> Name {
    Name::parse(ORIGIN, None).expect("origin")
}

pub(crate) fn change(owner: &str, t: &str, rdata: &str) -> Change {
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

/// The walk: the zone's records as a model, and where the next step goes.
pub(crate) struct Walk {
    model: Model,
    serial: u32,
    rng: Rng,
}

impl Walk {
    /// An apex with its SOA and NS, and a fixed sequence of steps.
    pub(crate) fn new() -> Walk {
        let mut model = Model::default();
        let serial = 1;
        model.add(("@", "SOA", &soa(serial)));
        model.add(("@", "NS", "ns1"));
        model.add(("ns1", "A", "192.0.2.53"));
        Walk {
            model,
            serial,
            rng: Rng(0x9e37_79b9_7f4a_7c15),
        }
    }

    /// The records taken so far, as a zone file.
    pub(crate) fn text(&self) -> String {
        self.model.text()
    }

    /// The next update, and the records it leads to (the zone file a full
    /// load of the result reads): one to three removals of records the
    /// zone has and additions from [`UNIVERSE`], sometimes a new SOA.
    pub(crate) fn propose(&mut self) -> (Update, Model) {
        let rng = &mut self.rng;
        // Removals from what the zone has, additions from the universe;
        // the model takes them in the update's order: removals first.
        let mut removed = Vec::new();
        let mut added = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let records = self.model.records();
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
            removed.push(("@".into(), "SOA".into(), soa(self.serial)));
            self.serial += 1;
            added.push(("@".into(), "SOA".into(), soa(self.serial)));
        }
        let mut next = self.model.clone();
        let mut update = Update::default();
        for (o, t, r) in &removed {
            update.remove.push(change(o, t, r));
            next.remove((o, t, r));
        }
        for (o, t, r) in &added {
            update.add.push(change(o, t, r));
            next.add((o, t, r));
        }
        (update, next)
    }

    /// Takes a proposed step (one that applied).
    pub(crate) fn accept(&mut self, next: Model) {
        self.model = next;
    }
}
