//! The fuzz targets' corpora replayed as regression tests, and the checks
//! the targets rely on, shown to work on known inputs.
//!
//! The seed corpora were written by [`write_seed_corpora`] (ignored; run it
//! with `--ignored` after changing the seeds); inputs the fuzzer found are
//! added beside them by hand (see `fuzz/README.md`).

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
};

use test_support::{Query, TempDir};

use dns_wire::wire::{FLAG_AA, FLAG_QR, class, rtype};

use super::{
    TransferOutcome, ZoneSandbox, autotrust_state, ixfr_history, read_message, respond, transfer, trust_anchors,
};
use crate::message::{Section, Writer};

/// `fuzz/` at the top of the workspace.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every input of `target`: its corpus and any crash files kept in `fuzz/artifacts/`.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for dir in [
        fuzz_dir().join("corpus").join(target),
        fuzz_dir().join("artifacts").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.expect("a corpus directory can be listed").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            files.push((path, bytes));
        }
    }
    files.sort();
    files
}

/// Runs `run` on every input of `target`; fails naming each input that panicked.
fn replay(target: &str, run: impl Fn(&[u8])) -> usize {
    let files = inputs(target);
    assert!(
        files.len() >= 10,
        "fuzz/corpus/{target} should hold the seed corpus, found {} files",
        files.len()
    );
    let panicked: Vec<_> = files
        .iter()
        .filter(|(_, bytes)| catch_unwind(AssertUnwindSafe(|| run(bytes))).is_err())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(panicked.is_empty(), "{target}: these inputs panic: {panicked:#?}");
    files.len()
}

#[test]
fn respond_corpus_replays() {
    replay("respond", |bytes| {
        let _ = respond(bytes);
    });
}

#[test]
fn message_corpus_replays() {
    replay("message", |bytes| {
        let _ = read_message(bytes);
    });
}

#[test]
fn trust_anchor_corpus_replays() {
    replay("trust_anchor", |bytes| {
        let _ = trust_anchors(bytes);
    });
}

#[test]
fn autotrust_corpus_replays() {
    replay("autotrust", |bytes| {
        let _ = autotrust_state(bytes);
    });
}

#[test]
fn ixfr_history_corpus_replays() {
    let dir = TempDir::new("fuzz-history-replay");
    replay("ixfr_history", |bytes| {
        let _ = ixfr_history(dir.path(), bytes);
    });
}

/// The history seeds (written by hand) are taken back or refused as named.
#[test]
fn ixfr_history_seeds_reach_each_outcome() {
    let dir = TempDir::new("fuzz-history-seeds");
    for (name, deltas) in [
        ("one-change", Some(1)),
        ("two-changes", Some(2)),
        ("torn-last-block", Some(1)),
        ("soa-only", Some(1)),
        ("added-aaaa", Some(1)),
        ("comment-and-blank", None),
        ("ends-at-another-serial", None),
        ("not-one-chain", None),
        ("removals-without-soa", None),
        ("upper-case-names", None),
        ("empty", None),
        ("garbage", None),
    ] {
        let path = fuzz_dir().join("corpus/ixfr_history").join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(ixfr_history(dir.path(), &bytes), deltas, "ixfr_history/{name}");
    }
}

/// The anchor seeds (written by hand in `fuzz/corpus/`) reach what they
/// are named for: anchors read back, or refusals.
#[test]
fn anchor_seeds_reach_each_outcome() {
    let seed = |target: &str, name: &str| {
        std::fs::read(fuzz_dir().join("corpus").join(target).join(name))
            .unwrap_or_else(|e| panic!("{target}/{name}: {e}"))
    };
    for (name, anchors) in [
        ("root-ds", Some(1)),
        ("ds-and-dnskey", Some(1)),
        ("two-zones-mixed-case", Some(2)),
        ("generic-rdata", Some(2)),
        ("iana-root-anchors.xml", Some(1)),
        ("xml-one-digest", Some(1)),
        ("not-an-anchor-type", None),
        ("comment-only", None),
        ("xml-broken", None),
        ("xml-not-yet-valid", None),
    ] {
        assert_eq!(
            trust_anchors(&seed("trust_anchor", name)),
            anchors,
            "trust_anchor/{name}"
        );
    }
    for (name, entries) in [
        ("valid-key", Some(1)),
        ("every-state", Some(5)),
        ("spaces-and-crlf", Some(2)),
        ("addpend-plus-sign", Some(1)),
        ("comment-only", Some(0)),
        ("addpend-not-a-number", None),
        ("unknown-state", None),
        ("bad-base64", None),
        ("ds-lower-case-hex", None),
    ] {
        assert_eq!(autotrust_state(&seed("autotrust", name)), entries, "autotrust/{name}");
    }
}

