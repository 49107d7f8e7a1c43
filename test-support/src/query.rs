//! DNS queries built field by field (RFC 1035 4.1, RFC 6891 6.1.2), written
//! independently of the server's encoder. Raw escape hatches (`counts`,
//! `qname_wire`, `raw_options`, `tail`) express deliberately malformed messages.

/// Class IN.
pub const CLASS_IN: u16 = 1;
/// TYPE OPT.
const TYPE_OPT: u16 = 41;
/// TYPE SOA.
const TYPE_SOA: u16 = 6;
/// QTYPE IXFR.
const TYPE_IXFR: u16 = 251;
/// The RD flag in the flags word.
pub const FLAG_RD: u16 = 0x0100;
/// The CD flag in the flags word.
pub const FLAG_CD: u16 = 0x0010;

/// An OPT record (RFC 6891).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edns {
    /// Requestor's UDP payload size.
    pub payload: u16,
    /// The DO bit.
    pub dnssec_ok: bool,
    /// The options, already in wire form (code, length, data, ...): any bytes
    /// may stand here, malformed ones included.
    pub options: Vec<u8>,
}

/// A query message; `to_wire` gives its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Message ID.
    pub id: u16,
    /// Second and third header bytes (QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE).
    pub flags: u16,
    /// The question name in wire form (case kept); `None`: no question.
    pub qname: Option<Vec<u8>>,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// An OPT record in the additional section.
    pub edns: Option<Edns>,
    /// QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT as sent, when not those of the content.
    pub counts: Option<[u16; 4]>,
    /// Bytes appended after everything else (records by hand, junk).
    pub tail: Vec<u8>,
}

impl Query {
    /// A query for `qname` (dotted, case kept) and `qtype`, class IN, ID 0,
    /// no flags, no EDNS.
    pub fn new(qname: &str, qtype: u16) -> Query {
        Query {
            id: 0,
            flags: 0,
            qname: Some(encode_name(qname)),
            qtype,
            qclass: CLASS_IN,
            edns: None,
            counts: None,
            tail: Vec::new(),
        }
    }

    /// An IXFR query (RFC 1995 3) for the zone `qname` from the client's
    /// `serial`: the SOA in the authority section (its owner a pointer to the
    /// question, its names the root), no EDNS.
    pub fn ixfr(qname: &str, serial: u32) -> Query {
        let mut soa = vec![0xc0, 12];
        soa.extend_from_slice(&TYPE_SOA.to_be_bytes());
        soa.extend_from_slice(&CLASS_IN.to_be_bytes());
        soa.extend_from_slice(&0u32.to_be_bytes());
        soa.extend_from_slice(&22u16.to_be_bytes());
        soa.extend_from_slice(&[0, 0]);
        soa.extend_from_slice(&serial.to_be_bytes());
        soa.extend_from_slice(&[0; 16]);
        Query::new(qname, TYPE_IXFR).counts([1, 0, 1, 0]).tail(&soa)
    }

    /// Sets the message ID.
    pub fn id(mut self, id: u16) -> Query {
        self.id = id;
        self
    }

    /// Sets the whole flags word.
    pub fn flags(mut self, flags: u16) -> Query {
        self.flags = flags;
        self
    }

    /// Sets RD (recursion desired).
    pub fn rd(mut self) -> Query {
        self.flags |= FLAG_RD;
        self
    }

    /// Sets the opcode bits.
    pub fn opcode(mut self, opcode: u8) -> Query {
        self.flags = (self.flags & !0x7800) | (u16::from(opcode) << 11);
        self
    }

    /// Sets QCLASS.
    pub fn class(mut self, qclass: u16) -> Query {
        self.qclass = qclass;
        self
    }

    /// Replaces the question name with `wire` as given (malformed names too).
    pub fn qname_wire(mut self, wire: &[u8]) -> Query {
        self.qname = Some(wire.to_vec());
        self
    }

