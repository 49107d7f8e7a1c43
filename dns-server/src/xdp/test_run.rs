//! The loaded program fed crafted frames through `BPF_PROG_TEST_RUN`:
//! packet in, action and packet out, with every checksum recomputed here
//! independently and every XDP answer compared with userspace's.
//!
//! Needs root (CAP_BPF and CAP_NET_ADMIN) and fails saying so otherwise.

use std::{net::IpAddr, sync::Arc};

use test_support::checksum;
use xdp_abi::{Stat, XdpConfig};

use super::{
    FastPath,
    cases::{
        CLIENT_MAC, CLIENT_V4, CLIENT_V6, Expect, Frame, SERVER_MAC, SERVER_V4, SERVER_V6, XDP_DROP, XDP_PASS, XDP_TX,
        cases, query,
    },
    fixture::{self, Fixture},
    stats, sync,
};
use crate::{
    query::{Asker, Responder, Transport},
    stats::Stats,
};

// What the kernel's IP and UDP input would refuse (issue 11): its own rows.
mod hardening;
// DNS cookies judged and made by the program.
mod cookies;
// Zone versions with known changes rewriting only the answers they reach.
mod updates;

/// Runs the program once on `frame`: (action, frame after the program).
fn run(fast: &FastPath, frame: &[u8]) -> (u32, Vec<u8>) {
    let out = fast
        .test_run(frame, 1)
        .unwrap_or_else(|e| panic!("BPF_PROG_TEST_RUN failed on a {}-byte frame: {e}", frame.len()));
    (out.action, out.frame)
}

/// Ports 53 and 5300, our payload 1232 (as the fixture has them).
fn configure(fast: &FastPath) {
    fast.maps
        .lock()
        .unwrap()
        .set_config(XdpConfig {
            dns_port: 53,
            dns_port_alt: 5300,
            udp_limit: 1232,
            ..Default::default()
        })
        .expect("config written");
}

/// An IPv4 or IPv6 address from its octets.
fn address(octets: &[u8]) -> IpAddr {
    match <[u8; 4]>::try_from(octets) {
        Ok(v4) => IpAddr::from(v4),
        Err(_) => IpAddr::from(<[u8; 16]>::try_from(octets).expect("an IPv6 address")),
    }
}

fn assert_root() {
    assert_eq!(
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() },
        0,
        "the XDP tests load a BPF program: run them as root"
    );
}

/// The program as [`Fixture`] loads it, every zone response in its map.
fn load_program() -> Fixture {
    assert_root();
    let p = Fixture::load(None).expect("the XDP program loads and passes the verifier");
    assert_eq!(
        p.responses(),
        8 * 3 - 1,
        "every RRset × 3 EDNS variants, except the truncated big TXT without EDNS"
    );
    p
}

impl Fixture {
    fn counters(&self) -> Vec<(Stat, u64)> {
        stats::read(&self.fast.maps.lock().unwrap().stats).expect("counters")
    }

    fn count(&self, stat: Stat) -> u64 {
        self.counters()
            .into_iter()
            .find(|(s, _)| *s == stat)
            .map_or(0, |(_, v)| v)
    }

    /// Turns the rate limit on: `rate` queries a second per prefix, a burst
    /// of `burst`, every `slip`-th limited query slipping (0: none).
    fn limit_rate(&self, rate: u32, burst: u32, slip: u32) {
        let mut maps = self.fast.maps.lock().unwrap();
        let mut config = maps.config().expect("config");
        config.flags |= xdp_abi::CONFIG_RATE_LIMIT;
        config.rrl_rate = rate;
        config.rrl_burst = burst;
        config.rrl_slip = slip;
        maps.set_config(config).expect("config written");
    }

    /// What userspace answers to `dns`.
    fn userspace(&self, dns: &[u8]) -> Vec<u8> {
        self.userspace_as(dns, None)
    }

