//! Transports: answers over UDP and TCP on IPv4 and IPv6, truncation, TCP pipelining.

use std::collections::BTreeSet;

use crate::{
    harness::{Response, Server},
    packet::{self, Header, Query, code},
};

fn addresses(r: &Response) -> BTreeSet<String> {
    r.answer
        .iter()
        .filter(|r| r.rtype == "A")
        .map(|r| r.rdata.clone())
        .collect()
}

#[test]
fn positive_answer_over_udp_and_tcp_on_ipv4_and_ipv6() {
    let server = Server::diff();
    let expected: BTreeSet<String> = ["192.0.2.80", "192.0.2.81"].map(String::from).into();
    for family in ["IPv4", "IPv6"] {
        for transport in ["+notcp", "+tcp"] {
            let args = ["www.diff.example", "A", transport];
            let r = if family == "IPv4" {
                server.dig(&args)
            } else {
                server.dig6(&args)
            };
            let what = format!("www.diff.example A over {family} {transport}");
            assert_eq!(r.rcode, "NOERROR", "expected NOERROR for {what}:\n{r}");
            assert!(r.flag("qr") && r.flag("aa"), "expected QR and AA set for {what}:\n{r}");
            assert!(
                !r.flag("ra") && !r.flag("tc"),
                "expected RA and TC clear for {what}:\n{r}"
            );
            assert_eq!(addresses(&r), expected, "expected both www A records for {what}:\n{r}");
            assert!(
                r.answer.iter().all(|a| a.ttl == 3600),
                "expected TTL 3600 for {what}:\n{r}"
            );
        }
    }
}

#[test]
fn question_keeps_the_case_it_was_asked_in() {
    let server = Server::diff();
    for transport in ["+notcp", "+tcp"] {
        let r = server.dig(&["WwW.DiFf.ExAmPlE", "A", transport]);
        assert_eq!(
            r.question,
            ["WwW.DiFf.ExAmPlE. IN A"],
            "expected the question echoed byte for byte:\n{r}"
        );
        assert_eq!(
            r.answer.len(),
            2,
            "expected a case-insensitive match on www.diff.example:\n{r}"
        );
    }
}

#[test]
fn nxdomain_carries_the_soa_with_the_negative_ttl() {
    let server = Server::diff();
    // diff.example.: SOA TTL 3600, minimum 300. deep.diff.example.: SOA TTL 120, minimum 600.
    for (qname, apex, ttl) in [
        ("nonexistent.diff.example", "diff.example.", 300),
        ("nothing.deep.diff.example", "deep.diff.example.", 120),
    ] {
        let r = server.dig(&[qname, "A"]);
        assert_eq!(r.rcode, "NXDOMAIN", "expected NXDOMAIN for {qname}:\n{r}");
        assert!(r.flag("aa"), "expected AA on NXDOMAIN for {qname}:\n{r}");
        assert!(r.answer.is_empty(), "expected no answer for {qname}:\n{r}");
        let soa: Vec<_> = r.authority.iter().filter(|a| a.rtype == "SOA").collect();
        assert_eq!(soa.len(), 1, "expected exactly one SOA in authority for {qname}:\n{r}");
        assert_eq!(soa[0].owner, apex, "expected the SOA of {apex} for {qname}:\n{r}");
        assert_eq!(
            soa[0].ttl, ttl,
            "expected negative TTL min(SOA TTL, SOA minimum) = {ttl} for {qname}:\n{r}"
        );
    }
}

#[test]
fn nodata_carries_the_soa() {
    let server = Server::diff();
    let r = server.dig(&["www.diff.example", "MX"]);
    assert_eq!(r.rcode, "NOERROR", "expected NOERROR (NODATA):\n{r}");
    assert!(r.answer.is_empty(), "expected an empty answer:\n{r}");
    assert!(
        r.authority.iter().any(|a| a.rtype == "SOA" && a.ttl == 300),
        "expected the SOA with TTL 300 in authority:\n{r}"
    );
}

#[test]
fn large_answer_is_truncated_without_edns_and_complete_over_tcp() {
    let server = Server::diff();
    let udp = server.dig(&["big.diff.example", "TXT", "+noedns"]);
    assert!(
        udp.flag("tc"),
        "expected TC for a 1 KB answer to a query without EDNS (512 bytes):\n{udp}"
    );
    assert!(udp.flag("aa"), "expected AA on the truncated answer:\n{udp}");
    assert!(
        udp.answer.len() < 12,
        "expected no complete RRset in the truncated answer:\n{udp}"
    );
    let tcp = server.dig(&["big.diff.example", "TXT", "+noedns", "+tcp"]);
    assert!(!tcp.flag("tc"), "expected no TC over TCP:\n{tcp}");
    assert_eq!(tcp.answer.len(), 12, "expected all 12 TXT records over TCP:\n{tcp}");
}

#[test]
fn edns_size_decides_truncation() {
    let server = Server::diff();
    let small = server.dig(&["big.diff.example", "TXT", "+bufsize=512"]);
    assert!(small.flag("tc"), "expected TC for 1 KB with EDNS size 512:\n{small}");
    assert!(
        small.edns.is_some(),
        "expected OPT in a truncated answer to an EDNS query:\n{small}"
    );
    let default = server.dig(&["big.diff.example", "TXT"]);
    assert!(!default.flag("tc"), "expected 1 KB to fit EDNS size 1232:\n{default}");
    assert_eq!(default.answer.len(), 12, "expected all 12 TXT records:\n{default}");
    let huge = server.dig(&["huge.diff.example", "TXT", "+bufsize=65000"]);
    assert!(
        huge.flag("tc"),
        "expected TC for 3 KB: UDP answers are capped at 1232 bytes whatever the client offers:\n{huge}"
    );
    let tcp = server.dig(&["huge.diff.example", "TXT", "+tcp"]);
    assert_eq!(tcp.answer.len(), 30, "expected all 30 TXT records over TCP:\n{tcp}");
}

