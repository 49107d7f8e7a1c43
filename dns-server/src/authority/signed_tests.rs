//! Tests of DO=1 answers from signed zones: RRSIGs per RRset, and the NSEC and NSEC3
//! proofs of RFC 4035 3.1.3 and RFC 5155 7.2, the latter on the names of RFC 5155
//! Appendix A with the responses of its Appendix B.

use std::path::Path;

use data_encoding::BASE32_DNSSEC;
use dns_wire::wire::{rcode, rtype};

use super::{Answer, Placed, lookup};
use crate::{
    name::Name,
    zone::{
        load,
        nsec3::{Hash, Params, hash},
        tree::Zone,
    },
};

/// A signature that validates nothing: these tests look at which records are placed.
fn sig(covered: &str, labels: u8, ttl: u32) -> String {
    format!("RRSIG {covered} 13 {labels} {ttl} 1 0 1 example. AQID")
}

fn load(text: &str) -> Zone {
    let origin = Name::parse("example.", None).expect("origin");
    load::from_str(&origin, text, Path::new("signed.zone")).expect("the signed test zone loads")
}

fn ask<'a>(zone: &'a Zone, qname: &'a Name, qtype: u16) -> Answer<'a> {
    lookup(zone, qname.as_wire(), qtype, true, false)
}

fn name(text: &str) -> Name {
    Name::parse(text, None).expect("test names parse")
}

