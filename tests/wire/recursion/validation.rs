//! DNSSEC validation through a signed lab hierarchy: a root, `test.` and
//! leaf zones signed at test time by `ldns-signzone` (and BIND's signer for
//! NSEC3 Opt-Out), the root anchored by `[resolver] trust_anchor_file`;
//! secure, altered, expired and unsigned names, and denial proofs (NSEC,
//! NSEC3, Opt-Out, too many iterations, stripped or broken) judged beside
//! Unbound validating on the same lab.

use std::path::PathBuf;

use super::{
    addresses,
    lab::{Lab, host},
    unbound::Unbound,
};
use crate::harness::{Denial, Response, Server, Signer, sign_with_ldns_args, sign_zone};

const SOA: &str = "3600 IN SOA ns hostmaster 1 3600 600 86400 300";

/// A lab host serving `shared.test.` and its two children.
const SHARED: u8 = 9;

/// A lab host relaying to the leaf server for `distant.test.`, each
/// answer after [`DISTANT_DELAY`].
const DISTANT: u8 = 12;
const DISTANT_DELAY: std::time::Duration = std::time::Duration::from_millis(400);

/// The signed lab and the trust anchor file for its root.
pub(super) struct SignedLab {
    pub(super) lab: Lab,
    pub(super) anchors: PathBuf,
    /// A root anchor matching none of the root's keys (`test.`'s DS, renamed).
    wrong_anchors: PathBuf,
    /// The root's anchor in RFC 7958 XML, with an expired digest beside it.
    xml_anchors: PathBuf,
    /// `nsec3.test.` as signed (NSEC3, no Opt-Out).
    nsec3_zone: PathBuf,
}

