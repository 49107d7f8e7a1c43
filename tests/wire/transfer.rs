//! Zone transfers out: AXFR and IXFR read by `dig` and `kdig` from allowed
//! and refused addresses, compared with the served data, the zone file (as
//! Knot reads it) and `ldns-verify-zone`; Knot as a secondary of ours,
//! following our NOTIFY; a large zone streamed over many messages.

use std::{
    collections::BTreeSet,
    io::{Read, Write},
    net::TcpStream,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use crate::harness::{Knot, Record, Server, TempDir, Transfer, dig_axfr, kdig_ixfr, zone_path};

/// A second loopback source, outside the prefixes the tests allow.
const OUTSIDER: &str = "127.0.0.2";
/// How long a reload, a NOTIFY and the transfer it starts may take to show.
const PROPAGATION: Duration = Duration::from_secs(15);

fn zone(origin: &str, serial: u32, extra: &str) -> String {
    format!(
        "$ORIGIN {origin}\n$TTL 60\n@ SOA ns1 hostmaster {serial} 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\n{extra}"
    )
}

/// The records as a set (the SOA sent twice counts once).
fn set(t: &Transfer) -> BTreeSet<Record> {
    t.records.iter().cloned().collect()
}

/// A server for `origin` from `file`, transfers allowed to 127.0.0.1 only.
fn server_allowing_loopback(origin: &str, file: &std::path::Path) -> Server {
    Server::builder()
        .zone(origin, file)
        .config("[server]\nallow_transfer = [\"127.0.0.1/32\"]\n")
        .start()
}

/// Polls `ready` until it holds; panics with `what` and `context()` after [`PROPAGATION`].
fn wait_until(what: &str, ready: impl Fn() -> bool, context: impl Fn() -> String) {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > PROPAGATION {
            panic!("expected {what} within {PROPAGATION:?}; {}", context());
        }
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn axfr_and_ixfr_are_served_to_allowed_addresses_only() {
    let dir = TempDir::new("xfr-acl");
    let file = dir.write("acl.zone", &zone("acl.example.", 7, "www A 192.0.2.80\n"));
    let server = server_allowing_loopback("acl.example.", &file);

    let axfr = dig_axfr("127.0.0.1", server.port, "acl.example.", &[]);
    assert_eq!(
        axfr.soa_serials(),
        [7, 7],
        "expected the SOA first and last:\n{}",
        axfr.text
    );
    assert_eq!(axfr.records.len(), 5, "SOA, NS, two A, SOA:\n{}", axfr.text);
    let ixfr = kdig_ixfr("127.0.0.1", server.port, "acl.example.", 6, &[]);
    assert_eq!(
        set(&ixfr),
        set(&axfr),
        "an IXFR from a serial not in the history is the whole zone (RFC 1995 4):\n{}",
        ixfr.text
    );
    let current = kdig_ixfr("127.0.0.1", server.port, "acl.example.", 7, &[]);
    assert_eq!(
        current.soa_serials(),
        [7],
        "a current client gets the SOA alone:\n{}",
        current.text
    );
    assert_eq!(current.records.len(), 1, "{}", current.text);
    let udp = kdig_ixfr("127.0.0.1", server.port, "acl.example.", 6, &["+notcp"]);
    assert_eq!(
        (udp.soa_serials(), udp.records.len()),
        (vec![7], 1),
        "IXFR over UDP: the SOA alone, as Knot answers (the client retries over TCP):\n{}",
        udp.text
    );

    let refused = dig_axfr(OUTSIDER, server.port, "acl.example.", &[]);
    assert!(
        refused.failed(),
        "expected AXFR from {OUTSIDER} to be refused:\n{}",
        refused.text
    );
    for extra in [&[][..], &["+notcp"][..]] {
        let refused = kdig_ixfr(OUTSIDER, server.port, "acl.example.", 6, extra);
        assert!(
            refused.failed() && refused.text.contains("REFUSED"),
            "expected IXFR {extra:?} from {OUTSIDER} to be REFUSED:\n{}",
            refused.text
        );
    }
    let below = dig_axfr("127.0.0.1", server.port, "www.acl.example.", &[]);
    assert!(
        below.failed(),
        "a name that is not a zone's apex has nothing to transfer:\n{}",
        below.text
    );
    let r = server.dig(&["www.acl.example", "A"]);
    assert_eq!(r.rcode, "NOERROR", "queries go on being answered after transfers:\n{r}");
}

#[test]
fn transfers_are_refused_by_default_and_allowed_by_flag() {
    let dir = TempDir::new("xfr-flag");
    let file = dir.write("flag.zone", &zone("flag.example.", 1, ""));
    let closed = Server::builder().zone("flag.example.", &file).start();
    let refused = dig_axfr("127.0.0.1", closed.port, "flag.example.", &[]);
    assert!(
        refused.failed(),
        "no allow_transfer: refused even to loopback:\n{}",
        refused.text
    );

    let open = Server::builder()
        .zone("flag.example.", &file)
        .arg("--allow-transfer")
        .arg("127.0.0.2/32")
        .start();
    let axfr = dig_axfr(OUTSIDER, open.port, "flag.example.", &[]);
    assert_eq!(
        axfr.soa_serials(),
        [1, 1],
        "--allow-transfer lets {OUTSIDER} in:\n{}",
        axfr.text
    );
    assert!(
        dig_axfr("127.0.0.1", open.port, "flag.example.", &[]).failed(),
        "and only it"
    );
}

#[test]
fn axfr_is_the_served_data_and_the_zone_file_as_knot_reads_it() {
    let file = zone_path("diff.example.zone");
    let server = server_allowing_loopback("diff.example.", &file);
    let ours = dig_axfr("127.0.0.1", server.port, "diff.example.", &[]);
    assert!(ours.records.len() > 40, "expected the whole zone:\n{}", ours.text);

    let knot = Knot::with_transfers(&[("diff.example.".to_string(), file)]);
    let theirs = dig_axfr("127.0.0.1", knot.port, "diff.example.", &[]);
    assert!(!theirs.failed(), "expected Knot to transfer the zone:\n{}", theirs.text);
    let (ours_set, theirs_set) = (set(&ours), set(&theirs));
    let only_ours: Vec<_> = ours_set.difference(&theirs_set).collect();
    let only_theirs: Vec<_> = theirs_set.difference(&ours_set).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "expected the records Knot reads from the file; only ours: {only_ours:#?}\nonly Knot's: {only_theirs:#?}"
    );

    // Every authoritative RRset in the transfer is what a query gets.
    let mut compared = 0;
    let rrsets: BTreeSet<(String, String)> = ours
        .records
        .iter()
        .map(|r| (r.owner.clone(), r.rtype.clone()))
        .collect();
    for (owner, rtype) in &rrsets {
        let r = server.dig(&[owner, rtype, "+tcp"]);
        if !r.flag("aa") || r.answer.iter().all(|a| &a.owner != owner || &a.rtype != rtype) {
            continue; // below a zone cut: a referral, not an answer
        }
        let asked: BTreeSet<_> = r
            .answer
            .iter()
            .filter(|a| &a.owner == owner && &a.rtype == rtype)
            .cloned()
            .collect();
        let sent: BTreeSet<_> = ours_set
            .iter()
            .filter(|a| &a.owner == owner && &a.rtype == rtype)
            .cloned()
            .collect();
        assert_eq!(asked, sent, "{owner} {rtype}: the transfer and the answer differ");
        compared += 1;
    }
    assert!(compared > 20, "expected most RRsets compared, got {compared}");
}

#[test]
fn a_signed_zone_transfers_intact_for_ldns_verify_zone() {
    let dir = TempDir::new("xfr-signed");
    let origin = "signed.example.";
    let file = dir.write(
        "signed.zone",
        &zone(
            origin,
            3,
            "www A 192.0.2.80\nmail MX 10 www\ndeleg NS ns.deleg\nns.deleg A 192.0.2.9\n",
        ),
    );
    let keygen = |ksk: bool| {
        let mut command = Command::new("ldns-keygen");
        command.current_dir(dir.path()).args(["-a", "ECDSAP256SHA256"]);
        if ksk {
            command.arg("-k");
        }
        let output = command
            .arg(origin)
            .output()
            .expect("expected to run ldns-keygen (ldnsutils)");
        assert!(output.status.success(), "ldns-keygen: {output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    let (ksk, zsk) = (keygen(true), keygen(false));
    let signed = dir.path().join("signed.zone.signed");
    let status = Command::new("ldns-signzone")
        .current_dir(dir.path())
        .arg("-f")
        .arg(&signed)
        .arg(&file)
        .args([&ksk, &zsk])
        .status()
        .expect("expected to run ldns-signzone");
    assert!(status.success(), "ldns-signzone failed");

    let server = server_allowing_loopback(origin, &signed);
    let axfr = dig_axfr("127.0.0.1", server.port, origin, &[]);
    assert!(
        axfr.records.iter().any(|r| r.rtype == "RRSIG"),
        "expected signatures:\n{}",
        axfr.text
    );
    let text: String = axfr.records[..axfr.records.len() - 1]
        .iter()
        .map(|r| format!("{r}\n"))
        .collect();
    let transferred = dir.write("transferred.zone", &text);
    let verify = Command::new("ldns-verify-zone")
        .arg(&transferred)
        .output()
        .expect("expected to run ldns-verify-zone");
    assert!(
        verify.status.success(),
        "expected the transferred zone to verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn ixfr_after_a_reload_sends_the_changed_record_only() {
    let dir = TempDir::new("xfr-ixfr");
    let file = dir.write(
        "ixfr.zone",
        &zone("ixfr.example.", 10, "www A 192.0.2.80\nkeep A 192.0.2.7\n"),
    );
    let server = server_allowing_loopback("ixfr.example.", &file);
    dir.write(
        "ixfr.zone",
        &zone("ixfr.example.", 11, "www A 192.0.2.81\nkeep A 192.0.2.7\n"),
    );
    server.sighup();
    wait_until(
        "serial 11 after SIGHUP",
        || {
            server
                .dig(&["ixfr.example", "SOA"])
                .answer
                .iter()
                .any(|a| a.rdata.contains(" 11 "))
        },
        || server.stderr(),
    );
    let ixfr = kdig_ixfr("127.0.0.1", server.port, "ixfr.example.", 10, &[]);
    let lines: Vec<String> = ixfr
        .records
        .iter()
        .map(|r| format!("{} {} {}", r.owner, r.rtype, r.rdata))
        .collect();
    let soa = |serial: u32| {
        format!("ixfr.example. SOA ns1.ixfr.example. hostmaster.ixfr.example. {serial} 3600 600 86400 60")
    };
    assert_eq!(
        lines,
        [
            soa(11),
            soa(10),
            "www.ixfr.example. A 192.0.2.80".to_string(),
            soa(11),
            "www.ixfr.example. A 192.0.2.81".to_string(),
            soa(11),
        ],
        "expected one difference sequence (RFC 1995 4):\n{}",
        ixfr.text
    );
    let current = kdig_ixfr("127.0.0.1", server.port, "ixfr.example.", 11, &[]);
    assert_eq!(current.records.len(), 1, "current: the SOA alone:\n{}", current.text);
}

/// The TSIG key the tests share with dig, kdig and Knot (hmac-sha256).
const KEY_NAME: &str = "xfr-key";
const KEY_SECRET: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA==";
/// `KEY_NAME:KEY_SECRET`, as the harness gives it to Knot.
const KEY: &str = "xfr-key:c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA==";

/// The `[[tsig]]` table of that key.
fn tsig_table() -> String {
    format!("[[tsig]]\nname = \"{KEY_NAME}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{KEY_SECRET}\"\n")
}

/// dig's and kdig's `-y` argument for the key, or another secret under its name.
fn dig_key(secret: &str) -> String {
    format!("hmac-sha256:{KEY_NAME}:{secret}")
}

#[test]
fn knot_as_our_secondary_transfers_the_zone_and_follows_our_notify() {
    knot_follows_our_notify(None);
}

#[test]
fn knot_as_our_secondary_with_tsig_only() {
    knot_follows_our_notify(Some(KEY));
}

/// Knot, a secondary of ours (its requests signed with `key` when given,
/// and then the zone open to that key alone, and our NOTIFY signed with it
/// as Knot then requires), transfers the zone, gets our NOTIFY after a
/// reload that changes it, and takes the change by IXFR.
fn knot_follows_our_notify(key: Option<&'static str>) {
    let dir = TempDir::new("xfr-knot");
    let origin = "fleet.example.";
    let file = dir.write("fleet.zone", &zone(origin, 1, "www A 192.0.2.80\n"));
    let config = |notify: Option<u16>| {
        let targets = notify.map_or(String::new(), |port| format!("notify = [\"127.0.0.1:{port}\"]\n"));
        let acl = match (key, notify) {
            (Some(_), Some(port)) => format!(
                "{}[server]\nnotify_keys = {{ \"127.0.0.1:{port}\" = \"{KEY_NAME}\" }}\n\
                 [[zone]]\nallow_transfer_keys = [\"{KEY_NAME}\"]\n",
                tsig_table()
            ),
            (Some(_), None) => format!("{}[[zone]]\nallow_transfer_keys = [\"{KEY_NAME}\"]\n", tsig_table()),
            (None, _) => "[server]\nallow_transfer = [\"127.0.0.1/32\"]\n[[zone]]\n".to_string(),
        };
        format!("{acl}origin = \"{origin}\"\nfile = \"{}\"\n{targets}", file.display())
    };
    let server = Server::builder().config(&config(None)).start();
    let knot = match key {
        Some(key) => Knot::secondary_with_key(origin, server.port, key),
        None => Knot::secondary_of(origin, server.port),
    };
    let r = knot.dig(&["www.fleet.example", "A"]);
    assert!(
        r.answer.iter().any(|a| a.rdata == "192.0.2.80"),
        "expected Knot to serve what it transferred from us:\n{r}"
    );

    // Its refresh timer is an hour away: only our NOTIFY brings the change.
    server.rewrite_config(&config(Some(knot.port)));
    dir.write("fleet.zone", &zone(origin, 2, "www A 192.0.2.80\nnew A 192.0.2.99\n"));
    server.sighup();
    wait_until(
        "Knot to answer the new record after our NOTIFY",
        || {
            knot.dig(&["new.fleet.example", "A"])
                .answer
                .iter()
                .any(|a| a.rdata == "192.0.2.99")
        },
        || format!("Knot's log:\n{}\nour log:\n{}", knot.log(), server.stderr()),
    );
    let log = knot.log();
    assert!(
        log.contains("IXFR, incoming") && !log.contains("fallback to AXFR"),
        "expected Knot to take the change as an IXFR; its log:\n{log}"
    );
    assert!(server.stderr().contains("NOTIFY answered"), "{}", server.stderr());
}

/// Our IXFR history outlives a restart: Knot, a secondary of ours left at
/// serial 1 while we moved to 2 and restarted, catches up by IXFR after
/// the NOTIFY we send at start (not by AXFR), and kdig sees the difference.
#[test]
fn a_restart_keeps_the_differences_our_secondaries_ask_for() {
    let dir = TempDir::new("xfr-restart");
    let origin = "kept.example.";
    let file = dir.write("kept.zone", &zone(origin, 1, "www A 192.0.2.80\n"));
    let data = dir.path().join("data");
    let config = |notify: Option<u16>| {
        let targets = notify.map_or(String::new(), |port| format!("notify = [\"127.0.0.1:{port}\"]\n"));
        format!(
            "[server]\nallow_transfer = [\"127.0.0.1/32\"]\ndata_dir = \"{}\"\n[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\n{targets}",
            data.display(),
            file.display()
        )
    };
    let mut server = Server::builder().config(&config(None)).start();
    let port = server.port;
    let knot = Knot::secondary_of(origin, port);
    let r = knot.dig(&["www.kept.example", "A"]);
    assert!(
        r.answer.iter().any(|a| a.rdata == "192.0.2.80"),
        "Knot has serial 1:\n{r}"
    );

    // Serial 2, which Knot is not told of; then we restart.
    dir.write("kept.zone", &zone(origin, 2, "www A 192.0.2.80\nnew A 192.0.2.99\n"));
    server.sighup();
    wait_until(
        "serial 2 after SIGHUP",
        || {
            server
                .dig(&["kept.example", "SOA"])
                .answer
                .iter()
                .any(|a| a.rdata.contains(" 2 "))
        },
        || server.stderr(),
    );
    server.terminate();
    drop(server);
    // Knot's first transfer was an AXFR: only what it logs from here counts.
    let logged = knot.log().len();
    let server = Server::builder().config(&config(Some(knot.port))).port(port).start();
    assert!(
        server.stderr().contains("IXFR history taken back from disk"),
        "{}",
        server.stderr()
    );
    let ixfr = kdig_ixfr("127.0.0.1", server.port, origin, 1, &[]);
    let lines: Vec<String> = ixfr
        .records
        .iter()
        .map(|r| format!("{} {}", r.owner, r.rtype))
        .collect();
    assert_eq!(
        lines,
        [
            "kept.example. SOA",
            "kept.example. SOA",
            "kept.example. SOA",
            "new.kept.example. A",
            "kept.example. SOA"
        ],
        "expected the difference 1 -> 2 after the restart:\n{}",
        ixfr.text
    );
    wait_until(
        "Knot to answer the new record after our NOTIFY at start",
        || {
            knot.dig(&["new.kept.example", "A"])
                .answer
                .iter()
                .any(|a| a.rdata == "192.0.2.99")
        },
        || format!("Knot's log:\n{}\nour log:\n{}", knot.log(), server.stderr()),
    );
    let log = knot.log().split_off(logged);
    assert!(
        log.contains("IXFR, incoming")
            && !log.contains("fallback to AXFR")
            && !log.contains("AXFR, incoming")
            && !log.contains("AXFR-style"),
        "expected Knot to take the change as an IXFR; its log:\n{log}"
    );
}

#[test]
fn a_large_zone_streams_over_many_messages() {
    let dir = TempDir::new("xfr-large");
    let origin = "large.example.";
    let body = "$GENERATE 1-50000 a$ A 192.0.2.1\n$GENERATE 1-50000 t$ TXT \"record $\"\n";
    let file = dir.write("large.zone", &zone(origin, 1, body));
    let server = server_allowing_loopback(origin, &file);
    let started = Instant::now();
    let axfr = dig_axfr("127.0.0.1", server.port, origin, &[]);
    let took = started.elapsed();
    assert_eq!(
        axfr.records.len(),
        100_000 + 4,
        "every record and the SOA twice (took {took:?})"
    );
    assert_eq!(axfr.soa_serials(), [1, 1]);
    let messages = axfr
        .messages
        .unwrap_or_else(|| panic!("dig's XFR size line:\n{}", &axfr.text[axfr.text.len() - 300..]));
    assert!(messages > 20, "expected many messages of up to 64 KiB, got {messages}");
    assert!(took < Duration::from_secs(30), "AXFR of 100k records took {took:?}");
    let records: BTreeSet<_> = axfr.records.iter().map(|r| r.owner.as_str()).collect();
    assert!(records.contains("a49999.large.example.") && records.contains("t1.large.example."));
}

#[test]
fn a_client_that_stops_reading_is_closed_at_the_write_deadline() {
    let dir = TempDir::new("xfr-slow");
    let origin = "slow.example.";
    // About 20 MB: 20,000 records of four 240-byte strings, several times
    // what the kernel's socket buffers hold, and quick to load.
    let string = format!("\"{}\" ", "x".repeat(240));
    let body = format!("$GENERATE 1-20000 t$ TXT {}\n", string.repeat(4));
    let file = dir.write("slow.zone", &zone(origin, 1, &body));
    let server = Server::builder()
        .zone(origin, &file)
        .config("[server]\nallow_transfer = [\"127.0.0.1/32\"]\ntcp_write_timeout = 1\n")
        .start();
    // A small receive window, so that the kernel cannot take the whole zone for us.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", server.port).parse().expect("addr");
    socket.connect(&addr.into()).expect("connect");
    let mut stream: TcpStream = socket.into();
    let query = test_support::Query::new(origin, 252).id(7).to_wire();
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    stream.write_all(&framed).expect("send AXFR");
    thread::sleep(Duration::from_secs(4));
    // Now read: the server must have given up long ago, so the stream ends
    // (EOF or reset) well before the ~20 MB of the whole zone.
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut received = 0usize;
    let mut buf = [0u8; 65536];
    let ended = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    assert!(
        ended,
        "expected the server to close the connection of a client that stopped reading"
    );
    assert!(
        received < 12_000_000,
        "expected the transfer cut short, got {received} bytes"
    );
    let r = server.dig(&["slow.example", "SOA", "+tcp"]);
    assert_eq!(r.rcode, "NOERROR", "the server serves on:\n{r}");
}

#[test]
fn an_ixfr_without_the_clients_soa_is_formerr_to_allowed_clients_as_knot_answers() {
    use crate::packet::{self, Header, Query, rcode};
    let dir = TempDir::new("xfr-formerr");
    let file = dir.write("bare.zone", &zone("bare.example.", 1, ""));
    let server = server_allowing_loopback("bare.example.", &file);
    let bare = Query::new("bare.example.", 251).id(0x4242).to_wire();
    let mut stream = packet::tcp_connect(server.port);
    packet::tcp_send(&mut stream, &bare);
    let response = packet::tcp_recv(&mut stream).expect("expected an answer over TCP");
    let header = Header::parse(&response).expect("a header");
    assert_eq!(
        (header.rcode(), header.counts),
        (rcode::FORMERR, [1, 0, 0, 0]),
        "TCP: {header:?}"
    );
    let response = packet::udp_exchange(server.port, &bare).expect("expected an answer over UDP");
    let header = Header::parse(&response).expect("a header");
    assert_eq!(header.rcode(), rcode::FORMERR, "UDP: {header:?}");
    // The same query with the SOA is a transfer; the connection serves on.
    packet::tcp_send(&mut stream, &Query::ixfr("bare.example.", 1).id(7).to_wire());
    let response = packet::tcp_recv(&mut stream).expect("expected the SOA");
    let header = Header::parse(&response).expect("a header");
    assert_eq!(
        (header.rcode(), header.counts[1]),
        (rcode::NOERROR, 1),
        "current: {header:?}"
    );
}

#[test]
fn a_tsig_only_acl_serves_signed_requests_from_anywhere_and_signs_every_message() {
    let dir = TempDir::new("xfr-tsig");
    let origin = "tsig.example.";
    let file = dir.write("tsig.zone", &zone(origin, 3, "$GENERATE 1-30000 h$ A 192.0.2.1\n"));
    let config = format!(
        "{}[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\nallow_transfer_keys = [\"{KEY_NAME}\"]\n",
        tsig_table(),
        file.display()
    );
    let server = Server::builder().config(&config).start();
    let key = dig_key(KEY_SECRET);
    let signed = dig_axfr(OUTSIDER, server.port, origin, &["-y", &key]);
    let tail = &signed.text[signed.text.len().saturating_sub(400)..];
    assert_eq!(signed.records.len(), 30_000 + 4, "the key, from any address:\n{tail}");
    assert!(
        !signed.text.contains("failure") && !signed.text.contains("failed"),
        "dig checks the TSIG of every message:\n{tail}"
    );
    let messages = signed.messages.unwrap_or_default();
    assert!(
        messages > 5,
        "expected a stream of several signed messages, got {messages}:\n{tail}"
    );
    assert_eq!(signed.signatures, messages, "every message signed (RFC 8945 5.3.1)");

    let unsigned = dig_axfr("127.0.0.1", server.port, origin, &[]);
    assert!(
        unsigned.failed(),
        "unsigned: refused, even from loopback:\n{}",
        unsigned.text
    );
    let wrong = dig_axfr("127.0.0.1", server.port, origin, &["-y", &dig_key("d3Jvbmctc2VjcmV0")]);
    assert!(wrong.failed(), "a wrong secret (BADSIG) gets nothing:\n{}", wrong.text);
    let unknown = dig_axfr(
        "127.0.0.1",
        server.port,
        origin,
        &["-y", &format!("hmac-sha256:other-key:{KEY_SECRET}")],
    );
    assert!(
        unknown.failed(),
        "an unknown key (BADKEY) gets nothing:\n{}",
        unknown.text
    );
    for extra in [&["+notcp"][..], &[][..]] {
        let mut args = extra.to_vec();
        args.extend(["-y", &key]);
        let ixfr = kdig_ixfr(OUTSIDER, server.port, origin, 3, &args);
        assert_eq!(
            (ixfr.soa_serials(), ixfr.records.len()),
            (vec![3], 1),
            "a signed IXFR {extra:?} from the current serial: the SOA alone, signed:\n{}",
            ixfr.text
        );
    }
}

/// The EXPIRE option's value in `dig +expire` output, if any.
pub(crate) fn expire_shown(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("; EXPIRE: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn the_expire_option_is_answered_in_transfers() {
    // RFC 7314 3: as the zone's primary, the SOA's expire (86400 in `zone`).
    let dir = TempDir::new("xfr-expire");
    let file = dir.write("expire.zone", &zone("expire.example.", 3, "www A 192.0.2.80\n"));
    let server = server_allowing_loopback("expire.example.", &file);
    let asked = dig_axfr("127.0.0.1", server.port, "expire.example.", &["+expire", "+all"]);
    assert_eq!(expire_shown(&asked.text), Some(86400), "{}", asked.text);
    assert_eq!(asked.soa_serials(), [3, 3], "{}", asked.text);
    // Not asked, not sent.
    let plain = dig_axfr("127.0.0.1", server.port, "expire.example.", &["+all"]);
    assert_eq!(expire_shown(&plain.text), None, "{}", plain.text);
}

/// A NOTIFY a fake secondary received: its zone (as sent) and whether it was signed.
pub(crate) fn notify_received(socket: &std::net::UdpSocket) -> Option<(Vec<u8>, bool)> {
    let mut buf = [0u8; 1024];
    let (len, from) = socket.recv_from(&mut buf).ok()?;
    let msg = &buf[..len];
    let opcode = (msg.get(2)? >> 3) & 0x0f;
    if opcode != 4 {
        return None;
    }
    let qname_end = 12 + msg[12..].iter().position(|&b| b == 0)? + 1;
    let arcount = u16::from_be_bytes([msg[10], msg[11]]);
    // Answered, so that it is not sent again: QR set, the rest echoed.
    let mut answer = msg[..qname_end + 4].to_vec();
    answer[2] |= 0x80;
    answer[6..12].copy_from_slice(&[0; 6]);
    let _ = socket.send_to(&answer, from);
    // A TSIG record is the last of the additional section, type 250.
    let signed = arcount > 0 && msg.windows(2).any(|w| w == [0, 250]);
    Some((msg[12..qname_end].to_vec(), signed))
}

#[test]
fn our_zones_are_notified_at_start_signed_for_targets_with_a_key() {
    let dir = TempDir::new("xfr-notify-start");
    let file = dir.write("start.zone", &zone("start.example.", 1, ""));
    let plain = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let keyed = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for s in [&plain, &keyed] {
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    }
    let (plain_port, keyed_port) = (
        plain.local_addr().expect("addr").port(),
        keyed.local_addr().expect("addr").port(),
    );
    let config = format!(
        "{}[server]\nnotify = [\"127.0.0.1:{plain_port}\", \"127.0.0.1:{keyed_port}\"]\n\
         notify_keys = {{ \"127.0.0.1:{keyed_port}\" = \"{KEY_NAME}\" }}\n\
         [[zone]]\norigin = \"start.example.\"\nfile = \"{}\"\n",
        tsig_table(),
        file.display()
    );
    // Nothing changed, yet each target hears of the zone: as Knot does at start.
    let server = Server::builder().config(&config).start();
    let wire = |s: &str| test_support::query::encode_name(s);
    let got = notify_received(&plain);
    assert_eq!(got, Some((wire("start.example."), false)), "{}", server.stderr());
    let got = notify_received(&keyed);
    assert_eq!(got, Some((wire("start.example."), true)), "{}", server.stderr());
}

#[test]
fn transfers_past_transfers_out_max_are_refused_then_served_again() {
    let dir = TempDir::new("xfr-busy");
    let origin = "busy.example.";
    // About 20 MB, as for the client that stops reading: it holds its slot.
    let string = format!("\"{}\" ", "x".repeat(240));
    let body = format!("$GENERATE 1-20000 t$ TXT {}\n", string.repeat(4));
    let file = dir.write("busy.zone", &zone(origin, 1, &body));
    let small = dir.write("small.zone", &zone("small.example.", 1, ""));
    let server = Server::builder()
        .zone(origin, &file)
        .zone("small.example.", &small)
        .config("[server]\nallow_transfer = [\"127.0.0.1/32\"]\ntcp_write_timeout = 3\ntransfers_out_max = 1\n")
        .start();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", server.port).parse().expect("addr");
    socket.connect(&addr.into()).expect("connect");
    let mut stuck: TcpStream = socket.into();
    let query = test_support::Query::new(origin, 252).id(7).to_wire();
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    stuck.write_all(&framed).expect("send AXFR");
    thread::sleep(Duration::from_millis(500));
    // The one slot is taken: another transfer is REFUSED, and said so.
    let refused = dig_axfr("127.0.0.1", server.port, "small.example.", &[]);
    assert!(
        refused.failed(),
        "expected REFUSED past transfers_out_max:\n{}",
        refused.text
    );
    assert!(
        server.stderr().contains("transfers_out_max"),
        "expected the refusal logged with its reason:\n{}",
        server.stderr()
    );
    // The stuck client is cut off at the write deadline; the slot is free again.
    drop(stuck);
    wait_until(
        "the slot to be free again",
        || dig_axfr("127.0.0.1", server.port, "small.example.", &[]).soa_serials() == [1, 1],
        || server.stderr(),
    );
}
