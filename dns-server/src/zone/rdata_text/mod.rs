//! Presentation-format RDATA (RFC 1035 5.1 and each type's RFC) to uncompressed wire format, and back ([`write`]).

use data_encoding::HEXUPPER_PERMISSIVE;
use dns_wire::wire::rtype;

use crate::name::Name;

mod fields;
mod loc;
mod svcb;
pub(crate) mod write;

use fields::Fields;

/// One presentation-format field as the master-file reader split it.
///
/// Escapes (`\.`, `\"`, `\DDD`) are still in `text`, because only the type's
/// parser knows whether the field is a name or a character-string; the quotes
/// around a quoted field are gone. The field is bytes as the file has them:
/// character-strings take any byte, every other field must be text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    /// The field, escapes kept.
    pub text: &'a [u8],
    /// Whether it was written between double quotes (`"\#"` is text, `\#` is RFC 3597).
    pub quoted: bool,
}

impl<'a> From<&'a str> for Token<'a> {
    fn from(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            quoted: false,
        }
    }
}

impl<'a> Token<'a> {
    /// The field as text, for every field that is not a character-string.
    pub(crate) fn str(&self) -> Result<&'a str, String> {
        std::str::from_utf8(self.text).map_err(|_| {
            format!(
                "{} is not text: only character-strings may hold such bytes",
                self.show()
            )
        })
    }

    /// The field quoted for a message, any byte that is not UTF-8 shown as U+FFFD.
    pub(crate) fn show(&self) -> String {
        format!("{:?}", String::from_utf8_lossy(self.text))
    }
}

/// A domain name field (or owner), made absolute against `origin`. Bytes
/// outside ASCII are refused, as Knot refuses them: their meaning depends on
/// the file's encoding.
pub(crate) fn name(token: &Token<'_>, origin: &Name) -> Result<Name, String> {
    if !token.text.is_ascii() {
        return Err(format!(
            "{} holds a byte outside ASCII (write an internationalized name as its xn-- labels)",
            token.show()
        ));
    }
    Name::parse(token.str()?, Some(origin)).map_err(|e| e.to_string())
}

/// Type codes this parser knows beyond the ones the fast path needs (IANA registry).
mod code {
    pub(crate) const HINFO: u16 = 13;
    pub(crate) const RP: u16 = 17;
    pub(crate) const AFSDB: u16 = 18;
    pub(crate) const LOC: u16 = 29;
    pub(crate) const KX: u16 = 36;
    pub(crate) const SSHFP: u16 = 44;
    pub(crate) const NSEC3PARAM: u16 = 51;
    pub(crate) const TLSA: u16 = 52;
    pub(crate) const SMIMEA: u16 = 53;
    pub(crate) const CDS: u16 = 59;
    pub(crate) const CDNSKEY: u16 = 60;
    pub(crate) const OPENPGPKEY: u16 = 61;
    pub(crate) const CSYNC: u16 = 62;
    pub(crate) const ZONEMD: u16 = 63;
    pub(crate) const SPF: u16 = 99;
    pub(crate) const EUI48: u16 = 108;
    pub(crate) const EUI64: u16 = 109;
    pub(crate) const URI: u16 = 256;
    pub(crate) const CAA: u16 = 257;
}

