//! A loaded zone indexed by owner name, with empty non-terminals made explicit.

use std::collections::HashMap;

use dns_wire::wire::rtype;

use super::{Record, ZoneError};
use crate::name::{self, Name};

/// The records of one owner and type; every record shares the RRset's TTL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RRset {
    /// TYPE code.
    pub rtype: u16,
    /// CLASS code.
    pub class: u16,
    /// TTL (the lowest of the records, as RFC 2181 5.2 suggests).
    pub ttl: u32,
    /// RDATA of each record, uncompressed wire format.
    pub rdatas: Vec<Box<[u8]>>,
}

/// Everything owned by one name. A node with no RRsets is an empty
/// non-terminal: it exists because a name below it does (RFC 4592 2.2.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Node {
    /// The owner as written in the zone file.
    pub owner: Option<Name>,
    /// The RRsets, in the order first seen.
    pub rrsets: Vec<RRset>,
}

impl Node {
    /// The RRset of type `t`, if any.
    pub(crate) fn get(&self, t: u16) -> Option<&RRset> {
        self.rrsets.iter().find(|r| r.rtype == t)
    }

    /// Whether this node is a zone cut (NS below the apex is checked by the caller).
    pub(crate) fn has(&self, t: u16) -> bool {
        self.get(t).is_some()
    }
}

/// A zone ready to answer from.
#[derive(Debug)]
pub(crate) struct Zone {
    /// The apex, lower-cased.
    pub origin: Name,
    /// SOA serial, for logs and reload decisions.
    pub serial: u32,
    nodes: HashMap<Box<[u8]>, Node>,
}

impl Zone {
    /// Indexes checked records (see [`super::validate`]) of the zone at `origin`.
    pub(crate) fn build(origin: &Name, records: Vec<Record>) -> Result<Zone, ZoneError> {
        let origin = origin.to_lowercase();
        let mut nodes: HashMap<Box<[u8]>, Node> = HashMap::new();
        for record in records {
            let key: Box<[u8]> = record.owner.to_lowercase().as_wire().into();
            let node = nodes.entry(key).or_default();
            if node.owner.is_none() {
                node.owner = Some(record.owner.clone());
            }
            match node.rrsets.iter_mut().find(|r| r.rtype == record.rtype) {
                Some(set) => {
                    set.ttl = set.ttl.min(record.ttl);
                    if !set.rdatas.contains(&record.rdata) {
                        set.rdatas.push(record.rdata);
                    }
                }
                None => node.rrsets.push(RRset {
                    rtype: record.rtype,
                    class: record.class,
                    ttl: record.ttl,
                    rdatas: vec![record.rdata],
                }),
            }
        }
        // Make every ancestor up to the apex exist, so that empty non-terminals
        // answer NODATA rather than NXDOMAIN and block wildcards (RFC 4592).
        let owners: Vec<Box<[u8]>> = nodes.keys().cloned().collect();
        for owner in owners {
            for ancestor in name::suffixes(&owner).skip(1) {
                if ancestor.len() < origin.as_wire().len() {
                    break;
                }
                nodes.entry(ancestor.into()).or_default();
            }
        }
        let serial = nodes
            .get(origin.as_wire())
            .and_then(|apex| apex.get(rtype::SOA))
            .and_then(|soa| soa.rdatas.first())
            .and_then(|rdata| soa_fields(rdata))
            .map(|f| f.serial)
            .ok_or_else(|| ZoneError {
                location: None,
                message: format!("zone {origin} has no SOA at its apex"),
            })?;
        Ok(Zone { origin, serial, nodes })
    }

    /// The node owned by a lower-cased wire name.
    pub(crate) fn node(&self, lower: &[u8]) -> Option<&Node> {
        self.nodes.get(lower)
    }

    /// The apex node, which always holds the SOA.
    pub(crate) fn apex(&self) -> &Node {
        self.nodes
            .get(self.origin.as_wire())
            .expect("a built zone always has its apex node")
    }

    /// The SOA RRset at the apex.
    pub(crate) fn soa(&self) -> &RRset {
        self.apex().get(rtype::SOA).expect("a built zone always has its SOA")
    }

    /// Number of owner names, empty non-terminals included.
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Every node, for building precomputed answers.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = (&[u8], &Node)> {
        self.nodes.iter().map(|(k, v)| (&**k, v))
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
