//! Junk aimed at the server's DNS port, the kind an XDP filter should drop:
//! DNS responses (QR=1) from random ports, traffic from reflection source
//! ports, and datagrams too short for a DNS header, from many source
//! addresses in the rig's client prefixes, over IPv4 and IPv6 in turn.
//! test-support's `frame` builds the frames and [`flood`] sends them at full
//! rate from the client namespace.
pub mod flood;

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use test_support::{Query, frame::Frame};

/// What a junk frame is, and which of the XDP program's counters should count its drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A DNS response (QR=1) from a random high port: `drop_response`.
    Response,
    /// From a well-known reflection source port: `drop_reflection_port`.
    Reflection(u16),
    /// A payload shorter than a DNS header (12 bytes): `drop_too_short`.
    TooShort,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Response => f.write_str("DNS responses (QR=1) from random ports"),
            Kind::Reflection(port) => write!(f, "from source port {port}"),
            Kind::TooShort => f.write_str("shorter than a DNS header"),
        }
    }
}

/// NTP (mode 7 `monlist` replies: 440 bytes of data after an 8-byte header)
/// and memcached (`VALUE` replies, as large as a frame allows): the two
/// reflection sources of the largest amplification attacks.
pub const REFLECTION_PORTS: [u16; 2] = [123, 11211];

/// In every [`CYCLE`] frames: this many responses, reflections, too-short ones.
const RESPONSES: usize = 8;
const REFLECTIONS: usize = 4;
const CYCLE: usize = 16;

/// Source addresses: the last byte of an address in the client prefix
/// 198.18.0.0/24 without the network, the server (.1), the client (.2) and
/// broadcast; the same in fd00:b0::/64 (::3 to ::fe).
const SOURCES: std::ops::RangeInclusive<u8> = 3..=254;

/// Whether frame `index` is IPv6: every other [`CYCLE`], so each family
/// gets every kind in the same shares.
pub fn is_v6(index: usize) -> bool {
    (index / CYCLE) % 2 == 1
}

/// Random high source ports come from here: clear of every reflection port
/// the program knows, all of which are below 12000.
const RANDOM_PORTS: std::ops::Range<u16> = 20_000..61_000;

/// The frame pool's kinds, in the order the pool holds them.
pub fn kind_of(index: usize) -> Kind {
    match index % CYCLE {
        i if i < RESPONSES => Kind::Response,
        i if i < RESPONSES + REFLECTIONS => Kind::Reflection(REFLECTION_PORTS[i % REFLECTION_PORTS.len()]),
        _ => Kind::TooShort,
    }
}

/// The share of the pool (and so of what is sent) of each kind.
pub fn shares() -> Vec<(Kind, f64)> {
    let mut counts = std::collections::BTreeMap::new();
    for i in 0..CYCLE {
        *counts.entry(kind_of(i)).or_insert(0usize) += 1;
    }
    counts.into_iter().map(|(k, n)| (k, n as f64 / CYCLE as f64)).collect()
}

/// `count` frames (a multiple of twice [`CYCLE`] is best) from `client_mac`
/// to `server_mac`, `server:port` over IPv4 and `server_v6:port` over IPv6;
/// the source address changes with every frame and ports, IDs and contents
/// vary. The same seed gives the same frames.
pub fn pool(
    client_mac: [u8; 6],
    server_mac: [u8; 6],
    (server, server_v6): (Ipv4Addr, Ipv6Addr),
    port: u16,
    count: usize,
) -> Vec<Vec<u8>> {
    let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
    let sources = SOURCES.count();
    (0..count)
        .map(|i| {
            let host = *SOURCES.start() + (i % sources) as u8;
            let (src, dst): (IpAddr, IpAddr) = if is_v6(i) {
                let src = Ipv6Addr::new(0xfd00, 0xb0, 0, 0, 0, 0, 0, u16::from(host));
                (src.into(), server_v6.into())
            } else {
                (Ipv4Addr::new(198, 18, 0, host).into(), server.into())
            };
            let kind = kind_of(i);
            let src_port = match kind {
                Kind::Reflection(port) => port,
                Kind::Response | Kind::TooShort => RANDOM_PORTS.start + random.below(RANDOM_PORTS.len() as u64) as u16,
            };
            let frame = Frame {
                src_mac: client_mac,
                dst_mac: server_mac,
                ip_id: random.next() as u16,
                ..Frame::udp((src, src_port), (dst, port))
            };
            frame.build(&payload(kind, &mut random))
        })
        .collect()
}

/// The UDP payload of a frame of `kind`.
fn payload(kind: Kind, random: &mut XorShift) -> Vec<u8> {
    match kind {
        Kind::Response => dns_response(random.next() as u16, random.below(1000) as u32),
        // NTP version 2, mode 7 (private), response bit set, then the data.
        Kind::Reflection(123) => [&[0x97, 0x00, 0x03, 0x2a, 0x00, 0x06, 0x00, 0x48][..], &[0x5a; 440][..]].concat(),
        Kind::Reflection(_) => {
            let mut value = b"VALUE a 0 1350\r\n".to_vec();
            value.resize(1400 - 7, b'x');
            value.extend_from_slice(b"\r\nEND\r\n");
            value
        }
        Kind::TooShort => (0..random.below(12)).map(|_| random.next() as u8).collect(),
    }
}

