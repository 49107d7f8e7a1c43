//! Zone transactions over `dns-server ctl` (`zone-begin` ... `zone-commit`):
//! answered at once over UDP, the serial incremented, IXFR out and NOTIFY,
//! the zone file rewritten and read back after a restart, and every refusal
//! explained.

use std::{
    collections::BTreeSet,
    thread,
    time::{Duration, Instant},
};

use crate::{
    harness::{Server, TempDir, dig_axfr, kdig_ixfr},
    transfer::notify_received,
};

const ORIGIN: &str = "edit.example.";

fn zone(serial: u32) -> String {
    format!(
        "$ORIGIN {ORIGIN}\n$TTL 60\n@ SOA ns1 hostmaster {serial} 3600 600 86400 60\n@ NS ns1\n\
         ns1 A 192.0.2.1\nwww A 192.0.2.80\nkeep A 192.0.2.7\nkeep TXT \"kept as written\"\n"
    )
}

fn primary(file: &std::path::Path, extra: &str) -> Server {
    Server::builder()
        .zone(ORIGIN, file)
        .control()
        .config(&format!("[server]\nallow_transfer = [\"127.0.0.1/32\"]\n{extra}"))
        .start()
}

/// `ctl ARGS`'s error text; panics if it succeeded.
fn ctl_error(server: &Server, args: &[&str]) -> String {
    let out = server.ctl(args);
    assert!(!out.status.success(), "expected `ctl {}` to fail", args.join(" "));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn serial(server: &Server) -> String {
    let soa = server.dig(&[ORIGIN, "SOA"]);
    soa.answer[0].rdata.split(' ').nth(2).unwrap_or_default().to_string()
}

fn addresses(server: &Server, name: &str) -> BTreeSet<String> {
    server
        .dig(&[name, "A"])
        .answer
        .iter()
        .map(|r| r.rdata.clone())
        .collect()
}

fn counter(server: &Server, name: &str) -> u64 {
    let stats = server.ctl_ok(&["stats"]);
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&format!("server.{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{stats}"))
}

#[test]
fn a_commit_is_answered_at_once_sent_by_ixfr_notified_and_written_to_the_file() {
    let dir = TempDir::new("zone-edit");
    let file = dir.write("edit.zone", &zone(10));
    let listener = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let port = listener.local_addr().expect("addr").port();
    let server = primary(&file, &format!("notify = [\"127.0.0.1:{port}\"]\n"));
    let wire = test_support::query::encode_name(ORIGIN);
    assert_eq!(
        notify_received(&listener),
        Some((wire.clone(), false)),
        "the NOTIFY at start"
    );

    let begun = server.ctl_ok(&["zone-begin", "edit.example"]);
    assert!(begun.contains("serial 10"), "{begun}");
    server.ctl_ok(&["zone-set", ORIGIN, "www", "A", "192.0.2.81"]);
    server.ctl_ok(&["zone-unset", ORIGIN, "www.edit.example.", "A", "192.0.2.80"]);
    server.ctl_ok(&["zone-set", ORIGIN, "new", "120", "TXT", "\"set over ctl\""]);
    let diff = server.ctl_ok(&["zone-diff", ORIGIN]);
    assert_eq!(
        diff.lines().collect::<Vec<_>>(),
        [
            "-www.edit.example. 60 IN A 192.0.2.80",
            "+new.edit.example. 120 IN TXT \"set over ctl\"",
            "+www.edit.example. 60 IN A 192.0.2.81",
        ],
        "{diff}"
    );
    assert_eq!(serial(&server), "10", "nothing served before the commit");

    let committed = server.ctl_ok(&["zone-commit", ORIGIN]);
    assert!(committed.contains("serial 11"), "{committed}");
    assert_eq!(serial(&server), "11", "the serial incremented");
    assert_eq!(
        addresses(&server, "www.edit.example"),
        BTreeSet::from(["192.0.2.81".to_string()])
    );
    let txt = server.dig(&["new.edit.example", "TXT"]);
    assert_eq!(txt.answer[0].rdata, "\"set over ctl\"", "{txt:?}");
    assert_eq!(
        notify_received(&listener),
        Some((wire, false)),
        "the secondaries are told"
    );

    // IXFR from 10: one difference sequence, the change and the SOAs.
    let ixfr = kdig_ixfr("127.0.0.1", server.port, ORIGIN, 10, &[]);
    let lines: Vec<String> = ixfr
        .records
        .iter()
        .map(|r| format!("{} {} {}", r.owner, r.rtype, r.rdata))
        .collect();
    let soa = |serial: u32| format!("{ORIGIN} SOA ns1.{ORIGIN} hostmaster.{ORIGIN} {serial} 3600 600 86400 60");
    assert_eq!(lines.len(), 7, "{}", ixfr.text);
    assert_eq!(
        lines[..4],
        [soa(11), soa(10), format!("www.{ORIGIN} A 192.0.2.80"), soa(11)],
        "{}",
        ixfr.text
    );
    assert_eq!(
        lines[4..6].iter().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([
            format!("new.{ORIGIN} TXT \"set over ctl\""),
            format!("www.{ORIGIN} A 192.0.2.81"),
        ]),
        "{}",
        ixfr.text
    );
    assert_eq!(lines[6], soa(11), "{}", ixfr.text);

    // The file, rewritten in the background; a reload then finds our own write unchanged.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(&file).is_ok_and(|t| t.contains("192.0.2.81") && t.contains(" 11 ")) {
        assert!(
            Instant::now() < deadline,
            "zone file not rewritten; log:\n{}",
            server.stderr()
        );
        thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&file).expect("zone file");
    assert!(!text.contains("192.0.2.80"), "{text}");
    let temporaries: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        temporaries.is_empty(),
        "no temporary left beside the file: {temporaries:?}"
    );
    let unchanged = counter(&server, "zones_unchanged");
    let reloaded = server.ctl_ok(&["reload"]);
    assert!(reloaded.contains("serial 11"), "{reloaded}");
    assert_eq!(
        counter(&server, "zones_unchanged"),
        unchanged + 1,
        "our own write is not a change"
    );
    assert_eq!(counter(&server, "zone_commits"), 1);

    // Read back by a fresh server: the same data as the one that committed serves.
    let again = primary(&file, "");
    let records =
        |s: &Server| -> BTreeSet<_> { dig_axfr("127.0.0.1", s.port, ORIGIN, &[]).records.into_iter().collect() };
    assert_eq!(
        records(&again),
        records(&server),
        "the rewritten file reads back as served"
    );
}

