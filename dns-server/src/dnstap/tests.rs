//! The log end to end in process: what is written reads back, sampling,
//! and a reader that does not read costs drops, not time.

use std::{
    io::Write as _,
    net::SocketAddr,
    os::unix::net::UnixListener,
    time::{Duration, Instant},
};

use prost::Message as _;

use super::{
    Dnstap, Origin, Role,
    fstrm::{self, Control, Frame},
    schema::{self, MessageType},
};
use crate::config::{DnstapSection, DnstapSink};

fn origin() -> Origin {
    Origin {
        identity: b"pop-test".to_vec(),
        version: Some(b"dns-server test".to_vec()),
    }
}

fn section(sample: u32) -> DnstapSection {
    DnstapSection {
        sample,
        ..DnstapSection::default()
    }
}

const CLIENT: &str = "192.0.2.7:40000";
const LOCAL: &str = "127.0.0.1:53";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Every message of a Frame Streams file: START first, STOP last.
fn read_file(path: &std::path::Path) -> Vec<schema::Dnstap> {
    let bytes = std::fs::read(path).unwrap();
    let mut r = &bytes[..];
    let mut frames = Vec::new();
    while let Some(frame) = fstrm::read_frame(&mut r).unwrap() {
        frames.push(frame);
    }
    assert_eq!(
        frames.first(),
        Some(&Frame::Control(
            Control::Start as u32,
            vec![fstrm::CONTENT_TYPE.to_vec()]
        ))
    );
    assert_eq!(frames.last(), Some(&Frame::Control(Control::Stop as u32, vec![])));
    frames[1..frames.len() - 1]
        .iter()
        .map(|f| match f {
            Frame::Data(d) => schema::Dnstap::decode(&d[..]).expect("a dnstap message"),
            other => panic!("a control frame inside the stream: {other:?}"),
        })
        .collect()
}

#[test]
fn a_file_log_reads_back_with_types_addresses_and_messages() {
    let dir = test_support::TempDir::new("dnstap-file");
    let path = dir.path().join("q.dnstap");
    let tap = Dnstap::start(&section(1), DnstapSink::File(path.clone()), origin(), 64).unwrap();
    tap.exchange(
        Role::Auth,
        false,
        addr(CLIENT),
        Some(addr(LOCAL)),
        b"query-1",
        b"response-1",
    );
    let x = tap
        .query(Role::Client, true, Some(addr("[2001:db8::7]:5353")), None, b"query-2")
        .expect("responses are logged");
    tap.response(x, b"response-2");
    let x = tap
        .query(Role::Resolver, false, None, Some(addr("198.51.100.1:53")), b"query-3")
        .unwrap();
    tap.response(x, b"response-3");
    tap.close();

    let messages = read_file(&path);
    let m: Vec<&schema::Message> = messages.iter().map(|d| d.message.as_ref().unwrap()).collect();
    let types: Vec<i32> = m.iter().map(|m| m.r#type).collect();
    assert_eq!(
        types,
        [
            MessageType::AuthQuery,
            MessageType::AuthResponse,
            MessageType::ClientQuery,
            MessageType::ClientResponse,
            MessageType::ResolverQuery,
            MessageType::ResolverResponse
        ]
        .map(|t| t as i32)
    );
    assert_eq!(messages[0].identity.as_deref(), Some(&b"pop-test"[..]));
    assert_eq!(m[0].query_address.as_deref(), Some(&[192, 0, 2, 7][..]));
    assert_eq!((m[0].query_port, m[0].response_port), (Some(40000), Some(53)));
    assert_eq!(m[0].query_message.as_deref(), Some(&b"query-1"[..]));
    assert_eq!(m[1].response_message.as_deref(), Some(&b"response-1"[..]));
    assert!(m[1].response_time_sec.is_some() && m[0].response_time_sec.is_none());
    assert_eq!(
        (m[2].socket_family, m[2].socket_protocol),
        (Some(2), Some(2)),
        "IPv6, TCP"
    );
    assert_eq!(m[2].query_address.as_ref().map(Vec::len), Some(16));
    assert_eq!(m[4].response_address.as_deref(), Some(&[198, 51, 100, 1][..]));
    assert_eq!(m[5].response_message.as_deref(), Some(&b"response-3"[..]));
    assert_eq!(tap.counters.totals().written, 6);
}

#[test]
fn what_is_not_asked_for_is_not_logged() {
    let dir = test_support::TempDir::new("dnstap-choice");
    let path = dir.path().join("q.dnstap");
    let choice = DnstapSection {
        client_queries: false,
        resolver_queries: false,
        resolver_responses: false,
        ..section(1)
    };
    let tap = Dnstap::start(&choice, DnstapSink::File(path.clone()), origin(), 64).unwrap();
    tap.exchange(Role::Auth, true, addr(CLIENT), None, b"q", b"r");
    assert!(tap.query(Role::Resolver, false, None, None, b"q").is_none());
    tap.close();
    let messages = read_file(&path);
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].message.as_ref().unwrap().r#type,
        MessageType::AuthResponse as i32
    );
}