#[test]
fn tcp_pipelined_queries_get_both_answers() {
    let server = Server::diff();
    let mut stream = packet::tcp_connect(server.port);
    let first = Query::new("www.diff.example", code::A).id(0x1111).to_wire();
    let second = Query::new("diff.example", code::SOA).id(0x2222).to_wire();
    // Both frames in one write, before reading anything (RFC 7766 6.2.1.1).
    let mut frames = Vec::new();
    for message in [&first, &second] {
        frames.extend_from_slice(&u16::try_from(message.len()).expect("short query").to_be_bytes());
        frames.extend_from_slice(message);
    }
    std::io::Write::write_all(&mut stream, &frames).expect("expected to write two pipelined queries");
    let mut seen = BTreeSet::new();
    for n in 1..=2 {
        let response = packet::tcp_recv(&mut stream).unwrap_or_else(|| {
            panic!(
                "expected response {n} of 2 on the pipelined TCP connection; stderr:\n{}",
                server.stderr()
            )
        });
        let header = Header::parse(&response).expect("expected a full header");
        assert!(header.qr(), "expected QR in response {n}: {header:?}");
        assert_eq!(header.rcode(), 0, "expected NOERROR in response {n}: {header:?}");
        assert!(header.counts[1] >= 1, "expected an answer in response {n}: {header:?}");
        seen.insert(header.id);
    }
    assert_eq!(
        seen,
        [0x1111, 0x2222].into(),
        "expected one response per query ID (in any order)"
    );
}

#[test]
fn tcp_connection_serves_queries_one_after_another() {
    let server = Server::diff();
    let mut stream = packet::tcp_connect(server.port);
    for id in 1..=5u16 {
        packet::tcp_send(&mut stream, &Query::new("www.diff.example", code::A).id(id).to_wire());
        let response = packet::tcp_recv(&mut stream)
            .unwrap_or_else(|| panic!("expected an answer to query {id} on the same connection"));
        let header = Header::parse(&response).expect("expected a full header");
        assert_eq!(header.id, id, "expected the response ID to match query {id}");
    }
}

#[test]
fn udp_answers_never_exceed_the_allowed_size() {
    let server = Server::diff();
    // (EDNS UDP size offered, the most the answer may take): 512 without EDNS, at least 512
    // with it, and never more than our 1232 however much the client offers.
    for (edns, limit) in [
        (None, 512),
        (Some(100), 512),
        (Some(512), 512),
        (Some(1232), 1232),
        (Some(65000), 1232),
    ] {
        for qname in ["big.diff.example", "huge.diff.example"] {
            let mut query = Query::new(qname, code::TXT).id(0x5151);
            if let Some(size) = edns {
                query = query.edns(size);
            }
            let response = packet::udp_exchange(server.port, &query.to_wire())
                .unwrap_or_else(|| panic!("expected an answer for {qname} TXT with EDNS {edns:?}"));
            assert!(
                response.len() <= limit,
                "expected at most {limit} bytes for {qname} TXT with EDNS {edns:?}, got {}",
                response.len()
            );
            let header = Header::parse(&response).expect("expected a full header");
            assert_eq!(header.id, 0x5151, "expected the query ID echoed");
        }
    }
}

/// RFC 7766 6.2.3 and 6.2.2: idle connections are closed, and a connection
/// past the limit is admitted by closing the idlest one at once (the server
/// stays up for the others).
#[test]
fn tcp_idle_timeout_and_connection_limit() {
    use std::{
        io::Read,
        net::TcpStream,
        time::{Duration, Instant},
    };
    let server = Server::builder()
        .config("[server]\ntcp_idle_timeout = 1\ntcp_max_connections = 2\n")
        .start();
    let connect = || TcpStream::connect(("127.0.0.1", server.port)).expect("expected to connect over TCP");
    let closed_within = |stream: &mut TcpStream, limit: Duration| {
        stream.set_read_timeout(Some(limit)).expect("timeout");
        let started = Instant::now();
        let mut byte = [0u8; 1];
        matches!(stream.read(&mut byte), Ok(0)) && started.elapsed() < limit
    };
    let mut first = connect();
    let mut second = connect();
    // Let the server accept both before the third arrives.
    std::thread::sleep(Duration::from_millis(200));
    let mut third = connect();
    assert!(
        closed_within(&mut first, Duration::from_secs(5)),
        "a third connection over tcp_max_connections = 2 closes the idlest, the first, at once"
    );
    assert!(
        closed_within(&mut second, Duration::from_secs(10)) && closed_within(&mut third, Duration::from_secs(10)),
        "idle connections are closed after tcp_idle_timeout = 1 s"
    );
    // No zone given: the built-in example.com.
    let r = server.dig(&["www.example.com.", "A", "+tcp"]);
    assert_eq!(
        r.rcode, "NOERROR",
        "the server still answers over TCP once slots are free: {}",
        r.text
    );
}
