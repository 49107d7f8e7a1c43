//! Differential test: dns-server answers the questions of `tests/zones/diff.example.zone` like Knot DNS.
//!
//! Knot is the reference. What Knot answers for each case, and where NSD differs, is written
//! down in `tests/zones/KNOT-BEHAVIOUR.md`. Where the RFCs allow more than one answer, the case's
//! [`Rule`] compares only what must match and says why.

use std::collections::BTreeSet;

use crate::harness::{Knot, Nsd, Record, Response, Server, compare_set, diff_zones, indent};

/// What of a response must match the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// RCODE, flags, EDNS, question, answer and authority; additional loosely (see [`check_additional`]).
    Same,
    /// Like `Same`, and the NSID option too (both servers run with the same identity).
    SameWithNsid,
    /// RFC 8482: an ANY answer may hold one RRset, several, or all of them (Knot sends the
    /// first it stores, NSD the SOA). So: RCODE and flags match, the answer is non-empty when
    /// the reference's is, and every record in ours exists in the zone at that name.
    Any,
    /// QCLASS * (RFC 1035 6.2 says such answers should not be authoritative; Knot sets AA, NSD
    /// does not): all of `Same` except the AA bit.
    ClassAny,
    /// Only RCODE and flags: for errors where NSD leaves out the question and Knot keeps it.
    Rcode,
}

/// One query, as dig arguments, and how to compare its answers.
struct Case {
    args: &'static [&'static str],
    rule: Rule,
}

const fn same(args: &'static [&'static str]) -> Case {
    Case { args, rule: Rule::Same }
}

const fn rule(rule: Rule, args: &'static [&'static str]) -> Case {
    Case { args, rule }
}

