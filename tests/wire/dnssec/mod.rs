//! Signed zones over the wire: zones signed at test time by ldns-signzone, by BIND's
//! dnssec-signzone and by Knot's kzonesign (NSEC, NSEC3, NSEC3 Opt-Out), served by
//! dns-server, Knot DNS and NSD, asked the same DO=1 questions and compared section by
//! section as sets; and Unbound validating our answers.

mod validation;

use std::{collections::BTreeSet, path::PathBuf};

use crate::harness::{
    Denial, Knot, Nsd, REF_IDENTITY, REF_VERSION, Record, Response, Server, Signed, Signer, TempDir, compare_set,
    indent, sign_zone,
};

/// The content of every signed test zone: names that exist, a wildcard with a name beside
/// it, empty non-terminals, a CNAME chain, a dangling CNAME, a wildcard CNAME, a DNAME, a
/// signed delegation (with DS), unsigned ones with glue and without, and a large RRset.
/// Glue is on loopback: a resolver in these tests may only ever send to loopback.
const ZONE: &str = r#"$ORIGIN {origin}
$TTL 3600
@          SOA   ns1 hostmaster 1 7200 3600 1209600 300
@          NS    ns1
@          MX    10 mail
ns1        A     127.0.0.53
mail       A     127.0.0.25
www        A     127.0.0.10
www  600   TXT   "hello"
a          CNAME b
b          CNAME www
dangling   CNAME nothere
*.wild     A     127.0.0.99
*.wild     TXT   "wild"
sub.wild   A     127.0.0.98
x.y.ent    A     127.0.0.7
*.wc       CNAME www
old        DNAME www
secure     NS    ns.secure
secure     DS    12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns.secure  A     127.0.0.54
insecure   NS    ns.insecure
ns.insecure A    127.0.0.55
outside    NS    ns.elsewhere.example.
big        TXT   "0123456789012345678901234567890123456789012345678901234567890123456789"
big        TXT   "1123456789012345678901234567890123456789012345678901234567890123456789"
big        TXT   "2123456789012345678901234567890123456789012345678901234567890123456789"
big        TXT   "3123456789012345678901234567890123456789012345678901234567890123456789"
big        TXT   "4123456789012345678901234567890123456789012345678901234567890123456789"
big        TXT   "5123456789012345678901234567890123456789012345678901234567890123456789"
broken     A     127.0.0.66
"#;

/// The signed zones: one per signer and way of denying existence (Opt-Out zones
/// are named `optout.*`, which the validation test relies on).
const SIGNED: &[(&str, Signer, Denial)] = &[
    ("nsec.test.", Signer::Ldns, Denial::Nsec),
    ("nsec3.test.", Signer::Ldns, Denial::Nsec3),
    ("optout.test.", Signer::Ldns, Denial::Nsec3OptOut),
    ("nsec.bind.test.", Signer::Bind, Denial::Nsec),
    ("optout.bind.test.", Signer::Bind, Denial::Nsec3OptOut),
    ("nsec.knot.test.", Signer::Knot, Denial::Nsec),
    ("nsec3.knot.test.", Signer::Knot, Denial::Nsec3),
    ("optout.knot.test.", Signer::Knot, Denial::Nsec3OptOut),
];

/// An unsigned zone with a DS at a delegation: its referrals carry no DS even with DO=1.
const UNSIGNED: &str = "plain.test.";

