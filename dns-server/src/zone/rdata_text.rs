//! Presentation-format RDATA (RFC 1035 5.1 and each type's RFC) to uncompressed wire format.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{Ipv4Addr, Ipv6Addr},
};

use data_encoding::{BASE32_DNSSEC, BASE64, HEXUPPER_PERMISSIVE};
use xdp_common::wire::rtype;

use crate::name::Name;

/// One presentation-format field as the master-file reader split it.
///
/// Escapes (`\.`, `\"`, `\DDD`) are still in `text`, because only the type's
/// parser knows whether the field is a name or a character-string; the quotes
/// around a quoted field are gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    /// The field, escapes kept.
    pub text: &'a str,
    /// Whether it was written between double quotes (`"\#"` is text, `\#` is RFC 3597).
    pub quoted: bool,
}

impl<'a> From<&'a str> for Token<'a> {
    fn from(text: &'a str) -> Self {
        Self { text, quoted: false }
    }
}

/// Type codes this parser knows beyond the ones the fast path needs (IANA registry).
mod code {
    pub const HINFO: u16 = 13;
    pub const RP: u16 = 17;
    pub const AFSDB: u16 = 18;
    pub const KX: u16 = 36;
    pub const SSHFP: u16 = 44;
    pub const NSEC3PARAM: u16 = 51;
    pub const TLSA: u16 = 52;
    pub const SMIMEA: u16 = 53;
    pub const CDS: u16 = 59;
    pub const CDNSKEY: u16 = 60;
    pub const OPENPGPKEY: u16 = 61;
    pub const CSYNC: u16 = 62;
    pub const ZONEMD: u16 = 63;
    pub const SPF: u16 = 99;
    pub const URI: u16 = 256;
    pub const CAA: u16 = 257;
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
pub fn type_code(text: &str) -> Option<u16> {
    if let Some((_, code)) = TYPE_NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(text)) {
        return Some(*code);
    }
    let digits = text.get(..4)?.eq_ignore_ascii_case("TYPE").then(|| &text[4..])?;
    number(digits)
}

/// The mnemonic of a type code, or `TYPEnnn` when it has none.
pub fn type_name(code: u16) -> String {
    match TYPE_NAMES.iter().find(|(_, c)| *c == code) {
        Some((name, _)) => (*name).to_string(),
        None => format!("TYPE{code}"),
    }
}

