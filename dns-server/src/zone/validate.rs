//! Checks a zone's records before it may be served, and tidies duplicates and TTLs.

use std::collections::{HashMap, HashSet};

use dns_wire::wire::rtype;

use super::{Location, Record, ZoneError, parse::class_name, rdata_text::type_name};
use crate::name::{self, Name};

/// Rejects zone content a server must not publish; errors point to the offending record.
///
/// Call [`dedup`] first: two identical CNAMEs are a duplicate, not a conflict.
pub(crate) fn validate(origin: &Name, records: &[Record]) -> Result<(), ZoneError> {
    let first = records.first().ok_or_else(|| ZoneError {
        location: None,
        message: format!("zone {origin} has no records"),
    })?;
    let fail = |record: &Record, message: String| ZoneError {
        location: Some(record.location.clone()),
        message,
    };
    let mut soa: Option<&Record> = None;
    let mut apex_ns = false;
    // Per owner, the first record of each type, in file order so errors are stable.
    let mut owners: HashMap<Name, Vec<&Record>> = HashMap::new();
    for record in records {
        let owner = &record.owner;
        if !owner.is_within(origin) {
            return Err(fail(
                record,
                format!("out-of-zone record {owner} (the zone is {origin})"),
            ));
        }
        if record.class != first.class {
            return Err(fail(
                record,
                format!(
                    "class {} differs from the zone's class {}",
                    class_name(record.class),
                    class_name(first.class)
                ),
            ));
        }
        let at_apex = owner.to_lowercase() == origin.to_lowercase();
        match record.rtype {
            rtype::SOA if !at_apex => {
                return Err(fail(
                    record,
                    format!("SOA record at {owner}, not at the zone apex {origin}"),
                ));
            }
            rtype::SOA => {
                if let Some(earlier) = soa {
                    return Err(fail(
                        record,
                        format!("second SOA record (the first is at {})", earlier.location),
                    ));
                }
                soa = Some(record);
            }
            rtype::NS if at_apex => apex_ns = true,
            _ => {}
        }
        let types = owners.entry(owner.to_lowercase()).or_default();
        check_neighbours(record, types).map_err(|message| fail(record, message))?;
        if !types.iter().any(|r| r.rtype == record.rtype) {
            types.push(record);
        }
    }
    let soa = soa.ok_or_else(|| fail(first, format!("no SOA record at the zone apex {origin}")))?;
    if !apex_ns {
        return Err(fail(soa, format!("no NS records at the zone apex {origin}")));
    }
    check_below_dname(&owners, records).map_err(|(record, message)| fail(record, message))
}

/// Whether a type may share an owner with a CNAME (RFC 2181 10.1, RFC 4035 2.5).
fn may_sit_beside_cname(t: u16) -> bool {
    matches!(t, rtype::CNAME | rtype::RRSIG | rtype::NSEC)
}

/// Checks one record against the types already seen at its owner.
fn check_neighbours(record: &Record, types: &[&Record]) -> Result<(), String> {
    let owner = &record.owner;
    let t = record.rtype;
    let of_type = |want: u16| types.iter().copied().find(|r| r.rtype == want);
    let conflict = if t == rtype::CNAME {
        types.iter().copied().find(|r| !may_sit_beside_cname(r.rtype))
    } else if !may_sit_beside_cname(t) {
        of_type(rtype::CNAME)
    } else {
        None
    };
    if let Some(other) = conflict {
        return Err(format!(
            "{} beside {} at {owner}: a CNAME owner has no other data (RFC 2181 10.1); the {} is at {}",
            type_name(t),
            type_name(other.rtype),
            type_name(other.rtype),
            other.location
        ));
    }
    // RFC 1034 3.6.2 allows one CNAME per name, RFC 6672 2.4 one DNAME.
    if let Some(earlier) = of_type(t).filter(|_| t == rtype::CNAME || t == rtype::DNAME)
        && !earlier.rdata.eq_ignore_ascii_case(&record.rdata)
    {
        return Err(format!(
            "second {} at {owner} (the first is at {})",
            type_name(t),
            earlier.location
        ));
    }
    Ok(())
}

