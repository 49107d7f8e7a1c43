//! Parsing of an incoming DNS query: header, the single question, and EDNS.
//!
//! The parser never allocates, never panics and reads every byte through a
//! bounds check; loops are bounded by the protocol's own limits. Its result
//! says what the server must do: answer, answer with an error code, or drop.

use crate::cookie::{Cookie, CookieOption};
use crate::wire::{self, EDNS_DO, HEADER_LEN, MAX_LABEL_LEN, MAX_NAME_LEN, ascii_lower, edns_option, rtype};

/// Most records looked at in a query's answer, authority and additional
/// sections together; real queries carry at most an OPT and a TSIG.
const MAX_EXTRA_RECORDS: u16 = 8;
/// Most EDNS options looked at in one OPT record.
const MAX_EDNS_OPTIONS: usize = 16;
/// Most labels a name can have (255 bytes of one-byte labels).
const MAX_LABELS: usize = 128;

/// The EDNS(0) parameters a query carried in its OPT record (RFC 6891).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns {
    /// The requester's UDP payload size, as sent (may be below 512).
    pub udp_payload: u16,
    /// EDNS version; anything but 0 gets BADVERS.
    pub version: u8,
    /// The DO bit: the client wants DNSSEC records.
    pub dnssec_ok: bool,
    /// The client asked for our NSID (RFC 5001).
    pub nsid: bool,
    /// The client asked for the zone's EXPIRE (RFC 7314).
    pub expire: bool,
}

/// A well-formed query, borrowed from the packet it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query<'a> {
    /// Message ID, echoed in the response.
    pub id: u16,
    /// The header's flags word as received.
    pub flags: u16,
    /// The question's name in wire format, case as received.
    pub qname: &'a [u8],
    /// The question's type.
    pub qtype: u16,
    /// The question's class.
    pub qclass: u16,
    /// Offset just past the question section.
    pub question_end: usize,
    /// The OPT record, when the query had one.
    pub edns: Option<Edns>,
    /// The OPT record's first COOKIE option (RFC 7873 5.2: later ones are
    /// ignored). Kept apart from [`Edns`], which is shared by every client
    /// asking alike (cache keys, the XDP maps): a cookie is one client's.
    pub cookie: CookieOption,
    /// The query carries a TSIG record (we hold no keys).
    pub has_tsig: bool,
}

impl Query<'_> {
    /// The OPCODE field.
    pub fn opcode(&self) -> u8 {
        ((self.flags & wire::OPCODE_MASK) >> 11) as u8
    }
}

/// Why a packet is not a query the server can answer normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// Shorter than a DNS header: nothing to answer, drop it.
    TooShort,
    /// QR is set: a response aimed at us (reflection), drop it.
    NotAQuery,
    /// The header is readable but the rest is not; answer FORMERR.
    Malformed {
        /// The query's ID, for the FORMERR response.
        id: u16,
        /// The query's flags, for the FORMERR response.
        flags: u16,
    },
    /// QDCOUNT is more than 1 (answer FORMERR, RFC 9619).
    QuestionCount {
        /// The query's ID.
        id: u16,
        /// The query's flags.
        flags: u16,
    },
    /// QDCOUNT is 0 and the rest reads well: with a COOKIE option, a query
    /// for a server cookie (RFC 7873 5.4: NOERROR and the cookie); without
    /// one, FORMERR.
    NoQuestion {
        /// The query's ID.
        id: u16,
        /// The query's flags.
        flags: u16,
        /// Its OPT record's parameters.
        edns: Option<Edns>,
        /// Its COOKIE option.
        cookie: CookieOption,
    },
}

#[inline(always)]
fn u16_at(p: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]))
}

