//! Additional-section processing (RFC 1035 3.3, RFC 2782): addresses of the
//! names that NS, MX, SRV, SVCB and HTTPS records point at, and RRSIGs when DO is set.

use std::borrow::Cow;

use dns_wire::wire::rtype;

use super::{Answer, Placed};
use crate::{
    name,
    zone::tree::{Node, RRset, Zone},
};

/// Offset of the target name inside RDATA, for the types that have one.
pub(crate) fn target_offset(t: u16) -> Option<usize> {
    match t {
        rtype::NS => Some(0),
        rtype::MX => Some(2),
        rtype::SRV => Some(6),
        rtype::SVCB | rtype::HTTPS => Some(2),
        _ => None,
    }
}

/// Adds A and AAAA RRsets of in-zone targets of the answer and authority sections.
pub(crate) fn add<'a>(zone: &'a Zone, answer: &mut Answer<'a>) {
    let mut targets: Vec<Vec<u8>> = Vec::new();
    for placed in answer.answer.iter().chain(&answer.authority) {
        let Some(offset) = target_offset(placed.rrset.rtype) else {
            continue;
        };
        for rdata in placed.rrset.rdatas() {
            if let Some(target) = rdata.get(offset..)
                && !targets.iter().any(|t| t.eq_ignore_ascii_case(target))
            {
                targets.push(target.to_vec());
            }
        }
    }
    for target in targets {
        let lower = target.to_ascii_lowercase();
        if !name::is_within(&lower, zone.origin.as_wire()) {
            continue;
        }
        // Empty non-terminals have no addresses (nor a spelling from the file).
        let Some(node) = zone.node(&lower).filter(|n| !n.is_empty()) else {
            continue;
        };
        let owner = node.owner();
        for t in [rtype::A, rtype::AAAA] {
            let Some(rrset) = node.get(t) else { continue };
            let already = answer
                .answer
                .iter()
                .any(|p| p.rrset.rtype == t && p.owner.eq_ignore_ascii_case(&target));
            if !already {
                answer.additional.push(Placed {
                    // The zone's spelling of the target (the same name).
                    owner: Cow::Borrowed(owner),
                    ttl: rrset.ttl,
                    rrset,
                    node,
                    covering: None,
                });
            }
        }
    }
}

/// Adds, after each RRset, the RRSIGs at its node that cover its type.
pub(crate) fn add_signatures(answer: &mut Answer<'_>) {
    for section in [&mut answer.answer, &mut answer.authority, &mut answer.additional] {
        let mut signed = Vec::with_capacity(section.len() * 2);
        for placed in section.drain(..) {
            let sigs = signatures(placed.node, placed.rrset.rtype);
            signed.push(placed.clone());
            if let Some(sigs) = sigs {
                signed.push(Placed {
                    owner: placed.owner.clone(),
                    ttl: sigs.ttl.min(placed.ttl),
                    rrset: sigs,
                    node: placed.node,
                    covering: Some(placed.rrset.rtype),
                });
            }
        }
        *section = signed;
    }
}

/// The node's RRSIG RRset when it covers `covered` (a zone signed offline
/// keeps one RRSIG RRset per node; the writer filters by type covered).
fn signatures(node: &Node, covered: u16) -> Option<RRset<'_>> {
    if covered == rtype::RRSIG {
        return None;
    }
    let sigs = node.get(rtype::RRSIG)?;
    sigs.rdatas()
        .any(|r| r.get(..2) == Some(&covered.to_be_bytes()[..]))
        .then_some(sigs)
}