/// Mnemonics of the IANA RR type registry, so `TYPE` fields and messages use names.
#[rustfmt::skip]
const TYPE_NAMES: &[(&str, u16)] = &[
    ("A", 1), ("NS", 2), ("MD", 3), ("MF", 4), ("CNAME", 5), ("SOA", 6), ("MB", 7), ("MG", 8),
    ("MR", 9), ("NULL", 10), ("WKS", 11), ("PTR", 12), ("HINFO", 13), ("MINFO", 14), ("MX", 15),
    ("TXT", 16), ("RP", 17), ("AFSDB", 18), ("X25", 19), ("ISDN", 20), ("RT", 21), ("NSAP", 22),
    ("NSAP-PTR", 23), ("SIG", 24), ("KEY", 25), ("PX", 26), ("GPOS", 27), ("AAAA", 28),
    ("LOC", 29), ("NXT", 30), ("SRV", 33), ("NAPTR", 35), ("KX", 36), ("CERT", 37), ("A6", 38),
    ("DNAME", 39), ("OPT", 41), ("APL", 42), ("DS", 43), ("SSHFP", 44), ("IPSECKEY", 45),
    ("RRSIG", 46), ("NSEC", 47), ("DNSKEY", 48), ("DHCID", 49), ("NSEC3", 50),
    ("NSEC3PARAM", 51), ("TLSA", 52), ("SMIMEA", 53), ("HIP", 55), ("CDS", 59), ("CDNSKEY", 60),
    ("OPENPGPKEY", 61), ("CSYNC", 62), ("ZONEMD", 63), ("SVCB", 64), ("HTTPS", 65), ("SPF", 99),
    ("EUI48", 108), ("EUI64", 109), ("TKEY", 249), ("TSIG", 250), ("IXFR", 251), ("AXFR", 252),
    ("MAILB", 253), ("MAILA", 254), ("ANY", 255), ("URI", 256), ("CAA", 257), ("TA", 32768),
    ("DLV", 32769),
];

/// The type code of a mnemonic (any case) or of the RFC 3597 form `TYPEnnn`.
pub(crate) fn type_code(text: &str) -> Option<u16> {
    if let Some((_, code)) = TYPE_NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(text)) {
        return Some(*code);
    }
    let digits = text.get(..4)?.eq_ignore_ascii_case("TYPE").then(|| &text[4..])?;
    number(digits)
}

/// The mnemonic of a type code, or `TYPEnnn` when it has none.
pub(crate) fn type_name(code: u16) -> String {
    match TYPE_NAMES.iter().find(|(_, c)| *c == code) {
        Some((name, _)) => (*name).to_string(),
        None => format!("TYPE{code}"),
    }
}

