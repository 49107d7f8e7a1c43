//! Packets a server must not answer normally: malformed queries, responses, opcodes we lack.
//!
//! Knot drops a query whose question cannot be read; NSD answers FORMERR with the header only.
//! We take NSD's way: the client learns its packet was bad (RFC 1035 4.1.1).

use crate::{
    harness::Server,
    packet::{self, Header, Query, code, opcode, rcode},
};

/// Asserts the server answers a normal query, i.e. survived what the test sent before.
fn assert_still_serving(server: &Server, after: &str) {
    let response = packet::udp_exchange(
        server.port,
        &Query::new("www.diff.example", code::A).id(0x7777).to_wire(),
    );
    let header = response.as_deref().and_then(Header::parse);
    assert!(
        header.is_some_and(|h| h.id == 0x7777 && h.rcode() == rcode::NOERROR),
        "expected the server to keep answering after {after}; stderr:\n{}",
        server.stderr()
    );
}

/// Sends `packet` over UDP and expects FORMERR with the query's ID.
fn assert_formerr(server: &Server, what: &str, packet: &[u8]) {
    let response = packet::udp_exchange(server.port, packet).unwrap_or_else(|| {
        panic!(
            "expected FORMERR for {what}, got no response; stderr:\n{}",
            server.stderr()
        )
    });
    let header =
        Header::parse(&response).unwrap_or_else(|| panic!("expected a full header for {what}, got {response:02x?}"));
    assert_eq!(header.id, 0x4242, "expected the query ID echoed for {what}: {header:?}");
    assert!(header.qr(), "expected QR set for {what}: {header:?}");
    assert_eq!(
        header.rcode(),
        rcode::FORMERR,
        "expected FORMERR for {what}: {header:?}"
    );
}

#[test]
fn truncated_question_gets_formerr() {
    let server = Server::diff();
    let full = Query::new("www.diff.example", code::A).id(0x4242).to_wire();
    assert_formerr(&server, "a question cut inside the name", &full[..16]);
    assert_formerr(&server, "a question without QTYPE and QCLASS", &full[..full.len() - 4]);
    assert_formerr(&server, "QDCOUNT 1 and no question", &full[..12]);
    assert_still_serving(&server, "truncated questions");
}

#[test]
fn missing_additional_record_gets_formerr() {
    let server = Server::diff();
    let query = Query::new("www.diff.example", code::A).id(0x4242);
    let packet = query.clone().counts([1, 0, 0, 1]).to_wire();
    assert_formerr(&server, "ARCOUNT 1 with no record", &packet);
    let one_opt = query.clone().edns(1232).to_wire();
    let opt = &one_opt[one_opt.len() - 11..];
    let two_opts = query.edns(1232).counts([1, 0, 0, 2]).tail(opt).to_wire();
    assert_formerr(&server, "two OPT records (RFC 6891 6.1.1)", &two_opts);
}

#[test]
fn responses_are_never_answered() {
    let server = Server::diff();
    // QR: this is a response.
    let packet = Query::new("www.diff.example", code::A)
        .id(0x4242)
        .flags(0x8000)
        .to_wire();
    assert_eq!(
        packet::udp_exchange(server.port, &packet),
        None,
        "expected no answer to a UDP packet with QR=1 (answering invites reflection loops)"
    );
    let mut stream = packet::tcp_connect(server.port);
    packet::tcp_send(&mut stream, &packet);
    assert_eq!(
        packet::tcp_recv(&mut stream),
        None,
        "expected no answer to a TCP message with QR=1"
    );
    assert_still_serving(&server, "packets with QR=1");
}

#[test]
fn runt_packets_are_dropped() {
    let server = Server::diff();
    for runt in [&[][..], &[0x42][..], &[0x42, 0x42, 0, 0, 0][..]] {
        assert_eq!(
            packet::udp_exchange(server.port, runt),
            None,
            "expected no answer to a {}-byte datagram: it has no header to answer with",
            runt.len()
        );
    }
    assert_still_serving(&server, "runt packets");
}