/// Parses a query from the start of a UDP payload or a TCP message.
pub fn parse(p: &[u8]) -> Result<Query<'_>, QueryError> {
    if p.len() < HEADER_LEN {
        return Err(QueryError::TooShort);
    }
    let id = u16::from_be_bytes([p[0], p[1]]);
    let flags = u16::from_be_bytes([p[2], p[3]]);
    if flags & wire::FLAG_QR != 0 {
        return Err(QueryError::NotAQuery);
    }
    let malformed = QueryError::Malformed { id, flags };
    let qdcount = u16::from_be_bytes([p[4], p[5]]);
    if qdcount > 1 {
        return Err(QueryError::QuestionCount { id, flags });
    }
    let ancount = u16::from_be_bytes([p[6], p[7]]);
    let nscount = u16::from_be_bytes([p[8], p[9]]);
    let arcount = u16::from_be_bytes([p[10], p[11]]);

    // Without a question the records start at the header's end; the other
    // fields stay empty and the query is returned as `NoQuestion`.
    let (qname, qtype, qclass, question_end) = if qdcount == 0 {
        (&p[HEADER_LEN..HEADER_LEN], 0, 0, HEADER_LEN)
    } else {
        let name_len = question_name_len(&p[HEADER_LEN..]).ok_or(malformed)?;
        let at = HEADER_LEN + name_len;
        let qtype = u16_at(p, at).ok_or(malformed)?;
        let qclass = u16_at(p, at + 2).ok_or(malformed)?;
        (&p[HEADER_LEN..at], qtype, qclass, at + 4)
    };

    let extra = ancount.saturating_add(nscount).saturating_add(arcount);
    if extra > MAX_EXTRA_RECORDS {
        return Err(malformed);
    }
    let mut query = Query {
        id,
        flags,
        qname,
        qtype,
        qclass,
        question_end,
        edns: None,
        cookie: CookieOption::Absent,
        has_tsig: false,
    };
    let mut at = question_end;
    for index in 0..extra {
        let in_additional = index >= ancount + nscount;
        at = read_record(p, at, in_additional, &mut query).ok_or(malformed)?;
    }
    if at != p.len() {
        // Trailing garbage: Knot and NSD both refuse to guess.
        return Err(malformed);
    }
    if qdcount == 0 {
        return Err(QueryError::NoQuestion {
            id,
            flags,
            edns: query.edns,
            cookie: query.cookie,
        });
    }
    Ok(query)
}

/// Length of the uncompressed name at the start of `p`, root label included.
/// Compression pointers are refused: the question is the first name in a
/// query, so a pointer could only point into the header.
pub fn question_name_len(p: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    for _ in 0..MAX_LABELS {
        let len = *p.get(at)? as usize;
        if len == 0 {
            return Some(at + 1);
        }
        if len > MAX_LABEL_LEN {
            return None;
        }
        at += 1 + len;
        if at + 1 > MAX_NAME_LEN {
            return None;
        }
    }
    None
}

/// Skips a possibly compressed name in a record owner position.
fn skip_name(p: &[u8], mut at: usize) -> Option<usize> {
    for _ in 0..MAX_LABELS {
        let len = *p.get(at)?;
        match len {
            0 => return Some(at + 1),
            1..=63 => at += 1 + len as usize,
            0xc0..=0xff => {
                p.get(at + 1)?;
                return Some(at + 2);
            }
            _ => return None,
        }
    }
    None
}

/// Reads one record after the question; notes OPT and TSIG.
fn read_record(p: &[u8], at: usize, in_additional: bool, q: &mut Query<'_>) -> Option<usize> {
    let owner_is_root = *p.get(at)? == 0;
    let at_type = skip_name(p, at)?;
    let rr_type = u16_at(p, at_type)?;
    let class = u16_at(p, at_type + 2)?;
    let ttl_hi = u16_at(p, at_type + 4)?;
    let ttl_lo = u16_at(p, at_type + 6)?;
    let rdlen = u16_at(p, at_type + 8)? as usize;
    let rdata = at_type + 10;
    let end = rdata + rdlen;
    if end > p.len() {
        return None;
    }
    match rr_type {
        rtype::OPT => {
            // One OPT, in the additional section, owned by the root (RFC 6891 6.1.1).
            if !in_additional || !owner_is_root || q.edns.is_some() {
                return None;
            }
            let options = read_options(&p[rdata..end])?;
            q.edns = Some(Edns {
                udp_payload: class,
                version: (ttl_hi & 0xff) as u8,
                dnssec_ok: ttl_lo & EDNS_DO != 0,
                nsid: options.nsid,
                expire: options.expire,
            });
            q.cookie = options.cookie;
        }
        rtype::TSIG if in_additional => q.has_tsig = true,
        _ => {}
    }
    Some(end)
}

/// The EDNS options the server acts on.
struct Options {
    nsid: bool,
    expire: bool,
    cookie: CookieOption,
}

