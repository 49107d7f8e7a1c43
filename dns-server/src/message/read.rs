//! Reading other servers' responses: header, question and records, with
//! compressed names expanded (in owners and in the RDATA of the types whose
//! RDATA names may be compressed, RFC 3597 4), so records can be cached and
//! written again as if they came from a zone file.

use dns_wire::wire::{HEADER_LEN, MAX_NAME_LEN, rtype};

use super::Section;
use crate::name::Name;

/// Most compression pointers followed for one name; real names need a few.
const MAX_POINTERS: usize = 32;
/// Most records read from one message.
const MAX_RECORDS: usize = 512;

/// Why a message could not be read.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The message ends inside a field.
    #[error("message truncated")]
    Truncated,
    /// A name is malformed: bad label, pointer loop, too long.
    #[error("malformed name")]
    BadName,
    /// RDATA does not have the shape of its type.
    #[error("malformed rdata")]
    BadRdata,
    /// More records than we are willing to look at.
    #[error("too many records")]
    TooMany,
}

/// The header fields a resolver looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Message ID.
    pub id: u16,
    /// Flags word.
    pub flags: u16,
}

impl Header {
    /// The 4-bit RCODE.
    pub(crate) fn rcode(&self) -> u16 {
        self.flags & 0x000f
    }

    /// A flag from [`dns_wire::wire`].
    pub(crate) fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
}

/// One record read from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireRecord {
    /// Section it came from.
    pub section: Section,
    /// Owner, case as sent.
    pub owner: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// RDATA with names expanded.
    pub rdata: Vec<u8>,
}

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub header: Header,
    /// The question, if there was exactly one.
    pub question: Option<(Name, u16, u16)>,
    /// Answer, authority and additional records, OPT included.
    pub records: Vec<WireRecord>,
}

impl Message {
    /// Records of one section.
    pub(crate) fn section(&self, section: Section) -> impl Iterator<Item = &WireRecord> {
        self.records.iter().filter(move |r| r.section == section)
    }

    /// The EDNS extended RCODE combined with the header's, when OPT is present.
    pub(crate) fn rcode(&self) -> u16 {
        let high = self
            .records
            .iter()
            .find(|r| r.rtype == rtype::OPT)
            .map_or(0, |opt| (opt.ttl >> 24) as u16);
        (high << 4) | self.header.rcode()
    }
}

/// Reads a message.
pub(crate) fn parse(msg: &[u8]) -> Result<Message, ReadError> {
    parse_limited(msg, MAX_RECORDS)
}

/// Reads a message of at most `max_records` records (a zone transfer's
/// 64 KiB messages hold thousands).
pub(crate) fn parse_limited(msg: &[u8], max_records: usize) -> Result<Message, ReadError> {
    let head = head(msg, max_records)?;
    let mut records = Vec::with_capacity(head.record_count());
    let mut at = head.records_at;
    for (section, count) in head.sections() {
        for _ in 0..count {
            let (record, next) = read_record(msg, at, section)?;
            records.push(record);
            at = next;
        }
    }
    Ok(Message {
        header: head.header,
        question: head.question,
        records,
    })
}

/// A message's header and question; its records are read one at a time
/// with [`Head::each_record`].
pub(crate) struct Head {
    pub header: Header,
    /// Name, type and class.
    pub question: Option<(Name, u16, u16)>,
    /// Answer, authority and additional counts.
    counts: [u16; 3],
    /// Where the first record starts.
    records_at: usize,
}

/// One record as [`Head::each_record`] lends it: names expanded, nothing
/// allocated for it (a zone transfer brings millions).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordRef<'a> {
    pub section: Section,
    /// Owner in wire format, case as sent.
    pub owner: &'a [u8],
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// RDATA with its compressed names expanded.
    pub rdata: &'a [u8],
}