#[test]
fn update_gets_notimp() {
    let server = Server::diff();
    let packet = Query::new("diff.example", code::SOA)
        .id(0x4242)
        .opcode(opcode::UPDATE)
        .to_wire();
    let response = packet::udp_exchange(server.port, &packet).expect("expected an answer to an UPDATE");
    let header = Header::parse(&response).expect("expected a full header");
    assert_eq!(header.id, 0x4242, "expected the query ID echoed: {header:?}");
    assert_eq!(
        header.opcode(),
        opcode::UPDATE,
        "expected the opcode echoed: {header:?}"
    );
    assert_eq!(
        header.rcode(),
        rcode::NOTIMP,
        "expected NOTIMP for UPDATE, which we do not implement: {header:?}"
    );
    let r = server.dig(&["diff.example", "SOA", "+opcode=update"]);
    assert_eq!(r.rcode, "NOTIMP", "expected NOTIMP from dig +opcode=update:\n{r}");
}

#[test]
fn unknown_opcodes_get_notimp() {
    let server = Server::diff();
    for op in [1u8, 2, 3, 15] {
        let packet = Query::new("diff.example", code::SOA).id(0x4242).opcode(op).to_wire();
        let response =
            packet::udp_exchange(server.port, &packet).unwrap_or_else(|| panic!("expected an answer to opcode {op}"));
        let header = Header::parse(&response).expect("expected a full header");
        assert_eq!(
            header.rcode(),
            rcode::NOTIMP,
            "expected NOTIMP for opcode {op}: {header:?}"
        );
    }
}

/// The opcode is judged before the counts (as NSD and Knot): a header alone
/// with an opcode we lack is NOTIMP, not FORMERR, over UDP and TCP.
#[test]
fn other_opcodes_without_a_question_get_notimp() {
    let server = Server::diff();
    for op in [opcode::UPDATE, 2, 4, 15] {
        let full = Query::new("diff.example", code::SOA).id(0x4242).opcode(op).to_wire();
        let mut bare = full[..12].to_vec();
        bare[5] = 0; // QDCOUNT 0
        let response = packet::udp_exchange(server.port, &bare)
            .unwrap_or_else(|| panic!("expected an answer to a bare opcode {op} header"));
        let header = Header::parse(&response).expect("expected a full header");
        assert_eq!(
            (header.id, header.opcode(), header.rcode()),
            (0x4242, op, rcode::NOTIMP),
            "expected NOTIMP for opcode {op} with no question over UDP: {header:?}"
        );
        let mut stream = packet::tcp_connect(server.port);
        packet::tcp_send(&mut stream, &bare);
        let response = packet::tcp_recv(&mut stream)
            .unwrap_or_else(|| panic!("expected an answer to a bare opcode {op} header over TCP"));
        let header = Header::parse(&response).expect("expected a full header");
        assert_eq!(
            header.rcode(),
            rcode::NOTIMP,
            "expected NOTIMP for opcode {op} with no question over TCP: {header:?}"
        );
    }
    let mut query = Query::new("diff.example", code::SOA).id(0x4242).to_wire();
    query[5] = 0;
    assert_formerr(&server, "a QUERY with QDCOUNT 0", &query[..12]);
}

#[test]
fn axfr_over_udp_is_not_served() {
    let server = Server::diff();
    let packet = Query::new("diff.example", code::AXFR).id(0x4242).to_wire();
    let response = packet::udp_exchange(server.port, &packet).expect("expected an answer to AXFR over UDP");
    let header = Header::parse(&response).expect("expected a full header");
    assert!(
        [rcode::NOTIMP, rcode::REFUSED, rcode::FORMERR].contains(&header.rcode()) && header.counts[1] == 0,
        "expected an error and no records for AXFR over UDP (Knot: NOTIMP): {header:?}"
    );
}

#[test]
fn zone_transfers_over_tcp_are_refused() {
    let server = Server::diff();
    for (qtype, name) in [(code::AXFR, "AXFR"), (251, "IXFR")] {
        let mut stream = packet::tcp_connect(server.port);
        packet::tcp_send(&mut stream, &Query::new("diff.example", qtype).id(0x4242).to_wire());
        let response = packet::tcp_recv(&mut stream).unwrap_or_else(|| panic!("expected an answer to {name} over TCP"));
        let header = Header::parse(&response).expect("expected a full header");
        // No transfer ACL exists: Knot says NOTAUTH, NSD and we say REFUSED; both keep the zone private.
        assert!(
            [rcode::REFUSED, rcode::NOTAUTH].contains(&header.rcode()) && header.counts[1] == 0,
            "expected REFUSED (or NOTAUTH) and no records for {name} over TCP: {header:?}"
        );
    }
}