#[test]
fn one_query_in_n_is_logged_with_its_response() {
    let dir = test_support::TempDir::new("dnstap-sample");
    let path = dir.path().join("q.dnstap");
    let tap = Dnstap::start(&section(4), DnstapSink::File(path.clone()), origin(), 1024).unwrap();
    for i in 0..100u8 {
        tap.exchange(Role::Auth, false, addr(CLIENT), None, &[i], &[i, i]);
    }
    tap.close();
    let messages = read_file(&path);
    assert_eq!(messages.len(), 50, "25 queries and their 25 responses");
    for pair in messages.chunks(2) {
        let (q, r) = (pair[0].message.as_ref().unwrap(), pair[1].message.as_ref().unwrap());
        let asked = q.query_message.as_ref().unwrap()[0];
        assert_eq!(
            r.response_message.as_deref(),
            Some(&[asked, asked][..]),
            "a response follows its query"
        );
    }
}

#[test]
fn client_and_resolver_queries_are_sampled_apart() {
    let dir = test_support::TempDir::new("dnstap-sample-apart");
    let path = dir.path().join("q.dnstap");
    let tap = Dnstap::start(&section(2), DnstapSink::File(path.clone()), origin(), 1024).unwrap();
    // Each client query causes one upstream query, on the same thread.
    for i in 0..10u8 {
        tap.query(Role::Client, false, Some(addr(CLIENT)), None, &[i]);
        tap.query(Role::Resolver, false, None, Some(addr(LOCAL)), &[i]);
    }
    tap.close();
    let kinds: Vec<i32> = read_file(&path)
        .iter()
        .map(|d| d.message.as_ref().unwrap().r#type)
        .collect();
    let count = |t: MessageType| kinds.iter().filter(|&&k| k == t as i32).count();
    assert_eq!(
        (count(MessageType::ClientQuery), count(MessageType::ResolverQuery)),
        (5, 5)
    );
}

#[test]
fn a_socket_reader_gets_the_stream_after_the_handshake() {
    let dir = test_support::TempDir::new("dnstap-socket");
    let path = dir.path().join("tap.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        assert!(matches!(fstrm::read_frame(&mut s).unwrap(), Some(Frame::Control(4, _))));
        s.write_all(&fstrm::control(Control::Accept, Some(fstrm::CONTENT_TYPE)))
            .unwrap();
        let mut data = Vec::new();
        loop {
            match fstrm::read_frame(&mut s).unwrap() {
                Some(Frame::Data(d)) => data.push(schema::Dnstap::decode(&d[..]).unwrap()),
                Some(Frame::Control(3, _)) => break,
                Some(Frame::Control(..)) => {}
                None => panic!("the stream ended without STOP"),
            }
        }
        s.write_all(&fstrm::control(Control::Finish, None)).unwrap();
        data
    });
    let tap = Dnstap::start(&section(1), DnstapSink::Socket(path), origin(), 64).unwrap();
    // The writer connects on its own; messages before that are dropped and counted.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !tap.counters.totals().connected {
        assert!(Instant::now() < deadline, "the writer did not connect");
        std::thread::sleep(Duration::from_millis(10));
    }
    tap.exchange(Role::Auth, false, addr(CLIENT), None, b"q", b"r");
    tap.close();
    let data = reader.join().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(
        data[1].message.as_ref().unwrap().response_message.as_deref(),
        Some(&b"r"[..])
    );
}

