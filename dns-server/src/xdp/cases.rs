//! The packet-in/packet-out cases of the XDP program, as one table: each a
//! frame and what the program must do with it. The tests (`test_run.rs`)
//! check every case's action, counter and output; the `xdp_bench` example
//! includes this file too (`#[path]`) and times the cases marked `timed`,
//! as Katran's tests and benchmarks share their fixtures.
//!
//! The frames go to a program loaded as `fixture.rs` loads it. Frames and
//! queries come from test-support (a dev-dependency, which the tests and
//! the example both have), whose checksums are its own, not the program's.

use std::net::IpAddr;

use test_support::{Query, frame as support};
use xdp_abi::Stat;

/// `XDP_DROP`, `XDP_PASS`, `XDP_TX` from `enum xdp_action`.
pub(crate) const XDP_DROP: u32 = 1;
/// See [`XDP_DROP`].
pub(crate) const XDP_PASS: u32 = 2;
/// See [`XDP_DROP`].
pub(crate) const XDP_TX: u32 = 3;

pub(crate) const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub(crate) const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub(crate) const SERVER_V4: [u8; 4] = [198, 18, 0, 1];
pub(crate) const CLIENT_V4: [u8; 4] = [198, 18, 0, 2];
pub(crate) const SERVER_V6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
pub(crate) const CLIENT_V6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// An Ethernet frame to our port 53 from a client, built field by field.
#[derive(Clone)]
pub(crate) struct Frame {
    pub(crate) vlans: Vec<u16>,
    pub(crate) v6: bool,
    /// Replaces the EtherType that `v6` implies (the rest stays IP).
    pub(crate) ether_type: Option<u16>,
    pub(crate) ip_options: bool,
    pub(crate) more_fragments: bool,
    pub(crate) proto: u8,
    pub(crate) src_port: u16,
    pub(crate) dst_port: u16,
    pub(crate) dns: Vec<u8>,
}

impl Frame {
    /// A UDP datagram carrying `dns` from port 40000 to 53.
    pub(crate) fn udp(v6: bool, dns: Vec<u8>) -> Frame {
        Frame {
            vlans: vec![],
            v6,
            ether_type: None,
            ip_options: false,
            more_fragments: false,
            proto: 17,
            src_port: 40000,
            dst_port: 53,
            dns,
        }
    }

    /// The frame, built by test-support with its own checksums.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let (client, server) = if self.v6 {
            (IpAddr::from(CLIENT_V6), IpAddr::from(SERVER_V6))
        } else {
            (IpAddr::from(CLIENT_V4), IpAddr::from(SERVER_V4))
        };
        let mut frame = support::Frame {
            src_mac: CLIENT_MAC,
            dst_mac: SERVER_MAC,
            vlans: self.vlans.clone(),
            ip_id: if self.v6 { 0 } else { 0x1234 },
            ttl: 63,
            protocol: self.proto,
            ip_options: if self.ip_options {
                vec![1, 1, 1, 0] // NOP NOP NOP EOL
            } else {
                vec![]
            },
            more_fragments: self.more_fragments,
            ..support::Frame::udp((client, self.src_port), (server, self.dst_port))
        }
        .build(&self.dns);
        if let Some(ether_type) = self.ether_type {
            let at = 12 + 4 * self.vlans.len();
            frame[at..at + 2].copy_from_slice(&ether_type.to_be_bytes());
        }
        frame
    }
}

/// A query with ID 0xabcd, RD and CD: `name` in presentation form kept as
/// written (case included); `options` are the OPT record's raw RDATA.
pub(crate) fn query(name: &str, qtype: u16, edns: Option<(u16, bool)>, options: &[u8]) -> Vec<u8> {
    let mut q = Query::new(name, qtype).id(0xabcd).flags(0x0110);
    if let Some((payload, dnssec_ok)) = edns {
        q = q.edns(payload).raw_options(options);
        if dnssec_ok {
            q = q.dnssec_ok();
        }
    }
    q.to_wire()
}

/// What the program must do with a case's frame.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Expect {
    /// `XDP_TX`, counted as a hit, with the answer userspace gives from the fixture's zone.
    Answer,
    /// `XDP_TX` from the fixture's resolver entry, counted as a resolver hit.
    ResolverAnswer,
    /// `XDP_PASS` with the frame untouched, counted as this.
    Pass(Stat),
    /// `XDP_DROP`, counted as this.
    Drop(Stat),
    /// Not DNS for us: `XDP_PASS`, the frame untouched, no counter moved.
    NotOurs,
}