/// Builds and starts the hierarchy: leaves first, so that each parent
/// carries its children's DS when it is signed.
pub(super) fn signed_lab() -> SignedLab {
    let mut lab = Lab::empty();
    let dir = lab.dir.path().to_path_buf();
    let leaf = lab.ip(host::LEAF);
    let tld = lab.ip(host::TLD);
    let root = lab.ip(host::ROOT);
    let leaf_zone =
        |origin: &str, body: &str| format!("$ORIGIN {origin}\n$TTL 3600\n@ {SOA}\n@ NS ns\nns A {leaf}\n{body}");

    let secure = sign_zone(
        &dir,
        "secure.test.",
        &leaf_zone(
            "secure.test.",
            "www A 192.0.2.1\naltered A 192.0.2.2\nalias CNAME www\nunsigned A 192.0.2.5\n*.wild A 192.0.2.6\n\
             dn DNAME nsec3.test.\nbaddn DNAME nsec3.test.\n",
        ),
        Signer::Ldns,
        Denial::Nsec,
    );
    // A record changed after signing: its RRSIG no longer holds.
    let text = std::fs::read_to_string(&secure.file).expect("expected the signed zone");
    assert!(
        text.contains("\tA\t192.0.2.2"),
        "expected ldns's tab-separated output:\n{text}"
    );
    let text = text.replace("\tA\t192.0.2.2", "\tA\t192.0.2.99");
    // A DNAME redirected after signing.
    let text: String = text
        .lines()
        .map(
            |l| match l.starts_with("baddn.secure.test.\t") && l.contains("\tDNAME\t") {
                true => format!("{}\n", l.replace("nsec3.test.", "insecure.test.")),
                false => format!("{l}\n"),
            },
        )
        .collect();
    assert!(
        text.contains("\tDNAME\tinsecure.test."),
        "expected to redirect the DNAME:\n{text}"
    );
    // And a record whose RRSIG is taken away.
    let stripped: String = text
        .lines()
        .filter(|l| !(l.starts_with("unsigned.secure.test.") && l.contains("\tRRSIG\tA ")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(stripped.len() < text.len(), "expected an RRSIG to strip:\n{text}");
    std::fs::write(&secure.file, stripped).expect("expected to write");
    // Signatures valid only in 2020.
    let expired = sign_with_ldns_args(
        &dir,
        "expired.test.",
        &leaf_zone("expired.test.", "www A 192.0.2.3\n"),
        Denial::Nsec,
        &["-i", "20200101000000", "-e", "20200201000000"],
    );
    let insecure = lab.dir.write(
        "insecure.zone",
        &leaf_zone(
            "insecure.test.",
            "www A 192.0.2.4\nold DNAME new.insecure.test.\nwww.new A 192.0.2.23\ndn DNAME secure.test.\n",
        ),
    );
    let nsec3 = sign_zone(
        &dir,
        "nsec3.test.",
        &leaf_zone("nsec3.test.", "www A 192.0.2.10\n*.wild A 192.0.2.11\n"),
        Signer::Ldns,
        Denial::Nsec3,
    );
    // RFC 9276 3.2: past 150 iterations validators may call the zone insecure.
    let iterations = sign_with_ldns_args(
        &dir,
        "iter.test.",
        &leaf_zone("iter.test.", "www A 192.0.2.14\n"),
        Denial::Nsec,
        &["-n", "-t", "200"],
    );
    // An NSEC3 chain with every link but the apex's taken away.
    let broken = sign_zone(
        &dir,
        "broken.test.",
        &leaf_zone(
            "broken.test.",
            "www A 192.0.2.15\nmail A 192.0.2.16\nftp A 192.0.2.17\n",
        ),
        Signer::Ldns,
        Denial::Nsec3,
    );
    strip_nsec3_but_the_apex(&broken.file);
    // Opt-Out (BIND's signer leaves the unsigned delegation out of the chain),
    // on a server of its own so that the child's server is not asked for its DS.
    let optout = sign_zone(
        &dir,
        "optout.test.",
        &format!(
            "$ORIGIN optout.test.\n$TTL 3600\n@ {SOA}\n@ NS ns\nns A {other}\nwww A 192.0.2.12\n\
             unsigned NS ns.unsigned\nns.unsigned A {leaf}\n",
            other = lab.ip(host::OTHER)
        ),
        Signer::Bind,
        Denial::Nsec3OptOut,
    );
    let under_optout = lab.dir.write(
        "unsigned.optout.zone",
        &leaf_zone("unsigned.optout.test.", "www A 192.0.2.13\n"),
    );
    let forged = lab
        .dir
        .write("forged.zone", &leaf_zone("forged.test.", "www A 192.0.2.18\n"));
    // A parent and its children on one server, which answers each name from
    // the deepest zone it has: the resolver sees no referral to the children.
    let shared_ip = lab.ip(SHARED);
    let shared_zone =
        |origin: &str, body: &str| format!("$ORIGIN {origin}\n$TTL 3600\n@ {SOA}\n@ NS ns\nns A {shared_ip}\n{body}");
    let signed_child = sign_zone(
        &dir,
        "signed.shared.test.",
        &shared_zone("signed.shared.test.", "www A 192.0.2.20\n"),
        Signer::Ldns,
        Denial::Nsec,
    );
    let plain_child = lab.dir.write(
        "plain.shared.zone",
        &shared_zone("plain.shared.test.", "www A 192.0.2.21\n"),
    );
    let shared = sign_zone(
        &dir,
        "shared.test.",
        &shared_zone(
            "shared.test.",
            &format!(
                "www A 192.0.2.19\nsigned NS ns.signed\nns.signed A {shared_ip}\n{}\n\
                 plain NS ns.plain\nns.plain A {shared_ip}\n",
                signed_child.ds.trim()
            ),
        ),
        Signer::Ldns,
        Denial::Nsec,
    );

    // A signed zone whose server is far away: each round trip costs DISTANT_DELAY.
    let distant_ip = lab.ip(DISTANT);
    let distant = sign_zone(
        &dir,
        "distant.test.",
        &format!("$ORIGIN distant.test.\n$TTL 3600\n@ {SOA}\n@ NS ns\nns A {distant_ip}\nwww A 192.0.2.22\n"),
        Signer::Ldns,
        Denial::Nsec,
    );

    let test = sign_zone(
        &dir,
        "test.",
        &format!(
            "$ORIGIN test.\n$TTL 3600\n@ {SOA}\n@ NS ns\nns A {tld}\n\
             secure NS ns.secure\nns.secure A {leaf}\n{}\n\
             expired NS ns.expired\nns.expired A {leaf}\n{}\n\
             insecure NS ns.insecure\nns.insecure A {leaf}\n\
             forged NS ns.forged\nns.forged A {leaf}\n\
             nsec3 NS ns.nsec3\nns.nsec3 A {leaf}\n{}\n\
             iter NS ns.iter\nns.iter A {leaf}\n{}\n\
             broken NS ns.broken\nns.broken A {leaf}\n{}\n\
             optout NS ns.optout\nns.optout A {other}\n{}\n\
             shared NS ns.shared\nns.shared A {shared_ip}\n{}\n\
             distant NS ns.distant\nns.distant A {distant_ip}\n{}\n",
            secure.ds.trim(),
            expired.ds.trim(),
            nsec3.ds.trim(),
            iterations.ds.trim(),
            broken.ds.trim(),
            optout.ds.trim(),
            shared.ds.trim(),
            distant.ds.trim(),
            other = lab.ip(host::OTHER),
        ),
        Signer::Ldns,
        Denial::Nsec,
    );
    // `forged.test.` is an unsigned child, but the NSEC proving it has no DS
    // is taken away: a "no DS" anyone could have forged.
    strip_lines(&test.file, |l| {
        l.starts_with("forged.test.\t") && (l.contains("\tNSEC\t") || l.contains("\tRRSIG\tNSEC "))
    });
    let root_zone = sign_zone(
        &dir,
        ".",
        &format!(
            "$ORIGIN .\n$TTL 3600\n. 3600 IN SOA ns.root. hostmaster.root. 1 3600 600 86400 300\n. NS ns.root.\n\
             ns.root. A {root}\ntest. NS ns.test.\nns.test. A {tld}\n{}\n",
            test.ds.trim()
        ),
        Signer::Ldns,
        Denial::Nsec,
    );
    let anchors = lab.dir.write("anchors", &root_zone.ds);
    let wrong = test
        .ds
        .trim()
        .strip_prefix("test.")
        .expect("expected the DS to start with its owner");
    let wrong_anchors = lab.dir.write("wrong-anchors", &format!(".{wrong}\n"));
    let xml_anchors = lab.dir.write("anchors.xml", &rfc_7958(&root_zone.ds));
    lab.serve(&[
        (host::ROOT, ".", root_zone.file),
        (host::TLD, "test.", test.file),
        (host::LEAF, "secure.test.", secure.file),
        (host::LEAF, "expired.test.", expired.file),
        (host::LEAF, "insecure.test.", insecure),
        (host::LEAF, "nsec3.test.", nsec3.file.clone()),
        (host::LEAF, "iter.test.", iterations.file),
        (host::LEAF, "broken.test.", broken.file),
        (host::LEAF, "forged.test.", forged),
        (host::LEAF, "unsigned.optout.test.", under_optout),
        (host::OTHER, "optout.test.", optout.file),
        (SHARED, "shared.test.", shared.file),
        (SHARED, "signed.shared.test.", signed_child.file),
        (SHARED, "plain.shared.test.", plain_child),
        (host::LEAF, "distant.test.", distant.file),
    ]);
    lab.relay_distant(DISTANT, DISTANT_DELAY);
    SignedLab {
        lab,
        anchors,
        wrong_anchors,
        xml_anchors,
        nsec3_zone: nsec3.file,
    }
}

/// The root's DS line (`. IN DS tag algorithm type digest`) as an RFC 7958
/// document, after a digest of another key that expired in 2019 (the shape
/// of IANA's file while KSK-2010 was listed).
fn rfc_7958(ds: &str) -> String {
    let fields: Vec<&str> = ds.split_whitespace().collect();
    let at = fields.iter().position(|f| *f == "DS").expect("expected a DS line");
    let [tag, algorithm, digest_type, digest] = [1, 2, 3, 4].map(|i| fields[at + i]);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<TrustAnchor id=\"lab\" source=\"test\">\n<Zone>.</Zone>\n\
         <KeyDigest id=\"old\" validFrom=\"2010-07-15T00:00:00+00:00\" validUntil=\"2019-01-11T00:00:00+00:00\">\n\
         <KeyTag>{tag}</KeyTag><Algorithm>{algorithm}</Algorithm><DigestType>{digest_type}</DigestType>\n\
         <Digest>{}</Digest>\n</KeyDigest>\n\
         <KeyDigest id=\"now\" validFrom=\"2020-01-01T00:00:00+00:00\">\n\
         <KeyTag>{tag}</KeyTag><Algorithm>{algorithm}</Algorithm><DigestType>{digest_type}</DigestType>\n\
         <Digest>{digest}</Digest>\n</KeyDigest>\n</TrustAnchor>\n",
        "00".repeat(digest.len() / 2)
    )
}

/// Removes the lines `drop` picks from a zone file, which must have some.
fn strip_lines(file: &std::path::Path, drop: impl Fn(&str) -> bool) {
    let text = std::fs::read_to_string(file).expect("expected the signed zone");
    let kept: String = text.lines().filter(|l| !drop(l)).map(|l| format!("{l}\n")).collect();
    assert!(kept.len() < text.len(), "expected lines to strip:\n{text}");
    std::fs::write(file, kept).expect("expected to write");
}

/// Removes every NSEC3 record (and RRSIG over one) but the apex's, whose
/// bitmap has SOA.
fn strip_nsec3_but_the_apex(file: &std::path::Path) {
    let text = std::fs::read_to_string(file).expect("expected the signed zone");
    let owner = |l: &str| l.split('\t').next().unwrap_or_default().to_string();
    let apex = text
        .lines()
        .find(|l| l.contains("\tNSEC3\t") && l.contains("SOA"))
        .map(owner)
        .expect("expected the apex's NSEC3");
    strip_lines(file, |l| {
        (l.contains("\tNSEC3\t") || l.contains("\tRRSIG\tNSEC3 ")) && owner(l) != apex
    });
}

fn resolver(signed: &SignedLab, extra: &str) -> Server {
    resolver_anchored(signed, &signed.anchors, extra)
}

fn resolver_anchored(signed: &SignedLab, anchors: &std::path::Path, extra: &str) -> Server {
    let hints = signed.lab.hints();
    Server::builder()
        .config(&format!(
            "[resolver]\nenabled = true\nallow = [\"127.0.0.0/8\"]\nroot_hints = \"{}\"\ntrust_anchor_file = \"{}\"\n\
             do_not_query_localhost = false\n{extra}",
            hints.display(),
            anchors.display()
        ))
        .start()
}

fn ask(server: &Server, name: &str, flags: &[&str]) -> Response {
    let mut args = vec![name, "A", "+recurse", "+tries=1", "+time=8"];
    args.extend(flags);
    server.dig(&args)
}

#[test]
fn validates_a_signed_lab_hierarchy_from_its_root_anchor() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let signed = signed_lab();
    let server = resolver(&signed, "");

    let r = ask(&server, "www.secure.test.", &["+dnssec"]);
    assert_eq!(
        (r.rcode.as_str(), addresses(&r)),
        ("NOERROR", vec!["192.0.2.1".to_string()]),
        "{}",
        r.text
    );
    assert!(r.flag("ad"), "a secure answer has AD for a DO client: {}", r.text);
    assert!(
        r.answer.iter().any(|rr| rr.rtype == "RRSIG"),
        "a DO client gets the RRSIG: {}",
        r.text
    );

    let r = ask(&server, "www.secure.test.", &["+adflag"]);
    assert!(r.flag("ad"), "AD for a client that set AD: {}", r.text);
    assert!(
        !r.answer.iter().any(|rr| rr.rtype == "RRSIG"),
        "no RRSIG without DO: {}",
        r.text
    );
    let r = ask(&server, "www.secure.test.", &["+noadflag"]);
    assert!(!r.flag("ad"), "no AD for a client that asked neither: {}", r.text);

    let r = ask(&server, "alias.secure.test.", &["+dnssec"]);
    assert_eq!(addresses(&r), vec!["192.0.2.1"], "{}", r.text);
    assert!(r.flag("ad"), "a secure CNAME chain has AD: {}", r.text);

    let r = ask(&server, "altered.secure.test.", &["+dnssec"]);
    assert_eq!(
        r.rcode, "SERVFAIL",
        "a record altered after signing is bogus: {}",
        r.text
    );
    assert!(r.text.contains("EDE: 6"), "with EDE 6 (DNSSEC Bogus): {}", r.text);

    let r = ask(&server, "unsigned.secure.test.", &["+dnssec"]);
    assert_eq!(
        r.rcode, "SERVFAIL",
        "a signed zone's RRset without RRSIG is bogus: {}",
        r.text
    );
    assert!(r.text.contains("EDE: 10"), "with EDE 10 (RRSIGs Missing): {}", r.text);

    let r = ask(&server, "altered.secure.test.", &["+dnssec", "+cd"]);
    assert_eq!(
        (r.rcode.as_str(), addresses(&r)),
        ("NOERROR", vec!["192.0.2.99".to_string()]),
        "CD=1 gets the data unvalidated: {}",
        r.text
    );
    assert!(!r.flag("ad"), "never AD on bogus data: {}", r.text);

    let r = ask(&server, "a.wild.secure.test.", &["+dnssec"]);
    assert_eq!(addresses(&r), vec!["192.0.2.6"], "a wildcard answer: {}", r.text);
    assert!(r.flag("ad"), "a wildcard proven by its NSEC has AD: {}", r.text);
    assert!(
        r.authority.iter().any(|rr| rr.rtype == "NSEC"),
        "a DO client gets the wildcard's proof: {}",
        r.text
    );

    let r = ask(&server, "www.expired.test.", &["+dnssec"]);
    assert_eq!(r.rcode, "SERVFAIL", "expired signatures are bogus: {}", r.text);
    assert!(r.text.contains("EDE: 7"), "with EDE 7 (Signature Expired): {}", r.text);

    let r = ask(&server, "www.insecure.test.", &["+dnssec"]);
    assert_eq!(
        (r.rcode.as_str(), addresses(&r)),
        ("NOERROR", vec!["192.0.2.4".to_string()]),
        "an unsigned child of a signed parent is answered: {}",
        r.text
    );
    assert!(!r.flag("ad"), "insecure: no AD: {}", r.text);
}

