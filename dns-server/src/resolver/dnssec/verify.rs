//! Checking one RRset's RRSIG against a DNSKEY (RFC 4034 3.1.8.1 signed data,
//! RFC 4035 5.3) and a DNSKEY against a DS (RFC 4034 5.1.4), with `ring`.

use std::cmp::Ordering;

use dns_wire::wire::rtype;
use ring::{digest, signature};

use crate::{name::Name, resolver::cache::CachedRecord};

/// DNSKEY flag: a zone key (RFC 4034 2.1.1); only these may sign.
const ZONE_KEY: u16 = 0x0100;
/// DNSKEY flag: revoked (RFC 5011 3); never trusted.
const REVOKED: u16 = 0x0080;

/// Why a signature does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SigError {
    /// The RRSIG or DNSKEY could not be read.
    #[error("malformed RRSIG or DNSKEY")]
    Malformed,
    /// The algorithm is not one we implement (the RRset is then treated as unsigned by it).
    #[error("unsupported algorithm {0}")]
    Algorithm(u8),
    /// The validity period is over.
    #[error("signature expired")]
    Expired,
    /// The validity period has not begun.
    #[error("signature not yet valid")]
    NotYetValid,
    /// The cryptography says no.
    #[error("signature does not verify")]
    Invalid,
}

/// The fixed fields of an RRSIG's RDATA (RFC 4034 3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rrsig {
    pub type_covered: u16,
    pub algorithm: u8,
    pub labels: u8,
    pub original_ttl: u32,
    pub expiration: u32,
    pub inception: u32,
    pub key_tag: u16,
    pub signer: Name,
    /// Length of the RDATA before the signature field.
    fixed_len: usize,
}

impl Rrsig {
    /// Reads an RRSIG RDATA.
    pub(crate) fn parse(rdata: &[u8]) -> Option<Rrsig> {
        let u16_at = |at: usize| Some(u16::from_be_bytes(rdata.get(at..at + 2)?.try_into().ok()?));
        let u32_at = |at: usize| Some(u32::from_be_bytes(rdata.get(at..at + 4)?.try_into().ok()?));
        let name_len = name_len(rdata, 18)?;
        let signer = Name::from_wire(&rdata[18..18 + name_len])?;
        Some(Rrsig {
            type_covered: u16_at(0)?,
            algorithm: *rdata.get(2)?,
            labels: *rdata.get(3)?,
            original_ttl: u32_at(4)?,
            expiration: u32_at(8)?,
            inception: u32_at(12)?,
            key_tag: u16_at(16)?,
            signer,
            fixed_len: 18 + name_len,
        })
    }
}

/// A DNSKEY's fields (RFC 4034 2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dnskey<'a> {
    pub flags: u16,
    pub protocol: u8,
    pub algorithm: u8,
    pub public_key: &'a [u8],
    pub rdata: &'a [u8],
}

