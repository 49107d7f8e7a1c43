//! The packet-in/packet-out cases of the XDP program, as one table: each a
//! frame and what the program must do with it. The tests (`test_run.rs`)
//! check every case's action, counter and output; the `xdp_bench` example
//! includes this file too (`#[path]`) and times the cases marked `timed`,
//! as Katran's tests and benchmarks share their fixtures.
//!
//! The frames go to a program loaded as `fixture.rs` loads it. Only std
//! and `xdp_abi` are used here, so the file compiles in both places.

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

    /// The frame, every checksum right.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&SERVER_MAC);
        f.extend_from_slice(&CLIENT_MAC);
        for (i, tci) in self.vlans.iter().enumerate() {
            let tpid: u16 = if i == 0 && self.vlans.len() == 2 {
                0x88a8
            } else {
                0x8100
            };
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        let ether_type = self.ether_type.unwrap_or(if self.v6 { 0x86dd } else { 0x0800 });
        f.extend_from_slice(&ether_type.to_be_bytes());
        let mut l4 = Vec::new();
        l4.extend_from_slice(&self.src_port.to_be_bytes());
        l4.extend_from_slice(&self.dst_port.to_be_bytes());
        l4.extend_from_slice(&((8 + self.dns.len()) as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
        l4.extend_from_slice(&self.dns);
        if self.v6 {
            let check = udp_checksum(&CLIENT_V6, &SERVER_V6, &l4);
            l4[6..8].copy_from_slice(&check.to_be_bytes());
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            f.extend_from_slice(&[self.proto, 63]);
            f.extend_from_slice(&CLIENT_V6);
            f.extend_from_slice(&SERVER_V6);
        } else {
            let check = udp_checksum(&CLIENT_V4, &SERVER_V4, &l4);
            l4[6..8].copy_from_slice(&check.to_be_bytes());
            let ihl = if self.ip_options { 6 } else { 5 };
            let mut ip = vec![0x40 | ihl, 0];
            ip.extend_from_slice(&((ihl as usize * 4 + l4.len()) as u16).to_be_bytes());
            ip.extend_from_slice(&[0x12, 0x34]);
            ip.extend_from_slice(&(if self.more_fragments { 0x2000u16 } else { 0x4000 }).to_be_bytes());
            ip.extend_from_slice(&[63, self.proto, 0, 0]);
            ip.extend_from_slice(&CLIENT_V4);
            ip.extend_from_slice(&SERVER_V4);
            if self.ip_options {
                ip.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
            }
            let check = !ones_sum(&ip);
            ip[10..12].copy_from_slice(&check.to_be_bytes());
            f.extend_from_slice(&ip);
        }
        f.extend_from_slice(&l4);
        f
    }
}

/// RFC 1071 written out again, independent of `dns_wire::csum`.
pub(crate) fn ones_sum(bytes: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    for chunk in bytes.chunks(2) {
        let hi = u64::from(chunk[0]) << 8;
        let lo = chunk.get(1).map_or(0, |&b| u64::from(b));
        sum += hi | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The UDP checksum over the pseudo-header of `src` and `dst`.
pub(crate) fn udp_checksum(src: &[u8], dst: &[u8], l4: &[u8]) -> u16 {
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(src);
    pseudo.extend_from_slice(dst);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(l4);
    match !ones_sum(&pseudo) {
        0 => 0xffff,
        c => c,
    }
}

/// A query: `name` in presentation form kept as written (case included).
pub(crate) fn query(name: &str, qtype: u16, edns: Option<(u16, bool)>, options: &[u8]) -> Vec<u8> {
    let mut q = vec![0xab, 0xcd, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if let Some((payload, dnssec_ok)) = edns {
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&payload.to_be_bytes());
        q.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
        q.extend_from_slice(&(options.len() as u16).to_be_bytes());
        q.extend_from_slice(options);
    }
    q
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

/// Every case, answered ones first.
pub(crate) fn cases() -> Vec<Case> {
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
    let mut notify = www();
    notify[2] = 4 << 3;
    let cookie = [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    let nsid = [0, 3, 0, 0];
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
            "IPv4, cookie",
            udp4(query("www.example.com", 1, Some((1232, false)), &cookie)),
            Answer,
        ),
        case(
            "IPv4 options",
            Frame {
                ip_options: true,
                ..udp4(query("ns1.example.com", 1, None, &[]))
            },
            Answer,
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
        case(
            "NSID asked",
            udp4(query("www.example.com", 1, Some((1232, false)), &nsid)),
            Pass(Stat::Pass),
        ),
        case("NOTIFY", udp4(notify), Pass(Stat::Pass)),
        case(
            "too big for 512",
            udp4(query("big.example.com", 16, Some((512, false)), &[])),
            Pass(Stat::Pass),
        ),
        timed("a response", udp4(response), Drop(Stat::DropResponse)),
        case("QDCOUNT 0", udp6(no_question), Drop(Stat::DropQdcount)),
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
