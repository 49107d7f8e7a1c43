//! The zone walk: referral, DNAME substitution, exact match, CNAME chain,
//! wildcard, NODATA, NXDOMAIN.

use std::borrow::Cow;

use dns_wire::wire::{MAX_NAME_LEN, rcode, rtype};

use super::{
    Answer, Placed, additional,
    denial::{self, Denial},
};
use crate::{
    name::{self, suffixes},
    zone::tree::{Node, RRset, Zone, soa_fields},
};

/// Longest CNAME chain followed inside a zone; longer chains are cut short
/// (the client's resolver carries on from the last target).
const MAX_CNAME_CHAIN: usize = 12;

/// Query options that shape the walk.
#[derive(Clone, Copy)]
struct Flags<'a> {
    /// How the zone proves non-existence, when it is signed and DO is set:
    /// `None` means no DNSSEC records in the answer.
    denial: Option<Denial<'a>>,
    minimal_any: bool,
}

/// How the node answering a name was found.
#[derive(Clone, Copy)]
enum Matched<'a, 'l> {
    /// The name itself exists.
    Exact,
    /// A wildcard stands in for the name; `encloser` is the closest
    /// encloser (lower-cased wire) and `wildcard` its `*` child.
    Wildcard { encloser: &'l [u8], wildcard: &'a Node },
}

/// What one step of the walk decided.
enum Step<'a> {
    /// The answer is complete.
    Done,
    /// A CNAME was added (or synthesised); continue with its target.
    Follow(Cow<'a, [u8]>),
}

/// What lies between the apex and the name and changes where the walk goes.
enum Redirect<'a> {
    /// A zone cut: answer with a referral.
    Cut(&'a Node),
    /// A DNAME at an ancestor, whose owner is `len` bytes long (RFC 6672).
    Dname(&'a Node, usize),
}

/// Answers `qname` (wire format, case as received) of type `qtype` from `zone`.
/// `minimal_any` answers ANY with one RRset (RFC 8482).
pub(crate) fn lookup<'a>(
    zone: &'a Zone,
    qname: &'a [u8],
    qtype: u16,
    dnssec_ok: bool,
    minimal_any: bool,
) -> Answer<'a> {
    let mut answer = Answer {
        rcode: rcode::NOERROR,
        authoritative: true,
        ..Answer::default()
    };
    let mut owner: Cow<'a, [u8]> = Cow::Borrowed(qname);
    let mut visited: Vec<Vec<u8>> = Vec::new();
    let flags = Flags {
        denial: if dnssec_ok { Denial::of(zone) } else { None },
        minimal_any,
    };
    for _ in 0..MAX_CNAME_CHAIN {
        let lower = owner.to_ascii_lowercase();
        if !name::is_within(&lower, zone.origin.as_wire()) || visited.contains(&lower) {
            break;
        }
        match step(zone, owner.clone(), &lower, qtype, flags, &mut answer) {
            Step::Done => break,
            Step::Follow(target) => owner = target,
        }
        visited.push(lower);
    }
    additional::add(zone, &mut answer);
    if flags.denial.is_some() {
        additional::add_signatures(&mut answer);
    }
    answer
}

/// One name of the walk: a referral, a node, a wildcard, or nothing.
fn step<'a>(
    zone: &'a Zone,
    owner: Cow<'a, [u8]>,
    lower: &[u8],
    qtype: u16,
    flags: Flags<'a>,
    answer: &mut Answer<'a>,
) -> Step<'a> {
    match redirect(zone, lower, qtype) {
        Some(Redirect::Cut(cut)) => {
            referral(zone, cut, flags.denial, answer);
            return Step::Done;
        }
        Some(Redirect::Dname(node, len)) => return dname(node, len, owner, qtype, answer),
        None => {}
    }
    if let Some(node) = existing(zone, lower) {
        return at_node(zone, node, owner, lower, Matched::Exact, qtype, flags, answer);
    }
    // RFC 4592 3.3.1: the closest encloser is the longest existing ancestor
    // (empty non-terminals count); only `*.<closest encloser>` may match.
    let encloser = suffixes(lower)
        .skip(1)
        .find(|ancestor| existing(zone, ancestor).is_some())
        .unwrap_or(zone.origin.as_wire());
    let source = name::wildcard_of(encloser).and_then(|w| zone.node(&w));
    match source {
        Some(wildcard) => {
            let matched = Matched::Wildcard { encloser, wildcard };
            at_node(zone, wildcard, owner, lower, matched, qtype, flags, answer)
        }
        None => {
            answer.rcode = rcode::NXDOMAIN;
            negative(zone, answer);
            if let Some(denial) = flags.denial {
                denial::name_error(zone, denial, lower, encloser, answer);
            }
            Step::Done
        }
    }
}