/// Every case of the zone. dig runs with `+norecurse +nocookie +ignore +noednsneg` unless a
/// case overrides it (see `harness::DIG_DEFAULTS`).
const CASES: &[Case] = &[
    // Apex RRsets; NS and MX with additional-section processing.
    same(&["diff.example", "SOA"]),
    same(&["diff.example", "NS"]),
    same(&["diff.example", "MX"]),
    same(&["diff.example", "TXT"]),
    same(&["diff.example", "A"]),
    same(&["diff.example", "AAAA"]),
    same(&["diff.example", "CAA"]),
    // Hosts, and the qname's case kept in the question.
    same(&["www.diff.example", "A"]),
    same(&["www.diff.example", "AAAA"]),
    same(&["WwW.DiFf.ExAmPlE", "A"]),
    same(&["WWW.DIFF.EXAMPLE", "AAAA", "+noedns"]),
    same(&["ns1.diff.example", "AAAA"]),
    same(&["mail.diff.example", "A"]),
    // NODATA and NXDOMAIN, negative TTL from the SOA.
    same(&["www.diff.example", "MX"]),
    same(&["unknown.diff.example", "A"]),
    same(&["c.diff.example", "TYPE65534"]),
    same(&["nonexistent.diff.example", "A"]),
    same(&["nonexistent.diff.example", "AAAA", "+noedns"]),
    same(&["a.b.nonexistent.diff.example", "TXT"]),
    same(&["NonExistent.Diff.Example", "A"]),
    // Types the zone is unsigned for: NODATA.
    same(&["diff.example", "RRSIG"]),
    same(&["diff.example", "NSEC"]),
    same(&["diff.example", "DNSKEY"]),
    same(&["diff.example", "DS"]),
    same(&["www.diff.example", "A", "+dnssec"]),
    same(&["nonexistent.diff.example", "A", "+dnssec"]),
    // CNAME chain inside the zone, out of it, to NXDOMAIN, into a delegation.
    same(&["a.diff.example", "A"]),
    same(&["a.diff.example", "AAAA"]),
    same(&["a.diff.example", "CNAME"]),
    same(&["b.diff.example", "A"]),
    same(&["A.Diff.Example", "A"]),
    same(&["ext.diff.example", "A"]),
    same(&["ext.diff.example", "CNAME"]),
    same(&["dangling.diff.example", "A"]),
    same(&["dangling.diff.example", "TXT", "+noedns"]),
    same(&["intosub.diff.example", "A"]),
    // Wildcards: match, NODATA, blocked by an existing name or an empty non-terminal.
    same(&["foo.wild.diff.example", "A"]),
    same(&["foo.wild.diff.example", "TXT"]),
    same(&["foo.wild.diff.example", "MX"]),
    same(&["FOO.Wild.diff.example", "TXT"]),
    same(&["a.b.wild.diff.example", "A"]),
    same(&["*.wild.diff.example", "A"]),
    same(&["wild.diff.example", "A"]),
    same(&["exists.wild.diff.example", "A"]),
    same(&["exists.wild.diff.example", "TXT"]),
    same(&["ent.wild.diff.example", "A"]),
    same(&["host.ent.wild.diff.example", "A"]),
    same(&["foo.exists.wild.diff.example", "A"]),
    // DNAME: substitution into the zone (followed), out of it (not), the owner itself, CNAME asked.
    same(&["host.old.diff.example", "A"]),
    same(&["HoSt.OlD.diff.example", "A"]),
    same(&["nothere.old.diff.example", "A"]),
    same(&["old.diff.example", "TXT"]),
    same(&["old.diff.example", "A"]),
    same(&["host.old.diff.example", "CNAME"]),
    same(&["x.ext-dname.diff.example", "A"]),
    same(&["foo.wc.diff.example", "A"]),
    same(&["foo.wc.diff.example", "AAAA"]),
    same(&["foo.wc.diff.example", "CNAME"]),
    same(&["foo.wc.diff.example", "MX"]),
    // Empty non-terminals.
    same(&["y.z.diff.example", "A"]),
    same(&["z.diff.example", "A"]),
    same(&["x.y.z.diff.example", "A"]),
    same(&["x.y.z.diff.example", "TXT"]),
    // Delegation with glue, DS at the cut (answered by the parent), names below the cut.
    same(&["sub.diff.example", "NS"]),
    same(&["sub.diff.example", "A"]),
    same(&["sub.diff.example", "SOA"]),
    same(&["sub.diff.example", "DS"]),
    same(&["sub.diff.example", "DS", "+noedns"]),
    same(&["host.sub.diff.example", "A"]),
    same(&["ns.sub.diff.example", "A"]),
    same(&["ns.sub.diff.example", "AAAA"]),
    same(&["a.b.sub.diff.example", "MX"]),
    same(&["Host.SUB.diff.example", "A"]),
    same(&["sub.diff.example", "A", "+noedns"]),
    // Delegations whose name servers are out of the zone, or in it but not below the cut.
    same(&["extdeleg.diff.example", "A"]),
    same(&["extdeleg.diff.example", "NS"]),
    same(&["extdeleg.diff.example", "DS"]),
    same(&["host.extdeleg.diff.example", "A"]),
    same(&["sibling.diff.example", "A"]),
    // The child zone deep.diff.example. is served too: it wins, except for DS.
    same(&["deep.diff.example", "A"]),
    same(&["deep.diff.example", "NS"]),
    same(&["deep.diff.example", "SOA"]),
    same(&["deep.diff.example", "DS"]),
    same(&["host.deep.diff.example", "A"]),
    same(&["nothing.deep.diff.example", "A"]),
    same(&["nothing.deep.diff.example", "TXT", "+noedns"]),
    same(&["host.deep.diff.example", "MX"]),
    // Other types, SRV and SVCB with additional-section processing.
    same(&["_sip._udp.diff.example", "SRV"]),
    same(&["_sip._udp.diff.example", "SRV", "+noedns"]),
    same(&["naptr.diff.example", "NAPTR"]),
    same(&["svc.diff.example", "SVCB"]),
    same(&["svc.diff.example", "HTTPS"]),
    same(&["ptr.diff.example", "PTR"]),
    same(&["caa.diff.example", "CAA"]),
    same(&["unknown.diff.example", "TYPE65534"]),
    // Sizes: TC without EDNS and with a small buffer, full answers with EDNS and over TCP.
    same(&["big.diff.example", "TXT", "+noedns"]),
    same(&["big.diff.example", "TXT", "+noedns", "+tcp"]),
    same(&["big.diff.example", "TXT", "+bufsize=512"]),
    same(&["big.diff.example", "TXT", "+bufsize=100"]),
    same(&["big.diff.example", "TXT"]),
    same(&["big.diff.example", "TXT", "+bufsize=4096"]),
    same(&["big.diff.example", "TXT", "+tcp"]),
    same(&["huge.diff.example", "TXT"]),
    same(&["huge.diff.example", "TXT", "+bufsize=65000"]),
    same(&["huge.diff.example", "TXT", "+tcp"]),
    same(&["huge.diff.example", "TXT", "+noedns", "+tcp"]),
    same(&["a.diff.example", "A", "+bufsize=512"]),
    same(&["diff.example", "NS", "+noedns"]),
    // EDNS: size, DO, version, options the server does not know.
    same(&["www.diff.example", "A", "+noedns"]),
    same(&["www.diff.example", "A", "+bufsize=512"]),
    same(&["www.diff.example", "A", "+bufsize=4096"]),
    same(&["www.diff.example", "A", "+edns=1"]),
    same(&["nonexistent.diff.example", "A", "+edns=1"]),
    same(&["www.diff.example", "A", "+ednsopt=65001:abcd"]),
    same(&["www.diff.example", "A", "+subnet=192.0.2.0/24"]),
    same(&["www.diff.example", "A", "+padding=128"]),
    same(&["www.diff.example", "A", "+cookie"]),
    rule(Rule::SameWithNsid, &["www.diff.example", "A", "+nsid"]),
    rule(Rule::SameWithNsid, &["nonexistent.diff.example", "A", "+nsid", "+tcp"]),
    // Header bits: RD copied, RA never set; AD/CD in the query change nothing we compare
    // (neither Knot nor NSD copies CD into an authoritative answer).
    same(&["www.diff.example", "A", "+recurse"]),
    same(&["www.diff.example", "A", "+adflag", "+cdflag"]),
    // Transports.
    same(&["www.diff.example", "A", "+tcp"]),
    same(&["a.diff.example", "A", "+tcp", "+noedns"]),
    same(&["sub.diff.example", "A", "+tcp"]),
    // ANY (RFC 8482): any subset is right; NXDOMAIN, empty non-terminals and referrals are not.
    rule(Rule::Any, &["diff.example", "ANY"]),
    rule(Rule::Any, &["diff.example", "ANY", "+tcp"]),
    rule(Rule::Any, &["diff.example", "ANY", "+noedns"]),
    rule(Rule::Any, &["www.diff.example", "ANY"]),
    rule(Rule::Any, &["svc.diff.example", "ANY"]),
    rule(Rule::Any, &["foo.wild.diff.example", "ANY"]),
    rule(Rule::Any, &["a.diff.example", "ANY"]),
    rule(Rule::Any, &["foo.wc.diff.example", "ANY"]),
    same(&["nothere.diff.example", "ANY"]),
    same(&["y.z.diff.example", "ANY"]),
    same(&["sub.diff.example", "ANY"]),
    same(&["host.sub.diff.example", "ANY"]),
    // Classes: CHAOS identity, other classes for zone names.
    rule(Rule::SameWithNsid, &["id.server", "CH", "TXT"]),
    same(&["hostname.bind", "CH", "TXT"]),
    same(&["version.bind", "CH", "TXT"]),
    same(&["version.server", "CH", "TXT"]),
    same(&["ID.Server", "CH", "TXT"]),
    same(&["authors.bind", "CH", "TXT"]),
    same(&["id.server", "CH", "A"]),
    same(&["www.diff.example", "CH", "A"]),
    same(&["diff.example", "CH", "SOA"]),
    // Class HS: REFUSED; NSD leaves the question out, so only the RCODE is compared.
    rule(Rule::Rcode, &["www.diff.example", "HS", "A"]),
    rule(Rule::ClassAny, &["www.diff.example", "ANY", "A"]),
    // Names outside every zone: REFUSED (EDE 20 from Knot is optional, not compared).
    same(&["example.com", "A"]),
    same(&["outside.test", "A"]),
    same(&["example", "A"]),
    same(&[".", "NS"]),
    same(&["diff.example.com", "A"]),
    same(&["xdiff.example", "A", "+noedns"]),
    // Opcodes we do not implement.
    rule(Rule::Rcode, &["diff.example", "SOA", "+opcode=status"]),
    rule(Rule::Rcode, &["diff.example", "SOA", "+opcode=iquery"]),
];