impl Expect {
    /// The action expected.
    pub(crate) fn action(self) -> u32 {
        match self {
            Expect::Answer | Expect::ResolverAnswer => XDP_TX,
            Expect::Pass(_) | Expect::NotOurs => XDP_PASS,
            Expect::Drop(_) => XDP_DROP,
        }
    }
}

/// One frame and what must happen to it.
pub(crate) struct Case {
    /// What the case is, in test failures and the bench's table.
    pub(crate) what: &'static str,
    /// The frame.
    pub(crate) frame: Frame,
    /// What the program must do.
    pub(crate) expect: Expect,
    /// The bench times it: one of each path (hits of each kind, a miss,
    /// the cheapest drops, not ours).
    pub(crate) timed: bool,
}

fn case(what: &'static str, frame: Frame, expect: Expect) -> Case {
    Case {
        what,
        frame,
        expect,
        timed: false,
    }
}

fn timed(what: &'static str, frame: Frame, expect: Expect) -> Case {
    Case {
        timed: true,
        ..case(what, frame, expect)
    }
}

/// A COOKIE option (RDATA of the OPT record) carrying `client` and, when
/// given, a server cookie.
pub(crate) fn cookie_option(client: [u8; 8], server: Option<[u8; 16]>) -> Vec<u8> {
    let len = 8 + server.map_or(0, |s| s.len());
    let mut option = vec![0, 10, 0, len as u8];
    option.extend_from_slice(&client);
    option.extend_from_slice(server.as_ref().map_or(&[][..], |s| &s[..]));
    option
}

/// A server cookie for a client at `addr` under `secret`, made just now.
pub(crate) fn server_cookie_now(secret: &[u8; 16], client: [u8; 8], addr: IpAddr) -> [u8; 16] {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);
    let addr = match addr {
        IpAddr::V4(a) => dns_wire::cookie::ClientAddr::V4(a.octets()),
        IpAddr::V6(a) => dns_wire::cookie::ClientAddr::V6(a.octets()),
    };
    dns_wire::cookie::server_cookie(secret, &client, now, &addr)
}