/// The questions, relative to the zone (`@` is the apex); all asked with `+dnssec`.
const QUESTIONS: &[&[&str]] = &[
    // Positive answers, each RRSIG with the TTL of its RRset.
    &["@", "SOA"],
    &["@", "NS"],
    &["@", "MX"],
    &["@", "DNSKEY"],
    &["www", "A"],
    &["www", "TXT"],
    &["WwW", "A"],
    // NODATA, at a name and at empty non-terminals.
    &["www", "MX"],
    &["@", "A"],
    &["ent", "A"],
    &["y.ent", "TXT"],
    &["x.y.ent", "AAAA"],
    // NXDOMAIN, also below a name that exists and under an empty non-terminal.
    &["nothere", "A"],
    &["a.b.nothere", "TXT"],
    &["zzz", "A"],
    &["q.www", "A"],
    &["q.ent", "A"],
    // Wildcards: answers, NODATA, deeper names, a name beside the wildcard, the wildcard itself.
    &["foo.wild", "A"],
    &["foo.wild", "TXT"],
    &["foo.wild", "MX"],
    &["a.b.wild", "A"],
    &["sub.wild", "A"],
    &["sub.wild", "MX"],
    &["*.wild", "A"],
    &["wild", "A"],
    // CNAME chains, a dangling CNAME, a wildcard CNAME, DNAME.
    &["a", "A"],
    &["a", "CNAME"],
    &["dangling", "A"],
    &["foo.wc", "A"],
    &["foo.wc", "MX"],
    &["host.old", "A"],
    &["nothere.old", "A"],
    // Delegations: signed (DS), unsigned with glue, unsigned out of zone; DS asked of the parent.
    &["secure", "A"],
    &["host.secure", "A"],
    &["secure", "DS"],
    &["insecure", "A"],
    &["host.insecure", "TXT"],
    &["insecure", "DS"],
    &["outside", "NS"],
    &["outside", "DS"],
    // ANY (dig asks it over TCP): Knot sends one RRset, we send all (RFC 8482 allows both).
    &["www", "ANY"],
    &["@", "ANY"],
    &["foo.wild", "ANY"],
    &["ent", "ANY"],
    // Sizes: TC=1 rather than an answer without its proof.
    &["big", "TXT", "+bufsize=512"],
    &["big", "TXT"],
    &["nothere", "A", "+bufsize=512"],
    &["nothere", "A", "+tcp"],
];

/// The signed zones and the unsigned one, written in `dir`.
pub(crate) struct Zones {
    pub signed: Vec<(String, Signed)>,
    pub unsigned: (String, PathBuf),
}

impl Zones {
    pub(crate) fn make(dir: &TempDir) -> Zones {
        let signed = SIGNED
            .iter()
            .map(|&(origin, signer, denial)| {
                let text = ZONE.replace("{origin}", origin);
                let mut signed = sign_zone(dir.path(), origin, &text, signer, denial);
                // `broken` gets an address its signature does not cover: bogus to a validator.
                let file = std::fs::read_to_string(&signed.file).expect("the signed zone");
                let file = file.replace("127.0.0.66", "127.0.0.67");
                signed.file = dir.write(&format!("{origin}broken.signed"), &file);
                (origin.to_string(), signed)
            })
            .collect();
        let unsigned = (
            UNSIGNED.to_string(),
            dir.write("plain.zone", &ZONE.replace("{origin}", UNSIGNED)),
        );
        Zones { signed, unsigned }
    }

    /// `(origin, file)` of every zone.
    pub(crate) fn files(&self) -> Vec<(String, PathBuf)> {
        let mut files: Vec<(String, PathBuf)> = self.signed.iter().map(|(o, s)| (o.clone(), s.file.clone())).collect();
        files.push(self.unsigned.clone());
        files
    }
}

/// The dig arguments of a question in the zone `origin`.
fn args(origin: &str, question: &[&str]) -> Vec<String> {
    let name = match question[0] {
        "@" => origin.to_string(),
        label => format!("{label}.{origin}"),
    };
    let mut args = vec![name];
    args.extend(question[1..].iter().map(|s| s.to_string()));
    args.push("+dnssec".into());
    args
}

/// What differs between Knot's response and ours: rcode, flags, and each section as a set.
fn differences(expected: &Response, got: &Response) -> Vec<String> {
    differences_of(["knot", "ours"], expected, got)
}

