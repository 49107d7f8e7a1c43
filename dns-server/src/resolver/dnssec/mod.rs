//! DNSSEC validation in the resolver (RFC 4033-4035, 5155, 6840): signature
//! checks, trust anchors, denial proofs, validated NSEC ranges (RFC 8198), and
//! the security status each cached answer carries.

pub(crate) mod aggressive;
pub(crate) mod anchor;
pub(crate) mod anchor_xml;
pub(crate) mod autotrust;
pub(crate) mod denial;
pub(crate) mod refresh;
pub(crate) mod verify;

/// Extended DNS error codes of RFC 8914 used by validation.
pub(crate) mod ede {
    /// Something in the chain of trust does not hold.
    pub(crate) const BOGUS: u16 = 6;
    /// Every signature that could have held has expired.
    pub(crate) const SIGNATURE_EXPIRED: u16 = 7;
    /// Every signature that could have held is not valid yet.
    pub(crate) const SIGNATURE_NOT_YET_VALID: u16 = 8;
    /// A DS exists, no DNSKEY matches it.
    pub(crate) const DNSKEY_MISSING: u16 = 9;
    /// A signed zone answered without signatures.
    pub(crate) const RRSIGS_MISSING: u16 = 10;
    /// A negative or wildcard answer from a signed zone came without its denial proof.
    pub(crate) const NSEC_MISSING: u16 = 12;
}

/// What validation says about an answer (RFC 4033 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Security {
    /// Not checked: validation is off, forwarding, or a DNSKEY RRset asked
    /// by a client (checked only as part of a chain). Never gets AD.
    #[default]
    Unchecked,
    /// Proven by a chain of signatures from a trust anchor.
    Secure,
    /// Below a delegation without DS (or outside every anchor).
    Insecure,
    /// The chain should hold and does not; the RFC 8914 code says why.
    Bogus(u16),
}

impl Security {
    /// The status of an answer made of parts (a CNAME chain): bogus if any
    /// part is, secure only if every part is.
    pub(crate) fn and(self, other: Security) -> Security {
        use Security::*;
        match (self, other) {
            (Bogus(code), _) | (_, Bogus(code)) => Bogus(code),
            (Secure, Secure) => Secure,
            (Unchecked, _) | (_, Unchecked) => Unchecked,
            _ => Insecure,
        }
    }
}
