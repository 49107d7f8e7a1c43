//! NOTIFY (RFC 1996) received for a secondary zone: checked, answered, and the refresh woken.

use std::net::IpAddr;

use dns_wire::wire::{FLAG_AA, FLAG_QR, HEADER_LEN, OPCODE_MASK, opcode, rcode};

use crate::{
    message::{Writer, read},
    query::Shared,
    tsig::{self, KeyRing},
};

/// Answers `packet` into `out` when it is a NOTIFY and we have secondary
/// zones; returns false otherwise (a server that is no one's secondary
/// treats NOTIFY as any opcode it lacks: NOTIMP). Accepted (NOERROR, AA) only for a secondary zone, from one of its
/// primaries' addresses, signed with its key when it has one; REFUSED from
/// anyone else, NOTAUTH with the TSIG error for a bad signature.
pub(crate) fn answer(shared: &Shared, packet: &[u8], client: IpAddr, out: &mut Vec<u8>) -> bool {
    if packet.len() < HEADER_LEN {
        return false;
    }
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    if (flags & OPCODE_MASK) >> 11 != u16::from(opcode::NOTIFY) || flags & FLAG_QR != 0 || shared.secondaries.is_empty()
    {
        return false;
    }
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let reply_flags = FLAG_QR | (flags & OPCODE_MASK);
    let message = read::parse(packet).ok();
    let Some((qname, qtype, qclass)) = message.and_then(|m| m.question) else {
        Writer::new(out, 512, id, reply_flags | rcode::FORMERR, None).finish();
        shared.stats.count_rcode(rcode::FORMERR);
        return true;
    };
    let reply = |out: &mut Vec<u8>, code: u16| {
        let aa = if code == rcode::NOERROR { FLAG_AA } else { 0 };
        Writer::new(
            out,
            512,
            id,
            reply_flags | aa | code,
            Some((qname.as_wire(), qtype, qclass)),
        )
        .finish();
        shared.stats.count_rcode(code);
    };
    let client = client.to_canonical();
    let zone = shared.secondaries.zone(&qname.to_lowercase());
    let Some(zone) = zone.filter(|z| z.primaries.iter().any(|p| p.ip().to_canonical() == client)) else {
        tracing::info!(zone = %qname, %client, "NOTIFY refused: not a secondary zone of ours, or not from its primary");
        reply(out, rcode::REFUSED);
        return true;
    };
    let now = tsig::now();
    let keys = KeyRing::new(zone.key.iter().cloned());
    match tsig::verify_request(packet, &keys, now) {
        Ok(Some(verified)) => {
            reply(out, rcode::NOERROR);
            tsig::sign_response(out, &verified.key, now, &verified.mac);
        }
        Ok(None) if zone.key.is_some() => {
            tracing::warn!(zone = %qname, %client, "NOTIFY refused: unsigned, and the zone has a TSIG key");
            reply(out, rcode::REFUSED);
            return true;
        }
        Ok(None) => reply(out, rcode::NOERROR),
        Err(rejection) => {
            tracing::warn!(zone = %qname, %client, error = %rejection.error, "NOTIFY refused: TSIG");
            reply(out, rejection.error.rcode());
            rejection.append_to(out, now);
            return true;
        }
    }
    tracing::info!(zone = %qname, %client, "NOTIFY accepted");
    zone.refresh_now.notify_one();
    true
}