    /// Adds an OPT record advertising `payload`, DO clear, no options.
    pub fn edns(mut self, payload: u16) -> Query {
        self.edns = Some(Edns {
            payload,
            dnssec_ok: false,
            options: Vec::new(),
        });
        self
    }

    /// Sets the DO bit (adding an OPT record of 1232 bytes if there is none).
    pub fn dnssec_ok(mut self) -> Query {
        self.opt().dnssec_ok = true;
        self
    }

    /// Appends an EDNS option (adding an OPT record of 1232 bytes if there is none).
    pub fn option(mut self, code: u16, data: &[u8]) -> Query {
        let len = u16::try_from(data.len()).expect("an option fits in an OPT record");
        let options = &mut self.opt().options;
        options.extend_from_slice(&code.to_be_bytes());
        options.extend_from_slice(&len.to_be_bytes());
        options.extend_from_slice(data);
        self
    }

    /// Appends `bytes` to the OPT record's RDATA as they are (malformed options too).
    pub fn raw_options(mut self, bytes: &[u8]) -> Query {
        self.opt().options.extend_from_slice(bytes);
        self
    }

    /// Sends these section counts instead of the content's.
    pub fn counts(mut self, counts: [u16; 4]) -> Query {
        self.counts = Some(counts);
        self
    }

    /// Appends `bytes` after the message.
    pub fn tail(mut self, bytes: &[u8]) -> Query {
        self.tail.extend_from_slice(bytes);
        self
    }

    fn opt(&mut self) -> &mut Edns {
        self.edns.get_or_insert_with(|| Edns {
            payload: 1232,
            dnssec_ok: false,
            options: Vec::new(),
        })
    }

    /// The message in wire format.
    pub fn to_wire(&self) -> Vec<u8> {
        let counts = self
            .counts
            .unwrap_or([u16::from(self.qname.is_some()), 0, 0, u16::from(self.edns.is_some())]);
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for count in counts {
            out.extend_from_slice(&count.to_be_bytes());
        }
        if let Some(qname) = &self.qname {
            out.extend_from_slice(qname);
            out.extend_from_slice(&self.qtype.to_be_bytes());
            out.extend_from_slice(&self.qclass.to_be_bytes());
        }
        if let Some(edns) = &self.edns {
            out.push(0); // the root as owner
            out.extend_from_slice(&TYPE_OPT.to_be_bytes());
            out.extend_from_slice(&edns.payload.to_be_bytes());
            // Extended RCODE, version, then the flags with DO first.
            out.extend_from_slice(&[0, 0, if edns.dnssec_ok { 0x80 } else { 0 }, 0]);
            let rdlen = u16::try_from(edns.options.len()).expect("options fit in an OPT record");
            out.extend_from_slice(&rdlen.to_be_bytes());
            out.extend_from_slice(&edns.options);
        }
        out.extend_from_slice(&self.tail);
        out
    }
}

/// A dotted name in uncompressed wire format, case kept; empty labels (a
/// trailing dot, or "." for the root) are skipped.
pub fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(u8::try_from(label.len()).expect("test labels are short"));
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_query() {
        assert_eq!(
            Query::new("a.bc.", 1).id(0x1234).rd().to_wire(),
            [
                0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 1, 0, 1
            ]
        );
    }

    #[test]
    fn edns_with_do_and_an_option() {
        let q = Query::new("Ab", 16).edns(4096).dnssec_ok().option(3, &[]).to_wire();
        assert_eq!(q[11], 1, "ARCOUNT");
        assert_eq!(&q[12..16], &[2, b'A', b'b', 0], "case kept");
        assert_eq!(
            &q[20..],
            &[0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 4, 0, 3, 0, 0],
            "OPT: payload 4096, DO, one empty NSID option"
        );
    }

    #[test]
    fn raw_counts_and_no_question() {
        let mut q = Query::new("x", 1).counts([1, 0, 0, 1]);
        q.qname = None;
        assert_eq!(q.to_wire(), [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(encode_name("."), [0]);
    }
}
