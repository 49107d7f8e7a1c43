//! NSEC3 (RFC 5155): owner-name hashes and a zone version's chain indexed by hash.
//!
//! The chain is built at load and followed through each new version (an
//! update or a reload applies only its changed names to the old version's
//! maps), so a query finds the NSEC3 that matches or covers a hash with a
//! B-tree search instead of a walk over the zone, and the names of the zone
//! are hashed once, not per query. SHA-1 comes from `ring`: no hand-written
//! crypto.

use std::sync::Arc;

use data_encoding::BASE32_DNSSEC;
use dns_wire::wire::rtype;
use imbl::{HashMap, OrdMap};

use super::node::Node;

/// The only hash algorithm RFC 5155 defines (SHA-1).
const SHA1: u8 = 1;
/// Length of a SHA-1 hash.
pub(crate) const HASH_LEN: usize = 20;

/// A hashed owner name.
pub(crate) type Hash = [u8; HASH_LEN];

/// The hash parameters of a zone's NSEC3PARAM (RFC 5155 4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Params {
    /// Additional iterations.
    pub iterations: u16,
    /// The salt (empty when none, as RFC 9276 recommends).
    pub salt: Box<[u8]>,
}

impl Params {
    /// The parameters of an NSEC3PARAM or NSEC3 RDATA (both start alike),
    /// when it uses SHA-1.
    pub(crate) fn of(rdata: &[u8]) -> Option<Params> {
        let (&alg, rest) = rdata.split_first()?;
        let iterations = u16::from_be_bytes(rest.get(1..3)?.try_into().ok()?);
        let salt_len = usize::from(*rest.get(3)?);
        let salt = rest.get(4..4 + salt_len)?;
        (alg == SHA1).then(|| Params {
            iterations,
            salt: salt.into(),
        })
    }

    /// Whether RFC 9276 3.1 is followed: no extra iterations, no salt.
    pub(crate) fn follows_rfc_9276(&self) -> bool {
        self.iterations == 0 && self.salt.is_empty()
    }
}

/// RFC 5155 5: IH(salt, x, 0) = H(x || salt), IH(salt, x, k) = H(IH(salt, x, k-1) || salt),
/// over the lower-cased wire name.
pub(crate) fn hash(lower: &[u8], params: &Params) -> Hash {
    let round = |input: &[u8]| {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(input);
        ctx.update(&params.salt);
        let mut out = [0u8; HASH_LEN];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    };
    let mut h = round(lower);
    for _ in 0..params.iterations {
        h = round(&h);
    }
    h
}

/// The hashes stored for a name of the zone: its own, and that of the
/// wildcard below it (`*.name`), which a negative answer whose closest
/// encloser is this name denies (RFC 5155 7.2.1 and 7.2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NameHashes {
    own: Hash,
    /// `None` when `*.name` would be longer than a name may be.
    wildcard: Option<Hash>,
}

/// The NSEC3 records of one zone version, by owner hash, and the hashes of
/// every other name of the zone and of the wildcard below it.
///
/// Both are persistent maps: a new version's chain is the old one's with
/// the changed names applied ([`Chain::follow`]), sharing the rest, so an
/// update costs about its changes, not a walk and a hash of every name.
#[derive(Clone, Debug)]
pub(crate) struct Chain {
    /// The parameters of the apex's NSEC3PARAM.
    pub params: Params,
    /// Owner hash and NSEC3 node of each link.
    links: OrdMap<Hash, Node>,
    /// The hashes of each name of the zone that is not a link (lower-cased
    /// wire) and of the wildcard below it, computed once per version that
    /// adds the name: the matching, closest-encloser and wildcard proofs of
    /// a negative answer then hash only the next closer name, the one name
    /// per query that cannot be known in advance.
    hashes: HashMap<Box<[u8]>, NameHashes>,
}

/// The NSEC3PARAM parameters of the apex, when this server can hash them.
fn params_of(apex_node: &Node) -> Option<Params> {
    apex_node.get(rtype::NSEC3PARAM)?.rdatas().find_map(Params::of)
}