/// Reads the OPT RDATA's options; `None` when it is malformed.
fn read_options(mut options: &[u8]) -> Option<Options> {
    let mut found = Options {
        nsid: false,
        expire: false,
        cookie: CookieOption::Absent,
    };
    for _ in 0..MAX_EDNS_OPTIONS {
        if options.is_empty() {
            return Some(found);
        }
        let code = u16_at(options, 0)?;
        let len = u16_at(options, 2)? as usize;
        let data = options.get(4..4 + len)?;
        match code {
            edns_option::NSID => found.nsid = true,
            edns_option::EXPIRE => found.expire = true,
            edns_option::COOKIE if found.cookie == CookieOption::Absent => {
                found.cookie = match Cookie::parse(data) {
                    Some(cookie) => CookieOption::Present(cookie),
                    None => CookieOption::Malformed,
                };
            }
            _ => {}
        }
        options = &options[4 + len..];
    }
    if options.is_empty() { Some(found) } else { None }
}

/// Writes the lower-cased copy of a wire-format name into `out`; returns its length.
pub fn lowercase_name(name: &[u8], out: &mut [u8; MAX_NAME_LEN]) -> usize {
    let len = if name.len() < MAX_NAME_LEN {
        name.len()
    } else {
        MAX_NAME_LEN
    };
    for i in 0..len {
        out[i] = ascii_lower(name[i]);
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query (ID 0x1234, RD) for the wire name `name`, with `extra`
    /// after the question and `arcount` said for it, from test-support's builder.
    fn query(name: &[u8], qtype: u16, extra: &[u8], arcount: u16) -> std::vec::Vec<u8> {
        test_support::Query::new(".", qtype)
            .qname_wire(name)
            .id(0x1234)
            .rd()
            .counts([1, 0, 0, arcount])
            .tail(extra)
            .to_wire()
    }

    fn len_of(name: &[u8], extra: &[u8]) -> usize {
        12 + name.len() + 4 + extra.len()
    }

    const WWW: &[u8] = b"\x03WwW\x07example\x03com\x00";
    const OPT_DO_NSID: &[u8] = &[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 4, 0, 3, 0, 0];

    #[test]
    fn plain_query() {
        let buf = query(WWW, 1, &[], 0);
        let q = parse(&buf[..len_of(WWW, &[])]).expect("a plain query parses");
        assert_eq!(q.id, 0x1234);
        assert_eq!(q.qname, WWW);
        assert_eq!((q.qtype, q.qclass), (1, 1));
        assert_eq!(q.edns, None);
        assert_eq!(q.opcode(), 0);
    }

    #[test]
    fn edns_with_do_and_nsid() {
        let buf = query(WWW, 28, OPT_DO_NSID, 1);
        let q = parse(&buf[..len_of(WWW, OPT_DO_NSID)]).expect("an EDNS query parses");
        let edns = q.edns.expect("OPT is seen");
        assert_eq!(edns.udp_payload, 1232);
        assert!(edns.dnssec_ok && edns.nsid);
        assert!(!edns.expire, "expected no EXPIRE without the option");
        assert_eq!(edns.version, 0);
    }

    #[test]
    fn the_expire_option_is_flagged() {
        let opt: &[u8] = &[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 4, 0, 9, 0, 0];
        let buf = query(WWW, 6, opt, 1);
        let q = parse(&buf[..len_of(WWW, opt)]).expect("an EXPIRE query parses");
        assert!(q.edns.expect("OPT").expire, "expected EXPIRE (RFC 7314) to be flagged");
    }

    #[test]
    fn cookies_are_read_from_the_opt_record() {
        // OPT with NSID, then a COOKIE of 8 bytes, then a second COOKIE (ignored).
        let mut opt = [0u8; 11 + 4 + 12 + 9];
        opt[..11].copy_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 25]);
        opt[11..15].copy_from_slice(&[0, 3, 0, 0]);
        opt[15..19].copy_from_slice(&[0, 10, 0, 8]);
        opt[19..27].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        opt[27..31].copy_from_slice(&[0, 10, 0, 5]);
        let opt = &opt[..];
        let buf = query(WWW, 1, opt, 1);
        let q = parse(&buf[..len_of(WWW, opt)]).expect("a cookie query parses");
        assert!(q.edns.expect("OPT").nsid);
        let CookieOption::Present(cookie) = q.cookie else {
            panic!("expected the first COOKIE option, got {:?}", q.cookie);
        };
        assert_eq!(cookie.client, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(cookie.server().is_empty());

        let short = [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 9, 0, 10, 0, 5, 1, 2, 3, 4, 5];
        let buf = query(WWW, 1, &short, 1);
        let q = parse(&buf[..len_of(WWW, &short)]).expect("a malformed cookie still parses as a query");
        assert_eq!(
            q.cookie,
            CookieOption::Malformed,
            "5 bytes is malformed (RFC 7873 5.2.2)"
        );

        let buf = query(WWW, 1, OPT_DO_NSID, 1);
        let q = parse(&buf[..len_of(WWW, OPT_DO_NSID)]).expect("parses");
        assert_eq!(q.cookie, CookieOption::Absent);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let buf = query(WWW, 28, OPT_DO_NSID, 1);
        let full = len_of(WWW, OPT_DO_NSID);
        for cut in 0..full {
            assert!(parse(&buf[..cut]).is_err(), "a query cut at {cut} bytes must not parse");
        }
    }

    #[test]
    fn responses_and_short_packets_are_dropped() {
        let mut buf = query(WWW, 1, &[], 0);
        buf[2] |= 0x80;
        assert_eq!(parse(&buf[..len_of(WWW, &[])]), Err(QueryError::NotAQuery));
        assert_eq!(parse(&buf[..11]), Err(QueryError::TooShort));
    }

    #[test]
    fn bad_names_are_malformed() {
        for name in [&b"\x40aaaa\x00"[..], b"\xc0\x0c", b"\x03www"] {
            let buf = query(name, 1, &[], 0);
            let got = parse(&buf[..len_of(name, &[])]);
            assert!(
                matches!(got, Err(QueryError::Malformed { .. })),
                "{name:?} gave {got:?}"
            );
        }
        // A name one byte longer than 255.
        let mut long = [0u8; 257];
        let mut at = 0;
        while at + 64 <= 256 {
            long[at] = 63;
            at += 64;
        }
        long[at] = 0;
        assert_eq!(question_name_len(&long[..at + 1]), None, "a 257-byte name is refused");
    }

    #[test]
    fn two_opt_records_are_malformed() {
        let mut two = [0u8; 30];
        two[..15].copy_from_slice(OPT_DO_NSID);
        two[15..].copy_from_slice(OPT_DO_NSID);
        let buf = query(WWW, 1, &two, 2);
        assert!(matches!(
            parse(&buf[..len_of(WWW, &two)]),
            Err(QueryError::Malformed { .. })
        ));
    }

    #[test]
    fn question_count_must_be_one() {
        let mut buf = query(WWW, 1, &[], 0);
        buf[5] = 2;
        assert!(matches!(
            parse(&buf[..len_of(WWW, &[])]),
            Err(QueryError::QuestionCount { .. })
        ));
    }

    #[test]
    fn no_question_is_read_for_its_cookie() {
        // QDCOUNT 0, ARCOUNT 1: an OPT with a client cookie (RFC 7873 5.4).
        let mut msg = [0u8; 35];
        msg[..12].copy_from_slice(&[0xab, 0xcd, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 1]);
        msg[12..27].copy_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8]);
        msg[27..].copy_from_slice(b"clientck");
        match parse(&msg) {
            Err(QueryError::NoQuestion {
                id: 0xabcd,
                edns: Some(e),
                cookie: CookieOption::Present(c),
                ..
            }) => {
                assert_eq!(e.udp_payload, 1232);
                assert_eq!(&c.client, b"clientck");
            }
            other => panic!("expected a cookie-only query, got {other:?}"),
        }
        // Header only: no OPT, no cookie.
        let mut bare = [0u8; HEADER_LEN];
        bare.copy_from_slice(&msg[..HEADER_LEN]);
        bare[11] = 0;
        assert!(matches!(
            parse(&bare),
            Err(QueryError::NoQuestion {
                edns: None,
                cookie: CookieOption::Absent,
                ..
            })
        ));
        // Records that do not read are malformed, as with a question.
        assert!(matches!(
            parse(&msg[..msg.len() - 1]),
            Err(QueryError::Malformed { .. })
        ));
    }
}