/// Reads the header and question of a message of at most `max_records` records.
pub(crate) fn head(msg: &[u8], max_records: usize) -> Result<Head, ReadError> {
    if msg.len() < HEADER_LEN {
        return Err(ReadError::Truncated);
    }
    let word = |at: usize| u16::from_be_bytes([msg[at], msg[at + 1]]);
    let header = Header {
        id: word(0),
        flags: word(2),
    };
    let counts = [word(4), word(6), word(8), word(10)];
    let total = counts[1] as usize + counts[2] as usize + counts[3] as usize;
    if counts[0] > 1 || total > max_records {
        return Err(ReadError::TooMany);
    }
    let mut at = HEADER_LEN;
    let mut question = None;
    if counts[0] == 1 {
        let (name, next) = read_name(msg, at)?;
        let fixed = msg.get(next..next + 4).ok_or(ReadError::Truncated)?;
        question = Some((
            name,
            u16::from_be_bytes([fixed[0], fixed[1]]),
            u16::from_be_bytes([fixed[2], fixed[3]]),
        ));
        at = next + 4;
    }
    Ok(Head {
        header,
        question,
        counts: [counts[1], counts[2], counts[3]],
        records_at: at,
    })
}

impl Head {
    fn record_count(&self) -> usize {
        self.counts.iter().map(|&c| usize::from(c)).sum()
    }

    fn sections(&self) -> [(Section, u16); 3] {
        [
            (Section::Answer, self.counts[0]),
            (Section::Authority, self.counts[1]),
            (Section::Additional, self.counts[2]),
        ]
    }

