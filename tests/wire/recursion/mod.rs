//! Recursion through a lab hierarchy: delegations with and without glue,
//! CNAMEs across zones, negative answers, lame, dead, slow and looping
//! delegations, a poisoning attempt, the ACL, and Unbound as the reference.

mod autotrust;
mod behaviours;
mod lab;
mod metrics;
pub(crate) mod unbound;
mod validation;

use std::{thread, time::Duration};

use lab::{Lab, POISON};

use crate::harness::{Response, Server};

/// Our resolver iterating from the lab's root (the lab is on loopback, which
/// a resolver never asks by default).
fn resolver(lab: &Lab, allow: &str) -> Server {
    resolver_with(lab, allow, "do_not_query_localhost = false\n")
}

fn resolver_with(lab: &Lab, allow: &str, extra: &str) -> Server {
    let hints = lab.hints();
    Server::builder()
        .config(&format!(
            "[resolver]\nenabled = true\nallow = [{allow}]\nroot_hints = \"{}\"\n{extra}",
            hints.display()
        ))
        .start()
}

fn ask(server: &Server, name: &str, qtype: &str) -> Response {
    server.dig(&[name, qtype, "+recurse", "+tries=1", "+time=8"])
}

fn addresses(r: &Response) -> Vec<String> {
    r.answer
        .iter()
        .filter(|rr| rr.rtype == "A")
        .map(|rr| rr.rdata.clone())
        .collect()
}

#[test]
fn resolves_through_the_lab_hierarchy() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let lab = Lab::start();
    let server = resolver(&lab, "\"127.0.0.0/8\", \"::1/128\"");

    let r = ask(&server, "www.glue.test.", "A");
    assert_eq!(
        (r.rcode.as_str(), addresses(&r)),
        ("NOERROR", vec!["192.0.2.1".to_string()]),
        "{}",
        r.text
    );
    assert!(
        r.flag("ra") && !r.flag("aa"),
        "a recursive answer has RA and no AA: {}",
        r.text
    );

    let r = ask(&server, "www.noglue.test.", "A");
    assert_eq!(
        addresses(&r),
        vec!["192.0.2.2"],
        "a glueless delegation is followed: {}",
        r.text
    );

    let r = ask(&server, "alias.glue.test.", "A");
    assert_eq!(r.answer.first().map(|a| a.rtype.as_str()), Some("CNAME"), "{}", r.text);
    assert_eq!(
        addresses(&r),
        vec!["192.0.2.2"],
        "the CNAME is followed into another zone: {}",
        r.text
    );

    let r = ask(&server, "nope.glue.test.", "A");
    assert_eq!(r.rcode, "NXDOMAIN", "{}", r.text);
    assert_eq!(
        r.authority.first().map(|a| a.rtype.as_str()),
        Some("SOA"),
        "NXDOMAIN carries the SOA: {}",
        r.text
    );

    let r = ask(&server, "www.glue.test.", "TXT");
    assert_eq!((r.rcode.as_str(), r.answer.len()), ("NOERROR", 0), "NODATA: {}", r.text);

    let r = ask(&server, "y.glue.test.", "A");
    assert_eq!(
        (r.rcode.as_str(), r.answer.len()),
        ("NOERROR", 0),
        "an empty non-terminal is NODATA: {}",
        r.text
    );

    for (name, want) in [
        ("www.lame.test.", "192.0.2.3"),
        ("www.dead.test.", "192.0.2.4"),
        ("www.slow.test.", "192.0.2.5"),
    ] {
        let r = ask(&server, name, "A");
        assert_eq!(
            addresses(&r),
            vec![want],
            "{name}: another server or patience gets the answer: {}",
            r.text
        );
    }

    let r = ask(&server, "www.loop1.test.", "A");
    assert_eq!(r.rcode, "SERVFAIL", "a delegation loop fails: {}", r.text);
}

#[test]
fn out_of_bailiwick_records_do_not_stick() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let lab = Lab::start();
    let server = resolver(&lab, "\"127.0.0.0/8\"");
    let r = ask(&server, "www.evil.test.", "A");
    assert!(addresses(&r).contains(&"192.0.2.6".to_string()), "{}", r.text);
    assert!(
        !r.text.contains(POISON),
        "the poisoned record is not passed on: {}",
        r.text
    );
    let r = ask(&server, "www.glue.test.", "A");
    assert_eq!(
        addresses(&r),
        vec!["192.0.2.1"],
        "the poisoned record was not cached: {}",
        r.text
    );
}

