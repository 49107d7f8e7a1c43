//! Authenticated denial of existence for signed zones: the NSEC (RFC 4035
//! 3.1.3) and NSEC3 (RFC 5155 7.2) records a DO=1 answer carries in its
//! authority section to prove that a name, a type, a DS or an exact match
//! does not exist. Their RRSIGs are added with every other RRset's.

use dns_wire::wire::rtype;

use super::{Answer, Placed};
use crate::{
    name::{self, suffixes},
    zone::{
        nsec3::Chain,
        tree::{Node, Zone},
    },
};

/// How a signed zone proves what it does not hold.
#[derive(Clone, Copy)]
pub(crate) enum Denial<'a> {
    /// An NSEC chain over the owner names.
    Nsec,
    /// An NSEC3 chain over hashed owner names.
    Nsec3(&'a Chain),
    /// Signed, but with no NSEC at the apex nor an NSEC3 chain this server
    /// can hash: RRsets go out with their RRSIGs, negative answers unproven.
    Unproven,
}

impl<'a> Denial<'a> {
    /// The zone's denial method, `None` for an unsigned zone (no RRSIG at
    /// the apex): such a zone's answers carry no DNSSEC records at all.
    pub(crate) fn of(zone: &'a Zone) -> Option<Denial<'a>> {
        let apex = zone.apex();
        if !apex.has(rtype::RRSIG) {
            return None;
        }
        if let Some(chain) = zone.nsec3() {
            return Some(Denial::Nsec3(chain));
        }
        if apex.has(rtype::NSEC) {
            return Some(Denial::Nsec);
        }
        tracing::debug!(zone = %zone.origin, "signed, without a denial chain this server can use");
        Some(Denial::Unproven)
    }
}

/// The proof that `lower` does not exist and that no wildcard at its
/// closest encloser `encloser` does either (NXDOMAIN).
pub(crate) fn name_error<'a>(
    zone: &'a Zone,
    denial: Denial<'a>,
    lower: &[u8],
    encloser: &[u8],
    answer: &mut Answer<'a>,
) {
    match denial {
        Denial::Nsec => {
            nsec_covering(zone, lower, answer);
            if let Some(wildcard) = name::wildcard_of(encloser) {
                nsec_covering(zone, &wildcard, answer);
            }
        }
        Denial::Nsec3(chain) => {
            closest_encloser_proof(chain, lower, encloser, answer);
            if let Some(wildcard) = chain.wildcard_hash(encloser) {
                push(answer, chain.covering(&wildcard), rtype::NSEC3);
            }
        }
        Denial::Unproven => {}
    }
}

/// The proof that the existing name `lower` (at `node`) has no RRset of
/// the type asked (NODATA), empty non-terminals and DS at a delegation included.
pub(crate) fn no_data<'a>(zone: &'a Zone, denial: Denial<'a>, lower: &[u8], node: &'a Node, answer: &mut Answer<'a>) {
    match denial {
        Denial::Nsec if node.has(rtype::NSEC) => push(answer, Some(node), rtype::NSEC),
        // An empty non-terminal has no NSEC: the one covering it proves it empty.
        Denial::Nsec => nsec_covering(zone, lower, answer),
        Denial::Nsec3(chain) => match chain.matching(&chain.hash(lower)) {
            Some(matching) => push(answer, Some(matching), rtype::NSEC3),
            // No NSEC3 of its own: an insecure delegation or an empty
            // non-terminal in an Opt-Out span. RFC 5155 7.2.3 and 7.2.4:
            // the closest provable encloser proof, whose covering NSEC3
            // has the Opt-Out flag.
            None => provable_encloser_proof(chain, zone.origin.as_wire(), lower, answer),
        },
        Denial::Unproven => {}
    }
}

/// The proof that the delegation at `cut` (lower-cased `lower`) has no DS:
/// the same records a DS NODATA answer carries (RFC 4035 3.1.4, RFC 5155 7.2.7).
pub(crate) fn no_ds<'a>(zone: &'a Zone, denial: Denial<'a>, lower: &[u8], cut: &'a Node, answer: &mut Answer<'a>) {
    no_data(zone, denial, lower, cut, answer);
}

