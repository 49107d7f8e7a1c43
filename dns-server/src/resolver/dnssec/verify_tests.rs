//! Signatures made by `ldns-signzone` (testdata/, signed 2026-01-01 to
//! 2036-01-01) verified with each algorithm, and broken on purpose.

use std::path::Path;

use dns_wire::wire::rtype;

use super::*;
use crate::zone::parse::parse_str;

/// 2030-01-01, inside the fixtures' validity period.
const NOW: u32 = 1_893_456_000;

struct Fixture {
    records: Vec<CachedRecord>,
    sigs: Vec<CachedRecord>,
    keys: Vec<Vec<u8>>,
    ds: Vec<u8>,
}

fn load(algorithm: &str) -> Fixture {
    let origin = Name::parse("example.", None).expect("name");
    let text = match algorithm {
        "RSASHA256" => include_str!("testdata/RSASHA256.signed"),
        "ECDSAP256SHA256" => include_str!("testdata/ECDSAP256SHA256.signed"),
        "ECDSAP384SHA384" => include_str!("testdata/ECDSAP384SHA384.signed"),
        "ED25519" => include_str!("testdata/ED25519.signed"),
        other => panic!("no fixture {other}"),
    };
    let ds_text = match algorithm {
        "RSASHA256" => include_str!("testdata/RSASHA256.ds"),
        "ECDSAP256SHA256" => include_str!("testdata/ECDSAP256SHA256.ds"),
        "ECDSAP384SHA384" => include_str!("testdata/ECDSAP384SHA384.ds"),
        _ => include_str!("testdata/ED25519.ds"),
    };
    let all = parse_str(text, Path::new("fixture"), &origin).expect("the fixture parses");
    let ds = parse_str(&format!("$TTL 0\n{ds_text}"), Path::new("ds"), &origin).expect("the DS parses");
    let cached = |r: &crate::zone::record::Record| CachedRecord {
        owner: r.owner.clone(),
        rtype: r.rtype,
        class: r.class,
        rdata: r.rdata.to_vec(),
    };
    Fixture {
        records: all.iter().filter(|r| r.rtype != rtype::RRSIG).map(cached).collect(),
        sigs: all.iter().filter(|r| r.rtype == rtype::RRSIG).map(cached).collect(),
        keys: all
            .iter()
            .filter(|r| r.rtype == rtype::DNSKEY)
            .map(|r| r.rdata.to_vec())
            .collect(),
        ds: ds[0].rdata.to_vec(),
    }
}

impl Fixture {
    fn rrset(&self, owner: &str, t: u16) -> Vec<CachedRecord> {
        let owner = Name::parse(owner, None).expect("name").to_lowercase();
        self.records
            .iter()
            .filter(|r| r.rtype == t && r.owner.to_lowercase() == owner)
            .cloned()
            .collect()
    }

    fn sig(&self, owner: &str, t: u16) -> Vec<u8> {
        let owner = Name::parse(owner, None).expect("name").to_lowercase();
        self.sigs
            .iter()
            .find(|r| r.owner.to_lowercase() == owner && Rrsig::parse(&r.rdata).is_some_and(|s| s.type_covered == t))
            .unwrap_or_else(|| panic!("expected an RRSIG for {owner}/{t}"))
            .rdata
            .clone()
    }

    /// Verifies with whichever key the RRSIG names.
    fn verify(&self, rrset: &[CachedRecord], sig: &[u8], now: u32) -> Result<(), SigError> {
        let tag = Rrsig::parse(sig).expect("rrsig").key_tag;
        let key = self
            .keys
            .iter()
            .find(|k| key_tag(k) == tag)
            .expect("the signing key is in the zone");
        verify_rrset(rrset, sig, key, now)
    }

    /// Every RRset of the zone with its RRSIG.
    fn check_all(&self) {
        let mut sets: Vec<(Name, u16)> = self.records.iter().map(|r| (r.owner.to_lowercase(), r.rtype)).collect();
        sets.sort_by(|a, b| a.0.as_wire().cmp(b.0.as_wire()).then(a.1.cmp(&b.1)));
        sets.dedup();
        let mut checked = 0;
        for (owner, t) in sets {
            let text = owner.to_string();
            // Glue and the delegation's NS are not signed; this zone has neither.
            let rrset = self.rrset(&text, t);
            let sig = self.sig(&text, t);
            assert_eq!(self.verify(&rrset, &sig, NOW), Ok(()), "{text}/{t}");
            checked += 1;
        }
        assert!(checked >= 8, "expected every RRset checked, got {checked}");
    }
}

