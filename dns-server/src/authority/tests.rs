//! Table-style tests of the zone walk, one per result state.

use std::path::Path;

use dns_wire::wire::{rcode, rtype};

use super::{Answer, lookup};
use crate::{
    name::Name,
    zone::{load, tree::Zone},
};

const ZONE: &str = r#"
$ORIGIN test.
$TTL 3600
@        SOA   ns1 hostmaster 1 7200 3600 1209600 300
         NS    ns1
         MX    10 mail
ns1      A     192.0.2.1
mail     A     192.0.2.25
         AAAA  2001:db8::25
www      A     192.0.2.10
a        CNAME b
b        CNAME c
c        A     192.0.2.3
out      CNAME www.elsewhere.example.
dangling CNAME nothere
loop1    CNAME loop2
loop2    CNAME loop1
*.wild   A     192.0.2.99
*.wild   TXT   "wild"
sub.wild A     192.0.2.98
x.y.z    A     192.0.2.7
*.z      A     192.0.2.8
deleg    NS    ns.deleg
         NS    ns.other.example.
         DS    12345 8 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns.deleg A     192.0.2.53
_sip._udp SRV  0 5 5060 www
"#;

fn zone() -> Zone {
    let origin = Name::parse("test.", None).expect("origin");
    load::from_str(&origin, ZONE, Path::new("test.zone")).expect("the test zone loads")
}

fn ask<'a>(zone: &'a Zone, qname: &'a Name, qtype: u16) -> Answer<'a> {
    lookup(zone, qname.as_wire(), qtype, false, true)
}

fn name(text: &str) -> Name {
    Name::parse(text, None).expect("test names parse")
}