/// (owner, type, TTL) of each record set placed, RRSIGs as `RRSIG <covered>` type 46.
fn owners_of(section: &[Placed<'_>], t: u16) -> Vec<String> {
    section
        .iter()
        .filter(|p| p.rrset.rtype == t)
        .map(|p| Name::from_wire(&p.owner).expect("a name").to_string())
        .collect()
}

/// Each placed RRset that is not an RRSIG has its signature right after it.
fn assert_signed(section: &[Placed<'_>], what: &str) {
    for (i, p) in section.iter().enumerate() {
        if p.rrset.rtype == rtype::RRSIG {
            continue;
        }
        let next = section.get(i + 1);
        assert!(
            next.is_some_and(|s| s.rrset.rtype == rtype::RRSIG && s.covering == Some(p.rrset.rtype)),
            "{what}: type {} at {:?} should be followed by its RRSIG",
            p.rrset.rtype,
            Name::from_wire(&p.owner)
        );
    }
}

const NSEC_ZONE: &str = "$ORIGIN example.\n$TTL 3600\n\
    @ SOA ns1 host 1 7200 3600 1209600 300\n@ NS ns1\n@ NSEC a NS SOA RRSIG NSEC\n\
    a A 192.0.2.1\na 60 TXT \"short\"\na NSEC ns1 A TXT RRSIG NSEC\n\
    ns1 A 192.0.2.2\nns1 NSEC *.w A RRSIG NSEC\n\
    *.w TXT \"wild\"\n*.w NSEC x.y TXT RRSIG NSEC\n\
    x.y A 192.0.2.3\nx.y NSEC z A RRSIG NSEC\n\
    z A 192.0.2.4\nz NSEC example. A RRSIG NSEC\n";

fn nsec_zone() -> Zone {
    let mut text = NSEC_ZONE.to_string();
    for (owner, covered, labels, ttl) in [
        ("@", "SOA", 1, 3600),
        ("@", "NS", 1, 3600),
        ("@", "NSEC", 1, 300),
        ("a", "A", 2, 3600),
        ("a", "TXT", 2, 60),
        ("a", "NSEC", 2, 3600),
        ("ns1", "A", 2, 3600),
        ("ns1", "NSEC", 2, 3600),
        ("x.y", "NSEC", 3, 3600),
        ("*.w", "TXT", 2, 3600),
        ("*.w", "NSEC", 2, 3600),
        ("z", "NSEC", 2, 3600),
    ] {
        text.push_str(&format!("{owner} {ttl} {}\n", sig(covered, labels, ttl)));
    }
    load(&text)
}

#[test]
fn each_rrsig_keeps_the_ttl_of_the_rrset_it_covers() {
    let z = nsec_zone();
    let q = name("a.example.");
    for (t, ttl) in [(rtype::A, 3600), (rtype::TXT, 60)] {
        let a = ask(&z, &q, t);
        let ttls: Vec<(u16, u32)> = a.answer.iter().map(|p| (p.rrset.rtype, p.ttl)).collect();
        assert_eq!(
            ttls,
            [(t, ttl), (rtype::RRSIG, ttl)],
            "type {t}: the RRSIG of its own set"
        );
    }
    let apex = z.apex();
    let soa_sig = apex.signatures(rtype::SOA).expect("the SOA is signed");
    let nsec_sig = apex.signatures(rtype::NSEC).expect("the NSEC is signed");
    assert_eq!(
        (soa_sig.ttl, nsec_sig.ttl),
        (3600, 300),
        "one RRSIG RRset per type covered"
    );
}

#[test]
fn nsec_nxdomain_proves_the_name_and_the_wildcard_absent() {
    let z = nsec_zone();
    let q = name("b.example.");
    let a = ask(&z, &q, rtype::A);
    assert_eq!(a.rcode, rcode::NXDOMAIN);
    assert_eq!(
        owners_of(&a.authority, rtype::NSEC),
        ["a.example.", "example."],
        "a covers b; the apex's NSEC covers *.example."
    );
    assert_signed(&a.authority, "NXDOMAIN");
}

#[test]
fn nsec_nodata_and_empty_non_terminals() {
    let z = nsec_zone();
    let q = name("ns1.example.");
    let a = ask(&z, &q, rtype::MX);
    assert_eq!(
        (a.rcode, owners_of(&a.authority, rtype::NSEC)),
        (rcode::NOERROR, vec!["ns1.example.".to_string()])
    );
    // y.example. is an empty non-terminal: the NSEC before it (*.w < y < x.y) covers it.
    let q = name("y.example.");
    let a = ask(&z, &q, rtype::A);
    assert_eq!(
        (a.rcode, owners_of(&a.authority, rtype::NSEC)),
        (rcode::NOERROR, vec!["*.w.example.".to_string()])
    );
    assert_signed(&a.authority, "ENT NODATA");
}

#[test]
fn nsec_wildcard_answers_and_nodata() {
    let z = nsec_zone();
    let q = name("q.w.example.");
    let a = ask(&z, &q, rtype::TXT);
    assert_eq!(a.rcode, rcode::NOERROR);
    assert_eq!(owners_of(&a.answer, rtype::TXT), ["q.w.example."]);
    assert_eq!(
        owners_of(&a.authority, rtype::NSEC),
        ["*.w.example."],
        "the NSEC covering q.w proves there is no exact match"
    );
    let a = ask(&z, &q, rtype::A);
    assert_eq!(
        owners_of(&a.authority, rtype::NSEC),
        ["*.w.example."],
        "wildcard NODATA: the same NSEC covers q.w and shows *.w has no A"
    );
    assert_eq!(owners_of(&a.authority, rtype::SOA), ["example."]);
}

#[test]
fn an_unsigned_zone_or_no_do_adds_nothing() {
    let z = nsec_zone();
    let q = name("b.example.");
    let a = lookup(&z, q.as_wire(), rtype::A, false, false);
    assert!(owners_of(&a.authority, rtype::NSEC).is_empty(), "DO=0: no proof");
    assert!(owners_of(&a.authority, rtype::RRSIG).is_empty(), "DO=0: no signatures");
}

// RFC 5155 Appendix A: names, delegations (a: signed, c: unsigned, opted out) and the
// hash parameters (salt aabbccdd, 12 iterations). The NSEC3 chain is computed here.
const RFC_5155_NAMES: &[(&str, &str)] = &[
    ("example.", "NS SOA MX RRSIG DNSKEY NSEC3PARAM"),
    ("a.example.", "NS DS RRSIG"),
    ("ai.example.", "A HINFO AAAA RRSIG"),
    ("ns1.example.", "A RRSIG"),
    ("ns2.example.", "A RRSIG"),
    ("w.example.", ""),
    ("*.w.example.", "MX RRSIG"),
    ("x.w.example.", "MX RRSIG"),
    ("y.w.example.", ""),
    ("x.y.w.example.", "MX RRSIG"),
    ("xx.example.", "A HINFO AAAA RRSIG"),
];

fn rfc_params() -> Params {
    Params {
        iterations: 12,
        salt: vec![0xaa, 0xbb, 0xcc, 0xdd].into(),
    }
}

fn b32(h: &Hash) -> String {
    BASE32_DNSSEC.encode(h)
}

fn h(text: &str) -> Hash {
    hash(name(text).as_wire(), &rfc_params())
}

fn rfc_5155_zone() -> Zone {
    let mut text = String::from(
        "$ORIGIN example.\n$TTL 3600\n\
         @ SOA ns1 bugs.x.w 1 3600 300 3600000 3600\n@ NS ns1\n@ NS ns2\n@ MX 1 xx\n\
         @ NSEC3PARAM 1 0 12 aabbccdd\n\
         a NS ns1.a\na NS ns2.a\na DS 58470 5 1 3079F1593EBAD6DC121E202A8B766A6A4837206C\n\
         ns1.a A 192.0.2.5\nns2.a A 192.0.2.6\n\
         ai A 192.0.2.9\nai AAAA 2001:db8::f00:baa9\n\
         c NS ns1.c\nc NS ns2.c\nns1.c A 192.0.2.7\nns2.c A 192.0.2.8\n\
         ns1 A 192.0.2.1\nns2 A 192.0.2.2\n\
         *.w MX 1 ai\nx.w MX 1 xx\nx.y.w MX 1 xx\nxx A 192.0.2.10\nxx AAAA 2001:db8::f00:baaa\n",
    );
    text.push_str(&format!("@ {}\n", sig("SOA", 1, 3600)));
    let mut chain: Vec<(Hash, &str)> = RFC_5155_NAMES.iter().map(|(n, types)| (h(n), *types)).collect();
    chain.sort();
    for (i, (owner, types)) in chain.iter().enumerate() {
        let next = &chain[(i + 1) % chain.len()].0;
        // Flags 1: Opt-Out, as in the RFC (c.example. has no NSEC3 of its own).
        text.push_str(&format!(
            "{}.example. NSEC3 1 1 12 aabbccdd {} {types}\n",
            b32(owner),
            b32(next)
        ));
        text.push_str(&format!("{}.example. {}\n", b32(owner), sig("NSEC3", 2, 3600)));
    }
    load(&text)
}

/// The owner hash and next hash of each NSEC3 placed in authority.
fn nsec3s(a: &Answer<'_>) -> Vec<(Hash, Hash)> {
    a.authority
        .iter()
        .filter(|p| p.rrset.rtype == rtype::NSEC3)
        .map(|p| {
            let label = &p.owner[1..1 + usize::from(p.owner[0])];
            let owner = BASE32_DNSSEC
                .decode(&label.to_ascii_lowercase())
                .expect("a hashed owner");
            let rdata = p.rrset.first().expect("an NSEC3");
            let salt_len = usize::from(rdata[4]);
            let at = 5 + salt_len;
            let next = &rdata[at + 1..at + 1 + usize::from(rdata[at])];
            (owner.try_into().expect("20 bytes"), next.try_into().expect("20 bytes"))
        })
        .collect()
}

/// Whether one of the NSEC3s matches `name`'s hash.
fn matches(proof: &[(Hash, Hash)], name: &str) -> bool {
    proof.iter().any(|(owner, _)| *owner == h(name))
}

/// Whether one of the NSEC3s covers `name`'s hash (RFC 5155 3.1.7, the last one wrapping).
fn covers(proof: &[(Hash, Hash)], name: &str) -> bool {
    let x = h(name);
    proof.iter().any(|(owner, next)| {
        if owner < next {
            *owner < x && x < *next
        } else {
            x > *owner || x < *next
        }
    })
}

#[test]
fn nsec3_name_error_is_the_closest_encloser_proof_and_the_wildcard() {
    // RFC 5155 B.1: a.c.x.w.example.
    let z = rfc_5155_zone();
    let q = name("a.c.x.w.example.");
    let a = ask(&z, &q, rtype::A);
    let proof = nsec3s(&a);
    assert_eq!(a.rcode, rcode::NXDOMAIN);
    assert!(matches(&proof, "x.w.example."), "closest encloser matched");
    assert!(covers(&proof, "c.x.w.example."), "next closer covered");
    assert!(covers(&proof, "*.x.w.example."), "wildcard covered");
    assert_eq!(proof.len(), 3, "three distinct NSEC3s, as in the RFC");
    assert_signed(&a.authority, "NSEC3 NXDOMAIN");
}

#[test]
fn nsec3_nodata_and_empty_non_terminal() {
    // RFC 5155 B.2 and B.2.1.
    let z = rfc_5155_zone();
    let q = name("ns1.example.");
    let proof = nsec3s(&ask(&z, &q, rtype::MX));
    assert_eq!(proof.len(), 1);
    assert!(matches(&proof, "ns1.example."));
    let q = name("y.w.example.");
    let a = ask(&z, &q, rtype::A);
    let proof = nsec3s(&a);
    assert_eq!((a.rcode, proof.len()), (rcode::NOERROR, 1));
    assert!(matches(&proof, "y.w.example."), "the ENT's own NSEC3");
}

#[test]
fn nsec3_referral_to_an_opted_out_delegation() {
    // RFC 5155 B.3: mc.c.example. MX: NS of c, the apex matched, c.example. covered (Opt-Out).
    let z = rfc_5155_zone();
    let q = name("mc.c.example.");
    let a = ask(&z, &q, rtype::MX);
    assert!(!a.authoritative);
    assert_eq!(owners_of(&a.authority, rtype::NS), ["c.example."]);
    assert!(owners_of(&a.authority, rtype::DS).is_empty());
    let proof = nsec3s(&a);
    assert!(matches(&proof, "example.") && covers(&proof, "c.example."), "{proof:?}");
    // A signed delegation carries its DS instead.
    let q = name("x.a.example.");
    let a = ask(&z, &q, rtype::A);
    assert_eq!(owners_of(&a.authority, rtype::DS), ["a.example."]);
    assert!(nsec3s(&a).is_empty());
}

#[test]
fn nsec3_wildcard_answer_and_nodata() {
    // RFC 5155 B.4: a.z.w.example. MX, from *.w.example.; the next closer z.w.example. covered.
    let z = rfc_5155_zone();
    let q = name("a.z.w.example.");
    let a = ask(&z, &q, rtype::MX);
    assert_eq!(owners_of(&a.answer, rtype::MX), ["a.z.w.example."]);
    let proof = nsec3s(&a);
    assert_eq!(proof.len(), 1);
    assert!(covers(&proof, "z.w.example."));
    // B.5: AAAA: closest encloser w.example. matched, z.w covered, *.w matched.
    let a = ask(&z, &q, rtype::AAAA);
    let proof = nsec3s(&a);
    assert!(matches(&proof, "w.example.") && covers(&proof, "z.w.example.") && matches(&proof, "*.w.example."));
    assert_eq!(a.rcode, rcode::NOERROR);
}

#[test]
fn nsec3_ds_nodata_at_an_opted_out_delegation() {
    // RFC 5155 7.2.4: c.example. has no NSEC3: the closest provable encloser proof.
    let z = rfc_5155_zone();
    let q = name("c.example.");
    let a = ask(&z, &q, rtype::DS);
    assert!(a.authoritative, "DS is answered by the parent");
    let proof = nsec3s(&a);
    assert!(matches(&proof, "example.") && covers(&proof, "c.example."), "{proof:?}");
}

#[test]
fn nsec3_owner_names_are_not_names_of_the_zone() {
    let z = rfc_5155_zone();
    let owner = format!("{}.example.", b32(&h("ns1.example.")));
    let q = name(&owner);
    assert_eq!(ask(&z, &q, rtype::A).rcode, rcode::NXDOMAIN, "RFC 5155 7.2.8");
}

#[test]
fn a_signed_zone_without_a_usable_chain_still_signs_its_answers() {
    // NSEC3 with an algorithm this server cannot hash: no proofs, but the RRSIGs go out.
    let text = format!(
        "$ORIGIN example.\n$TTL 3600\n@ SOA ns1 host 1 7200 3600 1209600 300\n@ NS ns1\n\
         @ NSEC3PARAM 2 0 0 -\nns1 A 192.0.2.1\n@ {}\nns1 {}\n",
        sig("SOA", 1, 3600),
        sig("A", 2, 3600)
    );
    let z = load(&text);
    let q = name("ns1.example.");
    let a = ask(&z, &q, rtype::A);
    assert_signed(&a.answer, "positive");
    assert_eq!(a.answer.len(), 2);
    let q = name("nothere.example.");
    let a = ask(&z, &q, rtype::A);
    assert_eq!(
        (a.rcode, owners_of(&a.authority, rtype::SOA)),
        (rcode::NXDOMAIN, vec!["example.".to_string()])
    );
    assert_signed(&a.authority, "the SOA");
}
