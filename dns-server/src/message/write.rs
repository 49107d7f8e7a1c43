//! Writing DNS messages: header, question, records with name compression, OPT.
//!
//! The writer enforces a size limit record by record, so that the caller can
//! decide what to do when a section does not fit (truncate, or drop extras).

use std::collections::HashMap;

use dns_wire::wire::{HEADER_LEN, rtype};

/// Offsets above this cannot be the target of a compression pointer.
const MAX_POINTER: usize = 0x3fff;
/// Size of an OPT record with no options.
pub(crate) const OPT_LEN: usize = 11;

/// Which section a record goes to; the order is the wire order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Section {
    /// Answer section.
    Answer = 0,
    /// Authority section.
    Authority = 1,
    /// Additional section.
    Additional = 2,
}

/// A response being written into a byte buffer.
pub(crate) struct Writer<'b> {
    buf: &'b mut Vec<u8>,
    limit: usize,
    counts: [u16; 3],
    /// Offsets of names written so far, candidates for compression.
    names: Vec<u16>,
    /// The same offsets by lower-cased suffix, for messages of thousands of
    /// names (zone transfers), where a scan of `names` per name would cost
    /// their square; `None` for ordinary answers, which hold a few.
    index: Option<HashMap<Box<[u8]>, u16>>,
}

/// The record did not fit under the size limit; the buffer is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// A point to roll back to, so that an RRset is written whole or not at all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    len: usize,
    counts: [u16; 3],
    names: usize,
}

impl<'b> Writer<'b> {
    /// Starts a response with `id`, `flags` and the question echoed as given
    /// (so that the client's 0x20 case survives). `limit` bounds the size.
    pub(crate) fn new(
        buf: &'b mut Vec<u8>,
        limit: usize,
        id: u16,
        flags: u16,
        question: Option<(&[u8], u16, u16)>,
    ) -> Self {
        buf.clear();
        buf.extend_from_slice(&id.to_be_bytes());
        buf.extend_from_slice(&flags.to_be_bytes());
        buf.extend_from_slice(&[0, u8::from(question.is_some()), 0, 0, 0, 0, 0, 0]);
        let mut names = Vec::with_capacity(16);
        if let Some((qname, qtype, qclass)) = question {
            // Every suffix of the question name is a compression target.
            let mut at = 0;
            while let Some(&len) = qname.get(at).filter(|&&len| len != 0) {
                names.push((HEADER_LEN + at) as u16);
                at += 1 + len as usize;
            }
            buf.extend_from_slice(qname);
            buf.extend_from_slice(&qtype.to_be_bytes());
            buf.extend_from_slice(&qclass.to_be_bytes());
        }
        Writer {
            buf,
            limit,
            counts: [0; 3],
            names,
            index: None,
        }
    }

    /// Finds compression targets through an index instead of a scan: for
    /// messages of many records (a zone transfer's 64 KiB).
    pub(crate) fn index_names(&mut self) {
        let mut index = HashMap::with_capacity(1024);
        // Only the question is written yet: each suffix, uncompressed.
        for &offset in &self.names {
            let at = usize::from(offset);
            if let Some(len) = dns_wire::query::question_name_len(&self.buf[at..]) {
                index.insert(self.buf[at..at + len].to_ascii_lowercase().into(), offset);
            }
        }
        self.index = Some(index);
    }

    /// Current size in bytes.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Lowers or raises the size limit (e.g. to keep room for OPT).
    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Records in a section so far.
    #[cfg(test)]
    pub(crate) fn count(&self, section: Section) -> u16 {
        self.counts[section as usize]
    }