/// RFC 6672 2.4: no data below a DNAME owner. NSEC3 chains are exempt, since
/// their hashed owners sit right below the apex whatever the apex holds.
fn check_below_dname<'r>(
    owners: &HashMap<Name, Vec<&Record>>,
    records: &'r [Record],
) -> Result<(), (&'r Record, String)> {
    let dnames: HashSet<&[u8]> = owners
        .iter()
        .filter(|(_, types)| types.iter().any(|r| r.rtype == rtype::DNAME))
        .map(|(owner, _)| owner.as_wire())
        .collect();
    if dnames.is_empty() {
        return Ok(());
    }
    for record in records {
        let covers_nsec3 =
            record.rtype == rtype::RRSIG && record.rdata.get(..2) == Some(&rtype::NSEC3.to_be_bytes()[..]);
        if record.rtype == rtype::NSEC3 || covers_nsec3 {
            continue;
        }
        let owner = record.owner.to_lowercase();
        if let Some(dname) = name::suffixes(owner.as_wire()).skip(1).find(|s| dnames.contains(s)) {
            let dname = Name::from_wire(dname).unwrap_or_else(Name::root);
            return Err((
                record,
                format!("{} is below the DNAME at {dname} (RFC 6672 2.4)", record.owner),
            ));
        }
    }
    Ok(())
}

/// Drops records identical to an earlier one (owner compared case-insensitively),
/// keeping the first; RFC 2181 5 makes an RRset a set.
pub(crate) fn dedup(records: &mut Vec<Record>) {
    let mut seen = HashSet::new();
    records.retain(|r| seen.insert((r.owner.to_lowercase(), r.class, r.rtype, r.rdata.clone())));
}

/// Gives every RRset its lowest TTL (RFC 2181 5.2), returning one warning per
/// RRset whose TTLs differed. RRSIGs form one set per covered type (RFC 4034 3).
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "not called by the loader: `zone::tree` takes each RRset's lowest TTL itself, without these warnings"
    )
)]
pub(crate) fn normalize_ttls(records: &mut [Record]) -> Vec<String> {
    let key = |r: &Record| {
        let covered = (r.rtype == rtype::RRSIG)
            .then(|| r.rdata.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])))
            .flatten();
        (r.owner.to_lowercase(), r.class, r.rtype, covered)
    };
    // Lowest TTL, whether TTLs differ, and where the set starts, per RRset.
    let mut sets: HashMap<_, (u32, bool, usize)> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let set = sets.entry(key(r)).or_insert((r.ttl, false, i));
        set.1 |= set.0 != r.ttl;
        set.0 = set.0.min(r.ttl);
    }
    let mut differing: Vec<(usize, u32)> = Vec::new();
    for (ttl, differs, first) in sets.values() {
        if *differs {
            differing.push((*first, *ttl));
        }
    }
    differing.sort_unstable();
    let warnings = differing
        .iter()
        .map(|&(first, ttl)| {
            let r = &records[first];
            warning(&r.location, &r.owner, r.rtype, ttl)
        })
        .collect();
    for r in records.iter_mut() {
        if let Some((ttl, true, _)) = sets.get(&key(r)) {
            r.ttl = *ttl;
        }
    }
    warnings
}