#[test]
fn cache_counts_ttls_down_and_serves_stale_when_servers_die() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let mut lab = Lab::start();
    let server = resolver(&lab, "\"127.0.0.0/8\"");
    let first = ask(&server, "www.glue.test.", "A");
    assert_eq!(first.answer[0].ttl, 3600, "{}", first.text);
    thread::sleep(Duration::from_millis(2100));
    let second = ask(&server, "www.glue.test.", "A");
    assert!(second.answer[0].ttl <= 3598, "the TTL counts down: {}", second.text);

    // short.glue.test has TTL 2: let it expire, then stop every server.
    let r = ask(&server, "short.glue.test.", "A");
    assert_eq!(addresses(&r), vec!["192.0.2.10"], "{}", r.text);
    lab.stop_all();
    thread::sleep(Duration::from_millis(2500));
    let r = ask(&server, "short.glue.test.", "A");
    assert_eq!(
        addresses(&r),
        vec!["192.0.2.10"],
        "RFC 8767: stale data when every server fails: {}",
        r.text
    );
    let r = ask(&server, "nope.glue.test.", "A");
    assert_eq!(r.rcode, "SERVFAIL", "nothing cached and no server: {}", r.text);
}

#[test]
fn clients_outside_the_acl_are_refused_and_zones_win() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let lab = Lab::start();
    let server = resolver(&lab, "\"127.0.0.2/32\"");
    let r = ask(&server, "www.glue.test.", "A");
    assert_eq!(r.rcode, "REFUSED", "127.0.0.1 may not recurse: {}", r.text);
    let r = server.dig(&["-b", "127.0.0.2", "www.glue.test.", "A", "+recurse", "+time=8"]);
    assert_eq!(addresses(&r), vec!["192.0.2.1"], "127.0.0.2 may: {}", r.text);
    // Our own zone (the built-in example.com) is answered authoritatively.
    let r = server.dig(&["-b", "127.0.0.2", "www.example.com.", "A", "+recurse"]);
    assert!(r.flag("aa"), "authoritative zones always win: {}", r.text);
}