/// Converts the RDATA fields of one record to wire format.
///
/// Names are made absolute against `origin` and keep the case they were
/// written in. Any type, known or not, may use the RFC 3597 form `\# len hex`.
#[cfg(test)]
pub(crate) fn rdata_from_text(rtype: u16, tokens: &[Token<'_>], origin: &Name) -> Result<Vec<u8>, String> {
    rdata_splitting_strings(rtype, tokens, origin).map(|(rdata, _)| rdata)
}

/// Like [`rdata_from_text`], and a TXT or SPF string longer than 255 bytes
/// becomes several 255-byte strings, as Knot makes them; also returns how
/// many strings were split, for the caller to warn about.
pub(crate) fn rdata_splitting_strings(
    rtype: u16,
    tokens: &[Token<'_>],
    origin: &Name,
) -> Result<(Vec<u8>, u64), String> {
    if let Some(first) = tokens.first()
        && !first.quoted
        && first.text == b"\\#"
    {
        return generic(&tokens[1..]).map(|rdata| (rdata, 0));
    }
    let mut fields = Fields {
        tokens,
        at: 0,
        origin,
        out: Vec::new(),
        split: 0,
    };
    known(rtype, &mut fields)?;
    let split = fields.split;
    fields.finish().map(|rdata| (rdata, split))
}

/// RFC 3597 section 5: `\# <length> <hex>...`, the length checked against the data.
fn generic(tokens: &[Token<'_>]) -> Result<Vec<u8>, String> {
    let (len, hex) = tokens.split_first().ok_or("missing length after \\#")?;
    let len: u16 = len
        .str()
        .ok()
        .and_then(number)
        .ok_or_else(|| format!("bad \\# length {}", len.show()))?;
    let data = decode_hex(hex)?;
    if data.len() != usize::from(len) {
        return Err(format!("\\# length says {len} bytes but the data has {}", data.len()));
    }
    Ok(data)
}

/// The per-type layouts, in the order of each type's presentation format.
fn known(rtype: u16, f: &mut Fields<'_, '_>) -> Result<(), String> {
    match rtype {
        rtype::A => f.ipv4(),
        rtype::AAAA => f.ipv6(),
        rtype::NS | rtype::CNAME | rtype::PTR | rtype::DNAME => f.name("target name"),
        rtype::SOA => {
            f.name("primary server name")?;
            f.name("mailbox name")?;
            f.u32("serial")?;
            for what in ["refresh", "retry", "expire", "minimum"] {
                f.ttl(what)?;
            }
            Ok(())
        }
        rtype::MX | code::KX | code::AFSDB => {
            f.u16("preference")?;
            f.name("exchange name")
        }
        rtype::TXT | code::SPF => {
            f.strings_split("text")?;
            while !f.is_done() {
                f.strings_split("text")?;
            }
            Ok(())
        }
        code::HINFO => {
            f.string("cpu")?;
            f.string("os")
        }
        code::RP => {
            f.name("mailbox name")?;
            f.name("text name")
        }
        rtype::SRV => {
            f.u16("priority")?;
            f.u16("weight")?;
            f.u16("port")?;
            f.name("target name")
        }
        rtype::NAPTR => {
            f.u16("order")?;
            f.u16("preference")?;
            f.string("flags")?;
            f.string("services")?;
            f.string("regexp")?;
            f.name("replacement name")
        }
        code::CAA => caa(f),
        code::URI => {
            f.u16("priority")?;
            f.u16("weight")?;
            f.raw_string("target")
        }
        rtype::SVCB | rtype::HTTPS => svcb::svcb(f),
        rtype::DS | code::CDS => {
            f.u16("key tag")?;
            f.u8("algorithm")?;
            f.u8("digest type")?;
            f.hex_rest("digest")
        }
        rtype::DNSKEY | code::CDNSKEY => {
            f.u16("flags")?;
            f.u8("protocol")?;
            f.u8("algorithm")?;
            f.base64_rest("public key")
        }
        rtype::RRSIG => rrsig(f),
        rtype::NSEC => {
            f.name("next name")?;
            f.type_bitmap()
        }
        rtype::NSEC3 => {
            f.nsec3_head()?;
            f.next_hashed_owner()?;
            f.type_bitmap()
        }
        code::NSEC3PARAM => f.nsec3_head(),
        code::SSHFP => {
            f.u8("algorithm")?;
            f.u8("fingerprint type")?;
            f.hex_rest("fingerprint")
        }
        code::TLSA | code::SMIMEA => {
            f.u8("usage")?;
            f.u8("selector")?;
            f.u8("matching type")?;
            f.hex_rest("certificate data")
        }
        code::OPENPGPKEY => f.base64_rest("public key"),
        code::CSYNC => {
            f.u32("serial")?;
            f.u16("flags")?;
            f.type_bitmap()
        }
        code::LOC => loc::loc(f),
        code::EUI48 => f.eui("EUI-48 address", 6),
        code::EUI64 => f.eui("EUI-64 address", 8),
        code::ZONEMD => {
            f.u32("serial")?;
            f.u8("scheme")?;
            f.u8("hash algorithm")?;
            f.hex_rest("digest")
        }
        other => Err(format!(
            "no presentation format known for {}; write it as \\# <length> <hex>",
            type_name(other)
        )),
    }
}

/// RFC 8659 section 4.1.1: the value is written raw, its length implied by RDLENGTH.
fn caa(f: &mut Fields<'_, '_>) -> Result<(), String> {
    f.u8("flags")?;
    let tag = f.next("tag")?;
    let valid = (1..=15).contains(&tag.text.len()) && tag.text.iter().all(|b| b.is_ascii_alphanumeric());
    if !valid {
        return Err(format!("bad tag {}: expected 1 to 15 letters or digits", tag.show()));
    }
    f.out.push(tag.text.len() as u8);
    f.out.extend_from_slice(tag.text);
    f.raw_string("value")
}

/// RFC 4034 section 3.2.
fn rrsig(f: &mut Fields<'_, '_>) -> Result<(), String> {
    let covered = f.next("type covered")?;
    let covered = covered
        .str()
        .ok()
        .and_then(type_code)
        .ok_or_else(|| format!("unknown type covered {}", covered.show()))?;
    f.out.extend_from_slice(&covered.to_be_bytes());
    f.u8("algorithm")?;
    f.u8("labels")?;
    f.ttl("original ttl")?;
    for what in ["expiration", "inception"] {
        let token = f.next(what)?;
        let time = token
            .str()
            .ok()
            .and_then(signature_time)
            .ok_or_else(|| format!("bad {what} {}: expected YYYYMMDDHHmmSS or seconds", token.show()))?;
        f.out.extend_from_slice(&time.to_be_bytes());
    }
    f.u16("key tag")?;
    f.name("signer name")?;
    f.base64_rest("signature")
}

/// An RRSIG time: `YYYYMMDDHHmmSS` in UTC, or seconds since 1970; both are
/// kept modulo 2^32 as RFC 4034 3.1.5 asks.
fn signature_time(text: &str) -> Option<u32> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() != 14 {
        return number(text);
    }
    let part = |range: std::ops::Range<usize>| text[range].parse::<u64>().ok();
    let (year, month, day) = (part(0..4)?, part(4..6)?, part(6..8)?);
    let (hour, minute, second) = (part(8..10)?, part(10..12)?, part(12..14)?);
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let month_days = |m: u64| match m {
        2 if leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if year < 1970
        || !(1..=12).contains(&month)
        || !(1..=month_days(month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum::<u64>()
        + (1..month).map(month_days).sum::<u64>()
        + (day - 1);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(seconds as u32)
}

/// A decimal number with nothing else around it (`str::parse` would accept `+5`).
fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A TTL in seconds, plain (`3600`) or with BIND's units (`1h30m`, `1d`, `2W`).
pub(crate) fn parse_ttl(text: &str) -> Result<u32, String> {
    let bad = || format!("bad ttl {text:?}");
    if text.is_empty() {
        return Err(bad());
    }
    if let Some(seconds) = number(text) {
        return Ok(seconds);
    }
    let mut total: u32 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        let count: u32 = number(&digits).ok_or_else(bad)?;
        digits.clear();
        total = count
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
    }
    // A trailing bare number counts as seconds, as in `1h30`.
    if !digits.is_empty() {
        total = total.checked_add(number(&digits).ok_or_else(bad)?).ok_or_else(bad)?;
    }
    Ok(total)
}

/// Decodes a character-string's escapes: `\X` is X, `\DDD` is the byte DDD.
/// Any other byte, text or not, stands for itself.
fn unescape(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let shown = || String::from_utf8_lossy(bytes);
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        if b != b'\\' {
            out.push(b);
            at += 1;
            continue;
        }
        match bytes.get(at + 1) {
            None => return Err(format!("dangling backslash in {:?}", shown())),
            Some(d) if d.is_ascii_digit() => {
                let value = bytes
                    .get(at + 1..at + 4)
                    .and_then(|d| std::str::from_utf8(d).ok())
                    .and_then(number::<u8>)
                    .ok_or_else(|| format!("bad \\DDD escape in {:?}", shown()))?;
                out.push(value);
                at += 4;
            }
            Some(&c) => {
                out.push(c);
                at += 2;
            }
        }
    }
    Ok(out)
}

fn decode_hex(tokens: &[Token<'_>]) -> Result<Vec<u8>, String> {
    let text: Vec<u8> = tokens.iter().flat_map(|t| t.text.iter().copied()).collect();
    HEXUPPER_PERMISSIVE.decode(&text).map_err(|e| format!("bad hex: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::BASE32_DNSSEC;

    fn origin() -> Name {
        Name::parse("example.com.", None).expect("origin parses")
    }

    /// Splits like the reader would, for fields without spaces; `"..."` marks a quoted field.
    fn tokens(text: &str) -> Vec<Token<'_>> {
        text.split_whitespace()
            .map(|t| match t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                Some(inner) => Token {
                    text: inner.as_bytes(),
                    quoted: true,
                },
                None => t.into(),
            })
            .collect()
    }

    fn wire(rtype: u16, text: &str) -> Vec<u8> {
        rdata_from_text(rtype, &tokens(text), &origin())
            .unwrap_or_else(|e| panic!("{} {text:?} should parse, got: {e}", type_name(rtype)))
    }

    fn error(rtype: u16, text: &str) -> String {
        match rdata_from_text(rtype, &tokens(text), &origin()) {
            Ok(w) => panic!("{} {text:?} should be rejected, got {w:02x?}", type_name(rtype)),
            Err(e) => e,
        }
    }

    #[test]
    fn address_and_name_types() {
        assert_eq!(wire(rtype::A, "192.0.2.1"), [192, 0, 2, 1]);
        assert_eq!(wire(rtype::AAAA, "2001:db8::1")[..4], [0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(wire(rtype::NS, "ns1"), b"\x03ns1\x07example\x03com\x00");
        assert_eq!(wire(rtype::CNAME, "Www.Other."), b"\x03Www\x05Other\x00");
        assert_eq!(wire(rtype::DNAME, "@"), origin().as_wire());
        assert_eq!(wire(rtype::PTR, "a\\.b"), b"\x03a.b\x07example\x03com\x00");
        assert_eq!(wire(rtype::MX, "10 mail"), b"\x00\x0a\x04mail\x07example\x03com\x00");
        assert_eq!(wire(code::RP, "a. b."), b"\x01a\x00\x01b\x00");
        error(rtype::A, "192.0.2");
        error(rtype::A, "192.0.2.1 192.0.2.2");
        error(rtype::MX, "65536 mail");
        error(rtype::MX, "10");
    }

    #[test]
    fn soa_accepts_ttl_units() {
        let got = wire(rtype::SOA, "ns1 hostmaster.example.com. 2024010101 1h 15m 1w 300");
        let mut want = b"\x03ns1\x07example\x03com\x00\x0ahostmaster\x07example\x03com\x00".to_vec();
        for n in [2_024_010_101u32, 3600, 900, 604_800, 300] {
            want.extend_from_slice(&n.to_be_bytes());
        }
        assert_eq!(got, want, "SOA wire format");
        error(rtype::SOA, "ns1 host 1 2 3 4");
        error(rtype::SOA, "ns1 host 4294967296 2 3 4 5");
    }

    #[test]
    fn txt_escapes_and_several_strings() {
        assert_eq!(
            wire(rtype::TXT, r#""a\"b" c\059d \255"#),
            b"\x03a\"b\x03c;d\x01\xff",
            "escaped quote, \\DDD and bare strings"
        );
        let quoted = [Token {
            text: b"hello world",
            quoted: true,
        }];
        assert_eq!(
            rdata_from_text(rtype::TXT, &quoted, &origin()),
            Ok(b"\x0bhello world".to_vec())
        );
        assert_eq!(wire(rtype::TXT, r#""""#), b"\x00", "empty string");
        let long = "x".repeat(256);
        let split = rdata_splitting_strings(rtype::TXT, &tokens(&long), &origin());
        let want = [&[255], &long.as_bytes()[..255], &[1, b'x']].concat();
        assert_eq!(
            split,
            Ok((want, 1)),
            "longer than 255 bytes: two strings, one split counted"
        );
        assert!(
            error(code::HINFO, &format!("{long} os")).contains("255"),
            "HINFO is not split"
        );
        error(rtype::TXT, "");
        error(rtype::TXT, "\\25");
        error(rtype::TXT, "\\256");
        assert_eq!(wire(code::HINFO, "\"PC\" Linux"), b"\x02PC\x05Linux");
    }

    #[test]
    fn srv_naptr_caa_uri() {
        assert_eq!(
            wire(rtype::SRV, "1 2 443 target"),
            b"\x00\x01\x00\x02\x01\xbb\x06target\x07example\x03com\x00"
        );
        assert_eq!(
            wire(rtype::NAPTR, r#"100 10 "S" "SIP+D2U" "" _sip._udp."#),
            b"\x00\x64\x00\x0a\x01S\x07SIP+D2U\x00\x04_sip\x04_udp\x00"
        );
        assert_eq!(
            wire(code::CAA, r#"0 issue "ca.example.net""#),
            b"\x00\x05issueca.example.net",
            "CAA value has no length byte"
        );
        error(code::CAA, "0 is-sue x");
        error(code::CAA, "0 issue");
        assert_eq!(wire(code::URI, "1 2 \"https://x/\""), b"\x00\x01\x00\x02https://x/");
    }

    #[test]
    fn dnssec_key_and_digest_types() {
        assert_eq!(
            wire(rtype::DS, "60485 5 1 2BB183AF5F225881 79A2B2B3C2B4A4E0 0FBFA4E3"),
            [
                0xec, 0x45, 5, 1, 0x2b, 0xb1, 0x83, 0xaf, 0x5f, 0x22, 0x58, 0x81, 0x79, 0xa2, 0xb2, 0xb3, 0xc2, 0xb4,
                0xa4, 0xe0, 0x0f, 0xbf, 0xa4, 0xe3
            ],
            "DS digest split over several fields"
        );
        assert_eq!(wire(code::CDS, "0 0 0 00"), [0, 0, 0, 0, 0]);
        assert_eq!(wire(rtype::DNSKEY, "257 3 13 AQID BA=="), [1, 1, 3, 13, 1, 2, 3, 4]);
        assert_eq!(wire(code::CDNSKEY, "0 3 0 AA=="), [0, 0, 3, 0, 0]);
        assert_eq!(wire(code::SSHFP, "4 2 abcd"), [4, 2, 0xab, 0xcd]);
        assert_eq!(wire(code::TLSA, "3 1 1 00ff"), [3, 1, 1, 0, 0xff]);
        assert_eq!(wire(code::OPENPGPKEY, "AQID"), [1, 2, 3]);
        assert_eq!(wire(code::ZONEMD, "7 1 1 ab"), [0, 0, 0, 7, 1, 1, 0xab]);
        error(rtype::DS, "1 2 3");
        error(rtype::DS, "1 2 3 abc");
        error(rtype::DNSKEY, "257 3 13 !!!!");
    }

    #[test]
    fn rrsig_timestamps() {
        let got = wire(
            rtype::RRSIG,
            "A 13 2 3600 20240101000000 1700000000 12345 Example.com. AQID",
        );
        let mut want = vec![0, 1, 13, 2, 0, 0, 0x0e, 0x10];
        want.extend_from_slice(&1_704_067_200u32.to_be_bytes());
        want.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        want.extend_from_slice(&12345u16.to_be_bytes());
        want.extend_from_slice(b"\x07Example\x03com\x00\x01\x02\x03");
        assert_eq!(got, want, "RRSIG wire format");
        assert_eq!(signature_time("19700101000000"), Some(0));
        assert_eq!(signature_time("20000229235959"), Some(951_868_799));
        assert_eq!(signature_time("21060207062816"), Some(0), "wraps modulo 2^32");
        assert_eq!(signature_time("20230229000000"), None, "2023 is no leap year");
        assert_eq!(signature_time("2024010100000"), None, "13 digits overflow 32 bits");
        error(rtype::RRSIG, "BOGUS 13 2 3600 1 2 3 . AQID");
        error(rtype::RRSIG, "A 13 2 3600 20241301000000 2 3 . AQID");
    }

    #[test]
    fn nsec_bitmaps() {
        assert_eq!(
            wire(rtype::NSEC, "host.example.com. A MX RRSIG NSEC TYPE1234"),
            [
                b"\x04host\x07example\x03com\x00".as_slice(),
                &[0, 6, 0x40, 0x01, 0, 0, 0, 0x03],
                &[4, 27],
                &[0; 26],
                &[0x20],
            ]
            .concat(),
            "RFC 4034 4.3 example plus a type in window 4"
        );
        assert_eq!(wire(rtype::NSEC, "a. CAA")[3..], [1, 1, 0x40], "window 1 for CAA (257)");
        assert_eq!(wire(rtype::NSEC, "a."), b"\x01a\x00", "empty bitmap");
        error(rtype::NSEC, "a. NOTATYPE");
    }

    #[test]
    fn nsec3_and_param() {
        let got = wire(rtype::NSEC3, "1 1 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr A RRSIG");
        let mut want = vec![1, 1, 0, 12, 4, 0xaa, 0xbb, 0xcc, 0xdd, 20];
        want.extend(
            BASE32_DNSSEC
                .decode(b"2t7b4g4vsa5smi47k61mv5bv1a22bojr")
                .expect("valid"),
        );
        want.extend_from_slice(&[0, 6, 0x40, 0, 0, 0, 0, 0x02]);
        assert_eq!(got, want, "NSEC3 wire format");
        assert_eq!(
            wire(rtype::NSEC3, "1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR")[4],
            0,
            "'-' is an empty salt, upper-case base32hex accepted"
        );
        assert_eq!(wire(code::NSEC3PARAM, "1 0 0 -"), [1, 0, 0, 0, 0]);
        error(rtype::NSEC3, "1 0 0 - 2t7b4g4vsa5smi47k61mv5bv1a22boj=");
        error(code::NSEC3PARAM, "1 0 0 xyz");
    }

    #[test]
    fn generic_form_for_any_type() {
        assert_eq!(wire(65534, "\\# 4 0A000001"), [10, 0, 0, 1]);
        assert_eq!(wire(rtype::A, "\\# 4 0a00 0001"), [10, 0, 0, 1]);
        assert_eq!(wire(65534, "\\# 0"), Vec::<u8>::new());
        assert!(error(65534, "\\# 3 0A000001").contains("length"));
        error(65534, "\\#");
        error(65534, "\\# x");
        assert!(error(65534, "0A000001").contains("\\#"), "unknown types need \\#");
        assert_eq!(wire(rtype::TXT, "\"\\#\""), b"\x01#", "a quoted \\# is text");
    }

    #[test]
    fn svcb_params() {
        let got = wire(rtype::SVCB, "1 svc port=8443 ipv4hint=192.0.2.1,192.0.2.2 alpn=h2,h3");
        let want = [
            b"\x00\x01\x03svc\x07example\x03com\x00".as_slice(),
            b"\x00\x01\x00\x06\x02h2\x02h3",
            b"\x00\x03\x00\x02\x20\xfb",
            b"\x00\x04\x00\x08\xc0\x00\x02\x01\xc0\x00\x02\x02",
        ]
        .concat();
        assert_eq!(got, want, "params sorted by key");
        let https = wire(
            rtype::HTTPS,
            r#"1 . alpn="h3,h2\\,x" no-default-alpn ech=AQID ipv6hint=::1 key65000=hi mandatory=alpn"#,
        );
        assert!(
            https.windows(12).any(|w| w == b"\x00\x01\x00\x08\x02h3\x04h2,x"),
            "escaped comma stays in the alpn id: {https:02x?}"
        );
        assert!(https.ends_with(b"\xfd\xe8\x00\x02hi"), "unknown key last: {https:02x?}");
        assert_eq!(wire(rtype::HTTPS, "0 pool.svc."), b"\x00\x00\x04pool\x03svc\x00");
        error(rtype::SVCB, "1 . port=1 port=2");
        error(rtype::SVCB, "1 . mandatory=port");
        error(rtype::SVCB, "1 . bogus=1");
        error(rtype::SVCB, "1 . key65535");
        error(rtype::SVCB, "1 . alpn");
        error(rtype::SVCB, "1 . alpn=h2,,h3");
        error(rtype::SVCB, "1 . no-default-alpn=x");
        error(rtype::SVCB, "1 . ipv4hint=::1");
        error(rtype::SVCB, "1 . port=\"80");
    }

    #[test]
    fn ttls_and_type_names() {
        assert_eq!(parse_ttl("3600"), Ok(3600));
        assert_eq!(parse_ttl("1h30m"), Ok(5400));
        assert_eq!(parse_ttl("1W2D"), Ok(777_600));
        assert_eq!(parse_ttl("1h30"), Ok(3630));
        for bad in ["", "h", "1x", "-1", "4294967296", "9999999w"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?} should not be a ttl");
        }
        assert_eq!(type_code("aaaa"), Some(28));
        assert_eq!(type_code("TYPE65534"), Some(65534));
        assert_eq!(type_code("type1"), Some(1));
        assert_eq!(type_code("TYPE"), None);
        assert_eq!(type_code("TYPE65536"), None);
        assert_eq!(type_name(64), "SVCB");
        assert_eq!(type_name(65534), "TYPE65534");
    }

    #[test]
    fn extra_fields_are_rejected() {
        assert!(error(rtype::NS, "a b").contains("unexpected"));
        assert!(error(rtype::CNAME, "").contains("missing"));
    }

    #[test]
    fn loc_in_its_text_form() {
        let loc = |text: &str| wire(code::LOC, text);
        // RFC 1876's own examples; what Knot 3.2 stores for them.
        let mut want = vec![0, 0x12, 0x16, 0x13];
        for v in [2_334_683_648u32 + 1_343_000, 2_147_483_648 + 17_612_000, 9_999_800] {
            want.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(
            loc("52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m")[..4],
            [0, 0x00, 0x16, 0x13]
        );
        assert_eq!(
            loc("52 22 23 N 4 53 32 E -2m")[4..],
            want[4..],
            "coordinates and altitude"
        );
        assert_eq!(
            loc("52 22 23 N 4 53 32 E -2m")[..4],
            want[..4],
            "default size and precisions"
        );
        assert_eq!(
            hex(&loc("52 N 4 E 0")),
            "001216138b28720080dbba0000989680",
            "degrees alone, Knot's wire form"
        );
        assert_eq!(
            hex(&loc("42 21 43.528 S 71 05 06.712 W -24m 30m")),
            "0033161376e8fb1870bf2c6800988d20",
            "south and west below 2^31"
        );
        assert_eq!(
            loc("90 S 180 E 42849672.95m 90000000m 0 0")[..4],
            [0, 0x99, 0, 0],
            "the limits"
        );
        for bad in [
            "91 N 4 E 0",
            "52 60 N 4 E 0",
            "52 1 60 N 4 E 0",
            "52 1 1.0001 N 4 E 0",
            "90 1 N 4 E 0",
            "52 N 181 E 0",
            "52 E 4 N 0",
            "52 1 2 3 N 4 E 0",
            "52 N 4 E",
            "52 N 4 E -100000.01m",
            "52 N 4 E 42849672.96",
            "52 N 4 E 0 90000000.01",
            "52 N 4 E 0 -1",
            "52 N 4 E 0 1 1 1 1",
            "52 N 4 E 0 1.001",
        ] {
            error(code::LOC, bad);
        }
    }

    #[test]
    fn eui48_and_eui64() {
        assert_eq!(wire(code::EUI48, "00-00-5e-00-53-2a"), [0, 0, 0x5e, 0, 0x53, 0x2a]);
        assert_eq!(
            wire(code::EUI64, "00-00-5E-EF-10-00-00-2A"),
            [0, 0, 0x5e, 0xef, 0x10, 0, 0, 0x2a]
        );
        for bad in [
            "00-00-5e-00-53",
            "00-00-5e-00-53-2a-01",
            "00:00:5e:00:53:2a",
            "0-00-5e-00-53-2aa",
            "zz-00-5e-00-53-2a",
        ] {
            error(code::EUI48, bad);
        }
        error(code::EUI64, "00-00-5e-00-53-2a");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