/// As [`differences`], between the servers named `a` (expected) and `b` (got).
fn differences_of([a, b]: [&str; 2], expected: &Response, got: &Response) -> Vec<String> {
    let mut problems = Vec::new();
    if expected.rcode != got.rcode {
        problems.push(format!("rcode: {a} {}, {b} {}", expected.rcode, got.rcode));
    }
    for flag in ["qr", "aa", "tc", "rd", "ad"] {
        if expected.flag(flag) != got.flag(flag) {
            problems.push(format!(
                "flag {flag}: {a} {}, {b} {}",
                expected.flag(flag),
                got.flag(flag)
            ));
        }
    }
    if expected.flag("tc") {
        // Truncated: Knot keeps the RRsets that fit, we send none; the client
        // retries over TCP either way, so only the header must agree.
        return problems;
    }
    let edns = |r: &Response| r.edns.as_ref().map(|e| (e.version, e.flags.clone(), e.udp));
    if edns(expected) != edns(got) {
        problems.push(format!("OPT: {a} {:?}, {b} {:?}", edns(expected), edns(got)));
    }
    if got.question.iter().any(|q| q.ends_with("ANY")) {
        // RFC 8482: any non-empty subset; the smaller answer must be within the larger.
        let (small, large) = if expected.answer.len() <= got.answer.len() {
            (&expected.answer, &got.answer)
        } else {
            (&got.answer, &expected.answer)
        };
        for r in small.iter().filter(|r| !large.contains(r)) {
            problems.push(format!("answer (ANY): {r} is in one of {a}'s and {b}'s answers only"));
        }
        compare_set_of([a, b], "authority", &expected.authority, &got.authority, &mut problems);
        return problems;
    }
    for (section, e, g) in [
        ("answer", &expected.answer, &got.answer),
        ("authority", &expected.authority, &got.authority),
        ("additional", &expected.additional, &got.additional),
    ] {
        compare_set_of([a, b], section, e, g, &mut problems);
    }
    problems
}

/// A section of `a`'s response and of `b`'s compared as sets, as [`compare_set`] does
/// for Knot's and ours.
fn compare_set_of([a, b]: [&str; 2], section: &str, expected: &[Record], got: &[Record], problems: &mut Vec<String>) {
    if [a, b] == ["knot", "ours"] {
        return compare_set(section, expected, got, problems);
    }
    let e: BTreeSet<&Record> = expected.iter().collect();
    let g: BTreeSet<&Record> = got.iter().collect();
    for r in e.difference(&g) {
        problems.push(format!("{section}: {a}'s only: {r}"));
    }
    for r in g.difference(&e) {
        problems.push(format!("{section}: {b}'s only: {r}"));
    }
}

#[test]
fn signed_zones_are_answered_like_knot() {
    let dir = TempDir::new("dnssec-diff");
    let zones = Zones::make(&dir);
    let files = zones.files();
    let knot = Knot::start(&files);
    let ours = Server::builder()
        .zones(&files)
        .identity(REF_IDENTITY)
        .config(&format!("[server]\nversion = \"{REF_VERSION}\"\n"))
        .start();
    let mut asked = 0;
    let mut report = Vec::new();
    for (origin, _) in &files {
        for question in QUESTIONS {
            let args = args(origin, question);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (expected, got) = (knot.dig(&args), ours.dig(&args));
            asked += 1;
            let problems = differences(&expected, &got);
            if !problems.is_empty() {
                report.push(format!(
                    "dig {}:\n  - {}\n  knot said:\n{}\n  ours said:\n{}",
                    args.join(" "),
                    problems.join("\n  - "),
                    indent(&expected.to_string()),
                    indent(&got.to_string())
                ));
            }
        }
    }
    eprintln!("{} of {asked} DO=1 answers differ from Knot's", report.len());
    assert!(
        report.is_empty(),
        "expected dns-server to answer signed zones like Knot DNS; {} of {asked} answers differ:\n\n{}",
        report.len(),
        report.join("\n\n")
    );
}

