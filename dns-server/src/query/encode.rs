//! Turning a lookup's [`Answer`] into a response, truncating as RFC 2181 9 says.

use dns_wire::{
    query::{Edns, Query},
    wire::{FLAG_AA, FLAG_CD, FLAG_RD, FLAG_TC, edns_option},
};

use super::{Identity, response_flags};
use crate::{
    authority::{Answer, Placed},
    message::{Full, OPT_LEN, Section, Writer},
};

/// A response carrying only a header: FORMERR for what cannot be parsed.
pub(crate) fn header_only(out: &mut Vec<u8>, id: u16, query_flags: u16, code: u16) {
    Writer::new(out, usize::MAX, id, response_flags(query_flags) | code, None).finish();
}

/// A response without a question to a query without one: the header and,
/// when the query had EDNS, our OPT record (the caller adds the cookie).
pub(crate) fn no_question(
    out: &mut Vec<u8>,
    id: u16,
    query_flags: u16,
    edns: Option<Edns>,
    code: u16,
    identity: &Identity,
) {
    let mut w = Writer::new(out, usize::MAX, id, response_flags(query_flags) | (code & 0x0f), None);
    finish_with_edns(&mut w, edns, code, identity, None, None);
    w.finish();
}

/// Starts a response to `q` with the question echoed.
pub(crate) fn start<'b>(out: &'b mut Vec<u8>, q: &Query<'_>, code: u16, aa: bool, limit: usize) -> Writer<'b> {
    let mut flags = response_flags(q.flags) | (code & 0x0f);
    if aa {
        flags |= FLAG_AA;
    }
    Writer::new(out, limit, q.id, flags, Some((q.qname, q.qtype, q.qclass)))
}

/// Bytes the OPT record will take in the response to `q`.
pub(crate) fn opt_len(q: &Query<'_>, identity: &Identity) -> usize {
    edns_len(q.edns, identity)
}

/// Bytes the OPT record will take in a response to a query with `edns`.
pub(crate) fn edns_len(edns: Option<Edns>, identity: &Identity) -> usize {
    match edns {
        None => 0,
        Some(e) if e.nsid => OPT_LEN + 4 + identity.identity.len(),
        Some(_) => OPT_LEN,
    }
}

/// Bytes an EXPIRE option takes (RFC 7314 2: code, length, four bytes of seconds).
const EXPIRE_LEN: usize = 8;

/// Appends the OPT record when the query had one: our payload size, the
/// upper RCODE bits, DO echoed (RFC 3225), NSID when asked (RFC 5001), and
/// an extended error (RFC 8914) when given.
/// (EXPIRE, RFC 7314, only answers to SOA queries carry: see [`answer`].)
pub(crate) fn finish_with_opt(w: &mut Writer<'_>, q: &Query<'_>, code: u16, identity: &Identity, ede: Option<u16>) {
    finish_with_edns(w, q.edns, code, identity, ede, None);
}

/// As [`finish_with_opt`], from the query's EDNS parameters alone.
pub(crate) fn finish_with_edns(
    w: &mut Writer<'_>,
    edns: Option<Edns>,
    code: u16,
    identity: &Identity,
    ede: Option<u16>,
    expire: Option<u32>,
) {
    let Some(edns) = edns else { return };
    w.set_limit(usize::MAX);
    let nsid = identity.identity.as_bytes();
    let ede = ede.map(u16::to_be_bytes);
    let expire = expire.map(u32::to_be_bytes);
    let mut options: [(u16, &[u8]); 3] = [(0, &[]); 3];
    let mut count = 0;
    if edns.nsid {
        options[count] = (edns_option::NSID, nsid);
        count += 1;
    }
    if let Some(ede) = &ede {
        options[count] = (edns_option::EDE, ede);
        count += 1;
    }
    if let Some(expire) = &expire {
        options[count] = (edns_option::EXPIRE, expire);
        count += 1;
    }
    w.opt(
        identity.udp_payload,
        (code >> 4) as u8,
        edns.dnssec_ok,
        &options[..count],
    );
}

/// Writes `answer`, with the EXPIRE option (RFC 7314) when given; returns
/// whether the response had to be truncated.
pub(crate) fn answer(
    out: &mut Vec<u8>,
    q: &Query<'_>,
    answer: &Answer<'_>,
    limit: usize,
    identity: &Identity,
    expire: Option<u32>,
) -> bool {
    let reserve = opt_len(q, identity) + if expire.is_some() { EXPIRE_LEN } else { 0 };
    let mut w = start(
        out,
        q,
        answer.rcode,
        answer.authoritative,
        limit.saturating_sub(reserve),
    );
    let after_question = w.mark();
    let required = [
        (Section::Answer, &answer.answer),
        (Section::Authority, &answer.authority),
    ];
    let mut truncated = false;
    'sections: for (section, rrsets) in required {
        for placed in rrsets {
            if put(&mut w, section, placed).is_err() {
                // The answer or the proof does not fit: send the question
                // with TC so that the client retries over TCP.
                w.rollback(after_question);
                w.set_flags(FLAG_TC, 0);
                truncated = true;
                break 'sections;
            }
        }
    }
    if !truncated {
        // Additional data is optional: stop at the first RRset that does
        // not fit, without TC (RFC 2181 9).
        for placed in &answer.additional {
            let mark = w.mark();
            if put(&mut w, Section::Additional, placed).is_err() {
                w.rollback(mark);
                break;
            }
        }
    }
    finish_with_edns(&mut w, q.edns, answer.rcode, identity, None, expire);
    w.finish();
    truncated
}

/// Writes one RRset whole; on [`Full`] the caller rolls back.
fn put(w: &mut Writer<'_>, section: Section, placed: &Placed<'_>) -> Result<(), Full> {
    let rrset = &placed.rrset;
    for rdata in placed.rdatas() {
        w.record(section, &placed.owner, rrset.rtype, rrset.class, placed.ttl, rdata)?;
    }
    Ok(())
}

/// Turns a cached response into the response to `q`: ID, RD/CD, and the
/// question's bytes as the client wrote them (same length, maybe other case).
pub(crate) fn patch_cached(out: &mut [u8], q: &Query<'_>, packet: &[u8]) {
    out[0..2].copy_from_slice(&q.id.to_be_bytes());
    let copied = q.flags & (FLAG_RD | FLAG_CD);
    out[2] |= (copied >> 8) as u8;
    out[3] |= (copied & 0xff) as u8;
    out[12..q.question_end].copy_from_slice(&packet[12..q.question_end]);
}

/// Clears what [`patch_cached`] fills in, before a response is cached.
pub(crate) fn clear_per_query_fields(response: &mut [u8]) {
    response[0..2].fill(0);
    let flags = u16::from_be_bytes([response[2], response[3]]) & !(FLAG_RD | FLAG_CD);
    response[2..4].copy_from_slice(&flags.to_be_bytes());
}