    /// What userspace answers to `dns` from `asker` (whose cookie it judges).
    fn userspace_as(&self, dns: &[u8], asker: Option<&Asker<'_>>) -> Vec<u8> {
        let stats = Stats::default();
        let mut out = Vec::new();
        let id = fixture::identity();
        Responder {
            catalog: &self.catalog,
            identity: &id,
            stats: &stats,
            fast_path: &crate::fast_path::NoFastPath,
            secondaries: None,
        }
        .respond_to(dns, Transport::Udp, asker, || false, &mut out)
        .expect("userspace answers");
        out
    }

    /// What userspace answers to the query in `frame`, asked by the frame's
    /// client with the fixture's cookie secrets at the time `answer` (XDP's
    /// answer to it) dated its server cookie, if it carries one.
    fn userspace_from(&self, frame: &Frame, answer: &[u8]) -> Vec<u8> {
        let secrets = fixture::cookie_secrets();
        let asker = Asker {
            addr: if frame.v6 {
                IpAddr::from(CLIENT_V6)
            } else {
                IpAddr::from(CLIENT_V4)
            },
            secrets: &secrets,
            now: Some(cookie_date(answer).unwrap_or(0)),
        };
        self.userspace_as(&frame.dns, Some(&asker))
    }

    /// What the resolver's userspace path writes for `dns` from the fixture's resolution.
    fn resolver_userspace(&self, dns: &[u8], resolution: &crate::resolver::Resolution) -> Vec<u8> {
        let q = dns_wire::query::parse(dns).expect("a query");
        let mut out = Vec::new();
        crate::query::Pending::new(&q, 1232).write(&mut out, resolution, &fixture::identity());
        out
    }
}

/// The date of the server cookie that ends `answer`, if its last bytes
/// are a COOKIE option of ours (code 10, 24 bytes of data).
fn cookie_date(answer: &[u8]) -> Option<u32> {
    let option = answer.get(answer.len().checked_sub(28)?..)?;
    (option[..4] == [0, 10, 0, 24]).then(|| u32::from_be_bytes([option[16], option[17], option[18], option[19]]))
}

/// Checks a response frame against the query frame: every header field,
/// both checksums; returns the DNS payload.
fn check_response(input: &Frame, out: &[u8]) -> Vec<u8> {
    assert_eq!(&out[0..6], &CLIENT_MAC, "destination MAC is the client's");
    assert_eq!(&out[6..12], &SERVER_MAC, "source MAC is ours");
    let mut at = 12 + 4 * input.vlans.len();
    assert_eq!(&out[12..at], &input.bytes()[12..at], "VLAN tags are kept");
    at += 2;
    let (l4, src, dst): (usize, Vec<u8>, Vec<u8>) = if input.v6 {
        let ip = &out[at..at + 40];
        assert_eq!(&ip[8..24], &SERVER_V6);
        assert_eq!(&ip[24..40], &CLIENT_V6);
        assert_eq!(ip[7], 64, "hop limit");
        let payload = u16::from_be_bytes([ip[4], ip[5]]) as usize;
        assert_eq!(payload, out.len() - at - 40, "IPv6 payload length");
        (at + 40, ip[8..24].to_vec(), ip[24..40].to_vec())
    } else {
        let ihl = (out[at] & 0x0f) as usize * 4;
        let ip = &out[at..at + ihl];
        assert_eq!(&ip[12..16], &SERVER_V4);
        assert_eq!(&ip[16..20], &CLIENT_V4);
        assert_eq!(ip[8], 64, "TTL");
        assert_eq!(
            u16::from_be_bytes([ip[2], ip[3]]) as usize,
            out.len() - at,
            "IPv4 total length"
        );
        assert_eq!(checksum::ones_sum(ip), 0xffff, "IPv4 header checksum");
        (at + ihl, ip[12..16].to_vec(), ip[16..20].to_vec())
    };
    let udp = &out[l4..];
    assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), input.dst_port, "source port");
    assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), input.src_port, "destination port");
    assert_eq!(u16::from_be_bytes([udp[4], udp[5]]) as usize, udp.len(), "UDP length");
    let mut zeroed = udp.to_vec();
    zeroed[6..8].fill(0);
    assert_eq!(
        u16::from_be_bytes([udp[6], udp[7]]),
        checksum::udp(address(&src), address(&dst), &zeroed),
        "UDP checksum"
    );
    udp[8..].to_vec()
}

