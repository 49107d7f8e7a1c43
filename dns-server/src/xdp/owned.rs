//! Which keys of the live response map belong to which zone version, and
//! which names each of those answers depends on.
//!
//! A new zone version whose changed names are known (an IXFR, an update,
//! a reload that diffed the old and new data) then rewrites only the keys
//! whose answers those names can change, and every other key of the zone
//! stays live, now tagged with the new version. An answer depends on its
//! question name, on the owner of every record it carries (so a negative
//! answer depends on the apex through its SOA, a referral on the cut and
//! the glue, a CNAME answer on each name of the chain) and on the names its
//! records point at (an MX target without an address yet). A changed name
//! other than the apex also changes the answers for names below it (a new
//! or removed name ends or starts a wildcard match, a new zone cut or DNAME
//! captures the names under it), and a changed wildcard those below its
//! parent.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use dns_wire::wire::rtype;
use xdp_abi::CacheKey;

use crate::{
    authority::additional::target_offset,
    message::read::{parse, read_name},
    zone::canonical::{Key, key_is_within},
};

/// A canonical name key (see [`crate::zone::canonical`]), shared between indexes.
pub(super) type NameKey = Arc<[u8]>;

/// What an answer depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Depends {
    /// These names (canonical keys), the question name first.
    Names(Box<[NameKey]>),
    /// Anything: the response could not be read, so any change drops it.
    Anything,
}

/// The names the answer `response` to a question named `lower` (a
/// lower-cased wire name) depends on.
pub(crate) fn depends(lower: &[u8], response: &[u8]) -> Depends {
    let Some(qname) = key_of(lower) else {
        return Depends::Anything;
    };
    let Ok(message) = parse(response) else {
        return Depends::Anything;
    };
    let mut names = vec![qname];
    let mut add = |wire: &[u8]| match key_of(wire) {
        Some(key) => {
            if !names.contains(&key) {
                names.push(key);
            }
            true
        }
        None => false,
    };
    for record in message.records.iter().filter(|r| r.rtype != rtype::OPT) {
        if !add(record.owner.as_wire()) {
            return Depends::Anything;
        }
        let offset = match record.rtype {
            rtype::CNAME | rtype::DNAME => Some(0),
            t => target_offset(t),
        };
        if let Some(offset) = offset {
            match read_name(&record.rdata, offset) {
                Ok((target, _)) if add(target.as_wire()) => {}
                _ => return Depends::Anything,
            }
        }
    }
    Depends::Names(names.into())
}

fn key_of(wire: &[u8]) -> Option<NameKey> {
    Key::of(wire).map(|k| k.as_bytes().into())
}

/// One zone's part of the live map: the version its keys were written
/// from and, for each key, what its answer depends on.
#[derive(Default)]
pub(super) struct Owned {
    /// The version its keys were written from (0: none, it failed to load).
    pub version: u64,
    keys: HashMap<CacheKey, Depends>,
    /// Name → the keys whose answers depend on it.
    by_name: BTreeMap<NameKey, Vec<CacheKey>>,
    /// Keys whose answers depend on anything.
    opaque: HashSet<CacheKey>,
}

impl Owned {
    /// Nothing written yet for `version`.
    pub(super) fn at(version: u64) -> Owned {
        Owned {
            version,
            ..Owned::default()
        }
    }

    /// Records that `key` was written with an answer depending on `depends`
    /// (replacing what was recorded for it).
    pub(super) fn insert(&mut self, key: CacheKey, depends: Depends) {
        self.remove(&key);
        match &depends {
            Depends::Names(names) => {
                for name in names.iter() {
                    self.by_name.entry(name.clone()).or_default().push(key);
                }
            }
            Depends::Anything => {
                self.opaque.insert(key);
            }
        }
        self.keys.insert(key, depends);
    }

    /// Forgets `key`; whether it was recorded.
    pub(super) fn remove(&mut self, key: &CacheKey) -> bool {
        let Some(depends) = self.keys.remove(key) else {
            return false;
        };
        match depends {
            Depends::Names(names) => {
                for name in names.iter() {
                    if let Some(keys) = self.by_name.get_mut(name) {
                        keys.retain(|k| k != key);
                        if keys.is_empty() {
                            self.by_name.remove(name);
                        }
                    }
                }
            }
            Depends::Anything => {
                self.opaque.remove(key);
            }
        }
        true
    }

    /// Every key recorded.
    pub(super) fn keys(&self) -> impl Iterator<Item = &CacheKey> {
        self.keys.keys()
    }

