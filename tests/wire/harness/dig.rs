//! The `dig` runner and a parser for its output: header, flags, OPT, and normalized records.

use std::{
    collections::BTreeSet,
    fmt,
    process::{Command, Stdio},
};

/// Options every query gets so the output is stable and shows what the server sent:
/// no recursion wanted, no client cookie, keep a truncated answer instead of retrying
/// over TCP, keep BADVERS instead of retrying with EDNS 0, one try.
const DIG_DEFAULTS: &[&str] = &[
    "+norecurse",
    "+nocookie",
    "+ignore",
    "+noednsneg",
    "+nocmd",
    "+nostats",
    "+tries=1",
    "+time=2",
];

/// Runs dig and panics, showing the server's log, when nothing answers.
pub(crate) fn dig_or_panic(who: &str, addr: &str, port: u16, args: &[&str], log: impl Fn() -> String) -> Response {
    try_dig(addr, port, args).unwrap_or_else(|| {
        panic!(
            "expected {who} on {addr} port {port} to answer `dig {}`; its log:\n{}",
            args.join(" "),
            log()
        )
    })
}

/// Runs `dig @addr -p port <defaults> args`; `None` when no answer came back.
/// Later options win in dig, so `args` may override the defaults (`+recurse`, `+cookie`...).
pub fn try_dig(addr: &str, port: u16, args: &[&str]) -> Option<Response> {
    let output = Command::new("dig")
        .arg(format!("@{addr}"))
        .args(["-p", &port.to_string()])
        .args(DIG_DEFAULTS)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("expected to run dig (is bind9-dnsutils installed?)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    Response::parse(&text)
}

/// The `dig` runner's view of a response.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// `QUERY`, `NOTIFY`, `UPDATE`...
    pub opcode: String,
    /// `NOERROR`, `NXDOMAIN`, `BADVERS`...
    pub rcode: String,
    /// Message ID.
    pub id: u16,
    /// Header flags that are set: `qr aa tc rd ra ad cd`.
    pub flags: BTreeSet<String>,
    /// The four counts (QUERY, ANSWER, AUTHORITY, ADDITIONAL) from the header.
    pub counts: Vec<u16>,
    /// The OPT record, if any.
    pub edns: Option<Edns>,
    /// Question lines as sent back (case kept): `name class type`.
    pub question: Vec<String>,
    /// Answer section records.
    pub answer: Vec<Record>,
    /// Authority section records.
    pub authority: Vec<Record>,
    /// Additional section records (the OPT record is in `edns`).
    pub additional: Vec<Record>,
    /// dig's output, for failure messages.
    pub text: String,
}

/// The OPT pseudo-record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edns {
    /// EDNS version.
    pub version: u8,
    /// EDNS flags that are set (`do`).
    pub flags: BTreeSet<String>,
    /// Advertised UDP payload size.
    pub udp: u16,
    /// NSID option payload as text, if present.
    pub nsid: Option<String>,
    /// Extended DNS error code, if present.
    pub ede: Option<u16>,
    /// The COOKIE option (RFC 7873) in hex, client cookie first, if present.
    pub cookie: Option<String>,
}

/// One resource record as dig prints it, owner lowercased, rdata whitespace-normalized.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Record {
    /// Owner name, lowercase, absolute.
    pub owner: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// `IN`, `CH`...
    pub class: String,
    /// `A`, `TYPE65534`...
    pub rtype: String,
    /// Presentation rdata, fields separated by one space.
    pub rdata: String,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {}",
            self.owner, self.ttl, self.class, self.rtype, self.rdata
        )
    }
}

impl Record {
    /// One record line of dig's or kdig's output.
    pub(crate) fn parse(line: &str) -> Option<Record> {
        let mut fields = line.split_whitespace();
        let owner = fields.next()?.to_ascii_lowercase();
        let ttl = fields.next()?.parse().ok()?;
        let class = fields.next()?.to_string();
        let rtype = fields.next()?.to_string();
        let rdata = fields.collect::<Vec<_>>().join(" ");
        Some(Record {
            owner,
            ttl,
            class,
            rtype,
            rdata,
        })
    }
}

#[derive(Clone, Copy)]
enum Section {
    None,
    Question,
    Answer,
    Authority,
    Additional,
}