#[test]
fn an_anchor_no_root_key_matches_makes_everything_bogus_and_off_passes_it() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let signed = signed_lab();
    let server = resolver(&signed, "validation = false\n");
    let r = ask(&server, "altered.secure.test.", &["+dnssec"]);
    assert_eq!(addresses(&r), vec!["192.0.2.99"], "{}", r.text);
    let r = ask(&server, "www.secure.test.", &["+dnssec"]);
    assert_eq!(addresses(&r), vec!["192.0.2.1"], "{}", r.text);
    assert!(!r.flag("ad"), "nothing is validated: {}", r.text);

    // The same hierarchy from an anchor none of the root's keys matches.
    let server = resolver_anchored(&signed, &signed.wrong_anchors, "");
    let r = ask(&server, "www.secure.test.", &["+dnssec"]);
    assert_eq!(r.rcode, "SERVFAIL", "{}", r.text);
    assert!(r.text.contains("EDE: 9"), "with EDE 9 (DNSKEY Missing): {}", r.text);
    let r = ask(&server, "www.insecure.test.", &["+dnssec", "+cd"]);
    assert_eq!(addresses(&r), vec!["192.0.2.4"], "CD=1 still answers: {}", r.text);
}

/// What a resolver said: rcode, AD, and the extended error code if any.
fn verdict(r: &Response) -> (String, bool, Option<String>) {
    let ede = r
        .text
        .split("EDE: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .map(str::to_string);
    (r.rcode.clone(), r.flag("ad"), ede)
}

#[test]
fn denial_proofs_are_judged_as_unbound_judges_them() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let signed = signed_lab();
    let ours = resolver(&signed, "");
    let unbound = Unbound::start_validating(&signed.lab, &signed.anchors);
    // Name, type, and our rcode and AD (Unbound's must be the same).
    let cases: &[(&str, &str, &str, bool)] = &[
        ("nope.secure.test.", "A", "NXDOMAIN", true),
        ("www.secure.test.", "AAAA", "NOERROR", true),
        ("a.wild.secure.test.", "AAAA", "NOERROR", true),
        ("a.wild.secure.test.", "A", "NOERROR", true),
        ("nope.nsec3.test.", "A", "NXDOMAIN", true),
        ("www.nsec3.test.", "AAAA", "NOERROR", true),
        ("a.wild.nsec3.test.", "A", "NOERROR", true),
        ("a.wild.nsec3.test.", "TXT", "NOERROR", true),
        ("www.iter.test.", "A", "NOERROR", true),
        ("nope.iter.test.", "A", "NXDOMAIN", false),
        ("www.optout.test.", "A", "NOERROR", true),
        ("www.unsigned.optout.test.", "A", "NOERROR", false),
        ("www.forged.test.", "A", "SERVFAIL", false),
        ("www.broken.test.", "A", "NOERROR", true),
        ("nope.broken.test.", "A", "SERVFAIL", false),
        ("www.insecure.test.", "A", "NOERROR", false),
        ("nope.test.", "A", "NXDOMAIN", true),
        ("secure.test.", "DS", "NOERROR", true),
        ("www.shared.test.", "A", "NOERROR", true),
        ("www.signed.shared.test.", "A", "NOERROR", true),
        ("nope.signed.shared.test.", "A", "NXDOMAIN", true),
        ("www.plain.shared.test.", "A", "NOERROR", false),
        ("nope.plain.shared.test.", "A", "NXDOMAIN", false),
        ("plain.shared.test.", "DS", "NOERROR", true),
    ];
    let mut report = String::new();
    for &(name, qtype, rcode, ad) in cases {
        let args = [name, qtype, "+recurse", "+dnssec", "+tries=1", "+time=8"];
        let r = ours.dig(&args);
        let u = unbound.dig(&args);
        let (mine, theirs) = (verdict(&r), verdict(&u));
        report.push_str(&format!("{name} {qtype}: ours {mine:?}, unbound {theirs:?}\n"));
        assert_eq!(
            (mine.0.as_str(), mine.1),
            (rcode, ad),
            "{name} {qtype}: ours\n{}\nunbound\n{}",
            r.text,
            u.text
        );
        assert_eq!(
            (&mine.0, mine.1),
            (&theirs.0, theirs.1),
            "{name} {qtype}: ours and Unbound differ\nours\n{}\nunbound\n{}",
            r.text,
            u.text
        );
        if rcode == "SERVFAIL" {
            assert!(mine.2.is_some(), "a bogus answer has an EDE: {}", r.text);
        }
        let negative = rcode == "NXDOMAIN" || r.answer.is_empty();
        if ad && negative {
            assert!(
                r.authority.iter().any(|rr| rr.rtype == "NSEC" || rr.rtype == "NSEC3"),
                "a secure denial comes with its proof for a DO client: {}",
                r.text
            );
        }
    }
    eprintln!("{report}");
}

