//! DNSSEC validation through a signed lab hierarchy: a root, `test.` and
//! leaf zones signed at test time by `ldns-signzone`, the root anchored by
//! `[resolver] trust_anchor_file`; secure, altered, expired and unsigned names.

use std::path::PathBuf;

use super::{
    addresses,
    lab::{Lab, host},
};
use crate::harness::{Denial, Response, Server, Signer, sign_with_ldns_args, sign_zone};

const SOA: &str = "3600 IN SOA ns hostmaster 1 3600 600 86400 300";

/// The signed lab and the trust anchor file for its root.
struct SignedLab {
    lab: Lab,
    anchors: PathBuf,
    /// A root anchor matching none of the root's keys (`test.`'s DS, renamed).
    wrong_anchors: PathBuf,
}

/// Builds and starts the hierarchy: leaves first, so that each parent
/// carries its children's DS when it is signed.
fn signed_lab() -> SignedLab {
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
            "www A 192.0.2.1\naltered A 192.0.2.2\nalias CNAME www\nunsigned A 192.0.2.5\n*.wild A 192.0.2.6\n",
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
    let insecure = lab
        .dir
        .write("insecure.zone", &leaf_zone("insecure.test.", "www A 192.0.2.4\n"));

    let test = sign_zone(
        &dir,
        "test.",
        &format!(
            "$ORIGIN test.\n$TTL 3600\n@ {SOA}\n@ NS ns\nns A {tld}\n\
             secure NS ns.secure\nns.secure A {leaf}\n{}\n\
             expired NS ns.expired\nns.expired A {leaf}\n{}\n\
             insecure NS ns.insecure\nns.insecure A {leaf}\n",
            secure.ds.trim(),
            expired.ds.trim(),
        ),
        Signer::Ldns,
        Denial::Nsec,
    );
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
    lab.serve(&[
        (host::ROOT, ".", root_zone.file),
        (host::TLD, "test.", test.file),
        (host::LEAF, "secure.test.", secure.file),
        (host::LEAF, "expired.test.", expired.file),
        (host::LEAF, "insecure.test.", insecure),
    ]);
    SignedLab {
        lab,
        anchors,
        wrong_anchors,
    }
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
    assert!(
        !r.flag("ad"),
        "no AD while the wildcard's denial proof is not checked: {}",
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
