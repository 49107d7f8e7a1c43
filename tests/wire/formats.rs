//! Presentation formats other servers read (LOC, EUI48/EUI64, TXT over 255 bytes,
//! Latin-1 strings, `$GENERATE`, an out-of-zone record) answer as Knot DNS answers them.
//!
//! Knot 3.2 reads neither raw bytes outside ASCII nor `$GENERATE`, so it serves
//! `formats.example.knot.zone`: the same zone written out by hand, bytes as `\DDD`.
//! Ours serves `formats.example.zone` itself, named without its trailing dot.

use std::collections::BTreeSet;

use crate::harness::{Knot, Record, Response, Server, zone_path};

/// Every name and type the zone holds, and a few it does not.
const CASES: &[(&str, &str)] = &[
    ("formats.example", "SOA"),
    ("loc.formats.example", "LOC"),
    ("loc-min.formats.example", "LOC"),
    ("loc-edge.formats.example", "LOC"),
    ("eui48.formats.example", "EUI48"),
    ("eui64.formats.example", "EUI64"),
    ("long.formats.example", "TXT"),
    ("long2.formats.example", "TXT"),
    ("spf.formats.example", "SPF"),
    ("spf.formats.example", "TXT"),
    ("latin1.formats.example", "TXT"),
    ("utf8.formats.example", "TXT"),
    ("other.example", "A"),
    ("host1.formats.example", "A"),
    ("host5.formats.example", "A"),
    ("host6.formats.example", "A"),
    ("mx1.formats.example", "MX"),
    ("mx2.formats.example", "MX"),
    ("mx3.formats.example", "MX"),
    ("gen000.formats.example", "A"),
    ("gen005.formats.example", "CNAME"),
    ("gen010.formats.example", "A"),
    ("gen015.formats.example", "A"),
    ("rfe.formats.example", "PTR"),
    ("rff.formats.example", "PTR"),
    ("0.0.ip6.formats.example", "PTR"),
    ("1.0.ip6.formats.example", "PTR"),
    ("ip6.formats.example", "PTR"),
    ("txt1.formats.example", "TXT"),
    ("eui48.formats.example", "TXT"),
];

#[test]
fn new_formats_answer_like_knot() {
    let knot = Knot::start(&[("formats.example.".to_string(), zone_path("formats.example.knot.zone"))]);
    let ours = Server::builder()
        .zone("formats.example", &zone_path("formats.example.zone"))
        .start();
    let mut problems = Vec::new();
    for (name, rtype) in CASES {
        for transport in ["+notcp", "+tcp"] {
            let args = [*name, *rtype, transport];
            let expected = knot.dig(&args);
            let got = ours.dig(&args);
            let differences = compare(&expected, &got);
            if !differences.is_empty() {
                problems.push(format!(
                    "dig {}:\n  - {}\n  knot said:\n{}\n  ours said:\n{}",
                    args.join(" "),
                    differences.join("\n  - "),
                    expected.text,
                    got.text
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "expected dns-server to answer formats.example like Knot; {} queries differ:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// RCODE, the flags an authoritative answer sets, and the answer and authority sections as sets.
fn compare(expected: &Response, got: &Response) -> Vec<String> {
    let mut problems = Vec::new();
    if expected.rcode != got.rcode {
        problems.push(format!("rcode: knot {}, ours {}", expected.rcode, got.rcode));
    }
    for flag in ["qr", "aa", "tc"] {
        if expected.flag(flag) != got.flag(flag) {
            problems.push(format!(
                "flag {flag}: knot {}, ours {}",
                expected.flag(flag),
                got.flag(flag)
            ));
        }
    }
    for (section, e, g) in [
        ("answer", &expected.answer, &got.answer),
        ("authority", &expected.authority, &got.authority),
    ] {
        let e: BTreeSet<&Record> = e.iter().collect();
        let g: BTreeSet<&Record> = g.iter().collect();
        problems.extend(e.difference(&g).map(|r| format!("{section}: missing from ours: {r}")));
        problems.extend(g.difference(&e).map(|r| format!("{section}: only in ours: {r}")));
    }
    problems
}
