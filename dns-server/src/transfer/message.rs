//! Packing a transfer's records into DNS messages of up to 64 KiB each,
//! names compressed within each message (RFC 5936 2.2).

use std::iter::Peekable;

use dns_wire::{
    query::Edns,
    wire::{FLAG_AA, rcode},
};

use super::records::Rr;
use crate::{
    message::{Section, Writer},
    query::{Identity, encode, response_flags},
};

/// The largest message a TCP length prefix can carry.
pub(crate) const MESSAGE_MAX: usize = u16::MAX as usize;

/// What every message of one transfer repeats.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head<'a> {
    /// The query's ID.
    pub id: u16,
    /// The query's flags (the response's are made from them).
    pub query_flags: u16,
    /// The question, echoed in every message as Knot does (RFC 5936 2.2.1
    /// lets later messages leave it out, as BIND does).
    pub question: (&'a [u8], u16, u16),
    /// The query's EDNS, answered in every message.
    pub edns: Option<Edns>,
    /// Bytes kept free at the end of each message (for a TSIG record).
    pub reserve: usize,
}

/// A record too large for any message (a 64 KiB RDATA with its owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordTooLarge;

/// Writes the next message of a transfer into `out`: as many of `records`
/// as fit, taken from the iterator; returns how many. AA is set (RFC 5936
/// 2.2.1 says it MUST be with NOERROR; Knot 3.2 leaves it clear).
pub(crate) fn fill<'r>(
    out: &mut Vec<u8>,
    head: &Head<'_>,
    records: &mut Peekable<impl Iterator<Item = Rr<'r>>>,
    identity: &Identity,
) -> Result<usize, RecordTooLarge> {
    let flags = response_flags(head.query_flags) | FLAG_AA;
    let limit = MESSAGE_MAX - encode::edns_len(head.edns, identity) - head.reserve;
    let mut w = Writer::new(out, limit, head.id, flags, Some(head.question));
    w.index_names();
    let mut written = 0;
    while let Some(rr) = records.peek() {
        if w.record(Section::Answer, rr.owner, rr.rtype, rr.class, rr.ttl, rr.rdata)
            .is_err()
        {
            break;
        }
        records.next();
        written += 1;
    }
    if written == 0 && records.peek().is_some() {
        return Err(RecordTooLarge);
    }
    encode::finish_with_edns(&mut w, head.edns, rcode::NOERROR, identity, None, None);
    w.finish();
    Ok(written)
}