#[test]
fn answers_from_the_map_equal_userspace_answers() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    let (_, resolution) = fixture::resolution().expect("the fixture's resolution");
    let answered = cases(&fixture::COOKIE_SECRET)
        .into_iter()
        .filter(|c| matches!(c.expect, Expect::Answer | Expect::ResolverAnswer));
    for case in answered {
        let what = case.what;
        let (stat, expected) = match case.expect {
            Expect::ResolverAnswer => (Stat::RecursiveHit, p.resolver_userspace(&case.frame.dns, &resolution)),
            _ => (Stat::Hit, Vec::new()),
        };
        let hits = p.count(stat);
        let (action, out) = run(&p.fast, &case.frame.bytes());
        assert_eq!(action, XDP_TX, "{what}: expected XDP_TX");
        assert_eq!(p.count(stat), hits + 1, "{what}: counted as {stat:?}");
        let dns = check_response(&case.frame, &out);
        let expected = match case.expect {
            Expect::ResolverAnswer => expected,
            // From the frame's client, at the second XDP dated its cookie.
            _ => p.userspace_from(&case.frame, &dns),
        };
        assert_eq!(dns, expected, "{what}: XDP's answer differs from userspace's");
    }
}

#[test]
fn what_is_passed_or_dropped() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    for case in cases(&fixture::COOKIE_SECRET) {
        let (what, bytes) = (case.what, case.frame.bytes());
        let stat = match case.expect {
            Expect::Answer | Expect::ResolverAnswer => continue,
            Expect::Pass(stat) | Expect::Drop(stat) => Some(stat),
            // Not DNS for us: passed without touching a counter.
            Expect::NotOurs => None,
        };
        let expected = case.expect.action();
        let before = p.counters();
        let (action, out) = run(&p.fast, &bytes);
        assert_eq!(action, expected, "{what}: expected action {expected}");
        match stat {
            Some(stat) => {
                let was = before.iter().find(|(s, _)| *s == stat).map_or(0, |(_, v)| *v);
                assert_eq!(p.count(stat), was + 1, "{what}: counted as {stat:?}");
            }
            None => assert_eq!(p.counters(), before, "{what}: no counter moves"),
        }
        if action == XDP_PASS {
            assert_eq!(out, bytes, "{what}: a passed frame is untouched");
        }
    }
}

#[test]
fn the_bench_times_every_kind_of_case() {
    // No program needed: this checks the table the xdp_bench example times.
    let timed: Vec<_> = cases(&fixture::COOKIE_SECRET).into_iter().filter(|c| c.timed).collect();
    type Kind = (&'static str, fn(Expect) -> bool);
    let kinds: [Kind; 5] = [
        ("a zone answer", |e| matches!(e, Expect::Answer)),
        ("a resolver answer", |e| matches!(e, Expect::ResolverAnswer)),
        ("a miss", |e| matches!(e, Expect::Pass(Stat::Miss))),
        ("a drop", |e| matches!(e, Expect::Drop(_))),
        ("not ours", |e| matches!(e, Expect::NotOurs)),
    ];
    for (what, is) in kinds {
        assert!(
            timed.iter().any(|c| is(c.expect)),
            "the bench must time {what}: mark one such case `timed`"
        );
    }
}

#[test]
fn truncated_and_corrupted_frames_are_never_answered_wrongly() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    for frame in [
        Frame::udp(false, query("www.example.com", 1, Some((1232, true)), &[])),
        Frame {
            vlans: vec![7],
            ..Frame::udp(true, query("www.example.com", 28, None, &[]))
        },
    ] {
        let bytes = frame.bytes();
        // The kernel refuses frames shorter than an Ethernet header.
        for cut in 14..bytes.len() {
            let (action, _) = run(&p.fast, &bytes[..cut]);
            assert_ne!(
                action,
                XDP_TX,
                "a frame cut at {cut} of {} bytes must not be answered",
                bytes.len()
            );
        }
        // Every byte of the DNS message flipped: never a wrong answer.
        let dns_at = bytes.len() - frame.dns.len();
        for i in 0..frame.dns.len() {
            let mut dns = frame.dns.clone();
            dns[i] ^= 0x5a;
            let corrupted = Frame {
                dns: dns.clone(),
                ..frame.clone()
            };
            let (action, out) = run(&p.fast, &corrupted.bytes());
            if action == XDP_TX {
                let answer = check_response(&corrupted, &out);
                assert_eq!(
                    answer,
                    p.userspace(&dns),
                    "byte {} flipped: XDP's answer differs from userspace's",
                    dns_at + i
                );
            }
        }
    }
}