#[test]
fn dns_server_answers_like_knot() {
    let zones = diff_zones();
    let knot = Knot::start(&zones);
    let ours = Server::like_reference();
    let problems = differences(&|args| knot.dig(args), &|args| ours.dig(args));
    assert!(
        problems.is_empty(),
        "expected dns-server to answer like Knot DNS; {} of {} queries differ:\n\n{}",
        problems.len(),
        CASES.len(),
        problems.join("\n\n")
    );
}

/// The rules must accept every difference the RFCs allow: NSD, another correct server, passes them.
#[test]
fn nsd_passes_the_same_comparison() {
    let zones = diff_zones();
    let knot = Knot::start(&zones);
    let nsd = Nsd::start(&zones);
    let problems = differences(&|args| knot.dig(args), &|args| nsd.dig(args));
    assert!(
        problems.is_empty(),
        "expected NSD to pass the comparison with Knot (else a rule compares too much); \
         {} of {} queries differ:\n\n{}",
        problems.len(),
        CASES.len(),
        problems.join("\n\n")
    );
}

type Dig<'a> = dyn Fn(&[&str]) -> Response + 'a;

/// Runs every case on both servers; one readable paragraph per case that differs.
fn differences(reference: &Dig<'_>, ours: &Dig<'_>) -> Vec<String> {
    let glue = apex_glue(reference);
    CASES
        .iter()
        .filter_map(|case| {
            let expected = reference(case.args);
            let got = ours(case.args);
            let problems = compare(case, &expected, &got, &glue, reference);
            (!problems.is_empty()).then(|| {
                format!(
                    "dig {} ({:?}):\n  - {}\n  knot said:\n{}\n  ours said:\n{}",
                    case.args.join(" "),
                    case.rule,
                    problems.join("\n  - "),
                    indent(&expected.to_string()),
                    indent(&got.to_string())
                )
            })
        })
        .collect()
}

