//! The zone walk: referral, exact match, CNAME chain, wildcard, NODATA, NXDOMAIN.

use xdp_common::wire::{rcode, rtype};

use super::{Answer, Placed, additional};
use crate::{
    name::{self, suffixes},
    zone::tree::{Node, Zone, soa_fields},
};

/// Longest CNAME chain followed inside a zone; longer chains are cut short
/// (the client's resolver carries on from the last target).
const MAX_CNAME_CHAIN: usize = 12;

/// Query options that shape the walk.
#[derive(Clone, Copy)]
struct Flags {
    dnssec_ok: bool,
    minimal_any: bool,
}

/// What one step of the walk decided.
enum Step<'a> {
    /// The answer is complete.
    Done,
    /// A CNAME was added; continue with its target.
    Follow(&'a [u8]),
}

/// Answers `qname` (wire format, case as received) of type `qtype` from `zone`.
/// `minimal_any` answers ANY with one RRset (RFC 8482).
pub fn lookup<'a>(zone: &'a Zone, qname: &'a [u8], qtype: u16, dnssec_ok: bool, minimal_any: bool) -> Answer<'a> {
    let mut answer = Answer {
        rcode: rcode::NOERROR,
        authoritative: true,
        ..Answer::default()
    };
    let mut owner = qname;
    let mut visited: Vec<Vec<u8>> = Vec::new();
    for _ in 0..MAX_CNAME_CHAIN {
        let lower = owner.to_ascii_lowercase();
        if !name::is_within(&lower, zone.origin.as_wire()) || visited.contains(&lower) {
            break;
        }
        match step(
            zone,
            owner,
            &lower,
            qtype,
            Flags { dnssec_ok, minimal_any },
            &mut answer,
        ) {
            Step::Done => break,
            Step::Follow(target) => owner = target,
        }
        visited.push(lower);
    }
    additional::add(zone, &mut answer);
    if dnssec_ok {
        additional::add_signatures(&mut answer);
    }
    answer
}

/// One name of the walk: a referral, a node, a wildcard, or nothing.
fn step<'a>(
    zone: &'a Zone,
    owner: &'a [u8],
    lower: &[u8],
    qtype: u16,
    flags: Flags,
    answer: &mut Answer<'a>,
) -> Step<'a> {
    if let Some(cut) = zone_cut(zone, lower, qtype) {
        referral(cut, flags.dnssec_ok, answer);
        return Step::Done;
    }
    if let Some(node) = zone.node(lower) {
        return at_node(zone, node, owner, qtype, flags.minimal_any, answer);
    }
    // RFC 4592 3.3.1: the closest encloser is the longest existing ancestor
    // (empty non-terminals count); only `*.<closest encloser>` may match.
    let closest_encloser = suffixes(lower)
        .skip(1)
        .find(|ancestor| zone.node(ancestor).is_some())
        .unwrap_or(zone.origin.as_wire());
    let source = name::wildcard_of(closest_encloser).and_then(|w| zone.node(&w));
    match source {
        Some(wildcard) => at_node(zone, wildcard, owner, qtype, flags.minimal_any, answer),
        None => {
            answer.rcode = rcode::NXDOMAIN;
            negative(zone, answer);
            Step::Done
        }
    }
}

/// The highest zone cut (NS below the apex) at or above `lower`. A DS query
/// for the cut itself is answered by this, the parent side (RFC 4035 3.1.4.1).
fn zone_cut<'a>(zone: &'a Zone, lower: &[u8], qtype: u16) -> Option<&'a Node> {
    let apex_len = zone.origin.as_wire().len();
    let below_apex: Vec<&[u8]> = suffixes(lower).take_while(|s| s.len() > apex_len).collect();
    for ancestor in below_apex.into_iter().rev() {
        // Empty non-terminals are explicit, so a missing node has no descendants.
        let node = zone.node(ancestor)?;
        if node.has(rtype::NS) && !(ancestor.len() == lower.len() && qtype == rtype::DS) {
            return Some(node);
        }
    }
    None
}

/// A referral: the cut's NS set (and DS, for DNSSEC clients) in authority;
/// glue comes from additional processing.
fn referral<'a>(cut: &'a Node, dnssec_ok: bool, answer: &mut Answer<'a>) {
    // Reached through a CNAME of ours, the answer stays authoritative.
    if answer.answer.is_empty() {
        answer.authoritative = false;
    }
    let types: &[u16] = if dnssec_ok {
        &[rtype::NS, rtype::DS]
    } else {
        &[rtype::NS]
    };
    for &t in types {
        if let Some(rrset) = cut.get(t) {
            answer.authority.push(place(cut, owner_of(cut), rrset));
        }
    }
}

/// The answer at an existing node (or the wildcard standing in for `owner`).
fn at_node<'a>(
    zone: &'a Zone,
    node: &'a Node,
    owner: &'a [u8],
    qtype: u16,
    minimal_any: bool,
    answer: &mut Answer<'a>,
) -> Step<'a> {
    if qtype == rtype::ANY && !node.rrsets.is_empty() {
        any(node, owner, minimal_any, answer);
        return Step::Done;
    }
    if qtype != rtype::CNAME
        && let Some(cname) = node.get(rtype::CNAME)
    {
        answer.answer.push(place(node, owner, cname));
        return match cname.rdatas.first() {
            Some(target) => Step::Follow(target),
            None => Step::Done,
        };
    }
    match node.get(qtype) {
        Some(rrset) => answer.answer.push(place(node, owner, rrset)),
        None => negative(zone, answer),
    }
    Step::Done
}

/// RFC 8482: ANY gets one RRset over UDP (the first in zone order that is
/// not DNSSEC metadata), every RRset over TCP.
fn any<'a>(node: &'a Node, owner: &'a [u8], minimal: bool, answer: &mut Answer<'a>) {
    let candidates = node
        .rrsets
        .iter()
        .filter(|r| !matches!(r.rtype, rtype::RRSIG | rtype::NSEC | rtype::NSEC3));
    for rrset in candidates {
        answer.answer.push(place(node, owner, rrset));
        if minimal {
            break;
        }
    }
}

/// NODATA or NXDOMAIN: the SOA in authority with the negative TTL of RFC 2308 3.
fn negative<'a>(zone: &'a Zone, answer: &mut Answer<'a>) {
    let apex = zone.apex();
    let soa = zone.soa();
    let minimum = soa.rdatas.first().and_then(|r| soa_fields(r)).map_or(0, |f| f.minimum);
    let mut placed = place(apex, owner_of(apex), soa);
    placed.ttl = soa.ttl.min(minimum);
    answer.authority.push(placed);
}

/// The owner bytes to write for a node's records.
fn owner_of(node: &Node) -> &[u8] {
    node.owner.as_ref().map_or(&[0], |n| n.as_wire())
}

fn place<'a>(node: &'a Node, owner: &'a [u8], rrset: &'a crate::zone::tree::RRset) -> Placed<'a> {
    Placed {
        owner,
        rrset,
        ttl: rrset.ttl,
        node,
        covering: None,
    }
}