#[test]
fn deny_list_drops_and_lifts_at_run_time() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    let v4 = Frame::udp(false, query("www.example.com", 1, None, &[])).bytes();
    let v6 = Frame::udp(true, query("www.example.com", 1, None, &[])).bytes();
    let deny = |addr: &str, len: u32, on: bool| {
        let mut maps = p.fast.maps.lock().unwrap();
        let addr = addr.parse().expect("test address");
        if on {
            maps.deny(addr, len)
        } else {
            maps.allow(addr, len)
        }
        .expect("deny list updated");
    };
    type Step<'a> = (&'a str, Box<dyn Fn() + 'a>, u32, u32);
    let steps: Vec<Step<'_>> = vec![
        ("nothing denied", Box::new(|| {}), XDP_TX, XDP_TX),
        (
            "another host denied",
            Box::new(|| deny("198.18.0.3", 32, true)),
            XDP_TX,
            XDP_TX,
        ),
        (
            "198.18.0.0/24 denied",
            Box::new(|| deny("198.18.0.0", 24, true)),
            XDP_DROP,
            XDP_TX,
        ),
        (
            "fd00::/64 denied too",
            Box::new(|| deny("fd00::", 64, true)),
            XDP_DROP,
            XDP_DROP,
        ),
        (
            "198.18.0.0/24 lifted",
            Box::new(|| deny("198.18.0.0", 24, false)),
            XDP_TX,
            XDP_DROP,
        ),
        (
            "fd00::/64 lifted",
            Box::new(|| deny("fd00::", 64, false)),
            XDP_TX,
            XDP_TX,
        ),
    ];
    for (what, change, want_v4, want_v6) in steps {
        change();
        let denied = p.count(Stat::DropDenied);
        assert_eq!(run(&p.fast, &v4).0, want_v4, "{what}: IPv4 client");
        assert_eq!(run(&p.fast, &v6).0, want_v6, "{what}: IPv6 client");
        let drops = u64::from(want_v4 == XDP_DROP) + u64::from(want_v6 == XDP_DROP);
        assert_eq!(p.count(Stat::DropDenied), denied + drops, "{what}: counted as denied");
    }
}