    /// Hands each record of `msg` (the message this head was read from)
    /// to `each`, in order, stopping at the first error.
    pub(crate) fn each_record<E: From<ReadError>>(
        &self,
        msg: &[u8],
        mut each: impl FnMut(RecordRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut owner = Vec::with_capacity(MAX_NAME_LEN);
        let mut rdata = Vec::with_capacity(512);
        let mut at = self.records_at;
        for (section, count) in self.sections() {
            for _ in 0..count {
                owner.clear();
                rdata.clear();
                at = read_name_into(msg, at, &mut owner)?;
                let fixed = msg.get(at..at + 10).ok_or(ReadError::Truncated)?;
                let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
                let class = u16::from_be_bytes([fixed[2], fixed[3]]);
                let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
                let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
                let (start, end) = (at + 10, at + 10 + len);
                if end > msg.len() {
                    return Err(ReadError::Truncated.into());
                }
                expand_rdata_into(msg, start, end, rtype, &mut rdata)?;
                at = end;
                each(RecordRef {
                    section,
                    owner: &owner,
                    rtype,
                    class,
                    ttl,
                    rdata: &rdata,
                })?;
            }
        }
        Ok(())
    }
}

fn read_record(msg: &[u8], at: usize, section: Section) -> Result<(WireRecord, usize), ReadError> {
    let (owner, at) = read_name(msg, at)?;
    let fixed = msg.get(at..at + 10).ok_or(ReadError::Truncated)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
    let start = at + 10;
    let end = start + len;
    if end > msg.len() {
        return Err(ReadError::Truncated);
    }
    let mut rdata = Vec::with_capacity(len + 16);
    expand_rdata_into(msg, start, end, rtype, &mut rdata)?;
    let record = WireRecord {
        section,
        owner,
        rtype,
        class,
        ttl,
        rdata,
    };
    Ok((record, end))
}

/// Appends RDATA to `out`, expanding the compressed names of the types that may have them.
fn expand_rdata_into(msg: &[u8], start: usize, end: usize, t: u16, out: &mut Vec<u8>) -> Result<(), ReadError> {
    // (bytes before the first name, names in a row, fixed bytes after).
    let layout: Option<(usize, usize)> = match t {
        rtype::NS | rtype::CNAME | rtype::PTR | rtype::DNAME => Some((0, 1)),
        rtype::MX => Some((2, 1)),
        rtype::SRV => Some((6, 1)),
        rtype::SOA => Some((0, 2)),
        _ => None,
    };
    let Some((prefix, names)) = layout else {
        out.extend_from_slice(&msg[start..end]);
        return Ok(());
    };
    out.extend_from_slice(msg.get(start..start + prefix).ok_or(ReadError::BadRdata)?);
    let mut at = start + prefix;
    for _ in 0..names {
        if at >= end {
            return Err(ReadError::BadRdata);
        }
        at = read_name_into(msg, at, out)?;
    }
    if at > end {
        return Err(ReadError::BadRdata);
    }
    out.extend_from_slice(&msg[at..end]);
    if t == rtype::SOA && msg[at..end].len() != 20 {
        return Err(ReadError::BadRdata);
    }
    Ok(())
}

/// Reads a possibly compressed name at `at`; returns it and the offset after it.
pub(crate) fn read_name(msg: &[u8], at: usize) -> Result<(Name, usize), ReadError> {
    let mut wire = Vec::with_capacity(64);
    let next = read_name_into(msg, at, &mut wire)?;
    Name::from_wire(&wire).map(|n| (n, next)).ok_or(ReadError::BadName)
}

/// Appends the possibly compressed name at `at` to `out`, uncompressed;
/// returns the offset after it.
fn read_name_into(msg: &[u8], mut at: usize, out: &mut Vec<u8>) -> Result<usize, ReadError> {
    let started = out.len();
    let mut after = None;
    let mut pointers = 0;
    loop {
        let len = *msg.get(at).ok_or(ReadError::Truncated)?;
        match len {
            0 => {
                out.push(0);
                break;
            }
            1..=63 => {
                let label = msg.get(at..at + 1 + len as usize).ok_or(ReadError::Truncated)?;
                out.extend_from_slice(label);
                if out.len() - started + 1 > MAX_NAME_LEN {
                    return Err(ReadError::BadName);
                }
                at += 1 + len as usize;
            }
            0xc0..=0xff => {
                let low = *msg.get(at + 1).ok_or(ReadError::Truncated)?;
                let target = (((len & 0x3f) as usize) << 8) | low as usize;
                // Pointers must go backwards: that and the count rule out loops.
                pointers += 1;
                if target >= at || pointers > MAX_POINTERS {
                    return Err(ReadError::BadName);
                }
                after.get_or_insert(at + 2);
                at = target;
            }
            _ => return Err(ReadError::BadName),
        }
    }
    Ok(after.unwrap_or(at + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Writer;

    #[test]
    fn reads_back_what_the_writer_compressed() {
        let q = Name::parse("www.example.com.", None).expect("name");
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, 512, 9, 0x8400, Some((q.as_wire(), rtype::MX, 1)));
        let mut mx = vec![0, 10];
        mx.extend_from_slice(Name::parse("mail.example.com.", None).expect("name").as_wire());
        w.record(Section::Answer, q.as_wire(), rtype::MX, 1, 300, &mx)
            .expect("fits");
        w.finish();
        let m = parse(&buf).expect("reads");
        assert_eq!(m.question, Some((q.clone(), rtype::MX, 1)));
        let r = &m.records[0];
        assert_eq!((r.owner.clone(), r.rtype, r.ttl), (q, rtype::MX, 300));
        assert_eq!(r.rdata, mx, "MX exchange expanded");
    }

    #[test]
    fn pointer_loops_and_truncation_are_errors() {
        // Header, then a name that points at itself.
        let mut msg = vec![0u8; 12];
        msg[5] = 1;
        msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse(&msg), Err(ReadError::BadName));
        let good = {
            let mut buf = Vec::new();
            let q = Name::parse("a.example.", None).expect("name");
            let mut w = Writer::new(&mut buf, 512, 1, 0x8000, Some((q.as_wire(), 1, 1)));
            w.record(Section::Answer, q.as_wire(), 1, 1, 5, &[1, 2, 3, 4])
                .expect("fits");
            w.finish();
            buf
        };
        for cut in 0..good.len() {
            assert!(parse(&good[..cut]).is_err(), "cut at {cut} must fail");
        }
        assert!(parse(&good).is_ok());
    }
}