#[test]
fn transfer_corpus_replays() {
    replay("transfer", |bytes| {
        let _ = transfer(bytes);
    });
}

#[test]
fn zone_corpus_replays() {
    let scratch = TempDir::new("replay");
    let sandbox = ZoneSandbox::new(&scratch.0).expect("the sandbox can be laid out");
    replay("zone", |bytes| {
        let _ = sandbox.read_zone(bytes);
    });
}

#[test]
fn respond_answers_and_checks_queries() {
    let q = Query::new("WwW.diff.example.", 1).id(0xbeef).edns(1232).to_wire();
    let response = respond(&q).expect("a query in a fixed zone is answered");
    assert_eq!(response[..2], [0xbe, 0xef]);
    assert_eq!(response[3] & 0x0f, 0, "NOERROR");
    assert_eq!(read_message(&response), Some(3), "two A records and the OPT");
    // Dropped, not answered: a response, and a packet shorter than a header.
    assert_eq!(respond(&[0x12, 0x34, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0]), None);
    assert_eq!(respond(&[0; 11]), None);
}

#[test]
fn read_message_reads_compressed_names_and_refuses_loops() {
    let response = respond(&Query::new("diff.example.", 15).to_wire()).expect("MX answered");
    assert_eq!(
        read_message(&response),
        Some(4),
        "two MX records and the in-zone exchange's A and AAAA, names compressed"
    );
    let mut looping = vec![0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    looping.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(read_message(&looping), None);
}

#[test]
fn zones_read_in_the_sandbox_cannot_reach_outside_it() {
    let scratch = TempDir::new("confined");
    let sandbox = ZoneSandbox::new(&scratch.0).expect("the sandbox can be laid out");
    let soa = "$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.53\n";
    for include in ["inc.zone", "nested.zone", "sub/a.zone"] {
        let text = format!("{soa}$INCLUDE {include}\n");
        assert_eq!(sandbox.read_zone(text.as_bytes()), Ok(()), "$INCLUDE {include}");
    }
    for (include, why) in [
        ("escape.zone", "refused"),
        ("../outside/secret", "refused"),
        ("/etc/passwd", "refused"),
        ("self.zone", "nested more than"),
        ("binary.zone", "outside ASCII"),
        ("missing.zone", "cannot read"),
    ] {
        let text = format!("{soa}$INCLUDE {include}\n");
        let e = sandbox.read_zone(text.as_bytes()).expect_err(include);
        assert!(e.contains(why), "$INCLUDE {include}: expected {why:?}, got {e:?}");
    }
    assert!(sandbox.read_zone(b"\xff").is_err(), "not UTF-8");
}

/// Writes the seed corpora: real queries built with test-support, the
/// responder's answers to them, and zone snippets, plus malformed variants.
#[test]
#[ignore = "writes fuzz/corpus: run by hand when the seeds change"]
fn write_seed_corpora() {
    let queries = seed_queries();
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        std::fs::write(dir.join(name), bytes).expect("corpus file");
    };
    for (name, q) in &queries {
        write("respond", name, q);
        write("fast_question", name, q);
        if let Some(response) = respond(q) {
            write("message", name, &response);
        }
    }
    for (name, text) in seed_zones() {
        write("zone", name, text.as_bytes());
    }
    for (name, bytes, _) in seed_transfers() {
        write("transfer", name, &bytes);
    }
}

/// The transfer seeds reach every outcome: a built zone, applied
/// differences, up to date, and refusals of each kind.
#[test]
fn transfer_seeds_reach_each_outcome() {
    for (name, bytes, expected) in seed_transfers() {
        assert_eq!(transfer(&bytes), expected, "seed {name}");
    }
}

/// `diff.example.` (the base zone of the transfer target) and its serial.
const TRANSFER_ORIGIN: &[u8] = b"\x04diff\x07example\x00";
const TRANSFER_SERIAL: u32 = 2024010101;

