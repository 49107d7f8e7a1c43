//! The query pipeline end to end on bytes; responses are decoded with
//! hickory-proto, an independent parser, to check the wire format.

use std::sync::atomic::Ordering;

use hickory_proto::{
    op::{Message, MessageType, OpCode, Query as HQuery, ResponseCode},
    rr::{DNSClass, Name as HName, RecordType},
    serialize::binary::{BinDecodable, BinEncodable},
};

use super::{Identity, Responder, Transport};
use crate::{catalog::Catalog, secondary::serial::Timers, stats::Stats, zone::load};

fn identity() -> Identity {
    Identity {
        identity: "pop-test".into(),
        version: Some("test-version".into()),
        udp_payload: 1232,
    }
}

fn catalog() -> Catalog {
    Catalog::new(
        [std::sync::Arc::new(load::default_zone().expect("default zone loads"))],
        1000,
    )
}

/// A query with ID 0xbeef and RD, built by test-support (independently of our encoder).
fn query(name: &str, qtype: RecordType, class: DNSClass, edns: Option<u16>) -> Vec<u8> {
    let mut q = test_support::Query::new(name, u16::from(qtype))
        .id(0xbeef)
        .rd()
        .class(u16::from(class));
    if let Some(size) = edns {
        q = q.edns(size);
    }
    q.to_wire()
}

/// A responder over `catalog` without secondary zones.
fn responder<'c>(
    catalog: &'c Catalog,
    identity: &'c Identity,
    stats: &'c Stats,
    fast_path: &'c dyn crate::fast_path::FastPathSink,
) -> Responder<'c> {
    Responder {
        catalog,
        identity,
        stats,
        fast_path,
        secondaries: None,
    }
}

fn respond(catalog: &Catalog, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
    let stats = Stats::default();
    let ident = identity();
    let responder = responder(catalog, &ident, &stats, &crate::fast_path::NoFastPath);
    let mut out = Vec::new();
    responder.respond(packet, transport, &mut out).ok().map(|()| out)
}

/// The answer cache of the catalog's only zone.
fn answers(c: &Catalog) -> &crate::answer_cache::AnswerCache {
    let zone = c.zones().next().expect("a zone");
    &zone.version.as_ref().expect("loaded").answers
}

fn decode(bytes: &[u8]) -> Message {
    Message::from_bytes(bytes).unwrap_or_else(|e| panic!("our response must decode: {e}; {bytes:02x?}"))
}

#[test]
fn positive_answer_is_authoritative_and_echoes_id_rd_and_case() {
    let c = catalog();
    let packet = query("WwW.Example.COM.", RecordType::A, DNSClass::IN, None);
    let bytes = respond(&c, &packet, Transport::Udp).expect("answered");
    let m = decode(&bytes);
    assert_eq!(m.metadata.id, 0xbeef);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert!(m.metadata.authoritative && m.metadata.recursion_desired && !m.metadata.recursion_available);
    assert_eq!(
        m.queries[0].name().to_ascii(),
        "WwW.Example.COM.",
        "question case preserved"
    );
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].name.to_ascii(), "WwW.Example.COM.");
}

#[test]
fn cached_answer_is_byte_identical_except_id_and_case() {
    let c = catalog();
    let first = respond(
        &c,
        &query("www.example.com.", RecordType::A, DNSClass::IN, Some(1232)),
        Transport::Udp,
    )
    .expect("answered");
    assert_eq!(answers(&c).len(), 1, "the answer was cached");
    let mut second_q = query("WWW.example.com.", RecordType::A, DNSClass::IN, Some(1232));
    second_q[0] = 0x12;
    let second = respond(&c, &second_q, Transport::Udp).expect("answered");
    assert_eq!(first.len(), second.len());
    assert_eq!(second[0], 0x12, "ID patched");
    assert_eq!(&second[12..16], b"\x03WWW", "question case patched");
    assert_eq!(first[16..], second[16..], "the rest is the same");
}