    /// A point to roll back to.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            len: self.buf.len(),
            counts: self.counts,
            names: self.names.len(),
        }
    }

    /// Forgets everything written since `mark`.
    pub(crate) fn rollback(&mut self, mark: Mark) {
        self.buf.truncate(mark.len);
        self.counts = mark.counts;
        self.names.truncate(mark.names);
    }

    /// Sets or clears header flag bits.
    pub(crate) fn set_flags(&mut self, set: u16, clear: u16) {
        let flags = u16::from_be_bytes([self.buf[2], self.buf[3]]);
        let flags = (flags & !clear) | set;
        self.buf[2..4].copy_from_slice(&flags.to_be_bytes());
    }

    /// Appends one record; on [`Full`] nothing was written.
    pub(crate) fn record(
        &mut self,
        section: Section,
        owner: &[u8],
        rtype: u16,
        class: u16,
        ttl: u32,
        rdata: &[u8],
    ) -> Result<(), Full> {
        let mark = self.mark();
        self.name(owner);
        self.buf.extend_from_slice(&rtype.to_be_bytes());
        self.buf.extend_from_slice(&class.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        let rdlen_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.rdata(rtype, rdata);
        let rdlen = self.buf.len() - rdlen_at - 2;
        if self.buf.len() > self.limit || rdlen > u16::MAX as usize {
            self.rollback(mark);
            return Err(Full);
        }
        self.buf[rdlen_at..rdlen_at + 2].copy_from_slice(&(rdlen as u16).to_be_bytes());
        self.counts[section as usize] += 1;
        Ok(())
    }

    /// Appends the OPT record (RFC 6891 6.1.2); ignores the size limit, which
    /// callers lower by the OPT's size beforehand.
    pub(crate) fn opt(&mut self, udp_payload: u16, ext_rcode: u8, dnssec_ok: bool, options: &[(u16, &[u8])]) {
        self.buf.push(0);
        self.buf.extend_from_slice(&rtype::OPT.to_be_bytes());
        self.buf.extend_from_slice(&udp_payload.to_be_bytes());
        let flags: u16 = if dnssec_ok { dns_wire::wire::EDNS_DO } else { 0 };
        self.buf.extend_from_slice(&[ext_rcode, 0]);
        self.buf.extend_from_slice(&flags.to_be_bytes());
        let rdlen: usize = options.iter().map(|(_, data)| 4 + data.len()).sum();
        self.buf.extend_from_slice(&(rdlen as u16).to_be_bytes());
        for (code, data) in options {
            self.buf.extend_from_slice(&code.to_be_bytes());
            self.buf.extend_from_slice(&(data.len() as u16).to_be_bytes());
            self.buf.extend_from_slice(data);
        }
        self.counts[Section::Additional as usize] += 1;
    }

    /// Writes the section counts into the header and returns the message size.
    pub(crate) fn finish(self) -> usize {
        for (i, count) in self.counts.iter().enumerate() {
            let at = 6 + 2 * i;
            self.buf[at..at + 2].copy_from_slice(&count.to_be_bytes());
        }
        self.buf.len()
    }

    /// Writes a name, pointing at an earlier copy of its longest known suffix.
    fn name(&mut self, wire: &[u8]) {
        let mut at = 0usize;
        while let Some(&len) = wire.get(at) {
            if len == 0 {
                break;
            }
            let suffix = &wire[at..];
            if let Some(target) = self.find_suffix(suffix) {
                self.buf.extend_from_slice(&(0xc000 | target).to_be_bytes());
                return;
            }
            if self.buf.len() <= MAX_POINTER {
                self.names.push(self.buf.len() as u16);
                if let Some(index) = &mut self.index {
                    index.insert(suffix.to_ascii_lowercase().into(), self.buf.len() as u16);
                }
            }
            let end = (at + 1 + len as usize).min(wire.len());
            self.buf.extend_from_slice(&wire[at..end]);
            at = end;
        }
        self.buf.push(0);
    }

    /// Offset of an already-written name equal to `suffix` (ASCII case-insensitive).
    fn find_suffix(&self, suffix: &[u8]) -> Option<u16> {
        if let Some(index) = &self.index {
            let mut lower = [0u8; 255];
            let lower = lower.get_mut(..suffix.len())?;
            lower.copy_from_slice(suffix);
            lower.make_ascii_lowercase();
            // Checked against the buffer: an entry may be from a rolled-back record.
            return index
                .get(&*lower)
                .copied()
                .filter(|&offset| usize::from(offset) < self.buf.len() && self.name_equals(offset as usize, suffix));
        }
        self.names
            .iter()
            .copied()
            .find(|&offset| self.name_equals(offset as usize, suffix))
    }

    /// Whether the (possibly compressed) name at `offset` equals `wire`.
    fn name_equals(&self, mut offset: usize, wire: &[u8]) -> bool {
        let mut at = 0usize;
        // Each hop strictly moves backwards, so this ends; bound it anyway.
        for _ in 0..256 {
            let Some(&len) = self.buf.get(offset) else {
                return false;
            };
            if len & 0xc0 == 0xc0 {
                let Some(&low) = self.buf.get(offset + 1) else {
                    return false;
                };
                offset = (((len & 0x3f) as usize) << 8) | low as usize;
                continue;
            }
            if wire.get(at) != Some(&len) {
                return false;
            }
            if len == 0 {
                return true;
            }
            let n = len as usize;
            let (Some(ours), Some(theirs)) = (self.buf.get(offset + 1..offset + 1 + n), wire.get(at + 1..at + 1 + n))
            else {
                return false;
            };
            if !ours.eq_ignore_ascii_case(theirs) {
                return false;
            }
            offset += 1 + n;
            at += 1 + n;
        }
        false
    }

    /// Writes RDATA, compressing the names of the types RFC 3597 4 allows.
    fn rdata(&mut self, rtype: u16, rdata: &[u8]) {
        let name_at = |at: usize| dns_wire::query::question_name_len(rdata.get(at..)?).map(|n| at + n);
        match rtype {
            rtype::NS | rtype::CNAME | rtype::PTR => {
                if let Some(end) = name_at(0).filter(|&end| end == rdata.len()) {
                    return self.name(&rdata[..end]);
                }
            }
            rtype::MX => {
                if let Some(end) = name_at(2).filter(|&end| end == rdata.len()) {
                    self.buf.extend_from_slice(&rdata[..2]);
                    return self.name(&rdata[2..end]);
                }
            }
            rtype::SOA => {
                if let Some(mname) = name_at(0)
                    && let Some(rname) = name_at(mname)
                {
                    self.name(&rdata[..mname]);
                    self.name(&rdata[mname..rname]);
                    self.buf.extend_from_slice(&rdata[rname..]);
                    return;
                }
            }
            _ => {}
        }
        self.buf.extend_from_slice(rdata);
    }
}