/// The base zone's SOA RDATA with `serial`.
fn soa_rdata(serial: u32) -> Vec<u8> {
    let mut rdata = Vec::new();
    rdata.extend_from_slice(b"\x03ns1\x04diff\x07example\x00");
    rdata.extend_from_slice(b"\x0ahostmaster\x04diff\x07example\x00");
    for v in [serial, 7200, 900, 1_209_600, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    rdata
}

/// One answer message to a transfer request: `records` as (owner, type, RDATA).
fn xfr_message(qtype: u16, records: &[(&[u8], u16, Vec<u8>)]) -> Vec<u8> {
    let mut msg = Vec::new();
    let mut w = Writer::new(
        &mut msg,
        usize::from(u16::MAX),
        0,
        FLAG_QR | FLAG_AA,
        Some((TRANSFER_ORIGIN, qtype, class::IN)),
    );
    for (owner, rt, rdata) in records {
        w.record(Section::Answer, owner, *rt, class::IN, 3600, rdata)
            .expect("a seed record fits");
    }
    w.finish();
    msg
}

/// A fuzz input: the mode byte, then the messages framed as over TCP.
fn xfr_input(mode: u8, messages: &[Vec<u8>]) -> Vec<u8> {
    let mut input = vec![mode];
    for m in messages {
        input.extend_from_slice(&(m.len() as u16).to_be_bytes());
        input.extend_from_slice(m);
    }
    input
}

fn seed_transfers() -> Vec<(&'static str, Vec<u8>, TransferOutcome)> {
    use TransferOutcome::*;
    let (axfr, ixfr) = (0u8, 1u8);
    let new = TRANSFER_SERIAL + 1;
    let soa = |serial| (TRANSFER_ORIGIN, rtype::SOA, soa_rdata(serial));
    let ns = (TRANSFER_ORIGIN, rtype::NS, b"\x03ns1\x04diff\x07example\x00".to_vec());
    let ns1: &[u8] = b"\x03ns1\x04diff\x07example\x00";
    let glue = (ns1, rtype::A, vec![192, 0, 2, 53]);
    let www: &[u8] = b"\x03www\x04diff\x07example\x00";
    let apex_a = (TRANSFER_ORIGIN, rtype::A, vec![192, 0, 2, 1]);
    let new_a = (TRANSFER_ORIGIN, rtype::A, vec![192, 0, 2, 2]);
    let outside = (&b"\x03www\x07example\x03org\x00"[..], rtype::A, vec![192, 0, 2, 3]);
    let whole = [
        soa(new),
        ns.clone(),
        glue.clone(),
        (www, rtype::A, vec![192, 0, 2, 80]),
        soa(new),
    ];
    let wrong_qtype = xfr_message(rtype::A, &whole);
    let mut out = vec![
        (
            "axfr-one-message",
            xfr_input(axfr, &[xfr_message(rtype::AXFR, &whole)]),
            Built,
        ),
        (
            "axfr-three-messages",
            xfr_input(
                axfr,
                &[
                    xfr_message(rtype::AXFR, &whole[..2]),
                    xfr_message(rtype::AXFR, &whole[2..4]),
                    xfr_message(rtype::AXFR, &whole[4..]),
                ],
            ),
            Built,
        ),
        (
            "ixfr-answered-whole",
            xfr_input(ixfr, &[xfr_message(rtype::IXFR, &whole)]),
            Built,
        ),
        (
            "ixfr-one-change",
            xfr_input(
                ixfr,
                &[xfr_message(
                    rtype::IXFR,
                    &[
                        soa(new),
                        soa(TRANSFER_SERIAL),
                        apex_a.clone(),
                        soa(new),
                        new_a.clone(),
                        soa(new),
                    ],
                )],
            ),
            Applied,
        ),
        (
            "ixfr-two-changes",
            xfr_input(
                ixfr,
                &[
                    xfr_message(
                        rtype::IXFR,
                        &[
                            soa(new + 1),
                            soa(TRANSFER_SERIAL),
                            apex_a.clone(),
                            soa(new),
                            new_a.clone(),
                        ],
                    ),
                    xfr_message(rtype::IXFR, &[soa(new), new_a.clone(), soa(new + 1), soa(new + 1)]),
                ],
            ),
            Applied,
        ),
        (
            "ixfr-up-to-date",
            xfr_input(ixfr, &[xfr_message(rtype::IXFR, &[soa(TRANSFER_SERIAL)])]),
            UpToDate,
        ),
        (
            "ixfr-removes-what-is-not-there",
            xfr_input(
                ixfr,
                &[xfr_message(
                    rtype::IXFR,
                    &[soa(new), soa(TRANSFER_SERIAL), new_a.clone(), soa(new), soa(new)],
                )],
            ),
            Refused,
        ),
        (
            "axfr-unfinished",
            xfr_input(axfr, &[xfr_message(rtype::AXFR, &whole[..4])]),
            Refused,
        ),
        (
            "axfr-outside-the-zone",
            xfr_input(axfr, &[xfr_message(rtype::AXFR, &[soa(new), ns, outside, soa(new)])]),
            Refused,
        ),
        (
            "axfr-without-ns",
            xfr_input(axfr, &[xfr_message(rtype::AXFR, &[soa(new), glue, soa(new)])]),
            Refused,
        ),
        (
            "axfr-signed-request-unsigned-answer",
            xfr_input(2, &[xfr_message(rtype::AXFR, &whole)]),
            Refused,
        ),
        ("no-messages", vec![axfr], Refused),
    ];
    out.push(("axfr-question-not-ours", xfr_input(axfr, &[wrong_qtype]), Refused));
    let mut cut = xfr_message(rtype::AXFR, &whole);
    cut.truncate(cut.len() - 7);
    out.push(("axfr-cut-short", xfr_input(axfr, &[cut]), Refused));
    out
}

fn seed_queries() -> Vec<(&'static str, Vec<u8>)> {
    let q = Query::new;
    let seeds = vec![
        ("a-www", q("www.diff.example.", 1).id(1).rd()),
        ("a-www-0x20-edns", q("WwW.DiFf.example.", 1).id(2).edns(1232)),
        ("aaaa-apex-do", q("diff.example.", 28).id(3).dnssec_ok()),
        ("mx-apex", q("diff.example.", 15).id(4)),
        ("any-apex-edns", q("diff.example.", 255).id(5).edns(4096)),
        ("cname-chain", q("a.diff.example.", 1).id(6)),
        ("cname-out", q("ext.diff.example.", 1).id(7)),
        ("wildcard", q("foo.wild.diff.example.", 16).id(8)),
        ("wildcard-cname", q("x.wc.diff.example.", 1).id(9)),
        ("nxdomain", q("nothere.diff.example.", 1).id(10).edns(512)),
        ("referral", q("host.sub.diff.example.", 1).id(11)),
        ("ds-child-apex", q("deep.diff.example.", 43).id(12).dnssec_ok()),
        ("soa-example-com", q("example.com.", 6).id(13)),
        ("outside-refused", q("www.example.net.", 1).id(14).rd().edns(1232)),
        ("nsid", q("www.example.com.", 1).id(15).option(3, &[])),
        (
            "cookie",
            q("www.example.com.", 1).id(16).option(10, &[1, 2, 3, 4, 5, 6, 7, 8]),
        ),
        ("version-bind-ch", q("version.bind.", 16).id(17).class(3)),
        ("id-server-ch", q("id.server.", 16).id(18).class(3)),
        ("axfr", q("diff.example.", 252).id(19)),
        ("ixfr", q("diff.example.", 251).id(20)),
        ("class-any", q("www.diff.example.", 1).id(21).class(255)),
        ("class-hs", q("www.diff.example.", 1).id(22).class(4)),
        ("notify", q("diff.example.", 6).id(23).opcode(4)),
        ("badvers", q("www.example.com.", 1).id(24).edns(1232)),
        ("no-question", q("www.example.com.", 1).id(25).counts([0, 0, 0, 0])),
        ("two-questions", q("www.example.com.", 1).id(26).counts([2, 0, 0, 0])),
        ("trailing-byte", q("www.example.com.", 1).id(27).tail(&[0])),
        ("compressed-qname", q("x.", 1).id(28).qname_wire(&[0xc0, 0x0c])),
        (
            "bad-option-length",
            q("www.example.com.", 1).id(29).raw_options(&[0, 10, 0, 9, 1]),
        ),
        (
            "tsig",
            q("www.example.com.", 1)
                .id(30)
                .counts([1, 0, 0, 1])
                .tail(&[0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0]),
        ),
        ("response", q("www.example.com.", 1).id(31).flags(0x8000)),
    ];
    let mut out: Vec<_> = seeds.into_iter().map(|(n, q)| (n, q.to_wire())).collect();
    for (name, bytes) in &mut out {
        if *name == "badvers" {
            // EDNS version 1 (the builder sends 0): the OPT record ends the
            // query, and its version is the 5th byte from the end.
            let at = bytes.len() - 5;
            bytes[at] = 1;
        }
    }
    // A query cut inside its question.
    let cut = out[0].1[..20].to_vec();
    out.push(("cut-in-question", cut));
    out
}

fn seed_zones() -> Vec<(&'static str, String)> {
    let soa = "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n";
    let with_soa = |body: &str| format!("{soa}{body}");
    vec![
        ("default-example-com", crate::zone::load::DEFAULT_ZONE.to_string()),
        (
            "diff-example",
            include_str!("../../../tests/zones/diff.example.zone").to_string(),
        ),
        (
            "deep-diff-example",
            include_str!("../../../tests/zones/deep.diff.example.zone").to_string(),
        ),
        ("include-plain", with_soa("$INCLUDE inc.zone\n")),
        ("include-nested-origin", with_soa("$INCLUDE nested.zone sub\n")),
        ("include-subdir", with_soa("$INCLUDE sub/a.zone\n")),
        ("include-self", with_soa("$INCLUDE self.zone\n")),
        ("include-binary", with_soa("$INCLUDE binary.zone\n")),
        ("include-symlink-out", with_soa("$INCLUDE escape.zone\n")),
        ("include-dotdot", with_soa("$INCLUDE ../outside/secret\n")),
        ("include-absolute", with_soa("$INCLUDE /etc/passwd\n")),
        ("include-dev-zero", with_soa("$INCLUDE /dev/zero\n")),
        (
            "types",
            with_soa(
                "www 60 IN A 192.0.2.1\n\tAAAA 2001:db8::1\n\
                 mx MX 10 mail\ntxt TXT \"one ; (not a comment)\" two\n\
                 srv SRV 0 5 5060 www\ncaa CAA 0 issue \"ca.example.net\"\n\
                 svc SVCB 1 . alpn=\"h2,h3\" port=443 ipv4hint=192.0.2.1\n\
                 https HTTPS 1 . alpn=h2\nptr PTR www\nhinfo HINFO \"PC\" \"Linux\"\n\
                 sshfp SSHFP 1 1 0123456789ABCDEF0123456789ABCDEF01234567\n\
                 tlsa TLSA 3 1 1 0123456789ABCDEF\nds DS 12345 8 2 0123456789ABCDEF\n\
                 generic TYPE65534 \\# 4 0A000001\ndname DNAME www\n",
            ),
        ),
        (
            "parentheses-and-escapes",
            with_soa("txt TXT ( \"a\\\"b\"\n\t\"c\\059d\" )\nesc\\.aped A 192.0.2.2\n\\065 A 192.0.2.3\n"),
        ),
        (
            "origin-ttl-directives",
            "$ORIGIN sub\n$TTL 1d\n@ SOA a b 1 2 3 4 5\n@ NS a\na A 192.0.2.1\n".to_string(),
        ),
        (
            "wildcard-and-delegation",
            with_soa("*.w A 192.0.2.9\nchild NS ns.child\nns.child A 192.0.2.10\n"),
        ),
        ("cname-loop", with_soa("a CNAME b\nb CNAME a\n")),
        ("unclosed-paren", with_soa("x TXT ( a\n")),
        ("unknown-directive", "$FOO bar\n".to_string()),
        ("generate", "$GENERATE 1-2 a A 1.2.3.$\n".to_string()),
        ("no-soa", "$TTL 1\nwww A 192.0.2.1\n".to_string()),
        ("bom", format!("\u{feff}{soa}")),
        ("ttl-too-large", "$TTL 2147483648\n".to_string()),
        ("class-ch", with_soa("x CH TXT \"c\"\n")),
        ("journal-one-change", JOURNAL_SEED.to_string()),
        (
            "catalog-zone",
            "$TTL 0\n@ SOA invalid. invalid. 1 3600 600 2147483646 0\n@ NS invalid.\n\
             version TXT \"2\"\nuniq1.zones PTR example.com.\ngroup.uniq1.zones TXT \"g\"\n\
             coo.uniq1.zones PTR other.catalog.\nuniq2.zones PTR example.net.\n"
                .to_string(),
        ),
    ]
}

/// A secondary's journal of `fuzz.example.` with one change to
/// [`super::JOURNAL_BASE`], as `secondary::store` writes it.
const JOURNAL_SEED: &str = ";; change 1 2\n\
    -fuzz.example. 300 IN SOA ns1.fuzz.example. hostmaster.fuzz.example. 1 7200 900 1209600 300\n\
    -www.fuzz.example. 300 IN A 192.0.2.80\n\
    +fuzz.example. 300 IN SOA ns1.fuzz.example. hostmaster.fuzz.example. 2 7200 900 1209600 300\n\
    +www.fuzz.example. 300 IN A 192.0.2.81\n\
    ;; end\n";

/// The zone target's journal seed reads as a journal and applies to the
/// base version, so the fuzzer starts from changes that get applied.
#[test]
fn the_journal_seed_applies() {
    let origin = crate::name::Name::parse("fuzz.example.", None).expect("origin");
    let deltas: Vec<_> = crate::secondary::store::read_journal(&origin, Path::new("seed"), JOURNAL_SEED)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("the seed reads as a journal");
    assert_eq!(deltas.len(), 1);
    let changed = crate::secondary::store::apply_all(super::journal_base(), &deltas).expect("it applies");
    assert_eq!(changed.serial, 2);
}
