//! CHAOS-class identity queries: `id.server`, `hostname.bind` (RFC 4892) and `version.bind`.

use dns_wire::{
    query::Query,
    wire::{class, rcode, rtype},
};

use super::{Identity, encode};
use crate::message::Section;

/// Answers a CH-class query; returns the RCODE.
pub(crate) fn answer(q: &Query<'_>, identity: &Identity, limit: usize, out: &mut Vec<u8>) -> u16 {
    let lower = q.qname.to_ascii_lowercase();
    let text = match lower.as_slice() {
        b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00" => Some(identity.identity.as_str()),
        b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => identity.version.as_deref(),
        _ => None,
    };
    let Some(text) = text.filter(|_| matches!(q.qtype, rtype::TXT | rtype::ANY)) else {
        return refuse(q, identity, limit, out);
    };
    // Not authoritative data (as in Knot and NSD): no AA.
    let reserve = encode::opt_len(q, identity);
    let mut w = encode::start(out, q, rcode::NOERROR, false, limit.saturating_sub(reserve));
    let rdata = txt_rdata(text);
    let _fits = w.record(Section::Answer, q.qname, rtype::TXT, class::CH, 0, &rdata);
    encode::finish_with_opt(&mut w, q, rcode::NOERROR, identity, None);
    w.finish();
    rcode::NOERROR
}

fn refuse(q: &Query<'_>, identity: &Identity, limit: usize, out: &mut Vec<u8>) -> u16 {
    let mut w = encode::start(out, q, rcode::REFUSED, false, limit);
    encode::finish_with_opt(&mut w, q, rcode::REFUSED, identity, None);
    w.finish();
    rcode::REFUSED
}

/// TXT RDATA: the text in character-strings of at most 255 bytes.
fn txt_rdata(text: &str) -> Vec<u8> {
    let mut rdata = Vec::with_capacity(text.len() + 2);
    for chunk in text.as_bytes().chunks(255) {
        rdata.push(chunk.len() as u8);
        rdata.extend_from_slice(chunk);
    }
    if rdata.is_empty() {
        rdata.push(0);
    }
    rdata
}
