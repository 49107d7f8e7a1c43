//! Iterative behaviours against misbehaving lab servers: glued servers that
//! fail, servers breaking QNAME minimisation, answers of the wrong type,
//! DNAMEs, loopback addresses in glue, lameness for one type, and
//! forwarders that are silent or lose queries.

use std::{
    net::UdpSocket,
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use super::{addresses, ask, lab::host, resolver, resolver_with};
use crate::{
    harness::{Response, Server},
    recursion::lab::Lab,
};

const ALLOW: &str = "\"127.0.0.0/8\"";

fn rtypes(r: &Response) -> Vec<&str> {
    r.answer.iter().map(|a| a.rtype.as_str()).collect()
}

#[test]
fn ns_names_without_glue_are_looked_up_when_glued_servers_fail() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let lab = Lab::start();
    let server = resolver(&lab, ALLOW);
    // mixed.test.: a glued server that refuses, and ns.other. without glue.
    let r = ask(&server, "www.mixed.test.", "A");
    assert_eq!(
        (r.rcode.as_str(), addresses(&r)),
        ("NOERROR", vec!["192.0.2.11".to_string()]),
        "the lame glued server is passed over for the glueless one: {}\nstderr:\n{}",
        r.text,
        server.stderr()
    );
    // mixeddead.test.: a glued server where nothing listens.
    let r = ask(&server, "www.mixeddead.test.", "A");
    assert_eq!(
        (r.rcode.as_str(), addresses(&r)),
        ("NOERROR", vec!["192.0.2.12".to_string()]),
        "the dead glued server is passed over for the glueless one: {}",
        r.text
    );
}

#[test]
fn qname_minimisation_falls_back_to_the_full_name_on_an_error() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let lab = Lab::start();
    let server = resolver(&lab, ALLOW);
    let r = ask(&server, "www.a.b.qmin.test.", "A");
    assert_eq!(
        (r.rcode.as_str(), addresses(&r)),
        ("NOERROR", vec!["192.0.2.13".to_string()]),
        "RFC 9156 4: the full name is asked after SERVFAIL to b.qmin.test.: {}\nstderr:\n{}",
        r.text,
        server.stderr()
    );
    assert!(
        lab.relayed(host::QMIN) >= 2,
        "a minimised question was asked first, then the full one"
    );
}

#[test]
fn an_answer_of_another_type_is_nodata() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let lab = Lab::start();
    let server = resolver(&lab, ALLOW);
    // The server answers the AAAA question with the name's A record, no AA.
    let r = ask(&server, "www.wrongtype.test.", "AAAA");
    assert_eq!(
        (r.rcode.as_str(), r.answer.len()),
        ("NOERROR", 0),
        "NODATA rather than a lame server: {}",
        r.text
    );
    let r = ask(&server, "www.wrongtype.test.", "A");
    assert_eq!(addresses(&r), vec!["192.0.2.14"], "{}", r.text);
}

#[test]
fn a_dname_is_passed_on_with_its_synthesised_cname() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let lab = Lab::start();
    let server = resolver(&lab, ALLOW);
    let r = ask(&server, "www.old.dname.test.", "A");
    assert_eq!(r.rcode, "NOERROR", "{}", r.text);
    assert_eq!(
        rtypes(&r),
        vec!["DNAME", "CNAME", "A"],
        "RFC 6672: the DNAME, the CNAME made from it, then the target's data: {}",
        r.text
    );
    assert_eq!(r.answer[0].owner, "old.dname.test.", "{}", r.text);
    assert_eq!(r.answer[1].rdata, "www.new.dname.test.", "{}", r.text);
    assert_eq!(addresses(&r), vec!["192.0.2.16"], "{}", r.text);
}

#[test]
fn loopback_addresses_from_glue_are_not_asked_by_default() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let lab = Lab::start();
    // No do_not_query_localhost line: the default, on. The root hints are
    // the operator's and asked; the glue under them is all loopback.
    let server = resolver_with(&lab, ALLOW, "");
    let r = ask(&server, "www.slow.test.", "A");
    assert_eq!(
        r.rcode, "SERVFAIL",
        "every server the root names is on loopback: {}",
        r.text
    );
    assert_eq!(
        lab.relayed(host::SLOW),
        0,
        "the loopback server named by glue was never asked"
    );
    let open = resolver(&lab, ALLOW);
    let r = ask(&open, "www.slow.test.", "A");
    assert_eq!(
        addresses(&r),
        vec!["192.0.2.5"],
        "do_not_query_localhost = false asks it: {}",
        r.text
    );
}