impl Response {
    /// Parses `dig +nocmd +nostats` output; `None` when it holds no response header.
    pub fn parse(text: &str) -> Option<Response> {
        let mut r = Response {
            text: text.to_string(),
            ..Response::default()
        };
        let mut seen_header = false;
        let mut section = Section::None;
        for line in text.lines() {
            let line = line.trim_end();
            if let Some(rest) = line.strip_prefix(";; ->>HEADER<<- ") {
                seen_header = true;
                for part in rest.split(", ") {
                    match part.split_once(": ") {
                        Some(("opcode", v)) => r.opcode = v.to_string(),
                        Some(("status", v)) => r.rcode = v.to_string(),
                        Some(("id", v)) => r.id = v.parse().unwrap_or(0),
                        _ => {}
                    }
                }
            } else if let Some(rest) = line.strip_prefix(";; flags:") {
                let (flags, counts) = rest.split_once(';').unwrap_or((rest, ""));
                r.flags = flags.split_whitespace().map(str::to_string).collect();
                r.counts = counts
                    .split(',')
                    .filter_map(|c| c.rsplit_once(':').and_then(|(_, n)| n.trim().parse().ok()))
                    .collect();
            } else if let Some(rest) = line.strip_prefix("; EDNS: ") {
                r.edns = Some(parse_edns(rest));
            } else if let Some(rest) = line.strip_prefix("; NSID: ") {
                if let Some(edns) = r.edns.as_mut() {
                    edns.nsid = Some(parse_hex_text(rest));
                }
            } else if let Some(rest) = line.strip_prefix("; COOKIE: ") {
                if let Some(edns) = r.edns.as_mut() {
                    edns.cookie = rest.split_whitespace().next().map(str::to_ascii_lowercase);
                }
            } else if let Some(rest) = line.strip_prefix("; EDE: ") {
                if let Some(edns) = r.edns.as_mut() {
                    edns.ede = rest.split_whitespace().next().and_then(|c| c.parse().ok());
                }
            } else if line.ends_with(" SECTION:") && line.starts_with(";; ") {
                section = match line {
                    ";; QUESTION SECTION:" | ";; ZONE SECTION:" => Section::Question,
                    ";; ANSWER SECTION:" | ";; PREREQUISITE SECTION:" => Section::Answer,
                    ";; AUTHORITY SECTION:" | ";; UPDATE SECTION:" => Section::Authority,
                    ";; ADDITIONAL SECTION:" => Section::Additional,
                    _ => Section::None,
                };
            } else if line.is_empty() || line.starts_with(";;") {
                section = Section::None;
            } else {
                match section {
                    Section::Question => {
                        let q = line.trim_start_matches(';');
                        r.question.push(q.split_whitespace().collect::<Vec<_>>().join(" "));
                    }
                    Section::Answer | Section::Authority | Section::Additional => {
                        let Some(record) = Record::parse(line) else {
                            continue;
                        };
                        match section {
                            Section::Answer => r.answer.push(record),
                            Section::Authority => r.authority.push(record),
                            _ => r.additional.push(record),
                        }
                    }
                    Section::None => {}
                }
            }
        }
        seen_header.then_some(r)
    }

    /// True when the header flag (`qr`, `aa`, `tc`...) is set.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(name)
    }
}

/// `version: 0, flags: do; udp: 1232`
fn parse_edns(rest: &str) -> Edns {
    let mut edns = Edns::default();
    for part in rest.split([',', ';']) {
        match part.trim().split_once(':') {
            Some(("version", v)) => edns.version = v.trim().parse().unwrap_or(u8::MAX),
            Some(("flags", v)) => edns.flags = v.split_whitespace().map(str::to_string).collect(),
            Some(("udp", v)) => edns.udp = v.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    edns
}

/// `6b 6e 6f 74 ("knot")` → `knot`, decoded from the hex so dig's quoting does not matter.
fn parse_hex_text(rest: &str) -> String {
    let hex = rest.split('(').next().unwrap_or(rest);
    let bytes: Vec<u8> = hex
        .split_whitespace()
        .filter_map(|b| u8::from_str_radix(b, 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOT_NSID: &str = ";; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 49518
;; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 1, ADDITIONAL: 2

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags: do; udp: 1232
; NSID: 6e 73 64 2d 74 65 73 74 (\"nsd-test\")
; EDE: 20 (Not Authoritative)
;; QUESTION SECTION:
;WwW.diff.example.\t\t\tIN\tTXT

;; ANSWER SECTION:
WwW.diff.example.\t3600\tIN\tTXT\t\"v=spf1  -all\" \"two\"

;; AUTHORITY SECTION:
diff.example.\t\t3600\tIN\tNS\tns1.diff.example.

;; ADDITIONAL SECTION:
ns1.diff.example.\t3600\tIN\tA\t192.0.2.53
";

    #[test]
    fn dig_output_is_parsed_into_header_opt_and_sections() {
        let r = Response::parse(KNOT_NSID).expect("expected the sample to parse");
        assert_eq!((r.opcode.as_str(), r.rcode.as_str(), r.id), ("QUERY", "NOERROR", 49518));
        assert_eq!(r.flags, ["aa", "qr", "rd"].map(String::from).into());
        assert_eq!(r.counts, [1, 1, 1, 2]);
        let edns = r.edns.as_ref().expect("expected an OPT record");
        assert_eq!(
            (edns.version, edns.udp, edns.nsid.as_deref(), edns.ede),
            (0, 1232, Some("nsd-test"), Some(20))
        );
        assert!(edns.flags.contains("do"));
        assert_eq!(r.question, ["WwW.diff.example. IN TXT"]);
        assert_eq!(
            r.answer[0].to_string(),
            "www.diff.example. 3600 IN TXT \"v=spf1 -all\" \"two\""
        );
        assert_eq!(r.authority[0].rdata, "ns1.diff.example.");
        assert_eq!(r.additional[0].rtype, "A");
    }

    #[test]
    fn no_header_means_no_response() {
        assert!(Response::parse(";; communications error to 127.0.0.1#1: connection refused\n").is_none());
    }
}