#[test]
fn abort_bad_input_checks_and_a_reload_meanwhile_are_refused_clearly() {
    let dir = TempDir::new("zone-edit-errors");
    let file = dir.write("edit.zone", &zone(10));
    let server = primary(&file, "");
    let www = || addresses(&server, "www.edit.example");
    let before = www();

    let error = ctl_error(&server, &["zone-set", ORIGIN, "www", "A", "192.0.2.99"]);
    assert!(error.contains("no transaction on edit.example. is open"), "{error}");
    let error = ctl_error(&server, &["zone-begin", "nowhere.test."]);
    assert!(error.contains("not configured"), "{error}");

    // Abort: nothing served changes.
    server.ctl_ok(&["zone-begin", ORIGIN]);
    let error = ctl_error(&server, &["zone-begin", ORIGIN]);
    assert!(error.contains("open already"), "{error}");
    server.ctl_ok(&["zone-set", ORIGIN, "www", "A", "192.0.2.99"]);
    for (args, expected) in [
        (&["zone-set", ORIGIN, "www", "A", "192.0.2.300"][..], "A RDATA"),
        (&["zone-set", ORIGIN, "www", "BOGUS", "1"], "not a record type"),
        (
            &["zone-set", ORIGIN, "www.example.org.", "A", "192.0.2.1"],
            "not in the zone",
        ),
        (
            &["zone-unset", ORIGIN, "nothing"],
            "no records at nothing.edit.example.",
        ),
    ] {
        let error = ctl_error(&server, args);
        assert!(error.contains(expected), "{args:?}: {error}");
    }
    server.ctl_ok(&["zone-abort", ORIGIN]);
    assert_eq!(www(), before);
    assert_eq!(serial(&server), "10");
    assert!(ctl_error(&server, &["zone-diff", ORIGIN]).contains("no transaction"));

    // A change the zone checks refuse: the transaction stays open to be put right.
    server.ctl_ok(&["zone-begin", ORIGIN]);
    server.ctl_ok(&["zone-set", ORIGIN, "keep", "CNAME", "www"]);
    let error = ctl_error(&server, &["zone-commit", ORIGIN]);
    assert!(
        error.contains("keep.edit.example.") && error.contains("stays open"),
        "{error}"
    );
    server.ctl_ok(&["zone-unset", ORIGIN, "keep", "A"]);
    server.ctl_ok(&["zone-unset", ORIGIN, "keep", "TXT"]);
    let committed = server.ctl_ok(&["zone-commit", ORIGIN]);
    assert!(committed.contains("serial 11"), "{committed}");
    let keep = server.dig(&["keep.edit.example", "A"]);
    assert_eq!(keep.answer[0].rtype, "CNAME", "{keep:?}");

    // Nothing to commit.
    server.ctl_ok(&["zone-begin", ORIGIN]);
    assert!(ctl_error(&server, &["zone-commit", ORIGIN]).contains("nothing to commit"));

    // A reload that changes the zone under an open transaction ends it.
    server.ctl_ok(&["zone-begin", ORIGIN]);
    server.ctl_ok(&["zone-set", ORIGIN, "www", "A", "192.0.2.99"]);
    // Past the rewrite of the commit above (the reload waits for it), then edited by hand.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(&file).is_ok_and(|t| t.contains(" 11 ")) {
        assert!(
            Instant::now() < deadline,
            "zone file not rewritten; log:\n{}",
            server.stderr()
        );
        thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(&file, zone(20)).expect("edited by hand");
    assert!(server.ctl_ok(&["reload", ORIGIN]).contains("serial 20"));
    let error = ctl_error(&server, &["zone-commit", ORIGIN]);
    assert!(error.contains("changed since zone-begin"), "{error}");
    assert_eq!(serial(&server), "20");
    assert_eq!(www(), before, "the file's data, not the transaction's");
    assert!(
        ctl_error(&server, &["zone-abort", ORIGIN]).contains("no transaction"),
        "ended"
    );

    // A zone file that cannot be replaced (a directory stands in its place):
    // the write failure is counted, the committed data serves on.
    std::fs::remove_file(&file).expect("file removed");
    std::fs::create_dir(&file).expect("a directory in its place");
    std::fs::write(file.join("keep"), "").expect("not empty");
    server.ctl_ok(&["zone-begin", ORIGIN]);
    server.ctl_ok(&["zone-set", ORIGIN, "www", "A", "192.0.2.99"]);
    assert!(server.ctl_ok(&["zone-commit", ORIGIN]).contains("serial 21"));
    let deadline = Instant::now() + Duration::from_secs(15);
    while counter(&server, "zone_file_write_failures") == 0 {
        assert!(
            Instant::now() < deadline,
            "no write failure counted; log:\n{}",
            server.stderr()
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert!(www().contains("192.0.2.99"), "the committed data is served");
    assert_eq!(serial(&server), "21");
}

#[test]
fn a_secondary_zone_refuses_transactions() {
    let dir = TempDir::new("zone-edit-secondary");
    let file = dir.write("edit.zone", &zone(10));
    let primary = primary(&file, "");
    let secondary = Server::builder()
        .control()
        .args(&[
            "--secondary",
            &format!("{ORIGIN}=127.0.0.1:{}", primary.port),
            "--data-dir",
            &dir.path().join("data").display().to_string(),
        ])
        .start();
    let deadline = Instant::now() + Duration::from_secs(15);
    while crate::harness::try_dig("127.0.0.1", secondary.port, &[ORIGIN, "SOA"]).is_none_or(|r| r.answer.is_empty()) {
        assert!(
            Instant::now() < deadline,
            "never transferred; log:\n{}",
            secondary.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
    let error = ctl_error(&secondary, &["zone-begin", ORIGIN]);
    assert!(error.contains("is a secondary zone"), "{error}");
}

#[test]
fn a_signed_zone_refuses_transactions() {
    let dir = TempDir::new("zone-edit-signed");
    // The signature is never verified here: what matters is that the zone is signed.
    let signed = format!(
        "{}@ RRSIG SOA 13 2 60 20300101000000 20200101000000 12345 {ORIGIN} {}\n",
        zone(10),
        "A".repeat(88)
    );
    let file = dir.write("edit.zone", &signed);
    let server = primary(&file, "");
    let error = ctl_error(&server, &["zone-begin", ORIGIN]);
    assert!(error.contains("is signed"), "{error}");
    assert_eq!(serial(&server), "10", "unchanged");
}