#[test]
fn a_server_lame_for_aaaa_is_still_asked_for_a() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let lab = Lab::start();
    let server = resolver(&lab, ALLOW);
    // halflame.test.: HALF refuses AAAA and answers A at once; SLOW answers
    // both after 300 ms. Two A questions give both servers an RTT, so that
    // HALF, the faster, is asked first.
    for name in ["a1.halflame.test.", "a2.halflame.test."] {
        let r = ask(&server, name, "A");
        assert_eq!(addresses(&r), vec!["192.0.2.15"], "{}", r.text);
    }
    // AAAA until HALF has refused one (a random pick may skip it once).
    let mut refused = false;
    for i in 0..6 {
        let before = lab.relayed(host::HALF);
        let r = ask(&server, &format!("b{i}.halflame.test."), "AAAA");
        assert_eq!((r.rcode.as_str(), r.answer.len()), ("NOERROR", 1), "{}", r.text);
        if lab.relayed(host::HALF) > before {
            refused = true;
            break;
        }
    }
    assert!(refused, "HALF was asked an AAAA question");
    let before = lab.relayed(host::HALF);
    for i in 0..3 {
        let r = ask(&server, &format!("c{i}.halflame.test."), "AAAA");
        assert_eq!((r.rcode.as_str(), r.answer.len()), ("NOERROR", 1), "{}", r.text);
    }
    assert_eq!(
        lab.relayed(host::HALF),
        before,
        "lame for AAAA: the other server is asked first"
    );
    for i in 0..3 {
        let r = ask(&server, &format!("d{i}.halflame.test."), "A");
        assert_eq!(addresses(&r), vec!["192.0.2.15"], "{}", r.text);
    }
    assert!(
        lab.relayed(host::HALF) > before,
        "not lame for A: the faster server is asked again"
    );
}

/// A forwarder on loopback that ignores the first `lose` queries and
/// answers the next with one A record (192.0.2.77); it returns when the
/// queries when each arrived, after `wanted` of them or 12 s.
fn forwarder(lose: usize, wanted: usize) -> (u16, JoinHandle<Vec<Instant>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("expected to bind a UDP socket on loopback");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("expected to set a read timeout");
    let port = socket.local_addr().expect("local address").port();
    let handle = thread::spawn(move || {
        let started = Instant::now();
        let mut arrived = Vec::new();
        let mut buf = [0u8; 512];
        while arrived.len() < wanted && started.elapsed() < Duration::from_secs(12) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            arrived.push(Instant::now());
            if arrived.len() > lose
                && let Some(answer) = answer(&buf[..n])
            {
                socket.send_to(&answer, from).expect("expected to answer");
            }
        }
        arrived
    });
    (port, handle)
}

/// The answer to `query`: its question and one A record.
fn answer(query: &[u8]) -> Option<Vec<u8>> {
    let mut end = 12;
    while *query.get(end)? != 0 {
        end += 1 + usize::from(query[end]);
    }
    let mut out = query.get(..2)?.to_vec();
    out.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    out.extend_from_slice(query.get(12..end + 5)?);
    out.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 77]);
    Some(out)
}

fn forwarding(ports: &[u16]) -> Server {
    let forward: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    Server::builder()
        .config(&format!(
            "[resolver]\nenabled = true\nallow = [{ALLOW}]\nforward = [{}]\nforward_validation = false\n",
            forward.join(", ")
        ))
        .start()
}

#[test]
fn forwarding_mode_tries_the_next_forwarder() {
    let (silent, silent_log) = forwarder(usize::MAX, 1);
    let (good, good_log) = forwarder(0, 1);
    let server = forwarding(&[silent, good]);
    let r = server.dig(&["www.fwd.test.", "A", "+recurse", "+tries=1", "+time=8"]);
    assert_eq!(
        (r.rcode.as_str(), addresses(&r)),
        ("NOERROR", vec!["192.0.2.77".to_string()]),
        "the second forwarder answers for the silent first: {}",
        r.text
    );
    assert_eq!(silent_log.join().expect("silent forwarder").len(), 1);
    assert_eq!(good_log.join().expect("good forwarder").len(), 1);
}

#[test]
fn forwarding_retries_back_off_within_the_clients_time() {
    let (port, log) = forwarder(2, 3);
    let server = forwarding(&[port]);
    let started = Instant::now();
    let r = server.dig(&["www.fwd.test.", "A", "+recurse", "+tries=1", "+time=8"]);
    let took = started.elapsed();
    assert_eq!(
        addresses(&r),
        vec!["192.0.2.77"],
        "the third try is answered: {}\nstderr:\n{}",
        r.text,
        server.stderr()
    );
    assert!(took < Duration::from_secs(5), "within the client's 5 s: {took:?}");
    let arrived = log.join().expect("forwarder");
    assert_eq!(arrived.len(), 3, "two lost queries, one answered");
    let (first, second) = (arrived[1] - arrived[0], arrived[2] - arrived[1]);
    assert!(
        second > first + first / 2,
        "the wait doubles between tries: {first:?} then {second:?}"
    );
}
