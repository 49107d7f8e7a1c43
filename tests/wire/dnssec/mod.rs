//! Signed zones over the wire: zones signed at test time by ldns-signzone and by BIND's
//! dnssec-signzone (NSEC, NSEC3, NSEC3 Opt-Out), served by dns-server and by Knot DNS,
//! asked the same DO=1 questions and compared section by section as sets; and Unbound
//! validating our answers.

mod validation;

use std::path::PathBuf;

use crate::harness::{
    Denial, Knot, REF_IDENTITY, REF_VERSION, Response, Server, Signed, Signer, TempDir, compare_set, indent, sign_zone,
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
    let mut problems = Vec::new();
    if expected.rcode != got.rcode {
        problems.push(format!("rcode: knot {}, ours {}", expected.rcode, got.rcode));
    }
    for flag in ["qr", "aa", "tc", "rd", "ad"] {
        if expected.flag(flag) != got.flag(flag) {
            problems.push(format!(
                "flag {flag}: knot {}, ours {}",
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
        problems.push(format!("OPT: knot {:?}, ours {:?}", edns(expected), edns(got)));
    }
    if got.question.iter().any(|q| q.ends_with("ANY")) {
        // RFC 8482: any non-empty subset; Knot's one RRset must be among ours.
        for r in expected.answer.iter().filter(|r| !got.answer.contains(r)) {
            problems.push(format!("answer (ANY): missing from ours: {r}"));
        }
        compare_set("authority", &expected.authority, &got.authority, &mut problems);
        return problems;
    }
    compare_set("answer", &expected.answer, &got.answer, &mut problems);
    compare_set("authority", &expected.authority, &got.authority, &mut problems);
    compare_set("additional", &expected.additional, &got.additional, &mut problems);
    problems
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