#[test]
fn dnskey_answers_get_ad_as_unbound_gives_it() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let signed = signed_lab();
    let ours = resolver(&signed, "");
    let unbound = Unbound::start_validating(&signed.lab, &signed.anchors);
    // Zone, and our rcode and AD (Unbound's must be the same). Each is asked
    // twice: resolved cold, then from the cache.
    let cases: &[(&str, &str, bool)] = &[
        ("secure.test.", "NOERROR", true),
        (".", "NOERROR", true),
        ("nsec3.test.", "NOERROR", true),
        ("test.", "NOERROR", true),
        ("expired.test.", "SERVFAIL", false),
        ("insecure.test.", "NOERROR", false),
        // Denials of a key set below a zone's apex, judged as any denial.
        ("www.secure.test.", "NOERROR", true),
        ("nope.secure.test.", "NXDOMAIN", true),
        ("nope.nsec3.test.", "NXDOMAIN", true),
        ("www.insecure.test.", "NOERROR", false),
        ("www.plain.shared.test.", "NOERROR", false),
        ("plain.shared.test.", "NOERROR", false),
    ];
    for &(zone, rcode, ad) in cases {
        for round in ["cold", "cached"] {
            let args = [zone, "DNSKEY", "+recurse", "+dnssec", "+tries=1", "+time=8"];
            let (r, u) = (ours.dig(&args), unbound.dig(&args));
            let (mine, theirs) = (verdict(&r), verdict(&u));
            let context = format!("{zone} DNSKEY, {round}: ours\n{}\nunbound\n{}", r.text, u.text);
            assert_eq!((mine.0.as_str(), mine.1), (rcode, ad), "{context}");
            assert_eq!(
                (&mine.0, mine.1),
                (&theirs.0, theirs.1),
                "ours and Unbound differ: {context}"
            );
            assert_eq!(types_but_rrsig(&r), types_but_rrsig(&u), "{context}");
            if ad && r.answer.is_empty() {
                assert!(
                    r.authority.iter().any(|rr| rr.rtype == "NSEC" || rr.rtype == "NSEC3"),
                    "the denial's proof for a DO client: {context}"
                );
            } else if ad {
                assert!(
                    r.answer.iter().any(|rr| rr.rtype == "RRSIG"),
                    "the key set's RRSIGs for a DO client: {context}"
                );
            }
        }
    }
    // AD without DO (RFC 6840 5.7): the flag alone asks for it.
    let r = ours.dig(&["secure.test.", "DNSKEY", "+recurse", "+adflag", "+tries=1", "+time=8"]);
    assert_eq!((r.rcode.as_str(), r.flag("ad")), ("NOERROR", true), "{}", r.text);
}