/// Every case, answered ones first; the program makes DNS cookies with
/// `cookie_secret` (the fixture's).
pub(crate) fn cases(cookie_secret: &[u8; 16]) -> Vec<Case> {
    use Expect::*;
    let udp4 = |dns| Frame::udp(false, dns);
    let udp6 = |dns| Frame::udp(true, dns);
    let tagged = |vlans: Vec<u16>, mut f: Frame| {
        f.vlans = vlans;
        f
    };
    let www = || query("www.example.com", 1, None, &[]);
    let mut response = www();
    response[2] |= 0x80;
    let mut no_question = www();
    no_question[5] = 0;
    let mut two_questions = www();
    two_questions[5] = 2;
    let mut notify = www();
    notify[2] = 4 << 3;
    let client_cookie = [1, 2, 3, 4, 5, 6, 7, 8];
    let cookie = cookie_option(client_cookie, None);
    let ours = server_cookie_now(cookie_secret, client_cookie, IpAddr::from(CLIENT_V4));
    let with_ours = cookie_option(client_cookie, Some(ours));
    let strangers = cookie_option(client_cookie, Some([1, 0, 0, 0, 9, 9, 9, 9, 7, 7, 7, 7, 7, 7, 7, 7]));
    let nsid = [0, 3, 0, 0];
    let expire = [0, 9, 0, 0];
    vec![
        timed(
            "IPv4, apex A, no EDNS",
            udp4(query("example.com", 1, None, &[])),
            Answer,
        ),
        timed(
            "IPv4, www A, EDNS",
            udp4(query("www.example.com", 1, Some((1232, false)), &[])),
            Answer,
        ),
        timed(
            "IPv6, www AAAA, EDNS",
            udp6(query("www.example.com", 28, Some((1232, false)), &[])),
            Answer,
        ),
        case("IPv4, no EDNS", udp4(query("www.example.com", 1, None, &[])), Answer),
        case("IPv4, mixed case", udp4(query("wWw.ExAmPlE.cOm", 1, None, &[])), Answer),
        case(
            "IPv4, EDNS",
            udp4(query("www.example.com", 28, Some((1232, false)), &[])),
            Answer,
        ),
        case(
            "IPv4, EDNS DO, 4096",
            udp4(query("WWW.example.com", 28, Some((4096, true)), &[])),
            Answer,
        ),
        case(
            "IPv4 options",
            Frame {
                ip_options: true,
                ..udp4(query("ns1.example.com", 1, None, &[]))
            },
            Pass(Stat::PassIpOptions),
        ),
        case(
            "IPv4, port 5300",
            Frame {
                dst_port: 5300,
                ..udp4(query("www.example.com", 1, None, &[]))
            },
            Answer,
        ),
        case(
            "IPv4, odd name length",
            udp4(query("ftp.example.com", 5, None, &[])),
            Answer,
        ),
        case(
            "IPv4, SOA at the apex",
            udp4(query("EXAMPLE.COM", 6, Some((1232, true)), &[])),
            Answer,
        ),
        case("IPv6, no EDNS", udp6(query("www.example.com", 28, None, &[])), Answer),
        case(
            "IPv6, EDNS",
            udp6(query("Www.Example.Com", 1, Some((1400, false)), &[])),
            Answer,
        ),
        case(
            "IPv6, big TXT",
            udp6(query("big.example.com", 16, Some((1232, false)), &[])),
            Answer,
        ),
        case("802.1Q", tagged(vec![100], udp4(www())), Answer),
        case(
            "802.1ad + 802.1Q",
            tagged(
                vec![200, 100],
                udp6(query("www.example.com", 1, Some((1232, true)), &[])),
            ),
            Answer,
        ),
        // The fixture's RESOLVED_NAME, from a client allowed to recurse, RD set.
        timed(
            "IPv4, resolver's entry",
            udp4(query("www.resolved.test", 1, None, &[])),
            ResolverAnswer,
        ),
        timed(
            "not in the map",
            udp4(query("nope.example.com", 1, None, &[])),
            Pass(Stat::Miss),
        ),
        case(
            "type not in the map",
            udp6(query("www.example.com", 15, None, &[])),
            Pass(Stat::Miss),
        ),
        // DNS cookies: the program adds its server cookie to the answer.
        timed(
            "IPv4, EDNS, client cookie",
            udp4(query("www.example.com", 1, Some((1232, false)), &cookie)),
            Answer,
        ),
        timed(
            "IPv4, EDNS, our server cookie",
            udp4(query("www.example.com", 1, Some((1232, false)), &with_ours)),
            Answer,
        ),
        case(
            "IPv4, EDNS, a stranger's server cookie",
            udp4(query("www.example.com", 1, Some((1232, false)), &strangers)),
            Answer,
        ),
        case(
            "IPv6, EDNS DO, client cookie",
            udp6(query("www.example.com", 28, Some((1232, true)), &cookie)),
            Answer,
        ),
        case(
            "malformed cookie",
            udp4(query("www.example.com", 1, Some((1232, false)), &cookie[..10])),
            Pass(Stat::Pass),
        ),
        case(
            "NSID asked",
            udp4(query("www.example.com", 1, Some((1232, false)), &nsid)),
            Pass(Stat::Pass),
        ),
        case(
            "apex SOA, EDNS",
            udp4(query("example.com", 6, Some((1232, false)), &[])),
            Answer,
        ),
        // RFC 7314: the map's SOA answer has no EXPIRE, and the value counts down.
        case(
            "apex SOA, EXPIRE asked",
            udp4(query("example.com", 6, Some((1232, false)), &expire)),
            Pass(Stat::Pass),
        ),
        case("NOTIFY", udp4(notify), Pass(Stat::Pass)),
        case(
            "too big for 512",
            udp4(query("big.example.com", 16, Some((512, false)), &[])),
            Pass(Stat::Pass),
        ),
        timed("a response", udp4(response), Drop(Stat::DropResponse)),
        // A cookie query (RFC 7873 5.4) or another opcode's message: userspace's.
        case("QDCOUNT 0", udp6(no_question), Pass(Stat::Pass)),
        case("QDCOUNT 2", udp6(two_questions), Drop(Stat::DropQdcount)),
        case("11 bytes", udp4(www()[..11].to_vec()), Drop(Stat::DropTooShort)),
        case("empty", udp6(vec![]), Drop(Stat::DropTooShort)),
        timed(
            "from NTP",
            Frame {
                src_port: 123,
                ..udp4(www())
            },
            Drop(Stat::DropReflectionPort),
        ),
        case(
            "from memcached",
            Frame {
                src_port: 11211,
                ..udp6(www())
            },
            Drop(Stat::DropReflectionPort),
        ),
        case(
            "first fragment",
            Frame {
                more_fragments: true,
                ..udp4(www())
            },
            Drop(Stat::DropFragment),
        ),
        timed(
            "TCP to 53",
            Frame {
                proto: 6,
                ..udp4(www())
            },
            NotOurs,
        ),
        case(
            "UDP to 22",
            Frame {
                dst_port: 22,
                ..udp4(www())
            },
            NotOurs,
        ),
        case(
            "UDP/IPv6 to 123",
            Frame {
                dst_port: 123,
                ..udp6(www())
            },
            NotOurs,
        ),
        case(
            "ARP",
            Frame {
                ether_type: Some(0x0806),
                ..udp4(www())
            },
            NotOurs,
        ),
    ]
}