#[test]
fn rate_limit_drops_and_slips_per_prefix() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    // One query a second with a burst of two; every second limited query slips.
    p.limit_rate(1, 2, 2);
    let frame = Frame::udp(false, query("WWW.example.com", 1, Some((1232, true)), &[]));
    // The test runs in far less than a second: no token comes back meanwhile.
    let expected = [XDP_TX, XDP_TX, XDP_DROP, XDP_TX, XDP_DROP, XDP_TX];
    for (i, want) in expected.into_iter().enumerate() {
        let (action, out) = run(&p.fast, &frame.bytes());
        assert_eq!(action, want, "query {i} of the burst");
        if i >= 2 && action == XDP_TX {
            // A slip: the question alone, TC=1, no OPT, checksums right.
            let dns = check_response(
                &Frame {
                    dns: frame.dns[..frame.dns.len() - 11].to_vec(),
                    ..frame.clone()
                },
                &out,
            );
            let flags = u16::from_be_bytes([dns[2], dns[3]]);
            assert_eq!(flags & 0x8200, 0x8200, "QR and TC set on a slip");
            assert_eq!(flags & 0x0110, 0x0110, "RD and CD copied from the query");
            assert_eq!(&dns[4..12], &[0, 1, 0, 0, 0, 0, 0, 0], "only the question");
            assert_eq!(&dns[12..], &frame.dns[12..frame.dns.len() - 11], "the question as sent");
        }
    }
    assert_eq!(p.count(Stat::RateLimited), 2);
    assert_eq!(p.count(Stat::Slip), 2);
    assert_eq!(p.count(Stat::Hit), 2);
    // Another prefix has its own bucket.
    let v6 = Frame::udp(true, query("www.example.com", 1, None, &[]));
    assert_eq!(
        run(&p.fast, &v6.bytes()).0,
        XDP_TX,
        "an IPv6 /56 is not limited by the IPv4 /24's bucket"
    );
}

#[test]
fn service_addresses_limit_what_is_ours() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    p.serve_only(&["203.0.113.53".parse().unwrap()])
        .expect("service address");
    let v4 = Frame::udp(false, query("www.example.com", 1, None, &[])).bytes();
    let v6 = Frame::udp(true, query("www.example.com", 1, None, &[])).bytes();
    for (what, frame) in [("IPv4", &v4), ("IPv6", &v6)] {
        let before = p.counters();
        let (action, out) = run(&p.fast, frame);
        assert_eq!(action, XDP_PASS, "{what}: not to a service address, so not ours");
        assert_eq!(&out, frame, "{what}: untouched");
        assert_eq!(p.counters(), before, "{what}: no counter moves");
    }
    p.serve_only(&[IpAddr::V4(SERVER_V4.into()), IpAddr::V6(SERVER_V6.into())])
        .expect("service addresses");
    assert_eq!(run(&p.fast, &v4).0, XDP_TX, "IPv4 to a service address");
    assert_eq!(run(&p.fast, &v6).0, XDP_TX, "IPv6 to a service address");
}

