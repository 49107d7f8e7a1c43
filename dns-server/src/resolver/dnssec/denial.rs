//! Denial of existence (RFC 4035 5.4, RFC 5155 8, RFC 6840 4): whether the
//! NSEC or NSEC3 records of a negative answer (or of a wildcard expansion)
//! prove what the answer says. The records given here have had their
//! signatures checked already; this is the logic of names, hashes and
//! type bitmaps only.

use std::{cell::RefCell, cmp::Ordering};

use dns_wire::wire::rtype;

use super::ede;
use crate::{
    name::{Name, wildcard_of},
    resolver::cache::CachedRecord,
    zone::{canonical::Key, nsec3},
};

/// NSEC3 iterations above this make a proof insecure rather than secure
/// (RFC 9276 3.2; Unbound and Knot Resolver use 150 as well).
pub(crate) const MAX_NSEC3_ITERATIONS: u16 = 150;

/// Distinct NSEC3 hashes one proof may compute. A closest-encloser proof
/// hashes each ancestor of a long name, up to 151 SHA-1 rounds each, under
/// each parameter set sent: a server could make one answer cost seconds
/// (CVE-2023-50868). An honest proof needs a few; past this it fails.
const MAX_NSEC3_HASHES: usize = 32;

/// NSEC3 flag: Opt-Out (RFC 5155 3.1.2.1).
const OPT_OUT: u8 = 1;

/// What a denial proof shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The answer is proven.
    Secure,
    /// Proven only as far as an Opt-Out span or too many NSEC3 iterations allow.
    Insecure,
    /// Not proven; the RFC 8914 code says whether proof records were there at all.
    Bogus(u16),
}

/// One NSEC record read.
struct Nsec {
    owner: Name,
    next: Name,
    bitmap: Vec<u8>,
}

/// One NSEC3 record read.
struct Nsec3 {
    /// The zone the owner hash lives in (the owner minus its first label).
    zone: Name,
    owner_hash: Vec<u8>,
    params: nsec3::Params,
    flags: u8,
    next_hash: Vec<u8>,
    bitmap: Vec<u8>,
}

/// Every record of a test fixture (`testdata/denial-*.signed`, zone `example.`).
#[cfg(test)]
pub(crate) fn fixture_records(text: &str) -> Vec<CachedRecord> {
    let origin = Name::parse("example.", None).expect("name");
    crate::zone::parse::parse_str(text, std::path::Path::new("fixture"), &origin)
        .expect("the fixture parses")
        .iter()
        .map(|r| CachedRecord {
            owner: r.owner.clone(),
            rtype: r.rtype,
            class: r.class,
            rdata: r.rdata.to_vec(),
        })
        .collect()
}

/// Length of the uncompressed wire name at the start of `rdata`.
pub(super) fn name_len(rdata: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let len = usize::from(*rdata.get(at)?);
        at += 1 + len;
        if len == 0 {
            return Some(at);
        }
        if len > 63 || at > 255 {
            return None;
        }
    }
}

/// Whether a type bitmap (RFC 4034 4.1.2) holds `t`.
fn has_type(bitmap: &[u8], t: u16) -> bool {
    let [window, low] = t.to_be_bytes();
    let mut at = 0;
    while at + 2 <= bitmap.len() {
        let (w, len) = (bitmap[at], usize::from(bitmap[at + 1]));
        let bits = bitmap.get(at + 2..at + 2 + len).unwrap_or(&[]);
        if w == window {
            return bits
                .get(usize::from(low / 8))
                .is_some_and(|b| b & (0x80 >> (low % 8)) != 0);
        }
        at += 2 + len;
    }
    false
}