impl Chain {
    /// The chain of the zone whose apex is `apex` (lower-case wire) and
    /// holds `apex_node`, from its `nodes`; `None` without an NSEC3PARAM
    /// this server can hash.
    pub(crate) fn build<'n>(
        apex: &[u8],
        apex_node: &Node,
        nodes: impl Iterator<Item = &'n Node>,
    ) -> Option<Arc<Chain>> {
        // Salt and iterations as published (the loader warns when they are
        // not RFC 9276's: validators may then treat the zone as insecure).
        let params = params_of(apex_node)?;
        let mut chain = Chain {
            params,
            links: OrdMap::new(),
            hashes: HashMap::new(),
        };
        for node in nodes {
            chain.add(apex, node);
        }
        Some(Arc::new(chain))
    }

    /// The chain of a new version of the zone whose chain was `previous`,
    /// from the nodes the new version removed (or replaced) and those it
    /// added: the old maps with those applied, sharing everything else.
    /// `None` when the new apex has other parameters or none (build afresh).
    pub(crate) fn follow<'n>(
        previous: &Chain,
        apex: &[u8],
        apex_node: &Node,
        removed: impl Iterator<Item = &'n Node>,
        added: impl Iterator<Item = &'n Node>,
    ) -> Option<Arc<Chain>> {
        if params_of(apex_node)? != previous.params {
            return None;
        }
        let mut chain = previous.clone();
        // Removals first: a changed node is removed, then added back.
        for node in removed {
            chain.remove(apex, node);
        }
        for node in added {
            chain.add(apex, node);
        }
        Some(Arc::new(chain))
    }

    /// The owner hash of `node` when it is a link of this chain: an NSEC3
    /// with the chain's parameters (RFC 5155 7.3), one label below the apex.
    fn link_hash(&self, apex: &[u8], node: &Node) -> Option<Hash> {
        let set = node.get(rtype::NSEC3)?;
        if !set.rdatas().any(|r| Params::of(r).as_ref() == Some(&self.params)) {
            return None;
        }
        let owner = node.owner();
        if crate::name::parent(owner).is_none_or(|p| !p.eq_ignore_ascii_case(apex)) {
            return None;
        }
        let label = owner[1..1 + usize::from(owner[0])].to_ascii_lowercase();
        let decoded = BASE32_DNSSEC.decode(&label).ok()?;
        Hash::try_from(&decoded[..]).ok()
    }

    fn add(&mut self, apex: &[u8], node: &Node) {
        match self.link_hash(apex, node) {
            Some(h) => {
                self.links.insert(h, node.clone());
            }
            None => {
                let lower: Box<[u8]> = node.owner().to_ascii_lowercase().into();
                let hashes = NameHashes {
                    own: hash(&lower, &self.params),
                    wildcard: crate::name::wildcard_of(&lower).map(|w| hash(&w, &self.params)),
                };
                self.hashes.insert(lower, hashes);
            }
        }
    }

    fn remove(&mut self, apex: &[u8], node: &Node) {
        match self.link_hash(apex, node) {
            Some(h) => {
                self.links.remove(&h);
            }
            None => {
                self.hashes.remove(&node.owner().to_ascii_lowercase()[..]);
            }
        }
    }

    /// Whether both index the same links (the same nodes) and name hashes.
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &Chain) -> bool {
        self.params == other.params && self.links == other.links && self.hashes == other.hashes
    }

    /// Owner hash and NSEC3 node of each link, in hash order.
    pub(crate) fn links(&self) -> impl Iterator<Item = (&Hash, &Node)> {
        self.links.iter()
    }

    /// The hash of a lower-cased wire name under this chain's parameters:
    /// the one stored for a name of the zone, else computed.
    pub(crate) fn hash(&self, lower: &[u8]) -> Hash {
        match self.hashes.get(lower) {
            Some(h) => h.own,
            None => hash(lower, &self.params),
        }
    }

    /// The hash of the wildcard below the lower-cased wire name `encloser`
    /// (`*.encloser`): the one stored for a name of the zone, else
    /// computed; `None` when the wildcard would be longer than a name may be.
    pub(crate) fn wildcard_hash(&self, encloser: &[u8]) -> Option<Hash> {
        match self.hashes.get(encloser) {
            Some(h) => h.wildcard,
            None => crate::name::wildcard_of(encloser).map(|w| hash(&w, &self.params)),
        }
    }

    /// The NSEC3 whose owner hash is `h`.
    pub(crate) fn matching(&self, h: &Hash) -> Option<&Node> {
        self.links.get(h)
    }

    /// The NSEC3 that covers `h` (RFC 5155 3.1.7): the last owner hash below
    /// it, or the last of the chain, whose next hash wraps round to the first.
    pub(crate) fn covering(&self, h: &Hash) -> Option<&Node> {
        let below = self.links.range(..*h).next_back();
        below
            .or_else(|| self.links.get_max().map(|(k, v)| (k, v)))
            .map(|(_, n)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::Name;

    /// RFC 5155 Appendix A: salt aabbccdd, 12 iterations.
    #[test]
    fn hashes_match_rfc_5155_appendix_a() {
        let params = Params {
            iterations: 12,
            salt: vec![0xaa, 0xbb, 0xcc, 0xdd].into(),
        };
        let cases = [
            ("example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),
            ("a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
            ("ai.example.", "gjeqe526plbf1g8mklp59enfd789njgi"),
            ("ns1.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"),
            ("ns2.example.", "q04jkcevqvmu85r014c7dkba38o0ji5r"),
            ("w.example.", "k8udemvp1j2f7eg6jebps17vp3n8i58h"),
            ("*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"),
            ("x.w.example.", "b4um86eghhds6nea196smvmlo4ors995"),
            ("y.w.example.", "ji6neoaepv8b5o6k4ev33abha8ht9fgc"),
            ("x.y.w.example.", "2vptu5timamqttgl4luu9kg21e0aor3s"),
            ("xx.example.", "t644ebqk9bibcna874givr6joj62mlhv"),
        ];
        for (name, expected) in cases {
            let wire = Name::parse(name, None).expect("a name").as_wire().to_vec();
            let h = hash(&wire, &params);
            assert_eq!(BASE32_DNSSEC.encode(&h), expected, "hash of {name}");
        }
    }

    /// The wildcard hashes stored for the names of the zone are those of
    /// `*.name`, as computed for a name the zone does not hold.
    #[test]
    fn wildcard_hashes_are_stored_per_name() {
        let text = "$ORIGIN example.\n$TTL 300\n@ SOA ns1 host 1 7200 3600 1209600 60\n@ NS ns1\n\
                    @ NSEC3PARAM 1 0 12 AABBCCDD\nns1 A 192.0.2.1\nx.y.w A 192.0.2.2\n";
        let origin = Name::parse("example.", None).expect("origin");
        let zone = crate::zone::load::from_str(&origin, text, std::path::Path::new("w.zone")).expect("loads");
        let chain = zone.nsec3().expect("an NSEC3 chain");
        let stored = zone.nodes().count();
        assert_eq!(chain.hashes.len(), stored, "every name (ENTs y.w and w included)");
        for node in zone.nodes() {
            let lower = node.owner().to_ascii_lowercase();
            let wildcard = crate::name::wildcard_of(&lower).expect("short names");
            assert_eq!(chain.wildcard_hash(&lower), Some(hash(&wildcard, &chain.params)));
            assert_eq!(chain.hash(&lower), hash(&lower, &chain.params));
        }
        // RFC 5155 Appendix A: *.w.example., with w an empty non-terminal here.
        let w = Name::parse("w.example.", None).expect("a name").as_wire().to_vec();
        let expected = BASE32_DNSSEC
            .decode(b"r53bq7cc2uvmubfu5ocmm6pers9tk9en")
            .expect("base32");
        assert_eq!(chain.wildcard_hash(&w).map(|h| h.to_vec()), Some(expected));
        let absent = Name::parse("nx.example.", None).expect("a name").as_wire().to_vec();
        let star = crate::name::wildcard_of(&absent).expect("short");
        assert_eq!(
            chain.wildcard_hash(&absent),
            Some(hash(&star, &chain.params)),
            "computed"
        );
        assert_eq!(chain.hashes.len(), stored, "a name not in the zone is not stored");
        let long = [
            &[63u8][..],
            &[b'a'; 63],
            &[63],
            &[b'b'; 63],
            &[63],
            &[b'c'; 63],
            &[50],
            &[b'd'; 50],
            &w,
        ]
        .concat();
        assert_eq!(long.len(), 254, "a name two bytes too long for a wildcard below it");
        assert_eq!(chain.wildcard_hash(&long), None, "no wildcard past 255 bytes");
    }

    #[test]
    fn params_read_nsec3param_rdata() {
        // SHA-1, flags 0, 12 iterations, salt aabbccdd.
        let rdata = [1, 0, 0, 12, 4, 0xaa, 0xbb, 0xcc, 0xdd];
        let p = Params::of(&rdata).expect("SHA-1 parameters");
        assert_eq!((p.iterations, &p.salt[..]), (12, &[0xaa, 0xbb, 0xcc, 0xdd][..]));
        assert!(!p.follows_rfc_9276());
        assert!(Params::of(&[2, 0, 0, 0, 0]).is_none(), "unknown algorithm");
        assert!(Params::of(&[1, 0, 0]).is_none(), "short");
    }

    /// xorshift64*: a fixed sequence, so a failure repeats.
    fn below(state: &mut u64, n: usize) -> usize {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    /// Random updates and reloads of an NSEC3 zone: each new version's
    /// chain, followed from the version before, equals one built afresh
    /// from all its names; so do the versions after a parameter change.
    #[test]
    fn a_followed_chain_equals_a_fresh_one() {
        use crate::zone::{
            build::Builder,
            load,
            tree::Zone,
            update::{
                Update,
                walk::{ORIGIN, change, origin},
            },
        };
        let plain = Params {
            iterations: 0,
            salt: Box::new([]),
        };
        let salted = Params {
            iterations: 1,
            salt: vec![0xaa, 0xbb].into(),
        };
        let names = ["@", "www", "a.b", "b", "x.y.z", "*.w", "sub.w", "deleg", "ns.deleg"];
        let mut universe: Vec<(String, String, String)> = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if *name != "@" {
                universe.push((name.to_string(), "A".into(), format!("192.0.2.{i}")));
            }
            // Links of both parameter sets, hashed from the names (and the ENTs y.z, z, w).
            for (params, text) in [(&plain, "1 0 0 -"), (&salted, "1 0 1 AABB")] {
                let full = if *name == "@" {
                    ORIGIN.to_string()
                } else {
                    format!("{name}.{ORIGIN}")
                };
                let wire = Name::parse(&full, None).expect("a name").as_wire().to_vec();
                let owner = BASE32_DNSSEC.encode(&hash(&wire, params));
                universe.push((owner, "NSEC3".into(), format!("{text} {} A RRSIG", "0".repeat(32))));
            }
        }
        universe.push(("deleg".into(), "NS".into(), "ns.deleg".into()));
        universe.push(("@".into(), "NSEC3PARAM".into(), "1 0 1 AABB".into()));
        let param_plain = ("@".to_string(), "NSEC3PARAM".to_string(), "1 0 0 -".to_string());
        let mut present: Vec<(String, String, String)> = vec![
            ("@".into(), "SOA".into(), "ns1 hostmaster 1 7200 3600 1209600 60".into()),
            ("@".into(), "NS".into(), "ns1".into()),
            ("ns1".into(), "A".into(), "192.0.2.53".into()),
            param_plain.clone(),
        ];
        let text_of = |records: &[(String, String, String)]| {
            let mut text = format!("$ORIGIN {ORIGIN}\n");
            for (o, t, r) in records {
                text.push_str(&format!("{o} 300 {t} {r}\n"));
            }
            text
        };
        let fresh = |zone: &Zone| Chain::build(zone.origin.as_wire(), zone.apex(), zone.nodes());
        let check = |zone: &Zone, step: usize, how: &str| match (zone.nsec3(), fresh(zone)) {
            (Some(followed), Some(built)) => {
                assert!(
                    followed.same_as(&built),
                    "step {step} ({how}): the followed chain differs from a fresh one"
                );
                assert_eq!(followed.links().count(), built.links().count());
            }
            (None, None) => {}
            (a, b) => panic!(
                "step {step} ({how}): chain {} but a fresh build {}",
                a.is_some(),
                b.is_some()
            ),
        };
        let mut zone = load::from_str(&origin(), &text_of(&present), std::path::Path::new("start")).expect("loads");
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut links_seen = 0;
        for step in 0..400 {
            let mut next = present.clone();
            let mut update = Update::default();
            for _ in 0..1 + below(&mut state, 3) {
                if below(&mut state, 3) == 0 {
                    let i = below(&mut state, next.len());
                    if next[i].1 != "SOA" {
                        let (o, t, r) = next.remove(i);
                        update.remove.push(change(&o, &t, &r));
                    }
                } else {
                    let mut record = universe[below(&mut state, universe.len())].clone();
                    if below(&mut state, 8) == 0 {
                        record = param_plain.clone();
                    }
                    if !next.contains(&record) {
                        update.add.push(change(&record.0, &record.1, &record.2));
                        next.push(record);
                    }
                }
            }
            // Every other step a reload of the file instead of an update.
            let built = if step % 2 == 0 {
                zone.apply(&update).map(|z| (z, "update"))
            } else {
                let mut builder = Builder::new(&origin()).replacing(&zone);
                crate::zone::parse::parse_str_each(
                    &text_of(&next),
                    std::path::Path::new("reload"),
                    &origin(),
                    &mut |r| builder.push(r),
                )
                .expect("the model parses");
                builder.finish().map(|z| (z, "reload"))
            };
            let Ok((new, how)) = built else { continue };
            check(&new, step, how);
            links_seen += new.nsec3().map_or(0, |c| c.links().count());
            zone = new;
            present = next;
        }
        assert!(
            links_seen > 400,
            "the walk should keep NSEC3 links in the zone ({links_seen} seen)"
        );
    }
}