    /// How many keys are recorded.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The keys whose answers may differ once the names `changed`
    /// (canonical keys) changed in the zone whose apex key is `apex`.
    pub(super) fn affected(&self, changed: &[NameKey], apex: &[u8]) -> HashSet<CacheKey> {
        let mut out: HashSet<CacheKey> = self.opaque.iter().copied().collect();
        for name in changed {
            let below = if &name[..] == apex {
                // The apex's records change answers that carry them (its
                // SOA in every negative answer), nothing below as such.
                None
            } else if let Some(parent) = name.strip_suffix(b"*\0") {
                Some(parent)
            } else {
                Some(&name[..])
            };
            match below {
                None => out.extend(self.by_name.get(name).into_iter().flatten().copied()),
                Some(top) => {
                    let under = self
                        .by_name
                        .range::<[u8], _>((std::ops::Bound::Included(top), std::ops::Bound::Unbounded))
                        .take_while(|(k, _)| key_is_within(k, top));
                    for (_, keys) in under {
                        out.extend(keys.iter().copied());
                    }
                    // A wildcard's own answers.
                    out.extend(self.by_name.get(name).into_iter().flatten().copied());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use test_support::{Query, encode_name};

    use super::*;
    use crate::{
        catalog::Catalog,
        query::{Identity, Responder, Transport},
        stats::Stats,
        zone::load,
    };

    const ZONE: &str = "$ORIGIN example.\n$TTL 300\n\
        @ SOA ns1 host 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\n\
        www A 192.0.2.2\nmail A 192.0.2.3\n@ MX 10 mail\nalias CNAME www\n\
        *.wild TXT \"w\"\nsub NS ns.sub\nns.sub A 192.0.2.9\n";

    fn answer(catalog: &Catalog, name: &str, qtype: u16) -> Vec<u8> {
        let stats = Stats::default();
        let identity = Identity {
            identity: "test".into(),
            version: None,
            udp_payload: 1232,
        };
        let responder = Responder {
            catalog,
            identity: &identity,
            stats: &stats,
            fast_path: &crate::fast_path::NoFastPath,
            secondaries: None,
        };
        let mut out = Vec::new();
        responder
            .respond(&Query::new(name, qtype).to_wire(), Transport::Udp, &mut out)
            .expect("answered");
        out
    }

    fn key(name: &str) -> NameKey {
        key_of(&encode_name(name)).expect("name")
    }

    fn names(depends: &Depends) -> Vec<NameKey> {
        match depends {
            Depends::Names(n) => n.to_vec(),
            Depends::Anything => panic!("opaque"),
        }
    }

    /// Each kind of answer depends on the names that can change it.
    #[test]
    fn answers_depend_on_the_names_they_carry_and_point_at() {
        let origin = crate::name::Name::parse("example.", None).expect("origin");
        let zone = load::from_str(&origin, ZONE, std::path::Path::new("example.zone")).expect("zone");
        let catalog = Catalog::new([Arc::new(zone)], 100);
        let of = |name: &str, qtype: u16| {
            let lower = encode_name(name);
            names(&depends(&lower, &answer(&catalog, name, qtype)))
        };
        assert_eq!(of("www.example", rtype::A), vec![key("www.example")]);
        let mx = of("example", rtype::MX);
        assert!(mx.contains(&key("mail.example")), "the MX target and its address");
        let alias = of("alias.example", rtype::A);
        assert!(alias.contains(&key("www.example")), "the CNAME target");
        let nx = of("nope.example", rtype::A);
        assert!(nx.contains(&key("example")), "a negative answer carries the SOA");
        let referral = of("a.sub.example", rtype::A);
        assert!(referral.contains(&key("sub.example")) && referral.contains(&key("ns.sub.example")));
        assert_eq!(
            depends(b"\x01x\x00", b"\x00\x01"),
            Depends::Anything,
            "unreadable: anything"
        );
    }

    /// A changed name drops its own answers and those of names below it
    /// (below the parent for a wildcard); a changed apex only what carries it.
    #[test]
    fn changes_reach_the_answers_that_depend_on_them() {
        let k = |n: u64| CacheKey::new(&n.to_be_bytes(), 1, 1, 0);
        let mut owned = Owned::at(1);
        let deps = |names: &[&str]| Depends::Names(names.iter().map(|n| key(n)).collect());
        owned.insert(k(1), deps(&["www.example"]));
        owned.insert(k(2), deps(&["example", "mail.example"]));
        owned.insert(k(3), deps(&["a.b.example", "example"]));
        owned.insert(k(4), deps(&["x.wild.example"]));
        owned.insert(k(5), deps(&["other.example"]));
        owned.insert(k(6), Depends::Anything);
        let apex = key("example");
        let hit = |owned: &Owned, names: &[&str]| {
            let changed: Vec<NameKey> = names.iter().map(|n| key(n)).collect();
            let affected = owned.affected(&changed, &apex);
            (1..=6).filter(|n| affected.contains(&k(*n))).collect::<Vec<u64>>()
        };
        assert_eq!(hit(&owned, &["www.example"]), vec![1, 6]);
        assert_eq!(hit(&owned, &["mail.example"]), vec![2, 6], "the MX answer carrying it");
        assert_eq!(
            hit(&owned, &["example"]),
            vec![2, 3, 6],
            "the apex: answers carrying it only"
        );
        assert_eq!(hit(&owned, &["b.example"]), vec![3, 6], "below a changed name");
        assert_eq!(
            hit(&owned, &["*.wild.example"]),
            vec![4, 6],
            "below a wildcard's parent"
        );
        assert_eq!(hit(&owned, &["nowhere.example"]), vec![6]);
        assert!(owned.remove(&k(3)));
        assert!(!owned.remove(&k(3)));
        assert_eq!(
            hit(&owned, &["b.example"]),
            vec![6],
            "a removed key is no longer indexed"
        );
        owned.insert(k(1), deps(&["new.example"]));
        assert_eq!(
            hit(&owned, &["www.example"]),
            vec![6],
            "re-recorded with new dependencies"
        );
        assert_eq!(owned.len(), 5);
    }
}