/// (owner, type) of each RRset in a section.
fn shape(section: &[super::Placed<'_>]) -> Vec<(String, u16)> {
    section
        .iter()
        .map(|p| {
            (
                Name::from_wire(&p.owner).expect("owner is a name").to_string(),
                p.rrset.rtype,
            )
        })
        .collect()
}

#[test]
fn exact_match_is_authoritative() {
    let z = zone();
    let q = name("WWW.test.");
    let a = ask(&z, &q, rtype::A);
    assert_eq!((a.rcode, a.authoritative), (rcode::NOERROR, true));
    assert_eq!(
        shape(&a.answer),
        vec![("WWW.test.".into(), rtype::A)],
        "owner keeps the query's case"
    );
    assert!(
        a.authority.is_empty(),
        "minimal responses: no NS beside a positive answer"
    );
}

#[test]
fn nodata_and_nxdomain_carry_the_soa_with_the_negative_ttl() {
    let z = zone();
    for (q, code) in [("www.test.", rcode::NOERROR), ("nope.test.", rcode::NXDOMAIN)] {
        let q = name(q);
        let a = ask(&z, &q, rtype::AAAA);
        assert_eq!(a.rcode, code, "{q}");
        assert!(a.answer.is_empty(), "{q}: no answer");
        assert_eq!(shape(&a.authority), vec![("test.".into(), rtype::SOA)], "{q}");
        assert_eq!(a.authority[0].ttl, 300, "{q}: min(SOA TTL 3600, MINIMUM 300)");
    }
}

#[test]
fn cname_chains_are_followed_inside_the_zone() {
    let z = zone();
    let q = name("a.test.");
    let a = ask(&z, &q, rtype::A);
    assert_eq!(
        shape(&a.answer),
        vec![
            ("a.test.".into(), rtype::CNAME),
            ("b.test.".into(), rtype::CNAME),
            ("c.test.".into(), rtype::A)
        ]
    );
    let q = name("out.test.");
    let a = ask(&z, &q, rtype::A);
    assert_eq!(
        (a.rcode, a.answer.len()),
        (rcode::NOERROR, 1),
        "an out-of-zone target ends the chain"
    );
    let q = name("dangling.test.");
    let a = ask(&z, &q, rtype::A);
    assert_eq!(a.rcode, rcode::NXDOMAIN, "RFC 6604: the rcode is the last name's");
    assert_eq!(a.answer.len(), 1);
    let q = name("a.test.");
    let a = ask(&z, &q, rtype::CNAME);
    assert_eq!(
        shape(&a.answer),
        vec![("a.test.".into(), rtype::CNAME)],
        "a CNAME query is not followed"
    );
}

#[test]
fn cname_loops_end() {
    let z = zone();
    let q = name("loop1.test.");
    let a = ask(&z, &q, rtype::A);
    assert_eq!(a.answer.len(), 2, "each name of the loop once");
}

#[test]
fn wildcards_follow_rfc_4592() {
    let z = zone();
    let q = name("anything.wild.test.");
    let a = ask(&z, &q, rtype::A);
    assert_eq!(
        shape(&a.answer),
        vec![("anything.wild.test.".into(), rtype::A)],
        "synthesised at the qname"
    );
    let a = ask(&z, &q, rtype::MX);
    assert_eq!((a.rcode, a.answer.len()), (rcode::NOERROR, 0), "wildcard NODATA");
    let q = name("deep.er.wild.test.");
    assert_eq!(
        ask(&z, &q, rtype::A).answer.len(),
        1,
        "a wildcard matches several labels"
    );
    let q = name("sub.wild.test.");
    let a = ask(&z, &q, rtype::TXT);
    assert_eq!(
        (a.rcode, a.answer.len()),
        (rcode::NOERROR, 0),
        "an existing name is not covered"
    );
    let q = name("below.sub.wild.test.");
    assert_eq!(
        ask(&z, &q, rtype::A).rcode,
        rcode::NXDOMAIN,
        "*.wild does not match below sub.wild"
    );
    // y.z is an empty non-terminal: it exists, so *.z does not match it or below it.
    let q = name("y.z.test.");
    let a = ask(&z, &q, rtype::A);
    assert_eq!(
        (a.rcode, a.answer.len()),
        (rcode::NOERROR, 0),
        "empty non-terminal is NODATA"
    );
    let q = name("w.y.z.test.");
    assert_eq!(
        ask(&z, &q, rtype::A).rcode,
        rcode::NXDOMAIN,
        "the ENT is the closest encloser"
    );
    let q = name("other.z.test.");
    assert_eq!(ask(&z, &q, rtype::A).answer.len(), 1, "*.z matches other.z");
}

#[test]
fn delegations_are_referrals_with_glue() {
    let z = zone();
    for q in ["deleg.test.", "host.deleg.test.", "ns.deleg.test."] {
        let q = name(q);
        let a = ask(&z, &q, rtype::A);
        assert_eq!(
            (a.rcode, a.authoritative),
            (rcode::NOERROR, false),
            "{q}: referral, no AA"
        );
        assert!(a.answer.is_empty(), "{q}");
        assert_eq!(shape(&a.authority)[0], ("deleg.test.".into(), rtype::NS), "{q}");
        assert_eq!(
            shape(&a.additional),
            vec![("ns.deleg.test.".into(), rtype::A)],
            "{q}: in-zone glue only"
        );
    }
    let q = name("deleg.test.");
    let a = ask(&z, &q, rtype::DS);
    assert_eq!(
        (a.authoritative, shape(&a.answer)),
        (true, vec![("deleg.test.".into(), rtype::DS)]),
        "DS is the parent's"
    );
}

#[test]
fn additional_addresses_for_mx_and_srv() {
    let z = zone();
    let q = name("test.");
    let a = ask(&z, &q, rtype::MX);
    assert_eq!(
        shape(&a.additional),
        vec![("mail.test.".into(), rtype::A), ("mail.test.".into(), rtype::AAAA)]
    );
    let q = name("_sip._udp.test.");
    let a = ask(&z, &q, rtype::SRV);
    assert_eq!(shape(&a.additional), vec![("www.test.".into(), rtype::A)]);
}

#[test]
fn any_is_minimal_over_udp_and_full_over_tcp() {
    let z = zone();
    let q = name("mail.test.");
    assert_eq!(ask(&z, &q, rtype::ANY).answer.len(), 1, "RFC 8482: one RRset over UDP");
    assert_eq!(
        lookup(&z, q.as_wire(), rtype::ANY, false, false).answer.len(),
        2,
        "all over TCP"
    );
}

#[test]
fn any_at_a_wildcard_is_minimal_too() {
    let z = zone();
    let q = name("x.wild.test.");
    assert_eq!(
        ask(&z, &q, rtype::ANY).answer.len(),
        1,
        "RFC 8482 for synthesised answers"
    );
}

#[test]
fn dname_substitutes_below_its_owner() {
    let text = format!("{ZONE}old DNAME new.test.\nhost.new A 192.0.2.77\naway DNAME example.net.\n");
    let origin = Name::parse("test.", None).expect("origin");
    let z = load::from_str(&origin, &text, Path::new("dname.zone")).expect("zone with DNAME loads");
    let q = name("host.OLD.test.");
    let a = ask(&z, &q, rtype::A);
    assert_eq!(
        shape(&a.answer),
        vec![
            ("old.test.".into(), rtype::DNAME),
            ("host.OLD.test.".into(), rtype::CNAME),
            ("host.new.test.".into(), rtype::A)
        ],
        "DNAME, the synthesised CNAME for the qname, then the target's data"
    );
    assert_eq!(
        &a.answer[1].rrset.first().expect("the synthesised CNAME has its target"),
        b"\x04host\x03new\x04test\x00",
        "the CNAME points at the substituted name"
    );
    let q = name("x.away.test.");
    let a = ask(&z, &q, rtype::A);
    assert_eq!(
        (a.rcode, a.answer.len()),
        (rcode::NOERROR, 2),
        "out of zone: DNAME and CNAME only"
    );
    let q = name("old.test.");
    assert_eq!(
        ask(&z, &q, rtype::A).answer.len(),
        0,
        "the DNAME's owner itself is not substituted"
    );
}