#[test]
fn nxdomain_has_soa_with_negative_ttl() {
    let c = catalog();
    let m = decode(
        &respond(
            &c,
            &query("nope.example.com.", RecordType::A, DNSClass::IN, None),
            Transport::Udp,
        )
        .expect("answered"),
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(m.authorities[0].ttl, 300);
}

#[test]
fn outside_every_zone_is_refused_without_aa() {
    let c = catalog();
    let m = decode(
        &respond(
            &c,
            &query("example.org.", RecordType::A, DNSClass::IN, Some(1232)),
            Transport::Udp,
        )
        .expect("answered"),
    );
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(!m.metadata.authoritative);
    assert!(m.edns.is_some(), "OPT echoed on errors too");
}

#[test]
fn edns_is_echoed_with_our_payload_and_badvers_for_version_1() {
    let c = catalog();
    let m = decode(
        &respond(
            &c,
            &query("www.example.com.", RecordType::A, DNSClass::IN, Some(4096)),
            Transport::Udp,
        )
        .expect("answered"),
    );
    assert_eq!(m.edns.as_ref().expect("OPT").max_payload(), 1232);
    let mut packet = query("www.example.com.", RecordType::A, DNSClass::IN, Some(1232));
    // The OPT record ends the packet: ..., TTL (ext-rcode, version, flags), RDLENGTH 0.
    let version_at = packet.len() - 5;
    packet[version_at] = 1;
    let bytes = respond(&c, &packet, Transport::Udp).expect("answered");
    let m = decode(&bytes);
    // hickory names extended RCODE 16 BADSIG whatever the context; it is BADVERS here.
    assert_eq!(u16::from(m.metadata.response_code), 16, "BADVERS: {bytes:02x?}");
    assert!(m.answers.is_empty());
}

#[test]
fn malformed_gets_formerr_and_responses_are_dropped() {
    let c = catalog();
    let mut packet = query("www.example.com.", RecordType::A, DNSClass::IN, None);
    let full = packet.clone();
    packet.truncate(packet.len() - 3);
    let m = decode(&respond(&c, &packet, Transport::Udp).expect("FORMERR is sent"));
    assert_eq!(
        (m.metadata.id, m.metadata.response_code),
        (0xbeef, ResponseCode::FormErr)
    );
    let mut response = full.clone();
    response[2] |= 0x80;
    assert_eq!(respond(&c, &response, Transport::Udp), None, "QR=1 is dropped");
    assert_eq!(
        respond(&c, &full[..5], Transport::Udp),
        None,
        "a short packet is dropped"
    );
    // No input may panic or produce an undecodable response.
    for cut in 0..full.len() {
        if let Some(bytes) = respond(&c, &full[..cut], Transport::Udp) {
            decode(&bytes);
        }
    }
}

#[test]
fn notimp_for_other_opcodes() {
    let c = catalog();
    let mut m = Message::query();
    m.metadata.op_code = OpCode::Update;
    m.add_query(HQuery::query(
        HName::from_ascii("example.com.").expect("name"),
        RecordType::SOA,
    ));
    let r = decode(&respond(&c, &m.to_bytes().expect("encodes"), Transport::Udp).expect("answered"));
    assert_eq!(r.metadata.response_code, ResponseCode::NotImp);
}

#[test]
fn the_opcode_is_judged_before_the_counts() {
    let c = catalog();
    // A bare header: ID 0x1234, then the opcode, every count zero.
    for (opcode, want) in [
        (0u8, ResponseCode::FormErr),
        (2, ResponseCode::NotImp), // STATUS
        (4, ResponseCode::NotImp), // NOTIFY, not offered: as with a question
        (5, ResponseCode::NotImp), // UPDATE
        (15, ResponseCode::NotImp),
    ] {
        let header = [0x12, 0x34, opcode << 3, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let r = decode(&respond(&c, &header, Transport::Udp).expect("answered"));
        assert_eq!(
            (r.metadata.id, r.metadata.response_code, u8::from(r.metadata.op_code)),
            (0x1234, want, opcode),
            "opcode {opcode} with no question"
        );
        // Two questions, or a question cut short: the same answer.
        let mut two = header.to_vec();
        two[5] = 2;
        let r = decode(&respond(&c, &two, Transport::Tcp).expect("answered"));
        assert_eq!(
            r.metadata.response_code, want,
            "opcode {opcode} with QDCOUNT 2 and no question"
        );
    }
}

#[test]
fn chaos_identity_and_version() {
    let c = catalog();
    for name in ["id.server.", "hostname.bind.", "ID.Server."] {
        let m =
            decode(&respond(&c, &query(name, RecordType::TXT, DNSClass::CH, None), Transport::Udp).expect("answered"));
        assert_eq!(m.answers.len(), 1, "{name}");
        assert_eq!(m.answers[0].data.to_string(), "pop-test", "{name}");
        assert_eq!(m.answers[0].dns_class, DNSClass::CH);
    }
    let m = decode(
        &respond(
            &c,
            &query("version.bind.", RecordType::TXT, DNSClass::CH, None),
            Transport::Udp,
        )
        .expect("answered"),
    );
    assert_eq!(m.answers[0].data.to_string(), "test-version");
    let m = decode(
        &respond(
            &c,
            &query("www.example.com.", RecordType::A, DNSClass::CH, None),
            Transport::Udp,
        )
        .expect("answered"),
    );
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn big_answers_truncate_over_udp_and_not_over_tcp() {
    let mut text = String::from(load::DEFAULT_ZONE);
    for i in 0..40 {
        text.push_str(&format!(
            "big IN TXT \"record number {i} with some padding to make it long enough\"\n"
        ));
    }
    let origin = crate::name::Name::parse("example.com.", None).expect("origin");
    let zone = load::from_str(&origin, &text, std::path::Path::new("big.zone")).expect("zone loads");
    let c = Catalog::new([std::sync::Arc::new(zone)], 100);
    let packet = query("big.example.com.", RecordType::TXT, DNSClass::IN, None);
    let m = decode(&respond(&c, &packet, Transport::Udp).expect("answered"));
    assert!(m.metadata.truncation && m.answers.is_empty() && m.authorities.is_empty());
    let bytes = respond(&c, &packet, Transport::Tcp).expect("answered");
    let m = decode(&bytes);
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 40);
    assert!(
        answers(&c)
            .get_into(
                &crate::answer_cache::Key::new(&dns_wire::query::parse(&packet).expect("parses")),
                65535,
                &mut Vec::new()
            )
            .is_some(),
        "the TCP answer is cached; UDP checks its size before using it"
    );
    let again = decode(&respond(&c, &packet, Transport::Udp).expect("answered"));
    assert!(
        again.metadata.truncation,
        "a cached answer too big for UDP is not sent over UDP"
    );
}

#[test]
fn nsid_is_sent_when_asked() {
    let c = catalog();
    let mut packet = query("www.example.com.", RecordType::A, DNSClass::IN, Some(1232));
    // Append an empty NSID option to the OPT record (last record in the packet).
    let rdlen_at = packet.len() - 2;
    packet[rdlen_at..].copy_from_slice(&4u16.to_be_bytes());
    packet.extend_from_slice(&[0, 3, 0, 0]);
    let bytes = respond(&c, &packet, Transport::Udp).expect("answered");
    assert!(
        bytes.windows(12).any(|w| w == b"\x00\x03\x00\x08pop-test"),
        "NSID option present: {bytes:02x?}"
    );
}

/// The EXPIRE option's value in a response (RFC 7314), read as our secondary reads a primary's.
fn expire_in(bytes: &[u8]) -> Option<u32> {
    use crate::message::{Section, read};
    decode(bytes);
    let head = read::head(bytes, usize::from(u16::MAX)).expect("a response");
    let mut expire = None;
    head.each_record(bytes, |r| {
        if r.section == Section::Additional && r.rtype == dns_wire::wire::rtype::OPT {
            expire = crate::secondary::client::expire_option(r.rdata);
        }
        Ok::<(), read::ReadError>(())
    })
    .expect("records read");
    expire
}

#[test]
fn an_soa_query_asking_expire_gets_the_zones_expire() {
    let c = catalog();
    let mut packet = query("example.com.", RecordType::SOA, DNSClass::IN, Some(1232));
    // Append an empty EXPIRE option (RFC 7314 2) to the OPT record, the packet's last record.
    let rdlen_at = packet.len() - 2;
    packet[rdlen_at..].copy_from_slice(&4u16.to_be_bytes());
    packet.extend_from_slice(&[0, 9, 0, 0]);
    let soa = Timers::of_soa(
        c.zones()
            .next()
            .unwrap()
            .version
            .as_ref()
            .unwrap()
            .zone
            .soa()
            .rdatas()
            .next()
            .unwrap(),
    )
    .expect("the built-in SOA");
    for round in ["first", "second, after the plain query was cached"] {
        let bytes = respond(&c, &packet, Transport::Udp).expect("answered");
        assert_eq!(
            expire_in(&bytes),
            Some(soa.expire.as_secs() as u32),
            "{round}: expected the SOA's expire, as a primary sends it"
        );
        let plain = query("example.com.", RecordType::SOA, DNSClass::IN, Some(1232));
        let bytes = respond(&c, &plain, Transport::Udp).expect("answered");
        assert_eq!(expire_in(&bytes), None, "expected no EXPIRE when not asked");
    }
    let mut a = query("www.example.com.", RecordType::A, DNSClass::IN, Some(1232));
    let rdlen_at = a.len() - 2;
    a[rdlen_at..].copy_from_slice(&4u16.to_be_bytes());
    a.extend_from_slice(&[0, 9, 0, 0]);
    let bytes = respond(&c, &a, Transport::Udp).expect("answered");
    assert_eq!(
        expire_in(&bytes),
        None,
        "expected EXPIRE only in answers to SOA queries"
    );
}

#[test]
fn any_over_udp_is_one_rrset_even_at_a_wildcard() {
    let c = catalog();
    let m = decode(
        &respond(
            &c,
            &query("x.users.example.com.", RecordType::ANY, DNSClass::IN, None),
            Transport::Udp,
        )
        .expect("answered"),
    );
    assert_eq!(m.answers.len(), 1, "{:?}", m.answers);
}

/// Records what the query path tells the fast path.
#[derive(Default)]
struct Recorded {
    copied: std::sync::Mutex<Vec<Copied>>,
    /// Offers refused (as a full queue refuses them) before one is taken.
    refuse: std::sync::atomic::AtomicUsize,
}

/// One answer offered: its catalog's generation, the name as asked, the response.
struct Copied(u64, Vec<u8>, Vec<u8>);

impl crate::fast_path::FastPathSink for Recorded {
    fn serve_catalog(&self, _: &std::sync::Arc<Catalog>) {
        panic!("the query path never switches catalogs");
    }

    fn copy_answer(&self, catalog: &Catalog, query: &dns_wire::query::Query<'_>, response: &[u8]) -> bool {
        let mut copied = self.copied.lock().expect("lock");
        copied.push(Copied(catalog.generation(), query.qname.to_vec(), response.to_vec()));
        let refused = self
            .refuse
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        refused.is_err()
    }

    fn offer_resolved(&self, _: &super::Pending) {
        panic!("no recursion here");
    }

    fn serve_cookies(&self, _: &super::CookieSecrets) {
        panic!("the query path never changes the cookie secrets");
    }
}

#[test]
fn each_newly_cached_answer_is_offered_to_the_fast_path_once() {
    let (c, other) = (catalog(), catalog());
    assert!(c.generation() != 0 && c.generation() != other.generation());
    let sink = Recorded::default();
    let ident = identity();
    let stats = Stats::default();
    let responder = responder(&c, &ident, &stats, &sink);
    let mut out = Vec::new();
    let packet = query("WWW.example.com.", RecordType::A, DNSClass::IN, None);
    for _ in 0..3 {
        responder.respond(&packet, Transport::Udp, &mut out).expect("answered");
    }
    let nsid = {
        let mut p = query("www.example.com.", RecordType::AAAA, DNSClass::IN, Some(1232));
        let rdlen_at = p.len() - 2;
        p[rdlen_at..].copy_from_slice(&4u16.to_be_bytes());
        p.extend_from_slice(&[0, 3, 0, 0]);
        p
    };
    responder.respond(&nsid, Transport::Udp, &mut out).expect("answered");
    let copied = sink.copied.into_inner().expect("lock");
    assert_eq!(
        copied.len(),
        1,
        "cached once, offered once; NSID answers are not cached"
    );
    let Copied(generation, qname, response) = &copied[0];
    assert_eq!(*generation, c.generation(), "tagged with the catalog it came from");
    assert_eq!(qname, b"\x03WWW\x07example\x03com\x00", "the query as asked");
    assert_eq!(&response[..2], [0, 0], "stored with ID 0");
    assert_eq!(decode(response).answers.len(), 1);
}

/// An answer the fast path could not take when it was cached (its queue
/// full) is offered again on the next hits, until taken, then no more.
#[test]
fn an_answer_the_fast_path_could_not_take_is_offered_again_on_a_hit() {
    let c = catalog();
    let sink = Recorded {
        refuse: 2.into(),
        ..Recorded::default()
    };
    let ident = identity();
    let stats = Stats::default();
    let responder = responder(&c, &ident, &stats, &sink);
    let mut out = Vec::new();
    let packet = query("www.example.com.", RecordType::A, DNSClass::IN, Some(1232));
    let mut answers = Vec::new();
    for _ in 0..5 {
        responder.respond(&packet, Transport::Udp, &mut out).expect("answered");
        answers.push(out.clone());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "every answer the same");
    let copied = sink.copied.into_inner().expect("lock");
    assert_eq!(
        copied.len(),
        3,
        "offered when cached, refused; on the first hit, refused; on the second, taken"
    );
    assert!(
        copied
            .iter()
            .all(|Copied(_, _, r)| r[..2] == [0, 0] && r[4..] == answers[0][4..]),
        "each offer is the answer as cached: ID 0, the counts and records as sent"
    );
    assert_eq!(stats.cache_hits.get(), 4);
}

/// A zone that failed to load with nothing to fall back on: SERVFAIL for
/// its names as Knot answers (AA clear, EDE 24 with EDNS), never REFUSED or
/// recursed; the zones beside it answer as usual.
#[test]
fn a_zone_that_failed_to_load_gets_servfail_and_the_others_answer() {
    use crate::catalog::{ServedZone, ZoneStatus};
    let good = catalog();
    let mut zones: Vec<ServedZone> = good
        .zones()
        .map(|z| ServedZone::loaded(z.version.clone().expect("loaded"), None))
        .collect();
    zones.push(ServedZone {
        origin: crate::name::Name::parse("broken.test.", None).expect("name"),
        file: None,
        version: None,
        status: ZoneStatus::Failed("broken.zone:3: bad".into()),
    });
    let c = Catalog::of(zones, good.budget().clone());
    for (name, edns) in [("www.broken.test.", Some(1232)), ("broken.test.", None)] {
        let bytes = respond(&c, &query(name, RecordType::A, DNSClass::IN, edns), Transport::Udp).expect("answered");
        let m = decode(&bytes);
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{name}");
        assert!(!m.metadata.authoritative, "AA clear, as Knot: {name}");
        assert!(m.answers.is_empty() && m.authorities.is_empty(), "{name}");
        assert_eq!(
            edns.is_some(),
            m.edns.is_some(),
            "OPT only when asked with EDNS: {name}"
        );
        // EDE option (15), length 2, INFO-CODE 24.
        let ede = bytes.windows(6).any(|w| w == [0, 15, 0, 2, 0, 24]);
        assert_eq!(
            ede,
            edns.is_some(),
            "EDE 24 Invalid Data with EDNS: {name} {bytes:02x?}"
        );
    }
    let m = decode(
        &respond(
            &c,
            &query("www.example.com.", RecordType::A, DNSClass::IN, None),
            Transport::Udp,
        )
        .expect("answered"),
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1, "the other zone is served");
}
