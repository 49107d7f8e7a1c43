//! Frames the kernel's IP and UDP input would refuse or handle itself
//! bad checksums, lengths that disagree with the frame, IPv4
//! options, martian sources. Each row: the frame in, the action and the
//! counter out; what is answered must carry checksums that verify.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
    sync::Arc,
};

use test_support::{
    checksum,
    frame::{self as support, ETH_LEN, IPV4_LEN, IPV6_LEN, UDP_LEN},
};
use xdp_abi::Stat;

use super::{
    CLIENT_MAC, CLIENT_V4, CLIENT_V6, Fixture, Frame, SERVER_MAC, SERVER_V4, SERVER_V6, XDP_DROP, XDP_PASS, XDP_TX,
    check_response, fixture::identity, load_program, query, run, sync,
};
use crate::{
    catalog::Catalog,
    name::Name,
    query::{Responder, Transport},
    stats::Stats,
    zone::load,
};

/// The frame the cases' [`Frame::udp`] builds (same addresses, ports and
/// MACs), as test-support's builder, for a row to change a field of.
fn builder(v6: bool) -> support::Frame {
    let (client, server) = if v6 {
        (IpAddr::from(CLIENT_V6), IpAddr::from(SERVER_V6))
    } else {
        (IpAddr::from(CLIENT_V4), IpAddr::from(SERVER_V4))
    };
    support::Frame {
        src_mac: CLIENT_MAC,
        dst_mac: SERVER_MAC,
        ..support::Frame::udp((client, 40000), (server, 53))
    }
}

/// A query the map answers, with EDNS so it is not the shortest.
fn www() -> Vec<u8> {
    query("www.example.com", 1, Some((1232, false)), &[])
}

/// One row: what the frame is, the frame, the action and the counter that must move.
type Row = (&'static str, Vec<u8>, u32, Stat);

/// Runs every row: the action, the counter moved by one, a passed frame untouched.
fn check_rows(p: &Fixture, rows: Vec<Row>) {
    for (what, bytes, expected, stat) in rows {
        let before = p.count(stat);
        let (action, out) = run(&p.fast, &bytes);
        assert_eq!(action, expected, "{what}: expected action {expected}, got {action}");
        assert_eq!(p.count(stat), before + 1, "{what}: counted as {stat:?}");
        if action == XDP_PASS {
            assert_eq!(out, bytes, "{what}: a passed frame is untouched");
        }
    }
}

/// `f` with one field changed, built around `dns`.
fn with(v6: bool, dns: &[u8], change: impl FnOnce(&mut support::Frame)) -> Vec<u8> {
    let mut f = builder(v6);
    change(&mut f);
    f.build(dns)
}

#[test]
fn headers_and_lengths_the_stack_would_refuse_are_not_answered() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    let dns = www();
    let len = dns.len() as u16;
    let udp_len = UDP_LEN as u16 + len;
    let rows: Vec<Row> = vec![
        (
            "IPv4 header checksum wrong",
            with(false, &dns, |f| f.ip_checksum = Some(0x1234)),
            XDP_DROP,
            Stat::DropIpChecksum,
        ),
        (
            "IPv4 options (IHL 6): the stack's, never copied into an answer",
            with(false, &dns, |f| f.ip_options = vec![1, 1, 1, 0]),
            XDP_PASS,
            Stat::PassIpOptions,
        ),
        (
            "IPv4 total length beyond the frame",
            with(false, &dns, |f| f.ip_length = Some(IPV4_LEN as u16 + udp_len + 1)),
            XDP_DROP,
            Stat::DropLength,
        ),
        (
            "IPv4 total length under its own header",
            with(false, &dns, |f| f.ip_length = Some(19)),
            XDP_DROP,
            Stat::DropLength,
        ),
        (
            "IPv4 total length short of a long frame: trailing bytes, not padding",
            with(false, &dns, |f| {
                f.ip_length = Some(IPV4_LEN as u16 + udp_len - 4);
                f.udp_length = Some(udp_len - 4);
            }),
            XDP_PASS,
            Stat::Pass,
        ),
        (
            "bytes after the IPv4 packet of a long frame",
            with(false, &dns, |f| {
                f.pad_to = ETH_LEN + IPV4_LEN + usize::from(udp_len) + 6
            }),
            XDP_PASS,
            Stat::Pass,
        ),
        (
            "IPv6 payload length beyond the frame",
            with(true, &dns, |f| f.ip_length = Some(udp_len + 2)),
            XDP_DROP,
            Stat::DropLength,
        ),
        (
            "IPv6 payload length short of the frame",
            with(true, &dns, |f| {
                f.ip_length = Some(udp_len - 2);
                f.udp_length = Some(udp_len - 2);
            }),
            XDP_PASS,
            Stat::Pass,
        ),
        (
            "UDP length beyond the IPv4 payload",
            with(false, &dns, |f| f.udp_length = Some(udp_len + 1)),
            XDP_DROP,
            Stat::DropLength,
        ),
        (
            "UDP length short of the IPv4 payload",
            with(false, &dns, |f| f.udp_length = Some(udp_len - 1)),
            XDP_PASS,
            Stat::Pass,
        ),
        (
            "UDP length under the UDP header (IPv6)",
            with(true, &dns, |f| f.udp_length = Some(7)),
            XDP_DROP,
            Stat::DropLength,
        ),
        (
            "UDP length beyond the IPv6 payload",
            with(true, &dns, |f| f.udp_length = Some(udp_len + 4)),
            XDP_DROP,
            Stat::DropLength,
        ),
        (
            "UDP checksum wrong (IPv4)",
            with(false, &dns, |f| f.udp_checksum = Some(0x1234)),
            XDP_DROP,
            Stat::DropUdpChecksum,
        ),
        (
            "UDP checksum wrong (IPv6)",
            with(true, &dns, |f| f.udp_checksum = Some(0x1234)),
            XDP_DROP,
            Stat::DropUdpChecksum,
        ),
        (
            "UDP checksum zero (IPv6: none is not allowed)",
            with(true, &dns, |f| f.udp_checksum = Some(0)),
            XDP_DROP,
            Stat::DropUdpChecksum,
        ),
    ];
    check_rows(&p, rows);
}