#[test]
fn negative_trust_anchors_answer_their_domains_unvalidated() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let signed = signed_lab();
    let server = resolver(
        &signed,
        "domain_insecure = [\"altered.secure.test.\", \"expired.test\", \"forged.test.\"]\n",
    );
    for (name, address) in [
        ("altered.secure.test.", "192.0.2.99"),
        ("www.expired.test.", "192.0.2.3"),
        ("www.forged.test.", "192.0.2.18"),
    ] {
        let r = ask(&server, name, &["+dnssec"]);
        assert_eq!(
            (r.rcode.as_str(), addresses(&r)),
            ("NOERROR", vec![address.to_string()]),
            "bogus data below a negative trust anchor is answered: {}",
            r.text
        );
        assert!(!r.flag("ad"), "never with AD: {}", r.text);
    }
    let r = ask(&server, "www.secure.test.", &["+dnssec"]);
    assert!(r.flag("ad"), "the rest is validated still: {}", r.text);
    let r = ask(&server, "unsigned.secure.test.", &["+dnssec"]);
    assert_eq!(r.rcode, "SERVFAIL", "a sibling is not switched off: {}", r.text);
}

#[test]
fn an_rfc_7958_xml_anchor_file_anchors_the_lab() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let signed = signed_lab();
    let server = resolver_anchored(&signed, &signed.xml_anchors, "");
    let r = ask(&server, "www.secure.test.", &["+dnssec"]);
    assert_eq!(addresses(&r), vec!["192.0.2.1"], "{}", r.text);
    assert!(r.flag("ad"), "secure from the XML anchor valid now: {}", r.text);
    let r = ask(&server, "altered.secure.test.", &["+dnssec"]);
    assert_eq!(r.rcode, "SERVFAIL", "and bogus is bogus: {}", r.text);
}

#[test]
fn validated_nsec_ranges_answer_other_names_without_asking() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let mut signed = signed_lab();
    let server = resolver(&signed, "");
    let r = ask(&server, "nope1.secure.test.", &["+dnssec"]);
    assert_eq!((r.rcode.as_str(), r.flag("ad")), ("NXDOMAIN", true), "{}", r.text);
    let r = server.dig(&["www.secure.test.", "AAAA", "+recurse", "+dnssec", "+tries=1", "+time=8"]);
    assert_eq!((r.rcode.as_str(), r.flag("ad")), ("NOERROR", true), "{}", r.text);

    // Every lab server gone: only what the cache proves can be answered.
    signed.lab.stop_all();
    let r = ask(&server, "nope2.secure.test.", &["+dnssec"]);
    assert_eq!(
        (r.rcode.as_str(), r.flag("ad")),
        ("NXDOMAIN", true),
        "another name in the same NSEC range, from the cache (RFC 8198): {}",
        r.text
    );
    assert!(
        r.authority.iter().any(|rr| rr.rtype == "NSEC") && r.authority.iter().any(|rr| rr.rtype == "SOA"),
        "with its proof and SOA: {}",
        r.text
    );
    let r = server.dig(&["www.secure.test.", "TXT", "+recurse", "+dnssec", "+tries=1", "+time=8"]);
    assert_eq!(
        (r.rcode.as_str(), r.flag("ad"), r.answer.len()),
        ("NOERROR", true, 0),
        "another type the same NSEC denies: {}",
        r.text
    );
    let r = ask(&server, "zzz.secure.test.", &["+dnssec"]);
    assert_eq!(
        (r.rcode.as_str(), r.flag("ad")),
        ("NXDOMAIN", true),
        "past the last name, by www's NSEC (the NODATA's): {}",
        r.text
    );
    // Between ns. and unsigned.: a range never seen.
    let r = ask(&server, "pp.secure.test.", &["+dnssec"]);
    assert_eq!(
        r.rcode, "SERVFAIL",
        "a name no cached range covers is asked for: {}",
        r.text
    );
}

#[test]
fn concurrent_cold_queries_fetch_each_zones_keys_once() {
    test_support::require_root!("binding port 53 on loopback addresses");
    use std::{net::UdpSocket, time::Duration};

    let signed = signed_lab();
    let server = resolver(&signed, "");
    let lab = &signed.lab;
    // Distinct names (so that no two share a resolution) in two signed
    // leaves on one server, all asked at once of a cold resolver: each
    // needs the root's, test.'s and its leaf's keys.
    let names: Vec<String> = (0..12)
        .flat_map(|i| [format!("x{i}.wild.secure.test."), format!("n{i}.nsec3.test.")])
        .collect();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("client socket");
    socket.set_read_timeout(Some(Duration::from_secs(8))).expect("timeout");
    for (id, name) in names.iter().enumerate() {
        // RD and AD: the answer says whether it validated.
        let q = test_support::Query::new(name, 1).id(id as u16).flags(0x0120).to_wire();
        socket.send_to(&q, ("127.0.0.1", server.port)).expect("sent");
    }
    let mut answered = vec![None; names.len()];
    for _ in 0..names.len() {
        let mut buf = [0u8; 1232];
        let (n, _) = socket.recv_from(&mut buf).expect("every answer within 8 s");
        let id = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
        let (rcode, ad) = (buf[3] & 0x0f, buf[3] & 0x20 != 0);
        assert!(n > 12 && id < names.len(), "an answer to one of ours: {:?}", &buf[..n]);
        answered[id] = Some((rcode, ad));
    }
    for (name, answer) in names.iter().zip(&answered) {
        let want = if name.contains("wild") { 0 } else { 3 };
        assert_eq!(*answer, Some((want, true)), "{name}: validated (rcode, AD)");
    }
    for (host, zones, what) in [
        (host::ROOT, 1.0, "the root's"),
        (host::TLD, 1.0, "test.'s"),
        (host::LEAF, 2.0, "secure.test.'s and nsec3.test.'s"),
    ] {
        assert_eq!(
            lab.queries(host, "DNSKEY"),
            zones,
            "one DNSKEY query per zone for {} queries at once: {what}",
            names.len()
        );
    }
    // Each DS comes from the parent once at most (or from its referral).
    assert!(lab.queries(host::ROOT, "DS") <= 1.0, "test.'s DS");
    assert!(lab.queries(host::TLD, "DS") <= 2.0, "the leaves' DS");
}