/// The proof that `lower` has no exact match, for an answer synthesised
/// from the wildcard at `encloser` (RFC 4035 3.1.3.3, RFC 5155 7.2.6).
pub(crate) fn wildcard_answer<'a>(
    zone: &'a Zone,
    denial: Denial<'a>,
    lower: &[u8],
    encloser: &[u8],
    answer: &mut Answer<'a>,
) {
    match denial {
        Denial::Nsec => nsec_covering(zone, lower, answer),
        Denial::Nsec3(chain) => {
            if let Some(next) = next_closer(lower, encloser) {
                push(answer, chain.covering(&chain.hash(next)), rtype::NSEC3);
            }
        }
        Denial::Unproven => {}
    }
}

/// The proof of a wildcard NODATA: no exact match for `lower`, and the
/// wildcard at `encloser` without the type (RFC 4035 3.1.3.4, RFC 5155 7.2.5).
pub(crate) fn wildcard_no_data<'a>(
    zone: &'a Zone,
    denial: Denial<'a>,
    lower: &[u8],
    encloser: &[u8],
    wildcard: &'a Node,
    answer: &mut Answer<'a>,
) {
    match denial {
        Denial::Nsec => {
            nsec_covering(zone, lower, answer);
            push(answer, Some(wildcard), rtype::NSEC);
        }
        Denial::Nsec3(chain) => {
            closest_encloser_proof(chain, lower, encloser, answer);
            if let Some(wildcard) = chain.wildcard_hash(encloser) {
                push(answer, chain.matching(&wildcard), rtype::NSEC3);
            }
        }
        Denial::Unproven => {}
    }
}

/// RFC 5155 7.2.1: the NSEC3 matching the closest encloser and the one
/// covering the next closer name.
fn closest_encloser_proof<'a>(chain: &'a Chain, lower: &[u8], encloser: &[u8], answer: &mut Answer<'a>) {
    push(answer, chain.matching(&chain.hash(encloser)), rtype::NSEC3);
    if let Some(next) = next_closer(lower, encloser) {
        push(answer, chain.covering(&chain.hash(next)), rtype::NSEC3);
    }
}

/// The closest encloser proof for the nearest strict ancestor of `lower`
/// (down to the apex) that has an NSEC3 of its own.
fn provable_encloser_proof<'a>(chain: &'a Chain, apex: &[u8], lower: &[u8], answer: &mut Answer<'a>) {
    let encloser = suffixes(lower)
        .skip(1)
        .take_while(|s| s.len() >= apex.len())
        .find(|s| chain.matching(&chain.hash(s)).is_some());
    if let Some(encloser) = encloser {
        closest_encloser_proof(chain, lower, encloser, answer);
    }
}

/// The name one label longer than `encloser` on the way down to `lower`.
fn next_closer<'n>(lower: &'n [u8], encloser: &[u8]) -> Option<&'n [u8]> {
    suffixes(lower).take_while(|s| s.len() > encloser.len()).last()
}

/// The NSEC whose owner is at or before `wire` in canonical order: it
/// matches or covers the name.
fn nsec_covering<'a>(zone: &'a Zone, wire: &[u8], answer: &mut Answer<'a>) {
    push(answer, zone.at_or_before_with(wire, rtype::NSEC), rtype::NSEC);
}

/// Adds the `t` RRset of `node` to the authority section, once.
fn push<'a>(answer: &mut Answer<'a>, node: Option<&'a Node>, t: u16) {
    let Some(node) = node else { return };
    let Some(rrset) = node.get(t) else { return };
    if answer
        .authority
        .iter()
        .any(|p| p.rrset.rtype == t && p.node.ptr_eq(node))
    {
        return;
    }
    answer.authority.push(Placed {
        owner: node.owner().into(),
        ttl: rrset.ttl,
        rrset,
        node,
        covering: None,
    });
}