#[test]
fn a_zero_udp_checksum_over_ipv4_is_none_and_the_answer_has_one() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    let frame = Frame::udp(false, www());
    let bytes = with(false, &frame.dns, |f| f.udp_checksum = Some(0));
    let hits = p.count(Stat::Hit);
    let (action, out) = run(&p.fast, &bytes);
    assert_eq!(action, XDP_TX, "a zero UDP checksum over IPv4 means none: answered");
    assert_eq!(p.count(Stat::Hit), hits + 1);
    // Both checksums of the answer are recomputed and compared there.
    let dns = check_response(&frame, &out);
    assert_eq!(dns, p.userspace(&frame.dns), "XDP's answer differs from userspace's");
}

#[test]
fn a_udp_checksum_left_to_offload_is_taken_on_the_senders_word() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    for v6 in [false, true] {
        let frame = Frame::udp(v6, www());
        let f = builder(v6);
        let octets = |a: IpAddr| match a {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        // What a sender with checksum offload writes (CHECKSUM_PARTIAL): the
        // pseudo-header's folded sum, not complemented; a veth peer's frames look so.
        let udp_len = (UDP_LEN + frame.dns.len()) as u64;
        let pseudo = checksum::sum(&octets(f.src)) + checksum::sum(&octets(f.dst)) + 17 + udp_len;
        let partial = checksum::fold(pseudo);
        let bytes = with(v6, &frame.dns, |f| f.udp_checksum = Some(partial));
        let (action, out) = run(&p.fast, &bytes);
        assert_eq!(
            action, XDP_TX,
            "IPv6: {v6}: a partial checksum is the sender's to vouch for"
        );
        let dns = check_response(&frame, &out);
        assert_eq!(dns, p.userspace(&frame.dns));
        // One off is wrong.
        let bytes = with(v6, &frame.dns, |f| f.udp_checksum = Some(partial.wrapping_add(1)));
        let drops = p.count(Stat::DropUdpChecksum);
        assert_eq!(
            run(&p.fast, &bytes).0,
            XDP_DROP,
            "IPv6: {v6}: neither partial nor right"
        );
        assert_eq!(p.count(Stat::DropUdpChecksum), drops + 1);
    }
}

