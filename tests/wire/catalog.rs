//! Catalog zones (RFC 9432) over the wire: Knot generates a catalog; we serve its members as they come and go.

use std::{
    thread,
    time::{Duration, Instant},
};

use crate::harness::{KnotCatalog, KnotPrimary, Server, TempDir, TsigKey, free_port, try_dig};

const CATALOG: &str = "catalog.test.";

/// Polls `ok` every 100 ms for up to `limit`; panics with `what` and the server's log when it never holds.
fn wait_for(server: &Server, limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok() {
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("expected {what} within {limit:?}; server log:\n{}", server.stderr());
}

/// Whether `www.MEMBER` is answered with the address Knot serves for it.
fn serves(server: &Server, member: &str) -> bool {
    try_dig("127.0.0.1", server.port, &[&format!("www.{member}"), "A"]).is_some_and(|r| {
        r.rcode == "NOERROR" && r.flag("aa") && r.answer.iter().any(|a| a.rdata == KnotCatalog::www_of(member))
    })
}

/// The rcode of `MEMBER SOA`.
fn soa_rcode(server: &Server, member: &str) -> Option<String> {
    try_dig("127.0.0.1", server.port, &[member, "SOA"]).map(|r| r.rcode)
}

fn config(key: &TsigKey, data: &TempDir, primary: &str) -> String {
    format!(
        "[server]\ndata_dir = \"{}\"\n\n[[tsig]]\nname = \"{}\"\nalgorithm = \"{}\"\nsecret = \"{}\"\n\n\
         [[catalog]]\norigin = \"{CATALOG}\"\nprimaries = [\"{primary}\"]\ntsig = \"{}\"\n",
        data.path().display(),
        key.name,
        key.algorithm,
        key.secret,
        key.name
    )
}

#[test]
fn members_of_a_knot_catalog_are_served_as_they_are_added_and_removed() {
    let key = TsigKey::test_key();
    let data = TempDir::new("catalog-data");
    let port = free_port();
    let knot = KnotCatalog::start(CATALOG, &["one.test.", "two.test."], &key, port);
    let server = Server::builder()
        .port(port)
        .config(&config(&key, &data, &knot.address()))
        .start();
    let limit = Duration::from_secs(20);
    for member in ["one.test.", "two.test."] {
        wait_for(&server, limit, &format!("{member} served from the catalog"), || {
            serves(&server, member)
        });
    }
    // The catalog itself is read, not served.
    assert_eq!(soa_rcode(&server, CATALOG).as_deref(), Some("REFUSED"));
    // Members are secondary zones in the status, with the catalog's primary.
    wait_for(&server, limit, "the members in the status", || {
        let status = server.status();
        ["one.test.", "two.test."].iter().all(|m| {
            status.zones.iter().any(|z| {
                z.origin == *m
                    && z.secondary
                        .as_ref()
                        .is_some_and(|s| s.primary.as_deref() == Some(knot.address().as_str()))
            })
        })
    });
    let one_file = data.path().join("one.test.zone");
    assert!(one_file.exists(), "a member's copy kept in the data dir");

    // One member added, one removed on the primary: NOTIFY, then the new catalog.
    knot.set_members(&["two.test.", "three.test."]);
    wait_for(&server, limit, "three.test. served once added", || {
        serves(&server, "three.test.")
    });
    wait_for(&server, limit, "one.test. no longer served once removed", || {
        soa_rcode(&server, "one.test.").as_deref() == Some("REFUSED")
    });
    assert!(serves(&server, "two.test."), "the member kept is still served");
    assert!(!one_file.exists(), "a removed member's data is deleted (RFC 9432 5.3)");
    // The state file is rewritten a moment after the change.
    wait_for(&server, limit, "the removed member gone from the status", || {
        !server.status().zones.iter().any(|z| z.origin == "one.test.")
    });

    // Restarted with the primary gone: the members from the catalog's copy on disk, served from theirs.
    drop(knot);
    drop(server);
    let server = Server::builder().config(&config(&key, &data, "127.0.0.1:9")).start();
    for member in ["two.test.", "three.test."] {
        wait_for(
            &server,
            Duration::from_secs(5),
            &format!("{member} served from disk"),
            || serves(&server, member),
        );
    }
    assert_eq!(soa_rcode(&server, "one.test.").as_deref(), Some("REFUSED"));
}

/// A catalog written by hand (so that it can break the rules): `m.test.` in group `g`.
fn hand_catalog() -> String {
    format!(
        "$ORIGIN {CATALOG}\n$TTL 0\n@ SOA invalid. invalid. 1 3600 600 2147483646 0\n@ NS invalid.\n\
         version TXT \"2\"\na1.zones PTR m.test.\ngroup.a1.zones TXT \"g\"\n"
    )
}

#[test]
fn a_group_selects_its_template_a_new_id_resets_and_a_bad_version_keeps_the_members() {
    let key = TsigKey::test_key();
    let data = TempDir::new("catalog-data");
    let port = free_port();
    // The member is only on the group's primary, not on the catalog's.
    let member = KnotPrimary::start(
        "m.test.",
        "$ORIGIN m.test.\n$TTL 300\n@ SOA ns admin 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.77\n",
        Some(&key),
        port,
    );
    let catalog = KnotPrimary::start(CATALOG, &hand_catalog(), Some(&key), port);
    let text = format!(
        "{}\n[catalog.groups.g]\nprimaries = [\"{}\"]\n",
        config(&key, &data, &catalog.address()),
        member.address()
    );
    let server = Server::builder().port(port).config(&text).start();
    let www = |server: &Server| {
        try_dig("127.0.0.1", server.port, &["www.m.test.", "A"])
            .is_some_and(|r| r.rcode == "NOERROR" && r.answer.iter().any(|a| a.rdata == "192.0.2.77"))
    };
    wait_for(
        &server,
        Duration::from_secs(20),
        "m.test. served from the group's primary",
        || www(&server),
    );

    // A change on the member's primary arrives by IXFR (kept in the journal)...
    member.set(&[("new", "60", "TXT", "\"x\"")]);
    wait_for(&server, Duration::from_secs(10), "the member's change by IXFR", || {
        try_dig("127.0.0.1", server.port, &["new.m.test.", "TXT"]).is_some_and(|r| !r.answer.is_empty())
    });
    let journal = data.path().join("m.test.zone.journal");
    wait_for(&server, Duration::from_secs(5), "the member's journal", || {
        journal.exists()
    });
    // ...and a new unique ID resets the member: its data deleted, a fresh AXFR (no journal).
    catalog.knotc(&["zone-begin", CATALOG]);
    catalog.knotc(&["zone-unset", CATALOG, "a1.zones", "PTR"]);
    catalog.knotc(&["zone-unset", CATALOG, "group.a1.zones", "TXT"]);
    catalog.knotc(&["zone-set", CATALOG, "b1.zones", "0", "PTR", "m.test."]);
    catalog.knotc(&["zone-set", CATALOG, "group.b1.zones", "0", "TXT", "\"g\""]);
    catalog.knotc(&["zone-commit", CATALOG]);
    wait_for(&server, Duration::from_secs(10), "the member reset", || {
        server
            .stderr()
            .lines()
            .filter(|l| l.contains("catalog members changed"))
            .filter_map(|l| l.split(" reset=").nth(1))
            .any(|r| r.trim_start_matches('"').starts_with("m.test."))
    });
    // Its journal deleted with it and not made again: the new copy came by AXFR.
    wait_for(
        &server,
        Duration::from_secs(10),
        "the member served afresh without its journal",
        || !journal.exists() && www(&server),
    );
    assert!(data.path().join("m.test.zone").exists());

    // A version outside the rules (schema "1", the member gone): logged, members kept.
    catalog.knotc(&["zone-begin", CATALOG]);
    catalog.knotc(&["zone-unset", CATALOG, "version", "TXT"]);
    catalog.knotc(&["zone-set", CATALOG, "version", "0", "TXT", "\"1\""]);
    catalog.knotc(&["zone-unset", CATALOG, "b1.zones", "PTR"]);
    catalog.knotc(&["zone-commit", CATALOG]);
    wait_for(
        &server,
        Duration::from_secs(10),
        "the bad catalog version refused",
        || server.stderr().contains("catalog version not used"),
    );
    assert!(server.stderr().contains("is not supported"), "the reason is logged");
    assert!(www(&server), "the previous member set is kept");

    // Version "2" again, without the member: now it goes.
    catalog.knotc(&["zone-begin", CATALOG]);
    catalog.knotc(&["zone-unset", CATALOG, "version", "TXT"]);
    catalog.knotc(&["zone-set", CATALOG, "version", "0", "TXT", "\"2\""]);
    catalog.knotc(&["zone-commit", CATALOG]);
    wait_for(&server, Duration::from_secs(10), "m.test. no longer served", || {
        soa_rcode(&server, "m.test.").as_deref() == Some("REFUSED")
    });
}
