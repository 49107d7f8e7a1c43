//! DNS wire-format constants (RFC 1035 section 4, RFC 6891) used on both sides.

/// Length of the fixed DNS header.
pub const HEADER_LEN: usize = 12;
/// Longest domain name in wire format, root label included (RFC 1035 2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest single label (RFC 1035 2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Largest UDP payload without EDNS (RFC 1035 4.2.1).
pub const CLASSIC_UDP_PAYLOAD: u16 = 512;

/// Header flag: this message is a response.
pub const FLAG_QR: u16 = 0x8000;
/// Header flag: authoritative answer.
pub const FLAG_AA: u16 = 0x0400;
/// Header flag: truncated.
pub const FLAG_TC: u16 = 0x0200;
/// Header flag: recursion desired (copied from the query).
pub const FLAG_RD: u16 = 0x0100;
/// Header flag: recursion available.
pub const FLAG_RA: u16 = 0x0080;
/// Header flag: authentic data (RFC 4035).
pub const FLAG_AD: u16 = 0x0020;
/// Header flag: checking disabled (RFC 4035), copied from the query.
pub const FLAG_CD: u16 = 0x0010;
/// Mask of the OPCODE field in the flags word.
pub const OPCODE_MASK: u16 = 0x7800;
/// Mask of the 4-bit RCODE field in the flags word.
pub const RCODE_MASK: u16 = 0x000f;

/// OPCODE values (shifted down to 0..15).
pub mod opcode {
    /// Standard query.
    pub const QUERY: u8 = 0;
    /// Zone change notification (RFC 1996).
    pub const NOTIFY: u8 = 4;
    /// Dynamic update (RFC 2136).
    pub const UPDATE: u8 = 5;
}

/// RCODE values, extended ones included (RFC 6895).
pub mod rcode {
    /// No error.
    pub const NOERROR: u16 = 0;
    /// The query could not be interpreted.
    pub const FORMERR: u16 = 1;
    /// The server failed to process the query.
    pub const SERVFAIL: u16 = 2;
    /// The name does not exist.
    pub const NXDOMAIN: u16 = 3;
    /// The kind of query is not implemented.
    pub const NOTIMP: u16 = 4;
    /// The server refuses to answer.
    pub const REFUSED: u16 = 5;
    /// A name that should not exist does (RFC 6672: a DNAME substitution overflowed).
    pub const YXDOMAIN: u16 = 6;
    /// Not authorized (used for TSIG failures).
    pub const NOTAUTH: u16 = 9;
    /// Unsupported EDNS version (RFC 6891), needs an OPT record.
    pub const BADVERS: u16 = 16;
    /// A missing or invalid server cookie where one is required (RFC 7873 8), needs an OPT record.
    pub const BADCOOKIE: u16 = 23;
}

/// RR type codes the server treats specially.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Domain name pointer.
    pub const PTR: u16 = 12;
    /// Mail exchange.
    pub const MX: u16 = 15;
    /// Text strings.
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// Service locator.
    pub const SRV: u16 = 33;
    /// Naming authority pointer.
    pub const NAPTR: u16 = 35;
    /// Delegation name (RFC 6672).
    pub const DNAME: u16 = 39;
    /// EDNS(0) pseudo-record.
    pub const OPT: u16 = 41;
    /// Delegation signer.
    pub const DS: u16 = 43;
    /// DNSSEC signature.
    pub const RRSIG: u16 = 46;
    /// Authenticated denial of existence.
    pub const NSEC: u16 = 47;
    /// DNSSEC public key.
    pub const DNSKEY: u16 = 48;
    /// Hashed authenticated denial of existence.
    pub const NSEC3: u16 = 50;
    /// NSEC3 parameters of a zone (RFC 5155 4).
    pub const NSEC3PARAM: u16 = 51;
    /// Service binding.
    pub const SVCB: u16 = 64;
    /// Service binding for HTTPS.
    pub const HTTPS: u16 = 65;
    /// Transaction signature (RFC 8945).
    pub const TSIG: u16 = 250;
    /// Incremental zone transfer.
    pub const IXFR: u16 = 251;
    /// Full zone transfer.
    pub const AXFR: u16 = 252;
    /// Every type (RFC 8482 answers it minimally).
    pub const ANY: u16 = 255;
}

/// CLASS codes.
pub mod class {
    /// The Internet.
    pub const IN: u16 = 1;
    /// CHAOS, used for server identification (`id.server`).
    pub const CH: u16 = 3;
    /// Any class.
    pub const ANY: u16 = 255;
}

/// EDNS option codes (RFC 6891 registry).
pub mod edns_option {
    /// Name server identifier (RFC 5001).
    pub const NSID: u16 = 3;
    /// The zone's remaining expire time (RFC 7314).
    pub const EXPIRE: u16 = 9;
    /// DNS cookie (RFC 7873).
    pub const COOKIE: u16 = 10;
    /// Extended DNS error (RFC 8914).
    pub const EDE: u16 = 15;
}

/// The DO ("DNSSEC OK") bit in the OPT record's TTL field.
pub const EDNS_DO: u16 = 0x8000;

/// ASCII lower-casing of one byte, the only case folding DNS does (RFC 4343).
#[inline(always)]
pub const fn ascii_lower(b: u8) -> u8 {
    if b >= b'A' && b <= b'Z' { b | 0x20 } else { b }
}