#[test]
fn martian_sources_are_dropped() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    let dns = www();
    let from = |src: IpAddr| {
        let mut f = builder(src.is_ipv6());
        f.src = src;
        f.build(&dns)
    };
    let v4 = |a, b, c, d| IpAddr::from(Ipv4Addr::new(a, b, c, d));
    let v6 = |s: &str| IpAddr::from(s.parse::<Ipv6Addr>().expect("test address"));
    let martians = [
        ("our own IPv4 address", IpAddr::from(SERVER_V4)),
        ("IPv4 loopback", v4(127, 0, 0, 1)),
        ("IPv4 loopback, top of 127/8", v4(127, 255, 255, 254)),
        ("IPv4 unspecified", v4(0, 0, 0, 0)),
        ("IPv4 this network, 0/8", v4(0, 1, 2, 3)),
        ("IPv4 multicast", v4(224, 0, 0, 1)),
        ("IPv4 multicast, top of 224/4", v4(239, 255, 255, 255)),
        ("IPv4 limited broadcast", v4(255, 255, 255, 255)),
        ("our own IPv6 address", IpAddr::from(SERVER_V6)),
        ("IPv6 loopback", v6("::1")),
        ("IPv6 unspecified", v6("::")),
        ("IPv6 multicast", v6("ff02::1")),
        ("IPv6 multicast, global scope", v6("ff0e::53")),
        ("IPv4-mapped IPv6", v6("::ffff:198.18.0.2")),
        ("IPv4-mapped IPv6 loopback", v6("::ffff:127.0.0.1")),
    ];
    let rows: Vec<Row> = martians
        .into_iter()
        .map(|(what, src)| (what, from(src), XDP_DROP, Stat::DropMartian))
        .collect();
    check_rows(&p, rows);
    // Their neighbours are ordinary clients.
    for src in [
        v4(1, 0, 0, 0),
        v4(126, 255, 255, 255),
        v4(128, 0, 0, 1),
        v4(223, 255, 255, 255),
        v4(240, 0, 0, 1),
        v4(198, 18, 0, 3),
        v6("::2"),
        v6("::fffe:c612:2"),
        v6("fe80::1"),
        v6("2001:db8::1"),
    ] {
        let (action, out) = run(&p.fast, &from(src));
        assert_eq!(action, XDP_TX, "a query from {src} is answered");
        assert!(support::checksums_verify(&out), "the answer to {src}: checksums verify");
        assert_eq!(support::addresses(&out).1, src, "the answer goes back to {src}");
    }
}

#[test]
fn our_other_service_addresses_are_martian_sources_when_known() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    let other_v4: IpAddr = "203.0.113.53".parse().unwrap();
    let other_v6: IpAddr = "2001:db8:53::53".parse().unwrap();
    p.serve_only(&[other_v4, other_v6, IpAddr::from(SERVER_V4), IpAddr::from(SERVER_V6)])
        .expect("service addresses");
    let dns = www();
    let from = |src: IpAddr| {
        let mut f = builder(src.is_ipv6());
        f.src = src;
        f.build(&dns)
    };
    check_rows(
        &p,
        vec![
            (
                "from another IPv4 service address",
                from(other_v4),
                XDP_DROP,
                Stat::DropMartian,
            ),
            (
                "from another IPv6 service address",
                from(other_v6),
                XDP_DROP,
                Stat::DropMartian,
            ),
        ],
    );
    for v6 in [false, true] {
        let (action, out) = run(&p.fast, &builder(v6).build(&dns));
        assert_eq!(action, XDP_TX, "a client (IPv6: {v6}) is still answered");
        assert!(support::checksums_verify(&out));
    }
}

