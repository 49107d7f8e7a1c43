//! Wire-format RDATA back to presentation format, for the zone files and diffs an operator reads.
//!
//! The common types (A, AAAA, NS, CNAME, PTR, DNAME, MX, SOA, TXT, SPF) are
//! written in their own form; every other type, and any RDATA that does not
//! decode as its type says, in the RFC 3597 generic form `\# LEN HEX`,
//! which every master-file reader (ours, Knot, BIND, NSD) reads back byte
//! for byte.

use std::fmt::Write as _;

use dns_wire::wire::rtype;

use crate::name::write_presentation;

/// `rdata` of type `rtype` in presentation format.
pub(crate) fn rdata_text(rtype: u16, rdata: &[u8]) -> String {
    own_form(rtype, rdata).unwrap_or_else(|| generic(rdata))
}

/// The RFC 3597 form.
pub(crate) fn generic(rdata: &[u8]) -> String {
    let mut out = format!("\\# {}", rdata.len());
    if !rdata.is_empty() {
        out.push(' ');
        out.push_str(&data_encoding::HEXLOWER.encode(rdata));
    }
    out
}

/// SPF (RFC 7208 3.1, TXT's form); no constant in `dns_wire`.
const SPF: u16 = 99;

fn own_form(t: u16, rdata: &[u8]) -> Option<String> {
    let mut out = String::new();
    match t {
        rtype::A => {
            let octets: [u8; 4] = rdata.try_into().ok()?;
            out = std::net::Ipv4Addr::from(octets).to_string();
        }
        rtype::AAAA => {
            let octets: [u8; 16] = rdata.try_into().ok()?;
            out = std::net::Ipv6Addr::from(octets).to_string();
        }
        rtype::NS | rtype::CNAME | rtype::PTR | rtype::DNAME => {
            (name_len(rdata)? == rdata.len()).then_some(())?;
            write_presentation(rdata, &mut out).ok()?;
        }
        rtype::MX => {
            let preference = u16::from_be_bytes(rdata.get(..2)?.try_into().ok()?);
            let exchange = rdata.get(2..)?;
            (name_len(exchange)? == exchange.len()).then_some(())?;
            out = format!("{preference} ");
            write_presentation(exchange, &mut out).ok()?;
        }
        rtype::SOA => {
            let mname = name_len(rdata)?;
            let rname = name_len(rdata.get(mname..)?)?;
            let fixed = rdata.get(mname + rname..)?;
            (fixed.len() == 20).then_some(())?;
            write_presentation(&rdata[..mname], &mut out).ok()?;
            out.push(' ');
            write_presentation(&rdata[mname..mname + rname], &mut out).ok()?;
            for word in fixed.chunks(4) {
                let _ = write!(out, " {}", u32::from_be_bytes(word.try_into().ok()?));
            }
        }
        rtype::TXT | SPF => {
            let mut rest = rdata;
            while let Some((&len, after)) = rest.split_first() {
                let string = after.get(..usize::from(len))?;
                if !out.is_empty() {
                    out.push(' ');
                }
                character_string(string, &mut out);
                rest = &after[usize::from(len)..];
            }
            // An empty TXT RDATA has no string to show it by.
            (!rdata.is_empty()).then_some(())?;
        }
        _ => return None,
    }
    Some(out)
}

fn name_len(wire: &[u8]) -> Option<usize> {
    dns_wire::query::question_name_len(wire)
}

/// A character-string between quotes, `"` and `\` escaped, other bytes
/// outside printable ASCII as `\DDD`.
fn character_string(bytes: &[u8], out: &mut String) {
    out.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{name::Name, zone::parse::parse_str};

    /// Each line's RDATA written back reads as the same bytes.
    #[test]
    fn written_rdata_reads_back_byte_for_byte() {
        let origin = Name::parse("example.", None).expect("origin");
        let text = "@ 3600 IN SOA ns1 hostmaster\\.x 2024010101 7200 3600 1209600 300\n\
                    @ 3600 IN NS ns1\n\
                    a 60 IN A 192.0.2.1\n\
                    a 60 IN AAAA 2001:db8::1\n\
                    c 60 IN CNAME Other.Example.\n\
                    m 60 IN MX 10 mail\n\
                    t 60 IN TXT \"hello world\" \"q\\\"b\\\\s\" \"\\255\\000;\"\n\
                    t 60 IN TXT \"\"\n\
                    x 60 IN CAA 0 issue \"ca.example\"\n\
                    z 60 IN TYPE65280 \\# 0\n";
        let records = parse_str(text, std::path::Path::new("t"), &origin).expect("parses");
        let mut again = String::new();
        for r in &records {
            let mut owner = String::new();
            write_presentation(r.owner.as_wire(), &mut owner).expect("owner");
            let rdata = rdata_text(r.rtype, &r.rdata);
            again.push_str(&format!(
                "{owner} {} IN {} {rdata}\n",
                r.ttl,
                crate::zone::rdata_text::type_name(r.rtype)
            ));
        }
        let back = parse_str(&again, std::path::Path::new("t2"), &origin).expect(&again);
        let wire = |rs: &[crate::zone::Record]| -> Vec<_> {
            rs.iter()
                .map(|r| (r.owner.clone(), r.rtype, r.ttl, r.rdata.clone()))
                .collect()
        };
        assert_eq!(wire(&back), wire(&records), "{again}");
        assert!(
            again.contains("192.0.2.1") && again.contains("\"hello world\""),
            "{again}"
        );
        assert!(again.contains("\\# "), "CAA in the generic form: {again}");
    }
}