/// The node of a name of the zone's namespace: an NSEC3 record's hashed
/// owner is not one (RFC 5155 7.2.8), so a node holding only that is not found.
fn existing<'a>(zone: &'a Zone, lower: &[u8]) -> Option<&'a Node> {
    zone.node(lower)
        .filter(|n| n.is_empty() || n.rrsets().any(|r| !matches!(r.rtype, rtype::NSEC3 | rtype::RRSIG)))
}

/// The first zone cut (NS below the apex) or DNAME (at a strict ancestor,
/// the apex included) on the way down from the apex to `lower`. A DS query
/// for the cut itself is answered by this, the parent side (RFC 4035 3.1.4.1).
fn redirect<'a>(zone: &'a Zone, lower: &[u8], qtype: u16) -> Option<Redirect<'a>> {
    let apex_len = zone.origin.as_wire().len();
    let down_from_apex: Vec<&[u8]> = suffixes(lower).take_while(|s| s.len() >= apex_len).collect();
    for ancestor in down_from_apex.into_iter().rev() {
        // Empty non-terminals are explicit, so a missing node has no descendants.
        let node = zone.node(ancestor)?;
        let (at_apex, at_name) = (ancestor.len() == apex_len, ancestor.len() == lower.len());
        if !at_apex && node.has(rtype::NS) && !(at_name && qtype == rtype::DS) {
            return Some(Redirect::Cut(node));
        }
        if !at_name && node.has(rtype::DNAME) {
            return Some(Redirect::Dname(node, ancestor.len()));
        }
    }
    None
}

/// RFC 6672 3.2: the DNAME, a CNAME synthesised from it for `owner`, and
/// the walk goes on at the new name (unless CNAME itself was asked for).
fn dname<'a>(node: &'a Node, dname_len: usize, owner: Cow<'a, [u8]>, qtype: u16, answer: &mut Answer<'a>) -> Step<'a> {
    let Some(dname) = node.get(rtype::DNAME) else {
        return Step::Done;
    };
    answer.answer.push(place(node, owner_of(node), dname.clone()));
    let Some(target) = dname.first() else {
        return Step::Done;
    };
    // The labels above the DNAME's owner, as the client wrote them, then the target.
    let mut synthesised = owner[..owner.len() - dname_len].to_vec();
    synthesised.extend_from_slice(target);
    if synthesised.len() > MAX_NAME_LEN {
        answer.rcode = rcode::YXDOMAIN;
        return Step::Done;
    }
    let cname = RRset::single(rtype::CNAME, dname.class, dname.ttl, &synthesised);
    answer.answer.push(Placed {
        owner,
        rrset: cname,
        ttl: dname.ttl,
        node,
        covering: None,
    });
    if qtype == rtype::CNAME {
        return Step::Done;
    }
    Step::Follow(Cow::Owned(synthesised))
}

/// A referral: the cut's NS set in authority, and for a DNSSEC client of a
/// signed zone the DS and its RRSIG, or the proof that there is no DS
/// (RFC 4035 3.1.4). An unsigned zone sends no DS, as Knot and NSD do.
/// Glue comes from additional processing.
fn referral<'a>(zone: &'a Zone, cut: &'a Node, denial: Option<Denial<'a>>, answer: &mut Answer<'a>) {
    // Reached through a CNAME of ours, the answer stays authoritative.
    if answer.answer.is_empty() {
        answer.authoritative = false;
    }
    if let Some(ns) = cut.get(rtype::NS) {
        answer.authority.push(place(cut, owner_of(cut), ns));
    }
    let Some(denial) = denial else { return };
    match cut.get(rtype::DS) {
        Some(ds) => answer.authority.push(place(cut, owner_of(cut), ds)),
        None => denial::no_ds(zone, denial, &cut.owner().to_ascii_lowercase(), cut, answer),
    }
}