#[test]
fn answers_match_unbound_on_the_same_lab() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let lab = Lab::start();
    let server = resolver(&lab, "\"127.0.0.0/8\"");
    let unbound = unbound::Unbound::start(&lab);
    let cases = [
        ("www.glue.test.", "A"),
        ("www.noglue.test.", "A"),
        ("alias.glue.test.", "A"),
        ("nope.glue.test.", "A"),
        ("www.glue.test.", "TXT"),
        ("glue.test.", "MX"),
        ("www.lame.test.", "A"),
        ("www.dead.test.", "A"),
        ("www.slow.test.", "A"),
        ("www.evil.test.", "A"),
        ("www.mixed.test.", "A"),
        ("www.old.dname.test.", "A"),
    ];
    let mut mismatches = Vec::new();
    for (name, qtype) in cases {
        let ours = ask(&server, name, qtype);
        // Unbound backs off from the dead server slowly on a loaded machine: give it retries.
        let theirs = unbound.dig(&[name, qtype, "+recurse", "+tries=3", "+time=10"]);
        let shape = |r: &Response| {
            let mut answer: Vec<String> = r
                .answer
                .iter()
                .map(|a| format!("{} {} {}", a.owner, a.rtype, a.rdata))
                .collect();
            answer.sort();
            (r.rcode.clone(), answer)
        };
        if shape(&ours) != shape(&theirs) {
            mismatches.push(format!(
                "{name} {qtype}:\n  unbound: {:?}\n  ours:    {:?}",
                shape(&theirs),
                shape(&ours)
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "answers differ from Unbound's:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn forwarding_mode_asks_the_configured_resolver() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let lab = Lab::start();
    let upstream = resolver(&lab, "\"127.0.0.0/8\"");
    let forwarder = Server::builder()
        .config(&format!(
            "[resolver]\nenabled = true\nallow = [\"127.0.0.0/8\"]\nforward = [\"127.0.0.1:{}\"]\nforward_validation = false\n",
            upstream.port
        ))
        .start();
    let r = ask(&forwarder, "alias.glue.test.", "A");
    assert_eq!(
        addresses(&r),
        vec!["192.0.2.2"],
        "the chain comes through the forwarder: {}",
        r.text
    );
    let r = ask(&forwarder, "nope.glue.test.", "A");
    assert_eq!(r.rcode, "NXDOMAIN", "{}", r.text);
    drop(upstream);
    let r = ask(&forwarder, "alias.glue.test.", "A");
    assert_eq!(
        addresses(&r),
        vec!["192.0.2.2"],
        "answered from the forwarder's cache: {}",
        r.text
    );
}

/// A forwarder that loses the first query: the server asks again within
/// the client's time and the client gets the answer.
#[test]
fn forwarding_mode_asks_again_when_a_query_is_lost() {
    use std::net::UdpSocket;

    let upstream = UdpSocket::bind("127.0.0.1:0").expect("expected to bind a UDP socket on loopback");
    upstream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("expected to set a read timeout");
    let port = upstream.local_addr().expect("local address").port();
    // Ignores the first datagram, answers the next with one A record, then stops.
    let fake = thread::spawn(move || {
        let mut buf = [0u8; 512];
        let mut seen = 0;
        while seen < 2 {
            let Ok((n, from)) = upstream.recv_from(&mut buf) else {
                return seen;
            };
            seen += 1;
            if seen == 2 {
                let query = &buf[..n];
                let question_end = 12 + test_support::encode_name("www.lossy.test").len() + 4;
                let mut answer = query[..2].to_vec();
                answer.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
                answer.extend_from_slice(&query[12..question_end]);
                answer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 77]);
                upstream.send_to(&answer, from).expect("expected to answer");
            }
        }
        seen
    });
    let server = Server::builder()
        .config(&format!(
            "[resolver]\nenabled = true\nallow = [\"127.0.0.0/8\"]\nforward = [\"127.0.0.1:{port}\"]\nforward_validation = false\n"
        ))
        .start();
    let r = server.dig(&["www.lossy.test.", "A", "+recurse", "+tries=1", "+time=8", "+noedns"]);
    assert_eq!(
        (r.rcode.as_str(), addresses(&r)),
        ("NOERROR", vec!["192.0.2.77".to_string()]),
        "the second try to the forwarder gets the answer: {}\nstderr:\n{}",
        r.text,
        server.stderr()
    );
    assert_eq!(fake.join().expect("fake forwarder"), 2, "one lost query, one answered");
}

#[test]
fn identical_queries_in_flight_share_one_resolution() {
    test_support::require_root!("binding port 53 on loopback addresses");
    use std::{net::UdpSocket, sync::Arc};

    let lab = Lab::start();
    let server = Arc::new(resolver(&lab, "\"127.0.0.0/8\""));
    let before = lab.relayed(lab::host::SLOW);
    // The slow server answers after 300 ms, one query at a time: 20 clients
    // asking at once would keep it busy for 6 s, past the resolver's
    // timeouts, unless they wait for one resolution.
    let clients: Vec<_> = (0..20u16)
        .map(|i| {
            let server = server.clone();
            thread::spawn(move || {
                let q = test_support::Query::new("www.slow.test", 1).id(i).rd().to_wire();
                let socket = UdpSocket::bind("127.0.0.1:0").expect("client socket");
                socket.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
                socket.send_to(&q, ("127.0.0.1", server.port)).expect("sent");
                let mut buf = [0u8; 512];
                let (n, _) = socket.recv_from(&mut buf).expect("an answer within 5 s");
                buf[..n].to_vec()
            })
        })
        .collect();
    for client in clients {
        let answer = client.join().expect("client thread");
        assert_eq!(answer[3] & 0x0f, 0, "NOERROR");
        assert!(answer.ends_with(&[192, 0, 2, 5]), "the slow zone's address: {answer:?}");
    }
    assert_eq!(
        lab.relayed(lab::host::SLOW) - before,
        1,
        "the slow server was asked once for all 20 clients"
    );
}
