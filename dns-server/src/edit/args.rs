//! `ctl zone-set` and `zone-unset` arguments to records, through the zone-file parser.
//!
//! The arguments are put together as one master-file line and read by the
//! same parser as a zone file (its RDATA code, its escapes and checks),
//! so a record set over the control socket means what it would mean in
//! the file.

use std::path::Path;

use crate::{
    name::{Name, write_presentation},
    zone::{
        parse::parse_str,
        rdata_text::{parse_ttl, type_code},
    },
};

/// What the parser's errors name as the file.
const SHOWN_AS: &str = "ctl";

/// A record to set: owner, type, TTL if given, RDATA in wire format.
pub(crate) struct ToSet {
    pub owner: Name,
    pub rtype: u16,
    pub ttl: Option<u32>,
    pub rdata: Box<[u8]>,
}

/// What to unset: an owner's every record, an RRset, or one record.
pub(crate) struct ToUnset {
    pub owner: Name,
    pub rtype: Option<u16>,
    pub rdata: Option<Box<[u8]>>,
}

/// The owner, relative to `origin` (`@` is the apex) or absolute, and within it.
pub(crate) fn owner(text: &str, origin: &Name) -> Result<Name, String> {
    if text.starts_with('$') {
        return Err(format!("{text:?} is not an owner name (directives are not records)"));
    }
    let name = Name::parse(text, Some(origin)).map_err(|e| format!("{text:?} is not an owner name: {e}"))?;
    if !name.is_within(origin) {
        return Err(format!("{name} is not in the zone {origin}"));
    }
    Ok(name)
}

/// `OWNER [TTL] TYPE RDATA...`.
pub(crate) fn to_set(origin: &Name, owner_text: &str, data: &[String]) -> Result<ToSet, String> {
    let owner = owner(owner_text, origin)?;
    let (ttl, rest) = match data.first().map(|t| parse_ttl(t)) {
        Some(Ok(ttl)) => (Some(ttl), &data[1..]),
        _ => (None, data),
    };
    let Some((type_text, rdata)) = rest.split_first() else {
        return Err("zone-set needs OWNER [TTL] TYPE RDATA...".into());
    };
    let rtype = rtype_of(type_text)?;
    if rdata.is_empty() {
        return Err(format!("zone-set {owner} {type_text}: no RDATA"));
    }
    let rdata = read(origin, &owner, rtype, type_text, rdata)?;
    Ok(ToSet {
        owner,
        rtype,
        ttl,
        rdata,
    })
}

/// `OWNER [TYPE [RDATA...]]`.
pub(crate) fn to_unset(origin: &Name, owner_text: &str, data: &[String]) -> Result<ToUnset, String> {
    let owner = owner(owner_text, origin)?;
    let Some((type_text, rdata)) = data.split_first() else {
        return Ok(ToUnset {
            owner,
            rtype: None,
            rdata: None,
        });
    };
    let rtype = rtype_of(type_text)?;
    let rdata = if rdata.is_empty() {
        None
    } else {
        Some(read(origin, &owner, rtype, type_text, rdata)?)
    };
    Ok(ToUnset {
        owner,
        rtype: Some(rtype),
        rdata,
    })
}

fn rtype_of(text: &str) -> Result<u16, String> {
    type_code(text).ok_or_else(|| format!("{text:?} is not a record type (nor a TTL before one)"))
}

/// The RDATA of `fields`, read as the zone-file line `OWNER 0 IN TYPE FIELDS`.
fn read(origin: &Name, owner: &Name, rtype: u16, type_text: &str, fields: &[String]) -> Result<Box<[u8]>, String> {
    // One line: a line break would let the arguments say more than one record.
    if fields.iter().any(|f| f.contains(['\n', '\r'])) {
        return Err("RDATA may not hold a line break".into());
    }
    let mut line = String::new();
    let _ = write_presentation(owner.as_wire(), &mut line);
    line.push_str(&format!(" 0 IN {type_text} {}\n", fields.join(" ")));
    let records =
        parse_str(&line, Path::new(SHOWN_AS), origin).map_err(|e| format!("{type_text} RDATA: {}", e.message))?;
    match <[_; 1]>::try_from(records) {
        Ok([record]) if record.rtype == rtype => Ok(record.rdata),
        _ => Err(format!("{type_text} RDATA {:?} is not one record", fields.join(" "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(text: &str) -> Vec<String> {
        text.split(' ').filter(|s| !s.is_empty()).map(String::from).collect()
    }

    #[test]
    fn records_read_as_in_a_zone_file_and_bad_ones_are_explained() {
        let origin = Name::parse("example.com.", None).expect("origin");
        let set = to_set(&origin, "www", &strings("300 A 192.0.2.7")).expect("relative owner, TTL");
        assert_eq!(set.owner.to_string(), "www.example.com.");
        assert_eq!(
            (set.rtype, set.ttl, &set.rdata[..]),
            (1, Some(300), &[192, 0, 2, 7][..])
        );
        let set = to_set(&origin, "mail.example.com.", &strings("MX 10 mx")).expect("absolute owner, no TTL");
        assert_eq!(set.ttl, None);
        assert_eq!(&set.rdata[..2], &[0, 10]);
        assert!(set.rdata.ends_with(b"\x02mx\x07example\x03com\x00"), "{:?}", set.rdata);
        let set = to_set(&origin, "@", &["TXT".into(), "\"two words\"".into()]).expect("quoted TXT");
        assert_eq!(&set.rdata[..], b"\x09two words");

        let unset = to_unset(&origin, "www", &[]).expect("owner only");
        assert!(unset.rtype.is_none() && unset.rdata.is_none());
        let unset = to_unset(&origin, "www", &strings("AAAA")).expect("a type");
        assert_eq!((unset.rtype, unset.rdata.is_none()), (Some(28), true));

        for (owner, data, expected) in [
            ("www", "A 192.0.2.300", "A RDATA"),
            ("www", "A", "no RDATA"),
            ("www", "BOGUS 1", "not a record type"),
            ("www.example.org.", "A 192.0.2.1", "not in the zone"),
            ("$INCLUDE", "A 192.0.2.1", "not an owner name"),
            ("www", "1h", "needs OWNER"),
        ] {
            let error = to_set(&origin, owner, &strings(data)).err().expect(data);
            assert!(error.contains(expected), "{owner} {data}: {error}");
        }
        let error = to_set(&origin, "www", &["TXT".into(), "\"a\nb IN A 192.0.2.1\"".into()])
            .err()
            .expect("line break");
        assert!(error.contains("line break"), "{error}");
    }
}
