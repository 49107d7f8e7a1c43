//! Queries signed with TSIG (RFC 8945), such as a secondary's SOA check
//! before a transfer: verified against the `[[tsig]]` keys, answered as the
//! same query unsigned would be, and the answer signed with the same key.
//!
//! The responder answers a signed query NOTAUTH without looking at its
//! key; only then is the signature checked, so unsigned queries (nearly
//! all) pay nothing for this.

use dns_wire::wire::rcode;

use crate::tsig::{self, KeyRing, Verified};

/// What a signed query's TSIG record says.
pub(crate) enum Signature {
    /// Not signed after all: the NOTAUTH stands.
    Absent,
    /// Rejected: the NOTAUTH (or FORMERR) now carries the RFC 8945 error.
    Rejected,
    /// Good: answer `unsigned` (the query without its TSIG record) and sign the answer.
    Good {
        /// The query as if it had never been signed.
        unsigned: Vec<u8>,
        /// The key and the request's MAC, to sign with.
        verified: Verified,
    },
}

/// Whether the responder's `response` is the NOTAUTH it gives signed queries.
pub(crate) fn refused_as_signed(response: &[u8]) -> bool {
    response.get(3).is_some_and(|&b| u16::from(b & 0x0f) == rcode::NOTAUTH)
}

/// Checks the TSIG of `packet`, whose NOTAUTH response is in `response`
/// (given the RFC 8945 error when the signature is rejected).
pub(crate) fn check(packet: &[u8], keys: &KeyRing, response: &mut Vec<u8>) -> Signature {
    let now = tsig::now();
    match tsig::verify_request(packet, keys, now) {
        Ok(None) => Signature::Absent,
        Err(rejection) => {
            let code = rejection.error.rcode();
            if let Some(flags) = response.get_mut(3) {
                *flags = (*flags & 0xf0) | (code & 0x0f) as u8;
            }
            rejection.append_to(response, now);
            Signature::Rejected
        }
        Ok(Some(verified)) => {
            let mut unsigned = packet[..verified.body_len].to_vec();
            let arcount = u16::from_be_bytes([unsigned[10], unsigned[11]]).saturating_sub(1);
            unsigned[10..12].copy_from_slice(&arcount.to_be_bytes());
            Signature::Good { unsigned, verified }
        }
    }
}

/// Signs the answer to a query that verified.
pub(crate) fn sign(response: &mut Vec<u8>, verified: &Verified) {
    tsig::sign_response(response, &verified.key, tsig::now(), &verified.mac);
}
