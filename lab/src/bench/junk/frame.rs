//! Ethernet/IPv4 or IPv6/UDP frames built byte by byte, checksums included, for an AF_PACKET socket.
use std::net::IpAddr;

/// Ethernet header: two MAC addresses and the EtherType.
const ETH_LEN: usize = 14;
/// IPv4 header without options.
const IPV4_LEN: usize = 20;
/// IPv6 header without extension headers.
const IPV6_LEN: usize = 40;
const UDP_LEN: usize = 8;
/// Where the IP header starts in a frame.
pub const IP_AT: usize = ETH_LEN;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_UDP: u8 = 17;
/// Time to live / hop limit: any value the receiver accepts; 64 is Linux's default.
const TTL: u8 = 64;
/// Don't Fragment: the frames are small, and an unset DF would be odd on today's Internet.
const FLAG_DF: u16 = 0x4000;

/// Who a frame is from and to (both addresses of one family).
#[derive(Clone, Copy)]
pub struct Endpoints {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
}

/// Where the UDP header of `frame` (one built here) starts.
#[cfg(test)]
pub fn udp_at(frame: &[u8]) -> usize {
    if frame[12..14] == ETHERTYPE_IPV6.to_be_bytes() {
        IP_AT + IPV6_LEN
    } else {
        IP_AT + IPV4_LEN
    }
}

/// Where the UDP payload of `frame` starts.
#[cfg(test)]
pub fn payload_at(frame: &[u8]) -> usize {
    udp_at(frame) + UDP_LEN
}

/// The source and destination addresses of `frame`, read back from its IP header.
#[cfg(test)]
pub fn addresses(frame: &[u8]) -> (IpAddr, IpAddr) {
    if udp_at(frame) == IP_AT + IPV4_LEN {
        let a = |at: usize| IpAddr::from(<[u8; 4]>::try_from(&frame[IP_AT + at..IP_AT + at + 4]).unwrap());
        (a(12), a(16))
    } else {
        let a = |at: usize| IpAddr::from(<[u8; 16]>::try_from(&frame[IP_AT + at..IP_AT + at + 16]).unwrap());
        (a(8), a(24))
    }
}

/// A whole frame: Ethernet, IPv4 (identification `ip_id`) or IPv6 (flow
/// label `ip_id`), UDP, `payload`. Every checksum is filled in. Panics for
/// a payload too long for one datagram, or addresses of two families.
pub fn udp(to: &Endpoints, ip_id: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = u16::try_from(UDP_LEN + payload.len()).expect("payload fits in one UDP datagram");
    let mut frame = Vec::with_capacity(IP_AT + IPV6_LEN + UDP_LEN + payload.len());
    frame.extend_from_slice(&to.dst_mac);
    frame.extend_from_slice(&to.src_mac);
    match (to.src, to.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let total_len = u16::try_from(IPV4_LEN + usize::from(udp_len)).expect("datagram fits in one IPv4 packet");
            frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
            frame.push(0x45); // version 4, 5 words of header
            frame.push(0); // DSCP, ECN
            frame.extend_from_slice(&total_len.to_be_bytes());
            frame.extend_from_slice(&ip_id.to_be_bytes());
            frame.extend_from_slice(&FLAG_DF.to_be_bytes());
            frame.extend_from_slice(&[TTL, PROTO_UDP, 0, 0]);
            frame.extend_from_slice(&src.octets());
            frame.extend_from_slice(&dst.octets());
            let check = !fold(sum(&frame[IP_AT..]));
            frame[IP_AT + 10..IP_AT + 12].copy_from_slice(&check.to_be_bytes());
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            frame.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
            // Version 6, traffic class 0, the flow label from `ip_id`.
            frame.extend_from_slice(&(0x6000_0000u32 | u32::from(ip_id)).to_be_bytes());
            frame.extend_from_slice(&udp_len.to_be_bytes());
            frame.extend_from_slice(&[PROTO_UDP, TTL]);
            frame.extend_from_slice(&src.octets());
            frame.extend_from_slice(&dst.octets());
        }
        _ => panic!("source and destination of one family"),
    }
    let udp_at = frame.len();
    frame.extend_from_slice(&to.src_port.to_be_bytes());
    frame.extend_from_slice(&to.dst_port.to_be_bytes());
    frame.extend_from_slice(&udp_len.to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(payload);
    let check = udp_checksum(to.src, to.dst, &frame[udp_at..]);
    frame[udp_at + 6..udp_at + 8].copy_from_slice(&check.to_be_bytes());
    frame
}