/// Canonical order of two names (RFC 4034 6.1).
fn order(a: &Name, b: &Name) -> Ordering {
    match (Key::of(a.as_wire()), Key::of(b.as_wire())) {
        (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
        _ => a.as_wire().cmp(b.as_wire()),
    }
}

fn same(a: &Name, b: &Name) -> bool {
    a.as_wire().eq_ignore_ascii_case(b.as_wire())
}

/// The longest name both `a` and `b` are at or below.
pub(super) fn common_ancestor(a: &Name, b: &Name) -> Name {
    let mut up = Some(a.clone());
    while let Some(name) = up {
        if b.is_within(&name) {
            return name;
        }
        up = name.parent();
    }
    Name::root()
}

/// The ancestor of `name` (or itself) with `labels` labels.
fn trim(name: &Name, labels: usize) -> Option<Name> {
    let mut up = Some(name.clone());
    while let Some(n) = up {
        if n.label_count() <= labels {
            return Some(n);
        }
        up = n.parent();
    }
    None
}

/// The child of `ancestor` on the way down to `name` (the "next closer name").
fn next_closer(name: &Name, ancestor: &Name) -> Option<Name> {
    trim(name, ancestor.label_count() + 1).filter(|n| n.label_count() == ancestor.label_count() + 1)
}

fn wildcard(name: &Name) -> Option<Name> {
    wildcard_of(name.as_wire()).and_then(|w| Name::from_wire(&w))
}

/// The denial records of one answer, from one zone.
pub(crate) struct Proof {
    zone: Name,
    nsec: Vec<Nsec>,
    nsec3: Vec<Nsec3>,
    /// NSEC3 records whose hash algorithm we do not know (RFC 5155 8.1).
    unknown_hash: bool,
    /// Hashes computed so far: name, parameters, hash.
    hashes: RefCell<Vec<(Name, nsec3::Params, nsec3::Hash)>>,
}

impl Proof {
    /// Reads the NSEC and NSEC3 records among `records` owned inside `zone`
    /// (others, and unreadable ones, are left out).
    pub(crate) fn new(zone: &Name, records: &[CachedRecord]) -> Proof {
        let mut proof = Proof {
            zone: zone.clone(),
            nsec: Vec::new(),
            nsec3: Vec::new(),
            unknown_hash: false,
            hashes: RefCell::default(),
        };
        for r in records.iter().filter(|r| r.owner.is_within(zone)) {
            match r.rtype {
                rtype::NSEC => {
                    let Some(len) = name_len(&r.rdata) else { continue };
                    let Some(next) = Name::from_wire(&r.rdata[..len]) else {
                        continue;
                    };
                    proof.nsec.push(Nsec {
                        owner: r.owner.clone(),
                        next,
                        bitmap: r.rdata[len..].to_vec(),
                    });
                }
                rtype::NSEC3 => match read_nsec3(r) {
                    Some(n) if same(&n.zone, zone) => proof.nsec3.push(n),
                    Some(_) => {}
                    None if r.rdata.first().is_some_and(|&alg| alg != 1) => proof.unknown_hash = true,
                    None => {}
                },
                _ => {}
            }
        }
        proof
    }

    /// Whether there is nothing to prove with.
    fn empty(&self) -> bool {
        self.nsec.is_empty() && self.nsec3.is_empty()
    }

    /// The verdict when neither kind of record proves it: NSEC Missing when
    /// there were none, else Bogus.
    fn unproven(&self) -> Verdict {
        if self.empty() {
            Verdict::Bogus(ede::NSEC_MISSING)
        } else {
            Verdict::Bogus(ede::BOGUS)
        }
    }

    /// With NSEC3 only under an unknown hash, or with too many iterations,
    /// nothing can be proven but the zone is taken as insecure (RFC 5155 8.1,
    /// RFC 9276 3.2).
    fn nsec3_insecure(&self) -> bool {
        (self.nsec.is_empty() && self.nsec3.is_empty() && self.unknown_hash)
            || self.nsec3.iter().any(|n| n.params.iterations > MAX_NSEC3_ITERATIONS)
    }

    /// RFC 4035 5.4 / RFC 5155 8.4: `qname` does not exist.
    pub(crate) fn nxdomain(&self, qname: &Name) -> Verdict {
        if self.nsec3_insecure() {
            return Verdict::Insecure;
        }
        if !self.nsec.is_empty() {
            return self.nsec_nxdomain(qname);
        }
        if !self.nsec3.is_empty() {
            return self.nsec3_nxdomain(qname);
        }
        self.unproven()
    }

    /// RFC 4035 5.4 / RFC 5155 8.5-8.7: `qname` has no `qtype` records (and no CNAME).
    pub(crate) fn nodata(&self, qname: &Name, qtype: u16) -> Verdict {
        if self.nsec3_insecure() {
            return Verdict::Insecure;
        }
        if !self.nsec.is_empty() {
            return self.nsec_nodata(qname, qtype);
        }
        if !self.nsec3.is_empty() {
            return self.nsec3_nodata(qname, qtype);
        }
        self.unproven()
    }

    /// RFC 4035 5.2 / RFC 5155 8.9: `name` is a delegation without DS (an
    /// insecure one). Stricter than a DS NODATA: the matching record must
    /// show the delegation (NS), or a name that is no zone cut (or does not
    /// exist) could be passed off as an unsigned child.
    pub(crate) fn insecure_delegation(&self, name: &Name) -> Verdict {
        if self.nsec3_insecure() {
            return Verdict::Insecure;
        }
        let delegation = |bitmap: &[u8]| {
            has_type(bitmap, rtype::NS)
                && !has_type(bitmap, rtype::DS)
                && !has_type(bitmap, rtype::SOA)
                && !has_type(bitmap, rtype::CNAME)
        };
        if !self.nsec.is_empty() {
            return match self.nsec.iter().find(|n| same(&n.owner, name)) {
                Some(n) if delegation(&n.bitmap) => Verdict::Secure,
                _ => Verdict::Bogus(ede::BOGUS),
            };
        }
        if !self.nsec3.is_empty() {
            if let Some(m) = self.nsec3_match(name) {
                return match delegation(&m.bitmap) {
                    true => Verdict::Secure,
                    false => Verdict::Bogus(ede::BOGUS),
                };
            }
            return self.nsec3_nodata(name, rtype::DS);
        }
        self.unproven()
    }

    /// RFC 4035 5.3.4 / RFC 5155 8.8: an answer expanded from a wildcard
    /// whose RRSIG has `labels` labels holds only if the next closer name
    /// of `qname` does not exist.
    pub(crate) fn wildcard_answer(&self, qname: &Name, labels: usize) -> Verdict {
        if self.nsec3_insecure() {
            return Verdict::Insecure;
        }
        let Some(source) = trim(qname, labels) else {
            return Verdict::Bogus(ede::BOGUS);
        };
        let Some(closer) = next_closer(qname, &source) else {
            return Verdict::Bogus(ede::BOGUS);
        };
        if !self.nsec.is_empty() {
            return match self.nsec.iter().any(|n| self.nsec_covers(n, &closer)) {
                true => Verdict::Secure,
                false => Verdict::Bogus(ede::BOGUS),
            };
        }
        if !self.nsec3.is_empty() {
            return match self.nsec3_cover(&closer) {
                Some(_) => Verdict::Secure,
                None => Verdict::Bogus(ede::BOGUS),
            };
        }
        self.unproven()
    }

    // NSEC (RFC 4035 5.4, RFC 6840 4.1 and 4.3).

    /// Whether `n` proves `name` absent: owner < name < next, or past the
    /// last owner when `next` wraps to the apex; never below a delegation
    /// or a DNAME at the owner (RFC 6840 4.1).
    fn nsec_covers(&self, n: &Nsec, name: &Name) -> bool {
        if !name.is_within(&self.zone) || order(&n.owner, name) != Ordering::Less {
            return false;
        }
        let before_next = order(name, &n.next) == Ordering::Less;
        let wraps = order(&n.next, &n.owner) != Ordering::Greater;
        if !(before_next || wraps) {
            return false;
        }
        let delegation = has_type(&n.bitmap, rtype::NS) && !has_type(&n.bitmap, rtype::SOA);
        let below_owner = name.is_within(&n.owner);
        !(below_owner && (delegation || has_type(&n.bitmap, rtype::DNAME)))
    }

    /// The closest encloser `n` (covering `qname`) implies: the longer of
    /// the names common to `qname` and the NSEC's two ends.
    fn nsec_closest_encloser(&self, n: &Nsec, qname: &Name) -> Name {
        let a = common_ancestor(qname, &n.owner);
        let b = common_ancestor(qname, &n.next);
        if a.label_count() >= b.label_count() { a } else { b }
    }

    fn nsec_nxdomain(&self, qname: &Name) -> Verdict {
        if self.nsec.iter().any(|n| same(&n.owner, qname)) {
            return Verdict::Bogus(ede::BOGUS);
        }
        let Some(cover) = self.nsec.iter().find(|n| self.nsec_covers(n, qname)) else {
            return Verdict::Bogus(ede::BOGUS);
        };
        let encloser = self.nsec_closest_encloser(cover, qname);
        if !encloser.is_within(&self.zone) {
            return Verdict::Bogus(ede::BOGUS);
        }
        // No wildcard could have answered instead (RFC 4035 5.4, 3.1.3.2).
        match wildcard(&encloser) {
            Some(w) if self.nsec.iter().any(|n| self.nsec_covers(n, &w)) => Verdict::Secure,
            _ => Verdict::Bogus(ede::BOGUS),
        }
    }

    fn nsec_nodata(&self, qname: &Name, qtype: u16) -> Verdict {
        if let Some(n) = self.nsec.iter().find(|n| same(&n.owner, qname)) {
            return nodata_bitmap(&n.bitmap, qname, qtype);
        }
        // An empty non-terminal: the NSEC before it points below it (RFC 4035 3.1.3.2).
        let ent = self
            .nsec
            .iter()
            .any(|n| self.nsec_covers(n, qname) && n.next.is_within(qname) && !same(&n.next, qname));
        if ent {
            return Verdict::Secure;
        }
        // The name does not exist, and the wildcard that answers lacks the type.
        let Some(cover) = self.nsec.iter().find(|n| self.nsec_covers(n, qname)) else {
            return Verdict::Bogus(ede::BOGUS);
        };
        let encloser = self.nsec_closest_encloser(cover, qname);
        let Some(w) = wildcard(&encloser) else {
            return Verdict::Bogus(ede::BOGUS);
        };
        match self.nsec.iter().find(|n| same(&n.owner, &w)) {
            Some(n) if qtype != rtype::DS => nodata_bitmap(&n.bitmap, &w, qtype),
            _ => Verdict::Bogus(ede::BOGUS),
        }
    }

    // NSEC3 (RFC 5155 8).

    /// `name`'s hash under `params`, computed once per proof; `None` past
    /// [`MAX_NSEC3_HASHES`] (the proof then fails: see there).
    fn nsec3_hash(&self, name: &Name, params: &nsec3::Params) -> Option<nsec3::Hash> {
        let lower = name.to_lowercase();
        let mut memo = self.hashes.borrow_mut();
        if let Some((.., h)) = memo.iter().find(|(n, p, _)| *n == lower && p == params) {
            return Some(*h);
        }
        if memo.len() >= MAX_NSEC3_HASHES {
            return None;
        }
        let h = nsec3::hash(lower.as_wire(), params);
        memo.push((lower, params.clone(), h));
        Some(h)
    }

    /// The NSEC3 whose owner is `name`'s hash.
    fn nsec3_match(&self, name: &Name) -> Option<&Nsec3> {
        self.nsec3.iter().find(|n| {
            self.nsec3_hash(name, &n.params)
                .is_some_and(|h| h[..] == n.owner_hash[..])
        })
    }

    /// The NSEC3 whose span holds `name`'s hash (RFC 5155 8.3), wrapping at the end.
    fn nsec3_cover(&self, name: &Name) -> Option<&Nsec3> {
        self.nsec3.iter().find(|n| {
            let Some(h) = self.nsec3_hash(name, &n.params) else {
                return false;
            };
            let (owner, next) = (&n.owner_hash[..], &n.next_hash[..]);
            match owner.cmp(next) {
                Ordering::Less => owner < &h[..] && &h[..] < next,
                // The last link: from the greatest hash round to the least.
                _ => &h[..] > owner || &h[..] < next,
            }
        })
    }

    /// RFC 5155 8.3: the closest encloser of `qname` (an existing ancestor,
    /// not `qname` itself) and the NSEC3 covering the next closer name.
    fn closest_encloser(&self, qname: &Name) -> Option<(Name, &Nsec3)> {
        let mut candidate = qname.parent();
        while let Some(encloser) = candidate {
            if !encloser.is_within(&self.zone) {
                return None;
            }
            if let Some(m) = self.nsec3_match(&encloser) {
                // A delegation or DNAME here would have answered instead (RFC 5155 8.3).
                let delegation = has_type(&m.bitmap, rtype::NS) && !has_type(&m.bitmap, rtype::SOA);
                if delegation || has_type(&m.bitmap, rtype::DNAME) {
                    return None;
                }
                let closer = next_closer(qname, &encloser)?;
                return self.nsec3_cover(&closer).map(|c| (encloser, c));
            }
            candidate = encloser.parent();
        }
        None
    }

    fn nsec3_nxdomain(&self, qname: &Name) -> Verdict {
        if self.nsec3_match(qname).is_some() {
            return Verdict::Bogus(ede::BOGUS);
        }
        let Some((encloser, closer)) = self.closest_encloser(qname) else {
            return Verdict::Bogus(ede::BOGUS);
        };
        if wildcard(&encloser).and_then(|w| self.nsec3_cover(&w)).is_none() {
            return Verdict::Bogus(ede::BOGUS);
        }
        // The next closer name may be an unsigned delegation Opt-Out skipped.
        if closer.flags & OPT_OUT != 0 {
            return Verdict::Insecure;
        }
        Verdict::Secure
    }

    fn nsec3_nodata(&self, qname: &Name, qtype: u16) -> Verdict {
        if let Some(m) = self.nsec3_match(qname) {
            return nodata_bitmap(&m.bitmap, qname, qtype);
        }
        let Some((encloser, closer)) = self.closest_encloser(qname) else {
            return Verdict::Bogus(ede::BOGUS);
        };
        // RFC 5155 8.6: no DS, because the delegation is in an Opt-Out span.
        if qtype == rtype::DS {
            return match closer.flags & OPT_OUT != 0 {
                true => Verdict::Insecure,
                false => Verdict::Bogus(ede::BOGUS),
            };
        }
        // RFC 5155 8.7: a wildcard answers, without the type.
        match wildcard(&encloser).and_then(|w| self.nsec3_match(&w).map(|m| (w, m))) {
            Some((w, m)) => nodata_bitmap(&m.bitmap, &w, qtype),
            None => Verdict::Bogus(ede::BOGUS),
        }
    }
}

/// A matching NSEC or NSEC3 proves NODATA if its bitmap lacks the type and
/// CNAME; a DS denial must come from the parent's side of the cut (no
/// SOA), any other from an authoritative name, not a delegation (RFC 6840 4.4).
fn nodata_bitmap(bitmap: &[u8], owner: &Name, qtype: u16) -> Verdict {
    if has_type(bitmap, qtype) || has_type(bitmap, rtype::CNAME) {
        return Verdict::Bogus(ede::BOGUS);
    }
    let apex = has_type(bitmap, rtype::SOA);
    let delegation = has_type(bitmap, rtype::NS) && !apex;
    let wrong_side = match qtype {
        rtype::DS => apex && owner.label_count() > 0,
        _ => delegation,
    };
    if wrong_side {
        return Verdict::Bogus(ede::BOGUS);
    }
    Verdict::Secure
}

/// Reads an NSEC3 record, when it uses SHA-1 and its owner's first label is a hash.
fn read_nsec3(r: &CachedRecord) -> Option<Nsec3> {
    let params = nsec3::Params::of(&r.rdata)?;
    let flags = *r.rdata.get(1)?;
    let salt_len = usize::from(*r.rdata.get(4)?);
    let mut at = 5 + salt_len;
    let hash_len = usize::from(*r.rdata.get(at)?);
    at += 1;
    let next_hash = r.rdata.get(at..at + hash_len)?.to_vec();
    let bitmap = r.rdata.get(at + hash_len..)?.to_vec();
    let wire = r.owner.as_wire();
    let label_len = usize::from(*wire.first()?);
    let label = wire.get(1..1 + label_len)?.to_ascii_lowercase();
    let owner_hash = data_encoding::BASE32_DNSSEC.decode(&label).ok()?;
    if owner_hash.len() != nsec3::HASH_LEN || next_hash.len() != nsec3::HASH_LEN {
        return None;
    }
    Some(Nsec3 {
        zone: r.owner.parent()?,
        owner_hash,
        params,
        flags,
        next_hash,
        bitmap,
    })
}

#[cfg(test)]
#[path = "denial_tests.rs"]
mod tests;