impl<'a> Dnskey<'a> {
    /// Reads a DNSKEY RDATA.
    pub(crate) fn parse(rdata: &'a [u8]) -> Option<Dnskey<'a>> {
        if rdata.len() < 5 {
            return None;
        }
        Some(Dnskey {
            flags: u16::from_be_bytes([rdata[0], rdata[1]]),
            protocol: rdata[2],
            algorithm: rdata[3],
            public_key: &rdata[4..],
            rdata,
        })
    }

    /// Whether the key may sign a zone's data (zone key, protocol 3, not revoked).
    pub(crate) fn usable(&self) -> bool {
        self.flags & ZONE_KEY != 0 && self.flags & REVOKED == 0 && self.protocol == 3
    }

    /// The key tag (RFC 4034 appendix B).
    pub(crate) fn key_tag(&self) -> u16 {
        key_tag(self.rdata)
    }
}

/// The key tag of a DNSKEY RDATA (RFC 4034 appendix B; algorithm 1 is gone).
pub(crate) fn key_tag(rdata: &[u8]) -> u16 {
    let mut ac: u32 = 0;
    for (i, b) in rdata.iter().enumerate() {
        ac += if i & 1 == 1 { u32::from(*b) } else { u32::from(*b) << 8 };
    }
    ac += (ac >> 16) & 0xffff;
    (ac & 0xffff) as u16
}

/// Whether we can verify signatures of `algorithm`.
pub(crate) fn supported_algorithm(algorithm: u8) -> bool {
    matches!(algorithm, 8 | 10 | 13 | 14 | 15)
}

/// Whether we can compute DS digests of `digest_type`.
pub(crate) fn supported_digest(digest_type: u8) -> bool {
    matches!(digest_type, 1 | 2 | 4)
}

/// Whether `ds` (RDATA) names the DNSKEY `key` (RDATA) of `owner` (RFC 4034 5.1.4).
pub(crate) fn ds_matches(owner: &Name, ds: &[u8], key: &[u8]) -> bool {
    if ds.len() < 5 {
        return false;
    }
    let tag = u16::from_be_bytes([ds[0], ds[1]]);
    let (algorithm, digest_type, want) = (ds[2], ds[3], &ds[4..]);
    let Some(dnskey) = Dnskey::parse(key) else { return false };
    if dnskey.algorithm != algorithm || dnskey.key_tag() != tag {
        return false;
    }
    let which = match digest_type {
        1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        2 => &digest::SHA256,
        4 => &digest::SHA384,
        _ => return false,
    };
    let mut ctx = digest::Context::new(which);
    ctx.update(owner.to_lowercase().as_wire());
    ctx.update(key);
    ctx.finish().as_ref() == want
}

/// Serial-number comparison (RFC 1982), as RRSIG times are (RFC 4034 3.1.5).
fn serial_lt(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000_0000
}

/// Checks the validity period of `sig` at `now` (seconds since the epoch, mod 2^32).
pub(crate) fn check_time(sig: &Rrsig, now: u32) -> Result<(), SigError> {
    if serial_lt(sig.expiration, now) {
        return Err(SigError::Expired);
    }
    if serial_lt(now, sig.inception) {
        return Err(SigError::NotYetValid);
    }
    Ok(())
}

/// Verifies the RRSIG `rrsig_rdata` over `rrset` (one owner, type and class)
/// with the DNSKEY `key_rdata`, at `now`. The caller checks that the signer
/// is the zone the keys belong to.
pub(crate) fn verify_rrset(
    rrset: &[CachedRecord],
    rrsig_rdata: &[u8],
    key_rdata: &[u8],
    now: u32,
) -> Result<(), SigError> {
    verify_with(rrset, rrsig_rdata, key_rdata, now, |key| key.usable())
}

/// As [`verify_rrset`], for a key with the REVOKE bit set signing its own
/// DNSKEY RRset (RFC 5011 2.1: how a revocation is proven).
pub(crate) fn verify_revocation(
    rrset: &[CachedRecord],
    rrsig_rdata: &[u8],
    key_rdata: &[u8],
    now: u32,
) -> Result<(), SigError> {
    verify_with(rrset, rrsig_rdata, key_rdata, now, |key| {
        key.flags & ZONE_KEY != 0 && key.flags & REVOKED != 0 && key.protocol == 3
    })
}

fn verify_with(
    rrset: &[CachedRecord],
    rrsig_rdata: &[u8],
    key_rdata: &[u8],
    now: u32,
    acceptable: impl Fn(&Dnskey<'_>) -> bool,
) -> Result<(), SigError> {
    let sig = Rrsig::parse(rrsig_rdata).ok_or(SigError::Malformed)?;
    let key = Dnskey::parse(key_rdata).ok_or(SigError::Malformed)?;
    if key.algorithm != sig.algorithm || !acceptable(&key) || key.key_tag() != sig.key_tag {
        return Err(SigError::Invalid);
    }
    if !supported_algorithm(sig.algorithm) {
        return Err(SigError::Algorithm(sig.algorithm));
    }
    let data = signed_data(rrset, rrsig_rdata, &sig).ok_or(SigError::Malformed)?;
    check_crypto(sig.algorithm, key.public_key, &data, &rrsig_rdata[sig.fixed_len..])?;
    check_time(&sig, now)
}

/// The signed data of RFC 4034 3.1.8.1: the RRSIG's fields without the
/// signature, then the RRset in canonical form and order.
fn signed_data(rrset: &[CachedRecord], rrsig_rdata: &[u8], sig: &Rrsig) -> Option<Vec<u8>> {
    let first = rrset.first()?;
    if first.rtype != sig.type_covered {
        return None;
    }
    let mut data = Vec::with_capacity(256);
    data.extend_from_slice(&rrsig_rdata[..18]);
    data.extend_from_slice(sig.signer.to_lowercase().as_wire());
    let owner = signed_owner(&first.owner, sig.labels)?;
    let mut rdatas: Vec<Vec<u8>> = rrset
        .iter()
        .map(|r| canonical_rdata(r.rtype, &r.rdata))
        .collect::<Option<_>>()?;
    // RFC 4034 6.3: sorted as left-justified octet strings, duplicates removed.
    rdatas.sort_by(|a, b| a.as_slice().cmp(b.as_slice()));
    rdatas.dedup();
    for rdata in rdatas {
        data.extend_from_slice(&owner);
        data.extend_from_slice(&first.rtype.to_be_bytes());
        data.extend_from_slice(&first.class.to_be_bytes());
        data.extend_from_slice(&sig.original_ttl.to_be_bytes());
        data.extend_from_slice(&u16::try_from(rdata.len()).ok()?.to_be_bytes());
        data.extend_from_slice(&rdata);
    }
    Some(data)
}

/// The owner as signed: lower case, and for a wildcard expansion the
/// wildcard itself (`labels` fewer than the owner's, RFC 4035 5.3.2).
fn signed_owner(owner: &Name, labels: u8) -> Option<Vec<u8>> {
    let lower = owner.to_lowercase();
    let count = lower.label_count();
    let labels = usize::from(labels);
    match labels.cmp(&count) {
        Ordering::Equal => Some(lower.as_wire().to_vec()),
        Ordering::Greater => None,
        Ordering::Less => {
            let wire = lower.as_wire();
            let mut at = 0;
            for _ in 0..count - labels {
                at += 1 + usize::from(wire[at]);
            }
            let mut out = vec![1, b'*'];
            out.extend_from_slice(&wire[at..]);
            Some(out)
        }
    }
}

/// Length of the uncompressed name at `at` in `rdata`.
fn name_len(rdata: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    loop {
        let len = usize::from(*rdata.get(i)?);
        if len > 63 {
            return None;
        }
        i += 1 + len;
        if len == 0 {
            return Some(i - at);
        }
    }
}

/// Lower-cases the name at `at`; returns where it ends.
fn lower_name(rdata: &mut [u8], at: usize) -> Option<usize> {
    let len = name_len(rdata, at)?;
    // Length octets are below 64, never letters: lower-casing them is harmless.
    rdata[at..at + len].make_ascii_lowercase();
    Some(at + len)
}

/// Skips `n` character-strings from `at`.
fn skip_strings(rdata: &[u8], mut at: usize, n: usize) -> Option<usize> {
    for _ in 0..n {
        at += 1 + usize::from(*rdata.get(at)?);
    }
    Some(at)
}

/// RDATA in canonical form (RFC 4034 6.2 item 3, as amended by RFC 6840 5.1):
/// embedded names of the listed types in lower case.
fn canonical_rdata(rr_type: u16, rdata: &[u8]) -> Option<Vec<u8>> {
    let mut out = rdata.to_vec();
    // Offsets of names: (first name at, number of consecutive names).
    let (start, names) = match rr_type {
        rtype::NS | rtype::CNAME | rtype::PTR | rtype::DNAME | 3 | 4 | 7 | 8 | 9 => (Some(0), 1),
        rtype::SOA | 14 | 17 => (Some(0), 2),
        rtype::MX | 18 | 21 | 36 => (Some(2), 1),
        26 => (Some(2), 2),
        rtype::SRV => (Some(6), 1),
        // NAPTR: order, preference, flags, services, regexp, then the replacement.
        35 => (skip_strings(rdata, 4, 3), 1),
        _ => (None, 0),
    };
    if let Some(mut at) = start {
        for _ in 0..names {
            at = lower_name(&mut out, at)?;
        }
    }
    Some(out)
}

/// The cryptographic check itself, by `ring`.
fn check_crypto(algorithm: u8, public_key: &[u8], data: &[u8], sig: &[u8]) -> Result<(), SigError> {
    let ok = match algorithm {
        8 | 10 => {
            let (e, n) = rsa_parts(public_key).ok_or(SigError::Malformed)?;
            // 1024-bit keys are still common below the root; ring calls them legacy.
            let params = if algorithm == 8 {
                &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            } else {
                &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(params, data, sig)
                .is_ok()
        }
        13 | 14 => {
            // DNSKEY holds x|y (RFC 6605 4); ring wants the uncompressed point.
            let mut point = Vec::with_capacity(public_key.len() + 1);
            point.push(4);
            point.extend_from_slice(public_key);
            let params = if algorithm == 13 {
                &signature::ECDSA_P256_SHA256_FIXED
            } else {
                &signature::ECDSA_P384_SHA384_FIXED
            };
            signature::UnparsedPublicKey::new(params, &point)
                .verify(data, sig)
                .is_ok()
        }
        15 => signature::UnparsedPublicKey::new(&signature::ED25519, public_key)
            .verify(data, sig)
            .is_ok(),
        other => return Err(SigError::Algorithm(other)),
    };
    if ok { Ok(()) } else { Err(SigError::Invalid) }
}

/// Exponent and modulus of an RSA DNSKEY (RFC 3110 2).
fn rsa_parts(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = match *key.first()? {
        0 => (usize::from(u16::from_be_bytes([*key.get(1)?, *key.get(2)?])), &key[3..]),
        n => (usize::from(n), &key[1..]),
    };
    if len == 0 || rest.len() <= len {
        return None;
    }
    Some(rest.split_at(len))
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