fn u16_at(m: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(at)?, *m.get(at + 1)?]))
}

/// Steps over a name, compressed or not.
fn skip_name(m: &[u8], mut at: usize) -> Option<usize> {
    for _ in 0..128 {
        match *m.get(at)? {
            0 => return Some(at + 1),
            len @ 1..=63 => at += 1 + usize::from(len),
            0xc0..=0xff => return Some(at + 2),
            _ => return None,
        }
    }
    None
}

/// Offset of the RDATA length of the message's OPT record, if it has one
/// (a query or one of our responses: at most one question, a few records).
pub(crate) fn opt_rdlen_at(m: &[u8]) -> Option<usize> {
    let qdcount = u16_at(m, 4)?;
    let records = u16_at(m, 6)?
        .saturating_add(u16_at(m, 8)?)
        .saturating_add(u16_at(m, 10)?);
    if qdcount > 1 {
        return None;
    }
    let mut at = HEADER_LEN;
    if qdcount == 1 {
        at = skip_name(m, at)? + 4;
    }
    // Each record read moves on by at least 11 bytes, so a count larger
    // than the message ends at the bounds check.
    for _ in 0..records {
        let rtype_at = skip_name(m, at)?;
        let rdlen_at = rtype_at + 8;
        let end = rdlen_at + 2 + usize::from(u16_at(m, rdlen_at)?);
        if end > m.len() {
            return None;
        }
        if u16_at(m, rtype_at)? == rtype::OPT {
            return Some(rdlen_at);
        }
        at = end;
    }
    None
}