#[test]
fn resolver_entries_only_for_allowed_clients_with_rd_until_their_deadline() {
    test_support::require_root!("loading the XDP program");
    use dns_wire::wire::class;
    use xdp_abi::CONFIG_RECURSION;

    use crate::{
        name::Name,
        query::Pending,
        resolver::{Resolution, cache::CachedRecord},
        xdp::feed,
    };

    let p = load_program();
    let name = Name::parse("www.resolved.test.", None).expect("name");
    let resolution = Resolution {
        answer: vec![(
            CachedRecord {
                owner: name.clone(),
                rtype: 1,
                class: 1,
                rdata: vec![192, 0, 2, 99],
            },
            298,
        )],
        ..Resolution::default()
    };
    let put = |expires_ns: u64| {
        let value = feed::value(&name, 1, None, &resolution, &fixture::identity(), expires_ns).expect("it fits");
        let key = sync::key(name.as_wire(), 1, class::IN, 0);
        let mut maps = p.fast.maps.lock().unwrap();
        maps.live()
            .expect("live map")
            .insert(key, value.as_ref(), 0)
            .expect("entry written");
    };
    let set_recursion = |on: bool| {
        let mut maps = p.fast.maps.lock().unwrap();
        let mut config = maps.config().expect("config");
        config.flags = if on {
            config.flags | CONFIG_RECURSION
        } else {
            config.flags & !CONFIG_RECURSION
        };
        maps.set_config(config).expect("config written");
    };
    let now = feed::monotonic_ns();
    put(now + 60_000_000_000);
    set_recursion(true);
    p.fast
        .maps
        .lock()
        .unwrap()
        .allow_recursion(IpAddr::V4(CLIENT_V4.into()), 32)
        .expect("allowed");

    // What userspace writes for the same query and resolution.
    let userspace = |dns: &[u8]| {
        let q = dns_wire::query::parse(dns).expect("a query");
        let mut out = Vec::new();
        Pending::new(&q, 1232).write(&mut out, &resolution, &fixture::identity());
        out
    };
    let asked = Frame::udp(false, query("WWW.Resolved.TEST", 1, None, &[]));
    let hits = p.count(Stat::RecursiveHit);
    let (action, out) = run(&p.fast, &asked.bytes());
    assert_eq!(action, XDP_TX, "an allowed client with RD gets the resolver's entry");
    assert_eq!(p.count(Stat::RecursiveHit), hits + 1, "counted as a resolver hit");
    let dns = check_response(&asked, &out);
    assert_eq!(dns, userspace(&asked.dns), "XDP's answer differs from userspace's");
    assert_ne!(dns[3] & 0x80, 0, "RA set");
    assert_eq!(dns[2] & 0x04, 0, "not authoritative");

    let mut no_rd = asked.clone();
    no_rd.dns[2] &= !0x01;
    let v6 = Frame::udp(true, query("www.resolved.test", 1, None, &[]));
    let edns = Frame::udp(false, query("www.resolved.test", 1, Some((1232, false)), &[]));
    for (what, frame) in [
        ("RD=0 (userspace refuses it)", &no_rd),
        ("a client outside the allow lists", &v6),
        ("another EDNS variant, not in the map", &edns),
    ] {
        let misses = p.count(Stat::Miss);
        assert_eq!(run(&p.fast, &frame.bytes()).0, XDP_PASS, "{what}: passed to userspace");
        assert_eq!(p.count(Stat::Miss), misses + 1, "{what}: counted as a miss");
    }
    set_recursion(false);
    assert_eq!(
        run(&p.fast, &asked.bytes()).0,
        XDP_PASS,
        "recursion off: the entries are not used"
    );
    set_recursion(true);
    // The program's coarse clock may lag by a tick; userspace writes deadlines that much early.
    put(feed::monotonic_ns() - feed::PROGRAM_CLOCK_LAG_NS);
    assert_eq!(
        run(&p.fast, &asked.bytes()).0,
        XDP_PASS,
        "past its deadline the entry is not used"
    );
    put(feed::monotonic_ns() + 60_000_000_000);
    assert_eq!(run(&p.fast, &asked.bytes()).0, XDP_TX, "rewritten, it answers again");
}

/// Collects the program's log records.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<String>>>);

impl log::Log for Captured {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }

    fn flush(&self) {}
}

#[test]
fn the_programs_log_is_off_unless_asked_for_and_then_says_why() {
    test_support::require_root!("loading the XDP program");
    use crate::{config::ProgramLogLevel, xdp::loader::ProgramLog};

    assert_root();
    let captured = Captured::default();
    let log = ProgramLog {
        level: ProgramLogLevel::Debug,
        sink: Box::new(captured.clone()),
    };
    let mut fast = FastPath::load_with_log(16, None, log).expect("the program loads with debug logging");
    configure(&fast);
    let mut response = query("www.example.com", 1, None, &[]);
    response[2] |= 0x80;
    assert_eq!(run(&fast, &Frame::udp(false, response).bytes()).0, XDP_DROP);
    // A miss passes; its record is at trace level, above the one asked for.
    assert_eq!(
        run(
            &fast,
            &Frame::udp(false, query("www.example.com", 1, None, &[])).bytes()
        )
        .0,
        XDP_PASS
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while captured.0.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let records = captured.0.lock().unwrap().clone();
    assert_eq!(
        records,
        ["DEBUG dropped: drop_response"],
        "one drop logged, nothing at trace level"
    );

    // Off (the default): the statements are gone before verification.
    let translated = |fast: &mut FastPath| {
        fast.program_info()
            .expect("info")
            .size_translated()
            .expect("the kernel reports the program's size")
    };
    let quiet = translated(&mut FastPath::load(16, None).expect("loads"));
    let loud = translated(&mut fast);
    assert!(
        quiet < loud,
        "logging off must leave a smaller program ({quiet} vs {loud} translated bytes)"
    );
}