/// The address records of the zones' own name servers: fine in any additional section.
fn apex_glue(reference: &Dig<'_>) -> BTreeSet<Record> {
    ["diff.example", "deep.diff.example"]
        .iter()
        .flat_map(|apex| reference(&[apex, "NS"]).additional)
        .collect()
}

/// Zone apexes: their NS RRset in the authority section of a positive answer is optional.
const APEXES: &[&str] = &["diff.example.", "deep.diff.example."];

fn compare(
    case: &Case,
    expected: &Response,
    got: &Response,
    glue: &BTreeSet<Record>,
    reference: &Dig<'_>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if expected.rcode != got.rcode {
        problems.push(format!("rcode: knot {}, ours {}", expected.rcode, got.rcode));
    }
    let mut flags = vec!["qr", "tc", "rd"];
    if case.rule != Rule::ClassAny {
        flags.push("aa");
    }
    for flag in flags {
        if expected.flag(flag) != got.flag(flag) {
            problems.push(format!(
                "flag {flag}: knot {}, ours {}",
                expected.flag(flag),
                got.flag(flag)
            ));
        }
    }
    for flag in ["ra", "ad"] {
        if got.flag(flag) {
            problems.push(format!(
                "ours sets {flag}; an unsigned authoritative-only answer must not"
            ));
        }
    }
    if case.rule == Rule::Rcode {
        return problems;
    }
    compare_edns(case, expected, got, &mut problems);
    if expected.question != got.question {
        problems.push(format!(
            "question: knot {:?}, ours {:?}",
            expected.question, got.question
        ));
    }
    if case.rule == Rule::Any && !expected.answer.is_empty() {
        check_any(expected, got, reference, &mut problems);
        return problems;
    }
    compare_set("answer", &expected.answer, &got.answer, &mut problems);
    let positive = !expected.answer.is_empty();
    compare_set(
        "authority",
        &without_apex_ns(&expected.authority, positive),
        &without_apex_ns(&got.authority, positive),
        &mut problems,
    );
    check_additional(expected, got, glue, &mut problems);
    problems
}