/// NSD serving the same signed files: each of our answers must equal Knot's or NSD's
/// (a question where we differ from both is ours to fix); where Knot and NSD disagree
/// with each other, the questions are listed, as neither answer is then the only right one.
#[test]
fn signed_zones_are_answered_like_knot_or_nsd() {
    let dir = TempDir::new("dnssec-nsd");
    let zones = Zones::make(&dir);
    let files = zones.files();
    let knot = Knot::start(&files);
    let nsd = Nsd::start(&files);
    let ours = Server::builder()
        .zones(&files)
        .identity(REF_IDENTITY)
        .config(&format!("[server]\nversion = \"{REF_VERSION}\"\n"))
        .start();
    let (mut asked, mut unlike_nsd) = (0, 0);
    let (mut references_disagree, mut ours_alone) = (Vec::new(), Vec::new());
    for (origin, _) in &files {
        for question in QUESTIONS {
            let args = args(origin, question);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (k, n, o) = (knot.dig(&args), nsd.dig(&args), ours.dig(&args));
            asked += 1;
            let vs_knot = differences_of(["knot", "ours"], &k, &o);
            let vs_nsd = differences_of(["nsd", "ours"], &n, &o);
            let knot_nsd = differences_of(["knot", "nsd"], &k, &n);
            unlike_nsd += usize::from(!vs_nsd.is_empty());
            let shown = |problems: &[String]| format!("dig {}:\n  - {}", args.join(" "), problems.join("\n  - "));
            if !knot_nsd.is_empty() {
                references_disagree.push(shown(&knot_nsd));
            }
            if !vs_knot.is_empty() && !vs_nsd.is_empty() {
                ours_alone.push(format!(
                    "{}\n  - {}\n  ours said:\n{}",
                    shown(&vs_knot),
                    vs_nsd.join("\n  - "),
                    indent(&o.to_string())
                ));
            }
        }
    }
    eprintln!(
        "{unlike_nsd} of {asked} DO=1 answers differ from NSD's; Knot and NSD disagree on {}:\n\n{}",
        references_disagree.len(),
        references_disagree.join("\n\n")
    );
    assert!(
        ours_alone.is_empty(),
        "expected each answer to equal Knot's or NSD's; {} of {asked} differ from both:\n\n{}",
        ours_alone.len(),
        ours_alone.join("\n\n")
    );
}

/// Runs `dns-server check-zone ARGS`; its success and output.
fn check_zone(args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dns-server"))
        .arg("check-zone")
        .args(args)
        .output()
        .expect("expected to run dns-server check-zone");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn check_zone_audits_signed_zones() {
    let dir = TempDir::new("dnssec-check");
    let origin = "audit.test.";
    let signed = sign_zone(
        dir.path(),
        origin,
        &ZONE.replace("{origin}", origin),
        Signer::Ldns,
        Denial::Nsec3,
    );
    let file = signed.file.display().to_string();
    let (ok, out) = check_zone(&[origin, &file]);
    assert!(
        ok && out.contains("signed (NSEC3), 0 signatures expiring within 7 days"),
        "expected a freshly signed zone to pass; check-zone said:\n{out}"
    );
    // ldns-signzone's signatures last four weeks.
    let (ok, out) = check_zone(&[origin, &file, "--expiry-warn-days", "60"]);
    assert!(
        ok && !out.contains(" 0 signatures expiring"),
        "expected every signature to expire within 60 days; check-zone said:\n{out}"
    );
    // www's A without its RRSIG: an unsigned RRset fails the check.
    let text = std::fs::read_to_string(&signed.file).expect("the signed zone");
    let stripped: String = text
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            !(fields.first() == Some(&"www.audit.test.")
                && fields.get(3) == Some(&"RRSIG")
                && fields.get(4) == Some(&"A"))
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert_ne!(stripped, text, "the test removes a signature");
    let path = dir.write("stripped.signed", &stripped);
    let (ok, out) = check_zone(&[origin, &path.display().to_string()]);
    assert!(
        !ok && out.contains("RRsets unsigned (www.audit.test. type 1)"),
        "expected check-zone to refuse an unsigned RRset; it said:\n{out}"
    );
}