/// A root zone whose apex A answer fits a minimum-size frame.
const ROOT_ZONE: &str = "$ORIGIN .\n$TTL 60\n\
@ IN SOA a.example. b.example. 1 7200 3600 1209600 300\n\
@ IN NS a.example.\n\
@ IN A 192.0.2.53\n";

#[test]
fn ethernet_padding_is_not_part_of_the_answer() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    let origin = Name::parse(".", None).expect("root");
    let zone = load::from_str(&origin, ROOT_ZONE, Path::new("<root test zone>")).expect("root zone loads");
    let root = Catalog::new([Arc::new(zone)], 1000);
    {
        // Added to the live map beside example.com's answers.
        let mut maps = p.fast.maps.lock().unwrap();
        let live = maps.live().expect("live map");
        for (key, value) in sync::precompute(&root, &identity()) {
            live.insert(key, value.as_ref(), 0).expect("entry written");
        }
    }
    // ". A" without EDNS: 17 bytes, a 59-byte frame that Ethernet pads to 60.
    let frame = Frame::udp(false, query(".", 1, None, &[]));
    let unpadded = frame.bytes();
    assert_eq!(unpadded.len(), 59);
    for (what, pad_to) in [("no padding", 0), ("padded to 60", 60)] {
        let bytes = with(false, &frame.dns, |f| f.pad_to = pad_to);
        let hits = p.count(Stat::Hit);
        let (action, out) = run(&p.fast, &bytes);
        assert_eq!(action, XDP_TX, "{what}: answered");
        assert_eq!(p.count(Stat::Hit), hits + 1, "{what}: a hit");
        // Lengths and both checksums recomputed there: the padding is gone.
        let dns = check_response(&frame, &out);
        let stats = Stats::default();
        let mut expected = Vec::new();
        Responder {
            catalog: &root,
            identity: &identity(),
            stats: &stats,
            fast_path: &crate::fast_path::NoFastPath,
            secondaries: None,
        }
        .respond(&frame.dns, Transport::Udp, &mut expected)
        .expect("userspace answers");
        assert_eq!(dns, expected, "{what}: XDP's answer differs from userspace's");
    }
    // A padded frame whose total length exceeds what it carries is still cut off.
    let cut = with(false, &frame.dns, |f| {
        f.pad_to = 60;
        f.ip_length = Some(61 - ETH_LEN as u16);
    });
    assert_eq!(run(&p.fast, &cut).0, XDP_DROP, "total length beyond a padded frame");
    // And the same with IPv6, which no DNS query needs padded: exact lengths only.
    let v6 = with(true, &frame.dns, |f| {
        f.pad_to = ETH_LEN + IPV6_LEN + UDP_LEN + frame.dns.len() + 2
    });
    assert_eq!(run(&p.fast, &v6).0, XDP_PASS, "bytes after an IPv6 packet");
}

#[test]
fn frames_whose_checksums_fail_are_never_answered() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    for frame in [
        Frame::udp(false, www()),
        Frame {
            vlans: vec![7],
            ..Frame::udp(true, query("www.example.com", 28, None, &[]))
        },
    ] {
        let bytes = frame.bytes();
        let ip = support::ip_at(&bytes);
        assert_eq!(run(&p.fast, &bytes).0, XDP_TX, "the frame as built is answered");
        // Every byte after the EtherType flipped, checksums left as they were.
        for i in ip..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x5a;
            let udp = support::udp_at(&flipped);
            if !frame.v6 && flipped[udp + 6..udp + 8] == [0, 0] {
                // A flip that leaves no UDP checksum over IPv4: still a sound datagram.
                continue;
            }
            let (action, out) = run(&p.fast, &flipped);
            if action != XDP_TX {
                continue;
            }
            // Only what the kernel would take may be answered: fields no checksum
            // covers (IPv6 traffic class, flow label, hop limit).
            assert!(
                support::checksums_verify(&flipped),
                "byte {i} flipped: the checksums fail, yet XDP answered"
            );
            assert!(
                support::checksums_verify(&out),
                "byte {i} flipped: the answer's checksums"
            );
        }
    }
}