#[test]
fn a_signed_childs_keys_are_fetched_beside_the_query_after_its_referral() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let signed = signed_lab();
    let server = resolver(&signed, "");
    // The root's and test.'s keys proven, and test.'s servers known.
    let r = ask(&server, "www.secure.test.", &["+dnssec"]);
    assert_eq!((r.rcode.as_str(), r.flag("ad")), ("NOERROR", true), "{}", r.text);
    let started = std::time::Instant::now();
    let r = ask(&server, "www.distant.test.", &["+dnssec"]);
    let took = started.elapsed();
    assert_eq!((r.rcode.as_str(), r.flag("ad")), ("NOERROR", true), "{}", r.text);
    assert_eq!(addresses(&r), vec!["192.0.2.22"]);
    assert_eq!(
        signed.lab.relayed(DISTANT),
        2,
        "distant.test.'s server was asked for www and for its DNSKEY set"
    );
    // test.'s referral carries distant.test.'s DS, proven at once: the
    // DNSKEY query goes out beside the query for www, not after its answer.
    assert!(
        took < DISTANT_DELAY * 3 / 2,
        "one distant round trip in sequence ({DISTANT_DELAY:?}), not two: {took:?}"
    );
}

/// The sorted owner hashes (base32hex, lower case, which sorts as the
/// hashes do) of the NSEC3 records in a signed zone's text.
fn nsec3_owners(zone: &str) -> Vec<String> {
    let mut owners: Vec<String> = zone
        .lines()
        .filter(|l| l.contains("\tNSEC3\t"))
        .filter_map(|l| l.split('.').next())
        .map(str::to_ascii_lowercase)
        .collect();
    owners.sort();
    owners.dedup();
    owners
}

/// `name`'s NSEC3 hash under the zone's NSEC3PARAM, by `ldns-nsec3-hash`.
fn nsec3_hash(zone: &str, name: &str) -> String {
    let param = zone
        .lines()
        .find(|l| l.contains("\tNSEC3PARAM\t"))
        .unwrap_or_else(|| panic!("expected an NSEC3PARAM:\n{zone}"));
    let fields: Vec<&str> = param.split_whitespace().collect();
    let at = fields.iter().position(|f| *f == "NSEC3PARAM").expect("the type");
    let (iterations, salt) = (fields[at + 3], fields[at + 4]);
    let mut args = vec!["-t", iterations];
    if salt != "-" {
        args.extend(["-s", salt]);
    }
    args.push(name);
    let out = std::process::Command::new("ldns-nsec3-hash")
        .args(&args)
        .output()
        .expect("expected to run ldns-nsec3-hash");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The owner of the span that matches or covers `hash` (the last wraps round).
fn span_of(owners: &[String], hash: &str) -> String {
    owners
        .iter()
        .rfind(|o| o.as_str() <= hash)
        .or(owners.last())
        .cloned()
        .expect("expected NSEC3 records")
}

#[test]
fn validated_nsec3_spans_answer_other_names_without_asking() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let mut signed = signed_lab();
    let zone = std::fs::read_to_string(&signed.nsec3_zone).expect("expected the signed zone");
    let owners = nsec3_owners(&zone);
    let span = |name: &str| span_of(&owners, &nsec3_hash(&zone, name));
    let server = resolver(&signed, "");
    let r = ask(&server, "nope1.nsec3.test.", &["+dnssec"]);
    assert_eq!((r.rcode.as_str(), r.flag("ad")), ("NXDOMAIN", true), "{}", r.text);
    let r = server.dig(&["www.nsec3.test.", "AAAA", "+recurse", "+dnssec", "+tries=1", "+time=8"]);
    assert_eq!((r.rcode.as_str(), r.flag("ad")), ("NOERROR", true), "{}", r.text);
    // What those answers carried: the spans of nope1 and of the wildcard
    // at the apex, and the apex's and www's own.
    let seen = [
        span("nope1.nsec3.test."),
        span("*.nsec3.test."),
        span("nsec3.test."),
        span("www.nsec3.test."),
    ];
    let candidates: Vec<String> = (2..300).map(|k| format!("nope{k}.nsec3.test.")).collect();
    let mate = candidates
        .iter()
        .find(|n| span(n) == seen[0])
        .expect("expected a name hashed into nope1's span");
    let unseen = candidates.iter().find(|n| !seen.contains(&span(n)));

    // Every lab server gone: only what the cache proves can be answered.
    signed.lab.stop_all();
    let r = ask(&server, mate, &["+dnssec"]);
    assert_eq!(
        (r.rcode.as_str(), r.flag("ad")),
        ("NXDOMAIN", true),
        "another name in the same NSEC3 span, from the cache (RFC 8198): {}",
        r.text
    );
    assert!(
        r.authority.iter().filter(|rr| rr.rtype == "NSEC3").count() >= 2
            && r.authority.iter().any(|rr| rr.rtype == "SOA"),
        "with its closest-encloser proof and SOA: {}",
        r.text
    );
    let r = server.dig(&["www.nsec3.test.", "TXT", "+recurse", "+dnssec", "+tries=1", "+time=8"]);
    assert_eq!(
        (r.rcode.as_str(), r.flag("ad"), r.answer.len()),
        ("NOERROR", true, 0),
        "another type www's NSEC3 denies: {}",
        r.text
    );
    if let Some(unseen) = unseen {
        let r = ask(&server, unseen, &["+dnssec"]);
        assert_eq!(
            r.rcode, "SERVFAIL",
            "a name no cached span covers is asked for: {}",
            r.text
        );
    }
}