fn compare_edns(case: &Case, expected: &Response, got: &Response, problems: &mut Vec<String>) {
    match (&expected.edns, &got.edns) {
        (None, None) => {}
        (Some(e), Some(g)) => {
            if (e.version, &e.flags, e.udp) != (g.version, &g.flags, g.udp) {
                problems.push(format!(
                    "OPT: knot version {} flags {:?} udp {}, ours version {} flags {:?} udp {}",
                    e.version, e.flags, e.udp, g.version, g.flags, g.udp
                ));
            }
            if case.rule == Rule::SameWithNsid && e.nsid != g.nsid {
                problems.push(format!("NSID: knot {:?}, ours {:?}", e.nsid, g.nsid));
            }
        }
        (e, g) => problems.push(format!(
            "OPT record: knot {}, ours {}",
            if e.is_some() { "present" } else { "absent" },
            if g.is_some() { "present" } else { "absent" }
        )),
    }
}

/// Drops the apex NS RRset from the authority section of a positive answer: NSD adds it, Knot
/// does not, and RFC 2181 5.4.1 leaves it to the server.
fn without_apex_ns(authority: &[Record], positive: bool) -> Vec<Record> {
    authority
        .iter()
        .filter(|r| !(positive && r.rtype == "NS" && APEXES.contains(&r.owner.as_str())))
        .cloned()
        .collect()
}

/// Glue in a referral is required (RFC 9471): it must match exactly. Elsewhere the additional
/// section is optional help: ours may hold only what Knot sends or the zones' own NS addresses.
fn check_additional(expected: &Response, got: &Response, glue: &BTreeSet<Record>, problems: &mut Vec<String>) {
    let referral =
        !expected.flag("aa") && expected.answer.is_empty() && expected.authority.iter().any(|r| r.rtype == "NS");
    if referral && !expected.flag("tc") {
        compare_set("additional (glue)", &expected.additional, &got.additional, problems);
        return;
    }
    for r in &got.additional {
        if !expected.additional.contains(r) && !glue.contains(r) {
            problems.push(format!(
                "additional: ours adds a record Knot does not and that is no apex NS address: {r}"
            ));
        }
    }
}

/// RFC 8482: every record in our ANY answer must exist at the name (checked by asking the
/// reference for that type), and the answer must not be empty.
fn check_any(expected: &Response, got: &Response, reference: &Dig<'_>, problems: &mut Vec<String>) {
    if got.answer.is_empty() {
        problems.push(format!("answer: empty; knot answers {} records", expected.answer.len()));
    }
    let types: BTreeSet<(&str, &str)> = got
        .answer
        .iter()
        .map(|r| (r.owner.as_str(), r.rtype.as_str()))
        .collect();
    for (owner, rtype) in types {
        let truth = reference(&[owner, rtype, "+tcp"]);
        for r in got.answer.iter().filter(|r| r.owner == owner && r.rtype == rtype) {
            let same_data = |t: &Record| (t.ttl, &t.class, &t.rdata) == (r.ttl, &r.class, &r.rdata);
            if !truth.answer.iter().any(|t| t.rtype == r.rtype && same_data(t)) {
                problems.push(format!("answer: ours has a record the zone does not hold: {r}"));
            }
        }
    }
}
