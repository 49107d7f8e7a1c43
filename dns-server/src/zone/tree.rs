//! A loaded zone: its nodes in one persistent ordered set, in canonical order.
//!
//! Why `imbl::OrdSet`: a persistent B-tree gives, in one structure, the
//! exact lookup answering needs, the canonical order NSEC and zone transfers
//! need (the key of [`super::canonical`] sorts with `memcmp`), and cheap
//! versions: an update copies the path to the nodes it changes (about
//! log n B-tree nodes of 16 entries each) and shares every other node with
//! the version before, which queries in flight keep alive through their
//! `Arc<Zone>` and which is freed when the last of them ends. Its `diff`
//! skips subtrees two versions share, so the names an update changed are
//! found without walking the zone. A hash map would need a second,
//! ordered index beside it; a hand-written copy-on-write structure would be
//! more code to trust for the same result.

use std::sync::Arc;

use dns_wire::wire::rtype;

pub(crate) use super::node::{Node, RRset};
use super::{ZoneError, canonical::Key, names::Names, nsec3::Chain};
use crate::name::Name;

/// A zone ready to answer from; cloning it is cheap and shares everything.
#[derive(Clone, Debug)]
pub(crate) struct Zone {
    /// The apex, lower-cased.
    pub origin: Name,
    /// SOA serial, for logs and reload decisions.
    pub serial: u32,
    /// The apex node, kept at hand: every negative answer needs its SOA.
    apex: Node,
    /// Every node, empty non-terminals included, in canonical order.
    names: Names,
    /// The NSEC3 chain by hash, built with each version (RFC 5155 zones only).
    nsec3: Option<Arc<Chain>>,
}

impl Zone {
    /// A zone of `nodes`, which must hold the apex with its SOA and every
    /// empty non-terminal (see [`super::build`] and [`super::update`]).
    /// For a new version of `previous` (an update or a reload), the NSEC3
    /// chain follows the previous version's through the changed names,
    /// rather than being built again from every name.
    pub(crate) fn from_nodes_after(origin: &Name, names: Names, previous: Option<&Zone>) -> Result<Zone, ZoneError> {
        let origin = origin.to_lowercase();
        let missing = |what: &str| ZoneError {
            location: None,
            message: format!("zone {origin} has no {what} at its apex"),
        };
        let key = Key::of(origin.as_wire()).ok_or_else(|| missing("name"))?;
        let apex = names.get(key.as_bytes()).cloned().ok_or_else(|| missing("SOA"))?;
        let serial = apex
            .get(rtype::SOA)
            .and_then(|soa| soa.first().and_then(soa_fields))
            .map(|f| f.serial)
            .ok_or_else(|| missing("SOA"))?;
        let apex_wire = origin.as_wire();
        let followed = previous.and_then(|old| {
            let chain = old.nsec3.as_deref()?;
            let changes: Vec<(bool, &Node)> = old.names.changes(&names).collect();
            // Past a quarter of the names (of a zone big enough for it to
            // matter), building afresh costs less.
            if changes.len() > 1024 && changes.len() > names.len() / 4 {
                return None;
            }
            let (added, removed): (Vec<_>, Vec<_>) = changes.into_iter().partition(|(added, _)| *added);
            let (added, removed) = (added.into_iter().map(|c| c.1), removed.into_iter().map(|c| c.1));
            Chain::follow(chain, apex_wire, &apex, removed, added)
        });
        let nsec3 = followed.or_else(|| Chain::build(apex_wire, &apex, names.iter()));
        if let Some(chain) = &nsec3
            && !chain.params.follows_rfc_9276()
        {
            tracing::warn!(
                zone = %origin,
                iterations = chain.params.iterations,
                salt_len = chain.params.salt.len(),
                "NSEC3 with extra iterations or a salt: RFC 9276 asks for neither, and validators may treat the zone as insecure"
            );
        }
        Ok(Zone {
            origin,
            serial,
            apex,
            names,
            nsec3,
        })
    }

    /// The node owned by a wire name (any case).
    pub(crate) fn node(&self, wire: &[u8]) -> Option<&Node> {
        let key = Key::of(wire)?;
        self.names.get(key.as_bytes())
    }

    /// The node of a canonical key.
    #[allow(dead_code, reason = "for updates, NSEC and IXFR; called by tests until those land")]
    pub(crate) fn node_by_key(&self, key: &[u8]) -> Option<&Node> {
        self.names.get(key)
    }

    /// The node at `wire` or, if none, the last one before it in canonical
    /// order (the NSEC owner that covers a name that does not exist).
    #[allow(dead_code, reason = "for updates, NSEC and IXFR; called by tests until those land")]
    pub(crate) fn at_or_before(&self, wire: &[u8]) -> Option<&Node> {
        let key = Key::of(wire)?;
        self.names.at_or_before(key.as_bytes())
    }

    /// The last node at or before `wire` in canonical order that holds
    /// type `t` (the NSEC that covers a name skips empty non-terminals and
    /// names below a zone cut, which have none).
    pub(crate) fn at_or_before_with(&self, wire: &[u8], t: u16) -> Option<&Node> {
        let key = Key::of(wire)?;
        self.names.at_or_before_all(key.as_bytes()).find(|n| n.has(t))
    }

    /// The NSEC3 chain, when the zone has an NSEC3PARAM this server can hash.
    pub(crate) fn nsec3(&self) -> Option<&Chain> {
        self.nsec3.as_deref()
    }

    /// The first node after `wire` in canonical order.
    #[allow(dead_code, reason = "for updates, NSEC and IXFR; called by tests until those land")]
    pub(crate) fn after(&self, wire: &[u8]) -> Option<&Node> {
        let key = Key::of(wire)?;
        self.names.after(key.as_bytes()).next()
    }

    /// The apex node, which always holds the SOA.
    pub(crate) fn apex(&self) -> &Node {
        &self.apex
    }

    /// The SOA RRset at the apex.
    pub(crate) fn soa(&self) -> RRset<'_> {
        self.apex.get(rtype::SOA).expect("a built zone always has its SOA")
    }

    /// Number of owner names, empty non-terminals included.
    pub(crate) fn node_count(&self) -> usize {
        self.names.len()
    }

    /// Every node in canonical order (RFC 4034 6.1), empty non-terminals included.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.names.iter()
    }

    /// The ordered set itself, for updates.
    #[allow(dead_code, reason = "for updates, NSEC and IXFR; called by tests until those land")]
    pub(crate) fn names(&self) -> &Names {
        &self.names
    }
}

/// The numeric fields of an SOA RDATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SoaFields {
    /// Zone serial.
    pub serial: u32,
    /// Negative-caching TTL (RFC 2308).
    pub minimum: u32,
}

/// Reads serial and minimum from SOA RDATA (two names, then five u32).
pub(crate) fn soa_fields(rdata: &[u8]) -> Option<SoaFields> {
    let mname = dns_wire::query::question_name_len(rdata)?;
    let rname = dns_wire::query::question_name_len(rdata.get(mname..)?)?;
    let fixed = rdata.get(mname + rname..)?;
    let word = |i: usize| Some(u32::from_be_bytes(fixed.get(i * 4..i * 4 + 4)?.try_into().ok()?));
    Some(SoaFields {
        serial: word(0)?,
        minimum: word(4)?,
    })
}