/// The answer at an existing node (or the wildcard standing in for `owner`).
#[allow(clippy::too_many_arguments, reason = "the walk's state, passed down once")]
fn at_node<'a>(
    zone: &'a Zone,
    node: &'a Node,
    owner: Cow<'a, [u8]>,
    lower: &[u8],
    matched: Matched<'a, '_>,
    qtype: u16,
    flags: Flags<'a>,
    answer: &mut Answer<'a>,
) -> Step<'a> {
    let positive = qtype == rtype::ANY && !node.is_empty()
        || qtype != rtype::CNAME && node.has(rtype::CNAME)
        || qtype == rtype::RRSIG && node.has(rtype::RRSIG)
        || node.has(qtype);
    if let Some(denial) = flags.denial {
        // The proof a wildcard answer needs: no exact match (RFC 4035 3.1.3.3).
        match matched {
            Matched::Wildcard { encloser, .. } if positive => {
                denial::wildcard_answer(zone, denial, lower, encloser, answer);
            }
            Matched::Wildcard { encloser, wildcard } => {
                denial::wildcard_no_data(zone, denial, lower, encloser, wildcard, answer);
            }
            Matched::Exact if !positive => denial::no_data(zone, denial, lower, node, answer),
            Matched::Exact => {}
        }
    }
    if qtype == rtype::ANY && !node.is_empty() {
        any(node, owner, flags.minimal_any, answer);
        return Step::Done;
    }
    if qtype != rtype::CNAME
        && let Some(cname) = node.get(rtype::CNAME)
    {
        let target = cname.first_in_zone();
        answer.answer.push(place(node, owner, cname));
        return match target {
            Some(target) => Step::Follow(Cow::Borrowed(target)),
            None => Step::Done,
        };
    }
    if qtype == rtype::RRSIG && node.has(rtype::RRSIG) {
        // One RRSIG RRset per type covered: all of them.
        for rrset in node.rrsets().filter(|r| r.rtype == rtype::RRSIG) {
            answer.answer.push(place(node, owner.clone(), rrset));
        }
        return Step::Done;
    }
    match node.get(qtype) {
        Some(rrset) => answer.answer.push(place(node, owner, rrset)),
        None => negative(zone, answer),
    }
    Step::Done
}

/// RFC 8482: ANY gets one RRset over UDP (the first in zone order that is
/// not DNSSEC metadata), every RRset over TCP.
fn any<'a>(node: &'a Node, owner: Cow<'a, [u8]>, minimal: bool, answer: &mut Answer<'a>) {
    let candidates = node
        .rrsets()
        .filter(|r| !matches!(r.rtype, rtype::RRSIG | rtype::NSEC | rtype::NSEC3));
    for rrset in candidates {
        answer.answer.push(place(node, owner.clone(), rrset));
        if minimal {
            break;
        }
    }
}

/// NODATA or NXDOMAIN: the SOA in authority with the negative TTL of RFC 2308 3.
fn negative<'a>(zone: &'a Zone, answer: &mut Answer<'a>) {
    let apex = zone.apex();
    let soa = zone.soa();
    let minimum = soa.first().and_then(soa_fields).map_or(0, |f| f.minimum);
    let ttl = soa.ttl.min(minimum);
    let mut placed = place(apex, owner_of(apex), soa);
    placed.ttl = ttl;
    answer.authority.push(placed);
}

/// The owner bytes to write for a node's records.
fn owner_of(node: &Node) -> &[u8] {
    node.owner()
}

fn place<'a>(node: &'a Node, owner: impl Into<Cow<'a, [u8]>>, rrset: RRset<'a>) -> Placed<'a> {
    Placed {
        owner: owner.into(),
        ttl: rrset.ttl,
        rrset,
        node,
        covering: None,
    }
}