fn warning(at: &Location, owner: &Name, t: u16, ttl: u32) -> String {
    format!(
        "{at}: TTLs of the {owner} {} RRset differ; using the lowest, {ttl} (RFC 2181 5.2)",
        type_name(t)
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::zone::parse::parse_str;

    const HEAD: &str = "$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n";

    fn origin() -> Name {
        Name::parse("example.com.", None).expect("origin parses")
    }

    fn records(text: &str) -> Vec<Record> {
        parse_str(text, Path::new("db.test"), &origin())
            .unwrap_or_else(|e| panic!("test zone should parse: {e}\n{text}"))
    }

    fn check(text: &str) -> Result<(), ZoneError> {
        let mut records = records(text);
        dedup(&mut records);
        validate(&origin(), &records)
    }

    #[test]
    fn a_complete_zone_passes() {
        let text = format!(
            "{HEAD}www CNAME ns1\nwww RRSIG CNAME 13 3 300 1 0 1 example.com. AQID\n\
             www NSEC z CNAME RRSIG NSEC\nwww CNAME NS1\nd DNAME example.net.\nd A 192.0.2.2\n\
             d DNAME example.net.\nsub NS ns.sub\nns.sub A 192.0.2.3\n"
        );
        if let Err(e) = check(&text) {
            panic!("zone should pass, got {e}");
        }
        let dname_apex = "$TTL 1\n@ SOA ns1.example.net. h 1 2 3 4 5\n@ NS ns1.example.net.\n\
                          @ DNAME example.net.\n\
                          2t7b4g4vsa5smi47k61mv5bv1a22bojr NSEC3 1 0 0 - 2t7b4g4vsa5smi47k61mv5bv1a22bojr\n";
        assert_eq!(check(dname_apex), Ok(()), "NSEC3 below an apex DNAME");
    }

    #[test]
    fn the_tests_data_zone_passes() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests-data/zones/example.com.zone");
        let mut records = crate::zone::parse::parse_file(&path, &origin(), 1, &Default::default())
            .unwrap_or_else(|e| panic!("tests-data zone should parse: {e}"));
        dedup(&mut records);
        if let Err(e) = validate(&origin(), &records) {
            panic!("tests-data zone should pass validation, got {e}");
        }
    }

    #[test]
    fn each_error_names_the_offending_record() {
        let cases = [
            (
                "www.example.net. A 192.0.2.9\n",
                5,
                "out-of-zone record www.example.net.",
            ),
            (
                "@ SOA ns1 host 2 2 3 4 5\n",
                5,
                "second SOA record (the first is at db.test:2)",
            ),
            ("www SOA ns1 host 2 2 3 4 5\n", 5, "not at the zone apex"),
            (
                "www A 192.0.2.9\nwww CNAME ns1\n",
                6,
                "CNAME beside A at www.example.com.",
            ),
            ("www CNAME ns1\nWWW TXT x\n", 6, "TXT beside CNAME"),
            ("@ CNAME ns1\n", 5, "CNAME beside SOA"),
            ("www CNAME ns1\nwww CNAME ns2\n", 6, "second CNAME"),
            ("d DNAME a.\nd DNAME b.\n", 6, "second DNAME"),
            ("d DNAME a.\nd CNAME b.\n", 6, "CNAME beside DNAME"),
            (
                "d DNAME a.\nx.d A 192.0.2.9\n",
                6,
                "x.d.example.com. is below the DNAME at d.example.com.",
            ),
        ];
        for (tail, line, needle) in cases {
            let text = format!("{HEAD}{tail}");
            let e = check(&text).expect_err(&format!("{tail:?} should be rejected"));
            let message = e.to_string();
            let prefix = format!("db.test:{line}: ");
            assert!(
                message.starts_with(&prefix) && message.contains(needle),
                "{tail:?} should fail with {prefix}...{needle}..., got {message:?}"
            );
        }
    }

    #[test]
    fn missing_apex_records_and_foreign_class() {
        let no_soa = check("$TTL 1\n@ NS ns1\n").expect_err("a zone needs an SOA");
        assert_eq!(
            no_soa.to_string(),
            "db.test:2: no SOA record at the zone apex example.com."
        );
        let no_ns = check("$TTL 1\nx A 192.0.2.1\n@ SOA ns1 h 1 2 3 4 5\n").expect_err("needs NS");
        assert_eq!(
            no_ns.to_string(),
            "db.test:3: no NS records at the zone apex example.com."
        );
        let empty = validate(&origin(), &[]).expect_err("an empty zone is an error");
        assert!(empty.location.is_none(), "nowhere to point: {empty}");
        let mut mixed = records(HEAD);
        mixed[2].class = 3;
        let e = validate(&origin(), &mixed).expect_err("classes must agree");
        assert_eq!(e.to_string(), "db.test:4: class CH differs from the zone's class IN");
    }

    #[test]
    fn dedup_keeps_the_first_of_identical_records() {
        let mut rs = records(&format!(
            "{HEAD}WWW 60 A 192.0.2.9\nwww 30 A 192.0.2.9\nwww A 192.0.2.8\n"
        ));
        dedup(&mut rs);
        let www: Vec<_> = rs.iter().skip(3).map(|r| (r.ttl, r.rdata[3])).collect();
        assert_eq!(
            www,
            [(60, 9), (300, 8)],
            "the duplicate A is gone, whatever its TTL or owner case"
        );
    }

    #[test]
    fn ttls_of_an_rrset_become_the_lowest() {
        let mut rs = records(&format!(
            "{HEAD}www 60 A 192.0.2.9\nwww 30 A 192.0.2.8\nwww 90 TXT x\n\
             www 60 RRSIG A 13 3 60 1 0 1 example.com. AQID\n\
             www 90 RRSIG TXT 13 3 90 1 0 1 example.com. AQID\n"
        ));
        let warnings = normalize_ttls(&mut rs);
        assert_eq!(
            warnings,
            ["db.test:5: TTLs of the www.example.com. A RRset differ; using the lowest, 30 (RFC 2181 5.2)"],
            "one warning, for the A RRset only"
        );
        let ttls: Vec<_> = rs.iter().skip(3).map(|r| r.ttl).collect();
        assert_eq!(ttls, [30, 30, 90, 60, 90], "RRSIGs keep the TTL of the set they cover");
    }
}