#[test]
fn forwarded_answers_are_validated_from_the_anchor() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let signed = signed_lab();
    // A validating forwarder: asked with CD=1, it passes on what it would
    // call bogus, and ours must judge it.
    let unbound = Unbound::start_validating(&signed.lab, &signed.anchors);
    let forward = format!(
        "forward = [\"127.0.0.1:{}\"]\nforward_validation = true\n",
        unbound.port()
    );
    let server = resolver(&signed, &forward);
    // Name, type, and our rcode, AD and EDE.
    let cases: &[(&str, &str, &str, bool, Option<&str>)] = &[
        ("www.secure.test.", "A", "NOERROR", true, None),
        ("alias.secure.test.", "A", "NOERROR", true, None),
        ("a.wild.secure.test.", "A", "NOERROR", true, None),
        ("nope.secure.test.", "A", "NXDOMAIN", true, None),
        ("www.secure.test.", "AAAA", "NOERROR", true, None),
        ("nope.nsec3.test.", "A", "NXDOMAIN", true, None),
        ("www.insecure.test.", "A", "NOERROR", false, None),
        ("www.unsigned.optout.test.", "A", "NOERROR", false, None),
        ("altered.secure.test.", "A", "SERVFAIL", false, Some("6")),
        ("unsigned.secure.test.", "A", "SERVFAIL", false, Some("10")),
        ("www.expired.test.", "A", "SERVFAIL", false, Some("7")),
    ];
    for &(name, qtype, rcode, ad, ede) in cases {
        let r = server.dig(&[name, qtype, "+recurse", "+dnssec", "+tries=1", "+time=8"]);
        let (mine_rcode, mine_ad, mine_ede) = verdict(&r);
        assert_eq!(
            (mine_rcode.as_str(), mine_ad, mine_ede.as_deref()),
            (rcode, ad, ede),
            "{name} {qtype} through the forwarder:\n{}\nstderr:\n{}",
            r.text,
            server.stderr()
        );
    }
    let r = ask(&server, "www.secure.test.", &["+dnssec"]);
    assert!(
        r.answer.iter().any(|rr| rr.rtype == "RRSIG"),
        "a DO client gets the RRSIG: {}",
        r.text
    );
    let r = ask(&server, "altered.secure.test.", &["+dnssec", "+cd"]);
    assert_eq!(
        (r.rcode.as_str(), addresses(&r), r.flag("ad")),
        ("NOERROR", vec!["192.0.2.99".to_string()], false),
        "CD=1 gets the data unvalidated: {}",
        r.text
    );
}

/// Forwarded answers are validated by default (as Unbound does), and
/// `forward_validation = false` passes them on as the forwarder gave them.
#[test]
fn forwarded_answers_are_validated_by_default_and_not_when_turned_off() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let signed = signed_lab();
    let unbound = Unbound::start_validating(&signed.lab, &signed.anchors);
    let forward = format!("forward = [\"127.0.0.1:{}\"]\n", unbound.port());
    let by_default = resolver(&signed, &forward);
    let r = by_default.dig(&[
        "altered.secure.test.",
        "A",
        "+recurse",
        "+dnssec",
        "+tries=1",
        "+time=8",
    ]);
    let (rcode, ad, ede) = verdict(&r);
    assert_eq!(
        (rcode.as_str(), ad, ede.as_deref()),
        ("SERVFAIL", false, Some("6")),
        "a bogus forwarded answer, with no forward_validation line: {}\nstderr:\n{}",
        r.text,
        by_default.stderr()
    );
    let r = by_default.dig(&["www.secure.test.", "A", "+recurse", "+dnssec", "+tries=1", "+time=8"]);
    assert_eq!((r.rcode.as_str(), r.flag("ad")), ("NOERROR", true), "{}", r.text);
    assert!(
        by_default.stderr().contains("forwarded answers are validated"),
        "the start says so: {}",
        by_default.stderr()
    );

    // Off: trusted as they come, here from a forwarder that does not
    // validate either (a validating one would hide the bogus data).
    let plain = Unbound::start(&signed.lab);
    let off = resolver(
        &signed,
        &format!(
            "forward = [\"127.0.0.1:{}\"]\nforward_validation = false\n",
            plain.port()
        ),
    );
    let r = off.dig(&[
        "altered.secure.test.",
        "A",
        "+recurse",
        "+dnssec",
        "+tries=1",
        "+time=8",
    ]);
    assert_eq!(
        (r.rcode.as_str(), addresses(&r), r.flag("ad")),
        ("NOERROR", vec!["192.0.2.99".to_string()], false),
        "forward_validation = false: the forwarder's data as it is, never AD: {}",
        r.text
    );
    let r = off.dig(&["www.secure.test.", "A", "+recurse", "+dnssec", "+tries=1", "+time=8"]);
    assert_eq!((r.rcode.as_str(), r.flag("ad")), ("NOERROR", false), "{}", r.text);
    assert!(
        off.stderr()
            .contains("forwarded answers are not validated (forward_validation = false)"),
        "the start says so: {}",
        off.stderr()
    );
}

#[test]
fn a_signed_dname_is_validated_with_the_cname_made_from_it() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let signed = signed_lab();
    let server = resolver(&signed, "");
    let r = ask(&server, "www.dn.secure.test.", &["+dnssec"]);
    let types = types_but_rrsig(&r);
    assert_eq!(
        (r.rcode.as_str(), types, addresses(&r)),
        ("NOERROR", vec!["DNAME", "CNAME", "A"], vec!["192.0.2.10".to_string()]),
        "{}",
        r.text
    );
    assert!(r.flag("ad"), "a signed DNAME and a secure target: AD: {}", r.text);
    assert!(
        r.answer
            .iter()
            .any(|rr| rr.rtype == "RRSIG" && rr.owner == "dn.secure.test." && rr.rdata.starts_with("DNAME ")),
        "a DO client gets the DNAME's RRSIG: {}",
        r.text
    );
    let r = ask(&server, "www.baddn.secure.test.", &["+dnssec"]);
    assert_eq!(
        r.rcode, "SERVFAIL",
        "a DNAME altered after signing is bogus: {}",
        r.text
    );
    assert!(r.text.contains("EDE: 6"), "with EDE 6 (DNSSEC Bogus): {}", r.text);
}