/// Converts the RDATA fields of one record to wire format.
///
/// Names are made absolute against `origin` and keep the case they were
/// written in. Any type, known or not, may use the RFC 3597 form `\# len hex`.
pub fn rdata_from_text(rtype: u16, tokens: &[Token<'_>], origin: &Name) -> Result<Vec<u8>, String> {
    if let Some(first) = tokens.first()
        && !first.quoted
        && first.text == "\\#"
    {
        return generic(&tokens[1..]);
    }
    let mut fields = Fields {
        tokens,
        at: 0,
        origin,
        out: Vec::new(),
    };
    known(rtype, &mut fields)?;
    fields.finish()
}

/// RFC 3597 section 5: `\# <length> <hex>...`, the length checked against the data.
fn generic(tokens: &[Token<'_>]) -> Result<Vec<u8>, String> {
    let (len, hex) = tokens.split_first().ok_or("missing length after \\#")?;
    let len: u16 = number(len.text).ok_or_else(|| format!("bad \\# length {:?}", len.text))?;
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
            f.string("text")?;
            while !f.is_done() {
                f.string("text")?;
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
        rtype::SVCB | rtype::HTTPS => svcb(f),
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
    let valid = (1..=15).contains(&tag.text.len()) && tag.text.bytes().all(|b| b.is_ascii_alphanumeric());
    if !valid {
        return Err(format!("bad tag {:?}: expected 1 to 15 letters or digits", tag.text));
    }
    f.out.push(tag.text.len() as u8);
    f.out.extend_from_slice(tag.text.as_bytes());
    f.raw_string("value")
}

/// RFC 4034 section 3.2.
fn rrsig(f: &mut Fields<'_, '_>) -> Result<(), String> {
    let covered = f.next("type covered")?;
    let covered = type_code(covered.text).ok_or_else(|| format!("unknown type covered {:?}", covered.text))?;
    f.out.extend_from_slice(&covered.to_be_bytes());
    f.u8("algorithm")?;
    f.u8("labels")?;
    f.ttl("original ttl")?;
    for what in ["expiration", "inception"] {
        let token = f.next(what)?;
        let time = signature_time(token.text)
            .ok_or_else(|| format!("bad {what} {:?}: expected YYYYMMDDHHmmSS or seconds", token.text))?;
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

/// RFC 9460 section 2.2: priority, target, then SvcParams in increasing key order.
fn svcb(f: &mut Fields<'_, '_>) -> Result<(), String> {
    f.u16("priority")?;
    f.name("target name")?;
    let mut params = BTreeMap::new();
    while !f.is_done() {
        let token = f.next("svcparam")?;
        let (key_text, value) = match token.text.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (token.text, None),
        };
        let key = svc_key(key_text)?;
        let value = svc_value(key, value.map(unquote).transpose()?.as_deref())?;
        if params.insert(key, value).is_some() {
            return Err(format!("svcparam {key_text} appears twice"));
        }
    }
    if let Some(mandatory) = params.get(&0) {
        for key in mandatory.chunks(2) {
            let key = u16::from_be_bytes([key[0], key[1]]);
            if !params.contains_key(&key) {
                return Err(format!("mandatory svcparam key{key} is missing"));
            }
        }
    }
    for (key, value) in params {
        let len = u16::try_from(value.len()).map_err(|_| "svcparam value too long")?;
        f.out.extend_from_slice(&key.to_be_bytes());
        f.out.extend_from_slice(&len.to_be_bytes());
        f.out.extend_from_slice(&value);
    }
    Ok(())
}

/// SvcParamKey names of RFC 9460 section 14.3.2, and `keyNNNNN`.
fn svc_key(text: &str) -> Result<u16, String> {
    let key = match text {
        "mandatory" => 0,
        "alpn" => 1,
        "no-default-alpn" => 2,
        "port" => 3,
        "ipv4hint" => 4,
        "ech" => 5,
        "ipv6hint" => 6,
        "dohpath" => 7,
        "ohttp" => 8,
        _ => text
            .strip_prefix("key")
            .and_then(number::<u16>)
            .ok_or_else(|| format!("unknown svcparam key {text:?}"))?,
    };
    if key == u16::MAX {
        return Err("svcparam key65535 is reserved".into());
    }
    Ok(key)
}

/// A SvcParamValue, written `key=value` or `key="value"`, with its escapes decoded.
fn unquote(value: &str) -> Result<Vec<u8>, String> {
    let inner = match value.strip_prefix('"') {
        Some(rest) => rest
            .strip_suffix('"')
            .ok_or_else(|| format!("unterminated quote in svcparam value {value:?}"))?,
        None => value,
    };
    unescape(inner)
}

/// The wire form of one SvcParamValue (RFC 9460 sections 7 and 8).
fn svc_value(key: u16, value: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let needs_value = || format!("svcparam {} needs a value", svc_key_name(key));
    match key {
        0 => {
            let mut keys = BTreeSet::new();
            for item in value_list(value.ok_or_else(needs_value)?)? {
                let k = svc_key(&String::from_utf8_lossy(&item))?;
                if k == 0 || !keys.insert(k) {
                    return Err(format!("bad mandatory list entry key{k}"));
                }
            }
            Ok(keys.into_iter().flat_map(u16::to_be_bytes).collect())
        }
        1 => {
            let mut out = Vec::new();
            for id in value_list(value.ok_or_else(needs_value)?)? {
                let len = u8::try_from(id.len()).map_err(|_| "alpn id longer than 255 bytes")?;
                out.push(len);
                out.extend_from_slice(&id);
            }
            Ok(out)
        }
        2 | 8 => match value {
            None | Some([]) => Ok(Vec::new()),
            Some(_) => Err(format!("svcparam {} takes no value", svc_key_name(key))),
        },
        3 => {
            let text = String::from_utf8_lossy(value.ok_or_else(needs_value)?).into_owned();
            let port: u16 = number(&text).ok_or_else(|| format!("bad port {text:?}"))?;
            Ok(port.to_be_bytes().to_vec())
        }
        4 => ip_list::<Ipv4Addr>(value.ok_or_else(needs_value)?, |a| a.octets().to_vec()),
        6 => ip_list::<Ipv6Addr>(value.ok_or_else(needs_value)?, |a| a.octets().to_vec()),
        5 => BASE64
            .decode(value.ok_or_else(needs_value)?)
            .map_err(|e| format!("bad base64 in ech: {e}")),
        _ => Ok(value.unwrap_or_default().to_vec()),
    }
}

fn svc_key_name(key: u16) -> String {
    let names = [
        "mandatory",
        "alpn",
        "no-default-alpn",
        "port",
        "ipv4hint",
        "ech",
        "ipv6hint",
        "dohpath",
        "ohttp",
    ];
    match names.get(usize::from(key)) {
        Some(name) => (*name).to_string(),
        None => format!("key{key}"),
    }
}

/// RFC 9460 appendix A.1: items split at commas, `\,` and `\\` standing for themselves.
fn value_list(value: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut items = Vec::new();
    let mut item = Vec::new();
    let mut bytes = value.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => match bytes.next() {
                Some(&escaped) => item.push(escaped),
                None => return Err("dangling backslash in svcparam list".into()),
            },
            b',' => items.push(std::mem::take(&mut item)),
            _ => item.push(b),
        }
    }
    items.push(item);
    if items.iter().any(Vec::is_empty) {
        return Err("empty item in svcparam list".into());
    }
    Ok(items)
}

fn ip_list<A: std::str::FromStr>(value: &[u8], octets: fn(A) -> Vec<u8>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for item in value_list(value)? {
        let text = String::from_utf8_lossy(&item);
        let addr = text
            .parse::<A>()
            .map_err(|_| format!("bad address {text:?} in ip hint"))?;
        out.extend(octets(addr));
    }
    Ok(out)
}

/// A decimal number with nothing else around it (`str::parse` would accept `+5`).
fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A TTL in seconds, plain (`3600`) or with BIND's units (`1h30m`, `1d`, `2W`).
pub fn parse_ttl(text: &str) -> Result<u32, String> {
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
fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        if b != b'\\' {
            out.push(b);
            at += 1;
            continue;
        }
        match bytes.get(at + 1) {
            None => return Err(format!("dangling backslash in {text:?}")),
            Some(d) if d.is_ascii_digit() => {
                let value = bytes
                    .get(at + 1..at + 4)
                    .and_then(|d| std::str::from_utf8(d).ok())
                    .and_then(number::<u8>)
                    .ok_or_else(|| format!("bad \\DDD escape in {text:?}"))?;
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
    let text: String = tokens.iter().map(|t| t.text).collect();
    HEXUPPER_PERMISSIVE
        .decode(text.as_bytes())
        .map_err(|e| format!("bad hex: {e}"))
}

/// A cursor over a record's RDATA fields, writing wire format as it goes.
struct Fields<'t, 'a> {
    tokens: &'t [Token<'a>],
    at: usize,
    origin: &'t Name,
    out: Vec<u8>,
}

impl<'t, 'a> Fields<'t, 'a> {
    fn next(&mut self, what: &str) -> Result<Token<'a>, String> {
        let token = *self.tokens.get(self.at).ok_or_else(|| format!("missing {what}"))?;
        self.at += 1;
        Ok(token)
    }

    fn is_done(&self) -> bool {
        self.at >= self.tokens.len()
    }

    /// Takes every field left; at least one must be there.
    fn rest(&mut self, what: &str) -> Result<&'t [Token<'a>], String> {
        if self.is_done() {
            return Err(format!("missing {what}"));
        }
        let rest = &self.tokens[self.at..];
        self.at = self.tokens.len();
        Ok(rest)
    }

    fn finish(self) -> Result<Vec<u8>, String> {
        match self.tokens.get(self.at) {
            Some(extra) => Err(format!("unexpected {:?} after the rdata", extra.text)),
            None => Ok(self.out),
        }
    }

    /// An unsigned field of `bits` bits.
    fn number<T: std::str::FromStr>(&mut self, what: &str, bits: u32) -> Result<T, String> {
        let token = self.next(what)?;
        number(token.text).ok_or_else(|| {
            let max = (1u64 << bits) - 1;
            format!("bad {what} {:?}: expected a number from 0 to {max}", token.text)
        })
    }

    fn u8(&mut self, what: &str) -> Result<(), String> {
        let n: u8 = self.number(what, 8)?;
        self.out.push(n);
        Ok(())
    }

    fn u16(&mut self, what: &str) -> Result<(), String> {
        let n: u16 = self.number(what, 16)?;
        self.out.extend_from_slice(&n.to_be_bytes());
        Ok(())
    }

    fn u32(&mut self, what: &str) -> Result<(), String> {
        let n: u32 = self.number(what, 32)?;
        self.out.extend_from_slice(&n.to_be_bytes());
        Ok(())
    }

    fn ttl(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        let seconds = parse_ttl(token.text).map_err(|e| format!("{what}: {e}"))?;
        self.out.extend_from_slice(&seconds.to_be_bytes());
        Ok(())
    }

    fn ipv4(&mut self) -> Result<(), String> {
        let token = self.next("ipv4 address")?;
        let addr: Ipv4Addr = token
            .text
            .parse()
            .map_err(|_| format!("bad ipv4 address {:?}", token.text))?;
        self.out.extend_from_slice(&addr.octets());
        Ok(())
    }

    fn ipv6(&mut self) -> Result<(), String> {
        let token = self.next("ipv6 address")?;
        let addr: Ipv6Addr = token
            .text
            .parse()
            .map_err(|_| format!("bad ipv6 address {:?}", token.text))?;
        self.out.extend_from_slice(&addr.octets());
        Ok(())
    }

    fn name(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        let name = Name::parse(token.text, Some(self.origin)).map_err(|e| format!("{what}: {e}"))?;
        self.out.extend_from_slice(name.as_wire());
        Ok(())
    }

    /// A `<character-string>` (RFC 1035 3.3): a length byte, then at most 255 bytes.
    fn string(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        let bytes = unescape(token.text)?;
        let len = u8::try_from(bytes.len())
            .map_err(|_| format!("{what} longer than 255 bytes: split it into several strings"))?;
        self.out.push(len);
        self.out.extend_from_slice(&bytes);
        Ok(())
    }

    /// A string that fills the rest of the RDATA, without a length byte.
    fn raw_string(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        self.out.extend(unescape(token.text)?);
        Ok(())
    }

    fn hex_rest(&mut self, what: &str) -> Result<(), String> {
        let data = decode_hex(self.rest(what)?).map_err(|e| format!("{what}: {e}"))?;
        self.out.extend(data);
        Ok(())
    }

    fn base64_rest(&mut self, what: &str) -> Result<(), String> {
        let text: String = self.rest(what)?.iter().map(|t| t.text).collect();
        let data = BASE64
            .decode(text.as_bytes())
            .map_err(|e| format!("{what}: bad base64: {e}"))?;
        self.out.extend(data);
        Ok(())
    }

    /// Hash algorithm, flags, iterations and salt, shared by NSEC3 and NSEC3PARAM.
    fn nsec3_head(&mut self) -> Result<(), String> {
        self.u8("hash algorithm")?;
        self.u8("flags")?;
        self.u16("iterations")?;
        let salt = self.next("salt")?;
        let salt = match salt.text {
            "-" => Vec::new(),
            hex => decode_hex(&[hex.into()]).map_err(|e| format!("salt: {e}"))?,
        };
        let len = u8::try_from(salt.len()).map_err(|_| "salt longer than 255 bytes")?;
        self.out.push(len);
        self.out.extend(salt);
        Ok(())
    }

    /// RFC 5155 section 3.3: base32hex without padding, either case.
    fn next_hashed_owner(&mut self) -> Result<(), String> {
        let token = self.next("next hashed owner name")?;
        let hash = BASE32_DNSSEC
            .decode(token.text.as_bytes())
            .map_err(|e| format!("bad base32hex next hashed owner name: {e}"))?;
        let len = u8::try_from(hash.len()).map_err(|_| "next hashed owner longer than 255 bytes")?;
        self.out.push(len);
        self.out.extend(hash);
        Ok(())
    }

    /// RFC 4034 section 4.1.2: one block per 256-type window, in increasing order,
    /// each as long as its highest type needs.
    fn type_bitmap(&mut self) -> Result<(), String> {
        let mut types = BTreeSet::new();
        while !self.is_done() {
            let token = self.next("type")?;
            types.insert(type_code(token.text).ok_or_else(|| format!("unknown type {:?}", token.text))?);
        }
        let mut windows: BTreeMap<u8, [u8; 32]> = BTreeMap::new();
        for t in types {
            let [window, low] = t.to_be_bytes();
            windows.entry(window).or_insert([0; 32])[usize::from(low / 8)] |= 0x80 >> (low % 8);
        }
        for (window, bits) in windows {
            let len = bits.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            self.out.push(window);
            self.out.push(len as u8);
            self.out.extend_from_slice(&bits[..len]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Name {
        Name::parse("example.com.", None).expect("origin parses")
    }

    /// Splits like the reader would, for fields without spaces; `"..."` marks a quoted field.
    fn tokens(text: &str) -> Vec<Token<'_>> {
        text.split_whitespace()
            .map(|t| match t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                Some(inner) => Token {
                    text: inner,
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
            text: "hello world",
            quoted: true,
        }];
        assert_eq!(
            rdata_from_text(rtype::TXT, &quoted, &origin()),
            Ok(b"\x0bhello world".to_vec())
        );
        assert_eq!(wire(rtype::TXT, r#""""#), b"\x00", "empty string");
        let long = "x".repeat(256);
        assert!(error(rtype::TXT, &long).contains("255"));
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
}