#[test]
fn a_reader_that_never_reads_costs_counted_drops_not_time() {
    let dir = test_support::TempDir::new("dnstap-stuck");
    let path = dir.path().join("tap.sock");
    let listener = UnixListener::bind(&path).unwrap();
    // Accepts (the kernel does, from the backlog) and never answers READY.
    let tap = Dnstap::start(&section(1), DnstapSink::Socket(path), origin(), 8).unwrap();
    let started = Instant::now();
    for _ in 0..10_000 {
        tap.exchange(Role::Auth, false, addr(CLIENT), None, &[0; 100], &[0; 200]);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "logging 10000 exchanges took {took:?}");
    assert!(tap.counters.totals().queue_full > 10_000);
    // The writer gives up on the handshake after its timeout; what it held is dropped then.
    tap.close();
    let t = tap.counters.totals();
    assert_eq!(t.written, 0);
    assert_eq!(t.queue_full + t.not_connected + t.write_failed, 20_000, "{t:?}");
    drop(listener);
}

#[test]
fn a_reader_that_goes_away_is_connected_to_again() {
    let dir = test_support::TempDir::new("dnstap-reconnect");
    let path = dir.path().join("tap.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let handshake = |s: &mut std::os::unix::net::UnixStream| {
        assert!(matches!(fstrm::read_frame(s).unwrap(), Some(Frame::Control(4, _))));
        s.write_all(&fstrm::control(Control::Accept, Some(fstrm::CONTENT_TYPE)))
            .unwrap();
        assert!(matches!(fstrm::read_frame(s).unwrap(), Some(Frame::Control(2, _))));
    };
    let reader = std::thread::spawn(move || {
        let (mut first, _) = listener.accept().unwrap();
        handshake(&mut first);
        // The first reader leaves at once.
        drop(first);
        let (mut second, _) = listener.accept().unwrap();
        handshake(&mut second);
        let mut data = Vec::new();
        loop {
            match fstrm::read_frame(&mut second).unwrap() {
                Some(Frame::Data(d)) => data.push(schema::Dnstap::decode(&d[..]).unwrap()),
                Some(Frame::Control(3, _)) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        second.write_all(&fstrm::control(Control::Finish, None)).unwrap();
        data
    });
    let tap = Dnstap::start(&section(1), DnstapSink::Socket(path), origin(), 64).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // Writes to the departed reader fail; the writer connects again after its back-off.
    while tap.counters.totals().connections < 2 {
        assert!(Instant::now() < deadline, "{:?}", tap.counters.totals());
        tap.exchange(Role::Auth, false, addr(CLIENT), None, b"lost?", b"lost?");
        std::thread::sleep(Duration::from_millis(20));
    }
    tap.exchange(Role::Auth, false, addr(CLIENT), None, b"after", b"after");
    tap.close();
    let data = reader.join().unwrap();
    let last = data
        .last()
        .and_then(|d| d.message.as_ref())
        .expect("messages after reconnecting");
    assert_eq!(last.response_message.as_deref(), Some(&b"after"[..]));
    let t = tap.counters.totals();
    assert!(t.write_failed + t.not_connected > 0, "{t:?}");
}