#[test]
fn every_algorithm_verifies_ldns_signatures() {
    for algorithm in ["RSASHA256", "ECDSAP256SHA256", "ECDSAP384SHA384", "ED25519"] {
        load(algorithm).check_all();
    }
}

#[test]
fn mixed_case_names_in_rdata_are_signed_in_lower_case() {
    // The SOA's MNAME is written `ns.Example.` and the MX target `WWW.example.`.
    let f = load("ECDSAP256SHA256");
    let soa = f.rrset("example.", rtype::SOA);
    assert!(
        soa[0].rdata.windows(7).any(|w| w == b"Example"),
        "the fixture keeps the case"
    );
    assert_eq!(f.verify(&soa, &f.sig("example.", rtype::SOA), NOW), Ok(()));
    assert_eq!(
        f.verify(
            &f.rrset("Mail.example.", rtype::MX),
            &f.sig("mail.example.", rtype::MX),
            NOW
        ),
        Ok(())
    );
}

#[test]
fn a_wildcard_expansion_verifies_under_the_wildcard_signature() {
    let f = load("ED25519");
    let mut expanded = f.rrset("*.wild.example.", rtype::TXT);
    for r in &mut expanded {
        r.owner = Name::parse("a.b.wild.example.", None).expect("name");
    }
    assert_eq!(f.verify(&expanded, &f.sig("*.wild.example.", rtype::TXT), NOW), Ok(()));
}

#[test]
fn altered_data_fails_for_every_algorithm() {
    for algorithm in ["RSASHA256", "ECDSAP256SHA256", "ECDSAP384SHA384", "ED25519"] {
        let f = load(algorithm);
        let mut www = f.rrset("www.example.", rtype::A);
        www[0].rdata[3] ^= 1;
        let sig = f.sig("www.example.", rtype::A);
        assert_eq!(f.verify(&www, &sig, NOW), Err(SigError::Invalid), "{algorithm}");
        // A record dropped from the RRset breaks it too.
        let one = &f.rrset("www.example.", rtype::A)[..1];
        assert_eq!(f.verify(one, &sig, NOW), Err(SigError::Invalid), "{algorithm}");
    }
}

#[test]
fn record_order_and_duplicates_do_not_matter() {
    let f = load("ECDSAP256SHA256");
    let mut www = f.rrset("www.example.", rtype::A);
    www.reverse();
    www.push(www[0].clone());
    assert_eq!(f.verify(&www, &f.sig("www.example.", rtype::A), NOW), Ok(()));
}

#[test]
fn times_outside_the_validity_period_fail() {
    let f = load("ED25519");
    let www = f.rrset("www.example.", rtype::A);
    let sig = f.sig("www.example.", rtype::A);
    // 2037-01-01 and 2025-01-01.
    assert_eq!(f.verify(&www, &sig, 2_114_380_800), Err(SigError::Expired));
    assert_eq!(f.verify(&www, &sig, 1_735_689_600), Err(SigError::NotYetValid));
}

#[test]
fn the_wrong_key_fails() {
    let f = load("ECDSAP256SHA256");
    let www = f.rrset("www.example.", rtype::A);
    let sig = f.sig("www.example.", rtype::A);
    let tag = Rrsig::parse(&sig).expect("rrsig").key_tag;
    let other = f.keys.iter().find(|k| key_tag(k) != tag).expect("two keys");
    assert_eq!(verify_rrset(&www, &sig, other, NOW), Err(SigError::Invalid));
}

#[test]
fn the_ds_matches_the_ksk_only() {
    let origin = Name::parse("example.", None).expect("name");
    for algorithm in ["RSASHA256", "ECDSAP256SHA256", "ECDSAP384SHA384", "ED25519"] {
        let f = load(algorithm);
        let matching: Vec<&Vec<u8>> = f.keys.iter().filter(|k| ds_matches(&origin, &f.ds, k)).collect();
        assert_eq!(matching.len(), 1, "{algorithm}");
        assert_eq!(
            Dnskey::parse(matching[0]).expect("key").flags,
            257,
            "{algorithm}: the KSK"
        );
        let other = Name::parse("example.org.", None).expect("name");
        assert!(!ds_matches(&other, &f.ds, matching[0]), "the owner is digested");
    }
}