/// Appends an option to the OPT record of `response`, which must be its
/// last record (ours always is: we sign nothing). Returns whether it was
/// added: a response without OPT (RFC 6891 6.1.1: no OPT, no options) or
/// one that would pass 65535 bytes is left as it is.
pub(crate) fn append_option(response: &mut Vec<u8>, code: u16, data: &[u8]) -> bool {
    let Some(rdlen_at) = opt_rdlen_at(response) else {
        return false;
    };
    let Some(rdlen) = u16_at(response, rdlen_at) else {
        return false;
    };
    let added = 4 + data.len();
    let new_rdlen = usize::from(rdlen) + added;
    if rdlen_at + 2 + usize::from(rdlen) != response.len()
        || response.len() + added > usize::from(u16::MAX)
        || new_rdlen > usize::from(u16::MAX)
    {
        return false;
    }
    response.extend_from_slice(&code.to_be_bytes());
    response.extend_from_slice(&(data.len() as u16).to_be_bytes());
    response.extend_from_slice(data);
    response[rdlen_at..rdlen_at + 2].copy_from_slice(&(new_rdlen as u16).to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const QNAME: &[u8] = b"\x03WWW\x07example\x03com\x00";

    #[test]
    fn an_indexed_writer_writes_the_same_bytes_as_a_scanning_one() {
        let owners: Vec<Vec<u8>> = (0..3000)
            .map(|i| {
                let label = format!("h{}", i % 700);
                let mut wire = vec![label.len() as u8];
                wire.extend_from_slice(label.as_bytes());
                if i % 3 == 0 {
                    wire.extend_from_slice(b"\x03Sub");
                }
                wire.extend_from_slice(b"\x07EXAMPLE\x03com\x00");
                wire
            })
            .collect();
        let write = |indexed: bool| {
            let mut buf = Vec::new();
            let mut w = Writer::new(&mut buf, 65535, 7, 0x8400, Some((QNAME, 252, 1)));
            if indexed {
                w.index_names();
            }
            for owner in &owners {
                // A CNAME, so that RDATA names are compressed too.
                if w.record(Section::Answer, owner, rtype::CNAME, 1, 60, owner).is_err() {
                    break;
                }
            }
            w.finish();
            buf
        };
        let (scanned, indexed) = (write(false), write(true));
        assert!(scanned.len() > 16_384, "past the reach of pointers: {}", scanned.len());
        assert_eq!(indexed, scanned);
    }

    #[test]
    fn answer_owner_points_at_the_question() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, 512, 7, 0x8400, Some((QNAME, 1, 1)));
        w.record(
            Section::Answer,
            b"\x03www\x07example\x03com\x00",
            1,
            1,
            300,
            &[192, 0, 2, 1],
        )
        .expect("fits");
        let len = w.finish();
        assert_eq!(
            &buf[HEADER_LEN + QNAME.len() + 4..][..2],
            &[0xc0, 12],
            "owner compressed to the qname"
        );
        assert_eq!(len, HEADER_LEN + QNAME.len() + 4 + 2 + 10 + 4);
        assert_eq!(&buf[6..8], &[0, 1], "ANCOUNT is 1");
    }

    #[test]
    fn rdata_names_compress_against_suffixes() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, 512, 7, 0x8400, Some((QNAME, 5, 1)));
        w.record(Section::Answer, QNAME, 5, 1, 60, b"\x04mail\x07example\x03com\x00")
            .expect("fits");
        w.finish();
        // CNAME RDATA: "mail" label then a pointer to "example.com" at offset 16.
        assert!(buf.ends_with(&[0, 7, 4, b'm', b'a', b'i', b'l', 0xc0, 16]), "{buf:?}");
    }

    #[test]
    fn an_option_goes_into_the_opt_record_at_the_end() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, 512, 7, 0x8400, Some((QNAME, 1, 1)));
        w.record(Section::Answer, QNAME, 1, 1, 300, &[192, 0, 2, 1])
            .expect("fits");
        w.opt(1232, 0, false, &[(3, b"pop1")]);
        w.finish();
        let before = buf.len();
        assert!(append_option(&mut buf, 10, &[1, 2, 3]));
        assert_eq!(buf.len(), before + 7);
        assert_eq!(&buf[before..], &[0, 10, 0, 3, 1, 2, 3]);
        let rdlen_at = opt_rdlen_at(&buf).expect("the OPT is still found");
        assert_eq!(u16_at(&buf, rdlen_at), Some(8 + 7), "NSID and the new option");

        let mut plain = Vec::new();
        Writer::new(&mut plain, 512, 7, 0x8400, Some((QNAME, 1, 1))).finish();
        let unchanged = plain.clone();
        assert!(!append_option(&mut plain, 10, &[1, 2, 3]), "no OPT, no option");
        assert_eq!(plain, unchanged);
    }

    #[test]
    fn a_record_over_the_limit_leaves_the_buffer_unchanged() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, 40, 7, 0x8400, Some((QNAME, 16, 1)));
        let before = w.len();
        assert_eq!(w.record(Section::Answer, QNAME, 16, 1, 60, &[7; 30]), Err(Full));
        assert_eq!(w.len(), before);
        assert_eq!(w.count(Section::Answer), 0);
    }
}