/// A response such as a resolver sends: `h<host>.bench.test. A` with one
/// answer (the question's name by a compression pointer).
fn dns_response(id: u16, host: u32) -> Vec<u8> {
    // QR, RD, RA; NOERROR; one question, one answer, written by hand after it.
    let answer = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 198, 19, 0, 1];
    Query::new(&format!("h{host}.bench.test"), 1)
        .id(id)
        .flags(0x8180)
        .counts([1, 1, 0, 0])
        .tail(&answer)
        .to_wire()
}

/// A small, seeded pseudo-random sequence (xorshift64): varied frames, the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[cfg(test)]
mod tests {
    use test_support::frame::{self, addresses, payload_at};

    use super::*;

    const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const SERVER_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xb0, 0, 0, 0, 0, 0, 1);

    fn sample() -> Vec<Vec<u8>> {
        pool([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], (SERVER, SERVER_V6), 53, 4096)
    }

    fn source_port(frame: &[u8]) -> u16 {
        let at = frame::udp_at(frame);
        u16::from_be_bytes([frame[at], frame[at + 1]])
    }

    #[test]
    fn every_frame_has_checksums_a_receiver_accepts() {
        for (i, frame) in sample().iter().enumerate() {
            assert!(frame::checksums_verify(frame), "frame {i}");
        }
    }

    #[test]
    fn every_frame_is_junk_of_its_kind() {
        for (i, frame) in sample().iter().enumerate() {
            let payload = &frame[payload_at(frame)..];
            assert!(frame.len() <= 1514, "frame {i} fits a 1500-byte MTU");
            let at = frame::udp_at(frame);
            assert_eq!(&frame[at + 2..at + 4], &[0, 53], "to the DNS port");
            match kind_of(i) {
                Kind::Response => {
                    assert!(payload.len() >= 12 && payload[2] & 0x80 != 0, "frame {i}: QR=1");
                    assert_eq!(&payload[4..6], &[0, 1], "frame {i}: QDCOUNT 1, so only QR marks it");
                    assert!(RANDOM_PORTS.contains(&source_port(frame)), "frame {i}: random port");
                }
                Kind::Reflection(port) => {
                    assert!(REFLECTION_PORTS.contains(&port));
                    assert_eq!(source_port(frame), port, "frame {i}");
                    assert!(
                        payload.len() >= 12,
                        "frame {i}: long enough that only the port marks it"
                    );
                }
                Kind::TooShort => {
                    assert!(payload.len() < 12, "frame {i}: {} bytes", payload.len());
                    assert!(RANDOM_PORTS.contains(&source_port(frame)), "frame {i}: random port");
                }
            }
        }
    }

    #[test]
    fn sources_stay_in_the_client_prefixes_and_vary() {
        let frames = sample();
        let mut seen = std::collections::BTreeSet::new();
        for (i, frame) in frames.iter().enumerate() {
            let (src, dst) = addresses(frame);
            let last = match (src, is_v6(i)) {
                (IpAddr::V4(a), false) => {
                    assert_eq!(dst, IpAddr::V4(SERVER));
                    let [a, b, c, d] = a.octets();
                    assert_eq!([a, b, c], [198, 18, 0], "in 198.18.0.0/24");
                    d
                }
                (IpAddr::V6(a), true) => {
                    assert_eq!(dst, IpAddr::V6(SERVER_V6));
                    let o = a.octets();
                    assert_eq!(o[..15], SERVER_V6.octets()[..15], "in fd00:b0::/64, below ::100");
                    o[15]
                }
                _ => panic!("frame {i}: the family alternates by cycle"),
            };
            assert!(
                SOURCES.contains(&last),
                "never the server, the client or broadcast: {src}"
            );
            seen.insert(src);
        }
        assert_eq!(
            seen.len(),
            2 * SOURCES.count(),
            "every source address of both families is used"
        );
        for pair in frames.windows(2) {
            assert_ne!(
                addresses(&pair[0]).0,
                addresses(&pair[1]).0,
                "consecutive frames differ in source"
            );
        }
    }

    #[test]
    fn both_families_carry_every_kind_in_the_same_shares() {
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..4096 {
            *counts.entry((is_v6(i), kind_of(i))).or_insert(0usize) += 1;
        }
        for (kind, _) in shares() {
            assert_eq!(counts[&(false, kind)], counts[&(true, kind)], "{kind}");
        }
    }

    #[test]
    fn shares_add_up_and_the_pool_is_reproducible() {
        let total: f64 = shares().iter().map(|(_, s)| s).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!(shares().iter().any(|&(k, s)| k == Kind::Response && s == 0.5));
        assert_eq!(sample(), sample(), "same seed, same frames");
    }
}
