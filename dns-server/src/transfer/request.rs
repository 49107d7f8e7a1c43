//! Reading a transfer request: AXFR, or IXFR with the client's SOA serial
//! in the authority section (RFC 1995 3).

use dns_wire::{
    query::{self, Query},
    wire::{FLAG_QR, HEADER_LEN, OPCODE_MASK, rtype},
};

/// What is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The whole zone (RFC 5936).
    Axfr,
    /// What changed since the client's `serial` (RFC 1995).
    Ixfr {
        /// The serial the client has.
        serial: u32,
    },
    /// IXFR without the client's SOA (RFC 1995 3 requires it): FORMERR to
    /// a client that may transfer the zone, as Knot answers.
    IxfrWithoutSoa,
}

/// A transfer request.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// The query as the responder reads it.
    pub query: Query<'a>,
    pub kind: Kind,
}

/// Whether `packet` is a QUERY for AXFR or IXFR: a look at the header and
/// question only, cheap enough for every UDP query.
pub(crate) fn asks_transfer(packet: &[u8]) -> bool {
    if packet.len() <= HEADER_LEN {
        return false;
    }
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    if flags & (FLAG_QR | OPCODE_MASK) != 0 || packet[4..6] != [0, 1] {
        return false;
    }
    let Some(name) = query::question_name_len(&packet[HEADER_LEN..]) else {
        return false;
    };
    let at = HEADER_LEN + name;
    let qtype = packet.get(at..at + 2).map(|t| u16::from_be_bytes([t[0], t[1]]));
    matches!(qtype, Some(rtype::AXFR | rtype::IXFR))
}

/// The request in `packet`, or `None` when it is not a well-formed one (the
/// responder answers those: FORMERR and the rest).
pub(crate) fn parse(packet: &[u8]) -> Option<Request<'_>> {
    let query = query::parse(packet).ok()?;
    let kind = match query.qtype {
        rtype::AXFR => Kind::Axfr,
        rtype::IXFR => match ixfr_serial(packet, query.question_end) {
            Some(serial) => Kind::Ixfr { serial },
            None => Kind::IxfrWithoutSoa,
        },
        _ => return None,
    };
    Some(Request { query, kind })
}

/// The serial of the SOA that opens the authority section.
fn ixfr_serial(packet: &[u8], question_end: usize) -> Option<u32> {
    let u16_at = |at: usize| Some(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]));
    let (ancount, nscount) = (u16_at(6)?, u16_at(8)?);
    if nscount == 0 {
        return None;
    }
    let mut at = question_end;
    for _ in 0..ancount {
        at = skip_record(packet, at)?;
    }
    let owner_end = skip_name(packet, at)?;
    if u16_at(owner_end)? != rtype::SOA {
        return None;
    }
    let rdata = owner_end + 10;
    let serial_at = skip_name(packet, skip_name(packet, rdata)?)?;
    let serial = packet.get(serial_at..serial_at + 4)?;
    Some(u32::from_be_bytes(serial.try_into().ok()?))
}

/// The offset after one whole record.
fn skip_record(packet: &[u8], at: usize) -> Option<usize> {
    let fixed = skip_name(packet, at)?;
    let rdlen = u16::from_be_bytes([*packet.get(fixed + 8)?, *packet.get(fixed + 9)?]);
    Some(fixed + 10 + usize::from(rdlen))
}

/// The offset after a name, compressed or not.
fn skip_name(packet: &[u8], mut at: usize) -> Option<usize> {
    for _ in 0..128 {
        match *packet.get(at)? {
            0 => return Some(at + 1),
            len @ 1..=63 => at += 1 + usize::from(len),
            0xc0..=0xff => return packet.get(at + 1).map(|_| at + 2),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::Query as Builder;

    #[test]
    fn axfr_and_ixfr_with_its_serial() {
        let axfr = Builder::new("example.test.", rtype::AXFR).to_wire();
        assert!(asks_transfer(&axfr));
        assert_eq!(parse(&axfr).map(|r| r.kind), Some(Kind::Axfr));
        let a = Builder::new("example.test.", rtype::A).to_wire();
        assert!(!asks_transfer(&a));
        assert!(parse(&a).is_none());
    }

    #[test]
    fn ixfr_needs_the_soa_in_the_authority_section() {
        let ixfr = Builder::ixfr("example.test.", 0x0102_0304).to_wire();
        assert!(asks_transfer(&ixfr));
        assert_eq!(parse(&ixfr).map(|r| r.kind), Some(Kind::Ixfr { serial: 0x0102_0304 }));
        let bare = Builder::new("example.test.", rtype::IXFR).to_wire();
        assert!(asks_transfer(&bare));
        assert_eq!(parse(&bare).map(|r| r.kind), Some(Kind::IxfrWithoutSoa));
        let response = Builder::new("example.test.", rtype::AXFR).flags(FLAG_QR).to_wire();
        assert!(!asks_transfer(&response));
    }
}
