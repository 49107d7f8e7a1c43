//! Authoritative answering: from a zone and a question to the sections of a response.
//!
//! Split as Knot splits it: [`lookup`] walks the zone and decides the result
//! state (answer, CNAME follow, referral, NODATA, NXDOMAIN, wildcard), and
//! [`additional`] adds the addresses of names the answer points at.

pub(crate) mod additional;
pub(crate) mod denial;
pub(crate) mod lookup;

use std::borrow::Cow;

use crate::zone::tree::{Node, RRset};

pub(crate) use lookup::lookup;

/// One RRset placed in a response, with the owner it is written under.
#[derive(Clone, Debug)]
pub(crate) struct Placed<'a> {
    /// Owner name in wire format (the query's bytes for the question name,
    /// so its case survives; the zone's bytes otherwise; owned when a DNAME
    /// substitution made it).
    pub owner: Cow<'a, [u8]>,
    /// The RRset (owning its data only for a CNAME synthesised from a DNAME).
    pub rrset: RRset<'a>,
    /// TTL to write (the negative-caching TTL for an SOA in authority).
    pub ttl: u32,
    /// The node the RRset came from, where its RRSIGs live.
    pub node: &'a Node,
    /// For an RRSIG RRset added beside another RRset: write only the
    /// signatures covering this type.
    pub covering: Option<u16>,
}

impl Placed<'_> {
    /// The RDATAs to write.
    pub(crate) fn rdatas(&self) -> impl Iterator<Item = &[u8]> {
        let covering = self.covering.map(u16::to_be_bytes);
        self.rrset
            .rdatas()
            .filter(move |r| covering.is_none_or(|c| r.get(..2) == Some(&c[..])))
    }
}

/// The outcome of a lookup: rcode, AA, and the three sections.
#[derive(Clone, Debug, Default)]
pub(crate) struct Answer<'a> {
    /// Response code.
    pub rcode: u16,
    /// Whether the AA flag is set (not for referrals).
    pub authoritative: bool,
    /// Answer section.
    pub answer: Vec<Placed<'a>>,
    /// Authority section.
    pub authority: Vec<Placed<'a>>,
    /// Additional section (OPT not included).
    pub additional: Vec<Placed<'a>>,
}

#[cfg(test)]
mod signed_tests;
#[cfg(test)]
mod tests;