/// The UDP checksum (RFC 768) of `segment` (header with a zero checksum, then
/// payload) over the pseudo-header. Zero is sent as all ones, since a
/// zero checksum means "none".
fn udp_checksum(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    let check = !fold(pseudo_header_sum(src, dst, segment.len()) + sum(segment));
    if check == 0 { 0xffff } else { check }
}

/// The one's-complement sum's contribution of the pseudo-header (RFC 768,
/// RFC 8200 section 8.1: the same sum, with 128-bit addresses).
fn pseudo_header_sum(src: IpAddr, dst: IpAddr, udp_len: usize) -> u64 {
    let octets = |a: IpAddr| match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    sum(&octets(src)) + sum(&octets(dst)) + u64::from(PROTO_UDP) + udp_len as u64
}

/// 16-bit big-endian words summed (RFC 1071); an odd last byte is padded with zero.
fn sum(bytes: &[u8]) -> u64 {
    bytes
        .chunks(2)
        .map(|pair| u64::from(u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)])))
        .sum()
}

/// Folds carries back in until the sum fits in 16 bits.
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    /// Where the IPv4 header ends and UDP starts in an IPv4 frame.
    const UDP_AT_V4: usize = IP_AT + IPV4_LEN;

    fn endpoints() -> Endpoints {
        Endpoints {
            src_mac: [0x02, 0, 0, 0, 0, 2],
            dst_mac: [0x02, 0, 0, 0, 0, 1],
            src: Ipv4Addr::new(198, 18, 0, 7).into(),
            dst: Ipv4Addr::new(198, 18, 0, 1).into(),
            src_port: 40_000,
            dst_port: 53,
        }
    }

    fn endpoints_v6() -> Endpoints {
        Endpoints {
            src: Ipv6Addr::new(0xfd00, 0xb0, 0, 0, 0, 0, 0, 7).into(),
            dst: Ipv6Addr::new(0xfd00, 0xb0, 0, 0, 0, 0, 0, 1).into(),
            ..endpoints()
        }
    }

    /// What a receiver checks: the header sums to all ones.
    fn ipv4_header_verifies(frame: &[u8]) -> bool {
        fold(sum(&frame[IP_AT..UDP_AT_V4])) == 0xffff
    }

    /// What a receiver checks: pseudo-header plus segment sum to all ones.
    /// The addresses are read from the frame, not taken from the builder.
    fn udp_verifies(frame: &[u8]) -> bool {
        let (src, dst) = addresses(frame);
        let segment = &frame[udp_at(frame)..];
        fold(pseudo_header_sum(src, dst, segment.len()) + sum(segment)) == 0xffff
    }

    #[test]
    fn headers_and_lengths() {
        let payload = b"\x12\x34\x81\x80hello";
        let frame = udp(&endpoints(), 0xbeef, payload);
        assert_eq!(frame.len(), payload_at(&frame) + payload.len());
        assert_eq!(&frame[..6], &endpoints().dst_mac, "destination MAC first");
        assert_eq!(&frame[6..12], &endpoints().src_mac);
        assert_eq!(&frame[12..14], &[0x08, 0x00], "EtherType IPv4");
        assert_eq!(frame[IP_AT], 0x45);
        let total = u16::from_be_bytes([frame[IP_AT + 2], frame[IP_AT + 3]]);
        assert_eq!(usize::from(total), frame.len() - ETH_LEN, "IPv4 total length");
        assert_eq!(&frame[IP_AT + 4..IP_AT + 6], &[0xbe, 0xef], "identification");
        assert_eq!(frame[IP_AT + 9], PROTO_UDP);
        assert_eq!(&frame[IP_AT + 12..IP_AT + 16], &[198, 18, 0, 7]);
        assert_eq!(&frame[IP_AT + 16..IP_AT + 20], &[198, 18, 0, 1]);
        let at = udp_at(&frame);
        assert_eq!(at, UDP_AT_V4);
        assert_eq!(&frame[at..at + 4], &[0x9c, 0x40, 0, 53], "ports");
        let udp_len = u16::from_be_bytes([frame[at + 4], frame[at + 5]]);
        assert_eq!(usize::from(udp_len), UDP_LEN + payload.len(), "UDP length");
        assert_eq!(&frame[payload_at(&frame)..], payload);
    }

    #[test]
    fn ipv6_headers_and_lengths() {
        let payload = b"\x12\x34\x81\x80hello";
        let frame = udp(&endpoints_v6(), 0xbeef, payload);
        assert_eq!(&frame[12..14], &[0x86, 0xdd], "EtherType IPv6");
        assert_eq!(
            &frame[IP_AT..IP_AT + 4],
            &[0x60, 0, 0xbe, 0xef],
            "version 6, flow label"
        );
        let payload_len = u16::from_be_bytes([frame[IP_AT + 4], frame[IP_AT + 5]]);
        assert_eq!(usize::from(payload_len), UDP_LEN + payload.len(), "IPv6 payload length");
        assert_eq!(frame[IP_AT + 6], PROTO_UDP, "next header");
        assert_eq!(frame[IP_AT + 8], 0xfd, "source address from byte 8");
        assert_eq!(frame[IP_AT + 39], 1, "destination ends the header");
        assert_eq!(udp_at(&frame), IP_AT + IPV6_LEN);
        assert_eq!(&frame[payload_at(&frame)..], payload);
        assert_eq!(frame.len(), IP_AT + IPV6_LEN + UDP_LEN + payload.len());
    }

    #[test]
    fn checksums_verify() {
        // Odd and even payload lengths, empty ones, and full-size ones.
        for (family, base) in [("IPv4", endpoints()), ("IPv6", endpoints_v6())] {
            for len in [0, 1, 4, 11, 12, 47, 468, 1400, 1452] {
                for (id, port) in [(0, 1), (0xffff, 53), (0x1234, 11211)] {
                    let payload: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
                    let to = Endpoints { src_port: port, ..base };
                    let frame = udp(&to, id, &payload);
                    if family == "IPv4" {
                        assert!(ipv4_header_verifies(&frame), "IPv4 checksum, payload {len}, id {id}");
                    }
                    assert!(
                        udp_verifies(&frame),
                        "{family} UDP checksum, payload {len}, port {port}"
                    );
                    let at = udp_at(&frame);
                    assert_ne!(&frame[at + 6..at + 8], &[0, 0], "UDP checksum present");
                }
            }
        }
    }

    #[test]
    fn a_corrupted_frame_does_not_verify() {
        for base in [endpoints(), endpoints_v6()] {
            let mut frame = udp(&base, 1, b"some payload");
            let at = payload_at(&frame);
            frame[at] ^= 0x40;
            assert!(
                !udp_verifies(&frame),
                "a flipped payload bit must break the UDP checksum"
            );
        }
        let mut frame = udp(&endpoints(), 1, b"some payload");
        frame[IP_AT + 8] -= 1; // TTL
        assert!(
            !ipv4_header_verifies(&frame),
            "a changed TTL must break the header checksum"
        );
        let mut frame = udp(&endpoints_v6(), 1, b"some payload");
        frame[IP_AT + 23] ^= 1; // the source address, in the pseudo-header
        assert!(!udp_verifies(&frame), "a changed source must break the UDP checksum");
    }

    #[test]
    fn header_checksum_of_a_known_header() {
        // A textbook IPv4 header (192.168.0.1 -> 192.168.0.199, UDP, DF, TTL 64,
        // total length 0x73, id 0), whose checksum is 0xb861.
        let to = Endpoints {
            src: Ipv4Addr::new(192, 168, 0, 1).into(),
            dst: Ipv4Addr::new(192, 168, 0, 199).into(),
            ..endpoints()
        };
        let frame = udp(&to, 0, &[0; 0x73 - IPV4_LEN - UDP_LEN]);
        assert_eq!(&frame[IP_AT + 10..IP_AT + 12], &[0xb8, 0x61]);
    }

    #[test]
    fn a_zero_udp_checksum_is_sent_as_all_ones() {
        // Search for a payload whose checksum computes to zero.
        for to in [endpoints(), endpoints_v6()] {
            let zero = (0..=u16::MAX).find_map(|word| {
                let payload = word.to_be_bytes();
                let mut segment = vec![0u8; UDP_LEN];
                segment[0..2].copy_from_slice(&to.src_port.to_be_bytes());
                segment[2..4].copy_from_slice(&to.dst_port.to_be_bytes());
                segment[4..6].copy_from_slice(&((UDP_LEN + 2) as u16).to_be_bytes());
                segment.extend_from_slice(&payload);
                (!fold(pseudo_header_sum(to.src, to.dst, segment.len()) + sum(&segment)) == 0).then_some(payload)
            });
            let payload = zero.expect("some 2-byte payload sums to all ones");
            let frame = udp(&to, 0, &payload);
            let at = udp_at(&frame);
            assert_eq!(&frame[at + 6..at + 8], &[0xff, 0xff]);
            assert!(udp_verifies(&frame), "all ones verifies like zero would");
        }
    }
}
