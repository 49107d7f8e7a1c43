//! The records of a transfer in the order they are sent: AXFR's (RFC 5936
//! 2.2) and IXFR's (RFC 1995 4), borrowed from the zone and its history so
//! that nothing is copied until a message is written.

use std::{iter, sync::Arc};

use dns_wire::wire::rtype;

use super::history::Delta;
use crate::zone::tree::{Node, Zone};

/// One resource record, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rr<'a> {
    /// Owner, uncompressed wire format (the zone's spelling).
    pub owner: &'a [u8],
    /// TYPE code.
    pub rtype: u16,
    /// CLASS code.
    pub class: u16,
    /// TTL.
    pub ttl: u32,
    /// RDATA, uncompressed wire format.
    pub rdata: &'a [u8],
}

/// One resource record, owned (kept in a zone's history).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OwnedRr {
    owner: Box<[u8]>,
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata: Box<[u8]>,
}

impl OwnedRr {
    /// A copy of `rr`.
    pub(crate) fn of(rr: Rr<'_>) -> OwnedRr {
        OwnedRr {
            owner: rr.owner.into(),
            rtype: rr.rtype,
            class: rr.class,
            ttl: rr.ttl,
            rdata: rr.rdata.into(),
        }
    }

    /// Borrowed, to be written.
    pub(crate) fn as_rr(&self) -> Rr<'_> {
        Rr {
            owner: &self.owner,
            rtype: self.rtype,
            class: self.class,
            ttl: self.ttl,
            rdata: &self.rdata,
        }
    }

    /// Bytes it holds, boxes and their headers included, for the history's bound.
    pub(crate) fn footprint(&self) -> usize {
        std::mem::size_of::<OwnedRr>() + self.owner.len() + self.rdata.len()
    }
}

/// The zone's SOA record.
pub(crate) fn soa(zone: &Zone) -> Rr<'_> {
    let set = zone.soa();
    Rr {
        owner: zone.apex().owner(),
        rtype: rtype::SOA,
        class: set.class,
        ttl: set.ttl,
        rdata: set.first_in_zone().unwrap_or_default(),
    }
}

/// Every record of one node, RRset by RRset.
pub(crate) fn node_records(node: &Node) -> impl Iterator<Item = Rr<'_>> + Send {
    let owner = node.owner();
    node.rrsets().flat_map(move |set| {
        let (rtype, class, ttl) = (set.rtype, set.class, set.ttl);
        set.rdatas_in_zone().map(move |rdata| Rr {
            owner,
            rtype,
            class,
            ttl,
            rdata,
        })
    })
}

/// The whole zone as AXFR sends it (and IXFR when it cannot send less):
/// the SOA, every other record in canonical order of owners, the SOA again.
pub(crate) fn axfr(zone: &Zone) -> impl Iterator<Item = Rr<'_>> + Send {
    let soa = soa(zone);
    let apex = zone.apex().key();
    let body = zone.nodes().flat_map(move |node| {
        let at_apex = node.key() == apex;
        node_records(node).filter(move |rr| !(at_apex && rr.rtype == rtype::SOA))
    });
    iter::once(soa).chain(body).chain(iter::once(soa))
}

/// An incremental transfer (RFC 1995 4): the current SOA, then for each
/// difference the old SOA, the records removed, the new SOA and the
/// records added, and the current SOA again.
pub(crate) fn ixfr<'a>(zone: &'a Zone, deltas: &'a [Arc<Delta>]) -> impl Iterator<Item = Rr<'a>> + Send {
    let soa = soa(zone);
    let steps = deltas.iter().flat_map(|d| {
        iter::once(d.from_soa.as_rr())
            .chain(d.removed.iter().map(OwnedRr::as_rr))
            .chain(iter::once(d.to_soa.as_rr()))
            .chain(d.added.iter().map(OwnedRr::as_rr))
    });
    iter::once(soa).chain(steps).chain(iter::once(soa))
}
