//! NSEC3 (RFC 5155): owner-name hashes and a zone version's chain indexed by hash.
//!
//! The chain is built once per zone version (when [`super::tree::Zone`] is
//! made, at load and after each update), so a query finds the NSEC3 that
//! matches or covers a hash with a binary search instead of a walk over the
//! zone. SHA-1 comes from `ring`: no hand-written crypto.

use std::sync::Arc;

use data_encoding::BASE32_DNSSEC;
use dns_wire::wire::rtype;

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

/// The NSEC3 records of one zone version, by owner hash.
#[derive(Debug)]
pub(crate) struct Chain {
    /// The parameters of the apex's NSEC3PARAM.
    pub params: Params,
    /// Owner hash and node, sorted by hash.
    entries: Vec<(Hash, Node)>,
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
        let params = apex_node.get(rtype::NSEC3PARAM)?.rdatas().find_map(Params::of)?;
        let mut entries = Vec::new();
        for node in nodes {
            let Some(set) = node.get(rtype::NSEC3) else { continue };
            // Only the records of the chain NSEC3PARAM names (RFC 5155 7.3).
            if !set.rdatas().any(|r| Params::of(r).as_ref() == Some(&params)) {
                continue;
            }
            let owner = node.owner();
            let label_len = usize::from(owner[0]);
            if crate::name::parent(owner).is_none_or(|p| !p.eq_ignore_ascii_case(apex)) {
                continue;
            }
            let label = owner[1..1 + label_len].to_ascii_lowercase();
            let Ok(decoded) = BASE32_DNSSEC.decode(&label) else {
                continue;
            };
            if let Ok(h) = Hash::try_from(&decoded[..]) {
                entries.push((h, node.clone()));
            }
        }
        entries.sort_unstable_by_key(|e| e.0);
        Some(Arc::new(Chain { params, entries }))
    }

    /// Owner hash and NSEC3 node of each link, in hash order.
    pub(crate) fn links(&self) -> impl Iterator<Item = (&Hash, &Node)> {
        self.entries.iter().map(|(h, n)| (h, n))
    }

    /// The hash of a lower-cased wire name under this chain's parameters.
    pub(crate) fn hash(&self, lower: &[u8]) -> Hash {
        hash(lower, &self.params)
    }

    /// The NSEC3 whose owner hash is `h`.
    pub(crate) fn matching(&self, h: &Hash) -> Option<&Node> {
        let i = self.entries.binary_search_by(|e| e.0.cmp(h)).ok()?;
        Some(&self.entries[i].1)
    }

    /// The NSEC3 that covers `h` (RFC 5155 3.1.7): the last owner hash below
    /// it, or the last of the chain, whose next hash wraps round to the first.
    pub(crate) fn covering(&self, h: &Hash) -> Option<&Node> {
        let below = self.entries.partition_point(|e| e.0 < *h);
        let i = below.checked_sub(1).unwrap_or(self.entries.len().checked_sub(1)?);
        Some(&self.entries[i].1)
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
}