#[test]
fn a_dname_in_an_insecure_zone_is_followed_without_ad_as_unbound_follows_it() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let signed = signed_lab();
    let ours = resolver(&signed, "");
    let unbound = Unbound::start_validating(&signed.lab, &signed.anchors);
    // insecure.test. is unsigned, and test. proves it has no DS. Its DNAMEs
    // point within it, and into the signed secure.test.: the whole answer is
    // no more secure than its insecure part.
    let cases = [
        ("www.old.insecure.test.", "www.new.insecure.test.", "192.0.2.23"),
        ("www.dn.insecure.test.", "www.secure.test.", "192.0.2.1"),
    ];
    for round in ["cold", "cached"] {
        for (name, target, address) in cases {
            let args = [name, "A", "+recurse", "+dnssec", "+tries=1", "+time=8"];
            let (r, u) = (ours.dig(&args), unbound.dig(&args));
            let context = format!("{name}, {round}: ours\n{}\nunbound\n{}", r.text, u.text);
            let (mine, theirs) = (verdict(&r), verdict(&u));
            assert_eq!((mine.0.as_str(), mine.1), ("NOERROR", false), "{context}");
            assert_eq!(
                (&mine.0, mine.1),
                (&theirs.0, theirs.1),
                "ours and Unbound differ: {context}"
            );
            assert_eq!(types_but_rrsig(&r), vec!["DNAME", "CNAME", "A"], "{context}");
            assert_eq!(types_but_rrsig(&r), types_but_rrsig(&u), "{context}");
            let cname = |r: &Response| {
                r.answer
                    .iter()
                    .find(|rr| rr.rtype == "CNAME")
                    .map(|rr| (rr.owner.clone(), rr.rdata.clone()))
            };
            assert_eq!(cname(&r), Some((name.to_string(), target.to_string())), "{context}");
            assert_eq!(cname(&r), cname(&u), "the same CNAME synthesised: {context}");
            assert_eq!(addresses(&r), vec![address], "{context}");
        }
    }
}

#[test]
fn names_under_a_validated_wildcard_are_answered_without_asking() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let mut signed = signed_lab();
    let zone = std::fs::read_to_string(&signed.nsec3_zone).expect("expected the signed zone");
    let owners = nsec3_owners(&zone);
    let span = |name: &str| span_of(&owners, &nsec3_hash(&zone, name));
    let server = resolver(&signed, "");
    for name in ["a.wild.secure.test.", "a.wild.nsec3.test."] {
        let r = ask(&server, name, &["+dnssec"]);
        assert_eq!((r.rcode.as_str(), r.flag("ad")), ("NOERROR", true), "{}", r.text);
    }
    // Under NSEC3 the proof is the span covering the next closer name's
    // hash: another name is answered from the cache only in that span.
    let mate = (0..300)
        .map(|k| format!("n{k}.wild.nsec3.test."))
        .find(|n| span(n) == span("a.wild.nsec3.test."))
        .expect("expected a name hashed into a.wild's span");

    // Every lab server gone: only what the cache proves can be answered.
    signed.lab.stop_all();
    for (name, address, denial) in [
        ("b.wild.secure.test.", "192.0.2.6", "NSEC"),
        ("x.y.wild.secure.test.", "192.0.2.6", "NSEC"),
        (mate.as_str(), "192.0.2.11", "NSEC3"),
    ] {
        let r = ask(&server, name, &["+dnssec"]);
        assert_eq!(
            (r.rcode.as_str(), r.flag("ad"), addresses(&r)),
            ("NOERROR", true, vec![address.to_string()]),
            "another name under the wildcard, from the cache (RFC 8198 5.4): {}",
            r.text
        );
        assert!(
            r.answer
                .iter()
                .any(|rr| rr.rtype == "RRSIG" && rr.owner == name && rr.rdata.starts_with("A ")),
            "a DO client gets the RRSIG, owned by the name asked: {}",
            r.text
        );
        assert!(
            r.authority.iter().any(|rr| rr.rtype == denial),
            "and the {denial} proving the name itself absent: {}",
            r.text
        );
    }
    let r = ask(&server, "c.wild.secure.test.", &[]);
    assert_eq!(addresses(&r), vec!["192.0.2.6"], "{}", r.text);
    assert!(
        !r.answer.iter().any(|rr| rr.rtype == "RRSIG"),
        "no RRSIG without DO: {}",
        r.text
    );
    let r = server.dig(&[
        "b.wild.secure.test.",
        "AAAA",
        "+recurse",
        "+dnssec",
        "+tries=1",
        "+time=8",
    ]);
    assert_eq!(
        r.rcode, "SERVFAIL",
        "a type the wildcard was never seen with is asked for: {}",
        r.text
    );
}

#[test]
fn a_validated_dname_answers_names_below_it_without_asking() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let mut signed = signed_lab();
    let server = resolver(&signed, "");
    // The DNAME (dn.secure.test. to nsec3.test.) seen once, and a target
    // name asked directly.
    let r = ask(&server, "www.dn.secure.test.", &["+dnssec"]);
    assert_eq!((r.rcode.as_str(), r.flag("ad")), ("NOERROR", true), "{}", r.text);
    let r = ask(&server, "a.wild.nsec3.test.", &["+dnssec"]);
    assert_eq!((r.rcode.as_str(), r.flag("ad")), ("NOERROR", true), "{}", r.text);

    signed.lab.stop_all();
    let r = ask(&server, "a.wild.dn.secure.test.", &["+dnssec"]);
    let types = types_but_rrsig(&r);
    assert_eq!(
        (r.rcode.as_str(), types, addresses(&r)),
        ("NOERROR", vec!["DNAME", "CNAME", "A"], vec!["192.0.2.11".to_string()]),
        "a new name below the cached DNAME, its CNAME made here (RFC 6672): {}",
        r.text
    );
    assert!(r.flag("ad"), "a validated DNAME and a secure target: AD: {}", r.text);
    assert!(
        r.answer
            .iter()
            .any(|rr| rr.rtype == "CNAME" && rr.owner == "a.wild.dn.secure.test." && rr.rdata == "a.wild.nsec3.test."),
        "the CNAME made for the name asked: {}",
        r.text
    );
    assert!(
        r.answer
            .iter()
            .any(|rr| rr.rtype == "RRSIG" && rr.owner == "dn.secure.test." && rr.rdata.starts_with("DNAME ")),
        "a DO client gets the DNAME's RRSIG: {}",
        r.text
    );
}

/// The answer section's types in order, its RRSIGs left out.
fn types_but_rrsig(r: &Response) -> Vec<&str> {
    r.answer
        .iter()
        .map(|rr| rr.rtype.as_str())
        .filter(|t| *t != "RRSIG")
        .collect()
}
