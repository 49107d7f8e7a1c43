//! Catalog zones (RFC 9432) over the wire: Knot generates a catalog; we serve its members as they come and go.

use std::{
    thread,
    time::{Duration, Instant},
};

use crate::harness::{KnotCatalog, Server, TempDir, TsigKey, free_port, try_dig};

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
    let status = server.status();
    assert!(
        !status.zones.iter().any(|z| z.origin == "one.test."),
        "a removed member leaves the status"
    );

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
