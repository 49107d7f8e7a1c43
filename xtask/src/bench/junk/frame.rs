//! Ethernet/IPv4/UDP frames built byte by byte, checksums included, for an AF_PACKET socket.
use std::net::Ipv4Addr;

/// Ethernet header: two MAC addresses and the EtherType.
const ETH_LEN: usize = 14;
/// IPv4 header without options.
const IPV4_LEN: usize = 20;
const UDP_LEN: usize = 8;
/// Where the IPv4 header starts in a frame, and the UDP header.
pub const IPV4_AT: usize = ETH_LEN;
pub const UDP_AT: usize = ETH_LEN + IPV4_LEN;
/// Where the UDP payload starts.
pub const PAYLOAD_AT: usize = UDP_AT + UDP_LEN;

const ETHERTYPE_IPV4: u16 = 0x0800;
const PROTO_UDP: u8 = 17;
/// Time to live: any value the receiver accepts; 64 is Linux's default.
const TTL: u8 = 64;
/// Don't Fragment: the frames are small, and an unset DF would be odd on today's Internet.
const FLAG_DF: u16 = 0x4000;

/// Who a frame is from and to.
#[derive(Clone, Copy)]
pub struct Endpoints {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
}

/// A whole frame: Ethernet, IPv4 (identification `ip_id`), UDP, `payload`.
/// Both checksums are filled in. Panics for a payload too long for one datagram.
pub fn udp_ipv4(to: &Endpoints, ip_id: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = u16::try_from(UDP_LEN + payload.len()).expect("payload fits in one UDP datagram");
    let total_len = u16::try_from(IPV4_LEN + usize::from(udp_len)).expect("datagram fits in one IPv4 packet");
    let mut frame = Vec::with_capacity(PAYLOAD_AT + payload.len());
    frame.extend_from_slice(&to.dst_mac);
    frame.extend_from_slice(&to.src_mac);
    frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());

    frame.push(0x45); // version 4, 5 words of header
    frame.push(0); // DSCP, ECN
    frame.extend_from_slice(&total_len.to_be_bytes());
    frame.extend_from_slice(&ip_id.to_be_bytes());
    frame.extend_from_slice(&FLAG_DF.to_be_bytes());
    frame.extend_from_slice(&[TTL, PROTO_UDP, 0, 0]);
    frame.extend_from_slice(&to.src.octets());
    frame.extend_from_slice(&to.dst.octets());
    let check = !fold(sum(&frame[IPV4_AT..UDP_AT]));
    frame[IPV4_AT + 10..IPV4_AT + 12].copy_from_slice(&check.to_be_bytes());

    frame.extend_from_slice(&to.src_port.to_be_bytes());
    frame.extend_from_slice(&to.dst_port.to_be_bytes());
    frame.extend_from_slice(&udp_len.to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(payload);
    let check = udp_checksum(to.src, to.dst, &frame[UDP_AT..]);
    frame[UDP_AT + 6..UDP_AT + 8].copy_from_slice(&check.to_be_bytes());
    frame
}

/// The UDP checksum (RFC 768) of `segment` (header with a zero checksum, then
/// payload) over the IPv4 pseudo-header. Zero is sent as all ones, since a
/// zero checksum means "none".
fn udp_checksum(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> u16 {
    let check = !fold(pseudo_header_sum(src, dst, segment.len()) + sum(segment));
    if check == 0 { 0xffff } else { check }
}

/// The one's-complement sum's contribution of the pseudo-header.
fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, udp_len: usize) -> u64 {
    sum(&src.octets()) + sum(&dst.octets()) + u64::from(PROTO_UDP) + udp_len as u64
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
    use super::*;

    fn endpoints() -> Endpoints {
        Endpoints {
            src_mac: [0x02, 0, 0, 0, 0, 2],
            dst_mac: [0x02, 0, 0, 0, 0, 1],
            src: Ipv4Addr::new(198, 18, 0, 7),
            dst: Ipv4Addr::new(198, 18, 0, 1),
            src_port: 40_000,
            dst_port: 53,
        }
    }

    /// What a receiver checks: the header sums to all ones.
    fn ipv4_header_verifies(frame: &[u8]) -> bool {
        fold(sum(&frame[IPV4_AT..UDP_AT])) == 0xffff
    }

    /// What a receiver checks: pseudo-header plus segment sum to all ones.
    fn udp_verifies(frame: &[u8]) -> bool {
        let src = Ipv4Addr::from(<[u8; 4]>::try_from(&frame[IPV4_AT + 12..IPV4_AT + 16]).unwrap());
        let dst = Ipv4Addr::from(<[u8; 4]>::try_from(&frame[IPV4_AT + 16..IPV4_AT + 20]).unwrap());
        let segment = &frame[UDP_AT..];
        fold(pseudo_header_sum(src, dst, segment.len()) + sum(segment)) == 0xffff
    }

    #[test]
    fn headers_and_lengths() {
        let payload = b"\x12\x34\x81\x80hello";
        let frame = udp_ipv4(&endpoints(), 0xbeef, payload);
        assert_eq!(frame.len(), PAYLOAD_AT + payload.len());
        assert_eq!(&frame[..6], &endpoints().dst_mac, "destination MAC first");
        assert_eq!(&frame[6..12], &endpoints().src_mac);
        assert_eq!(&frame[12..14], &[0x08, 0x00], "EtherType IPv4");
        assert_eq!(frame[IPV4_AT], 0x45);
        let total = u16::from_be_bytes([frame[IPV4_AT + 2], frame[IPV4_AT + 3]]);
        assert_eq!(usize::from(total), frame.len() - ETH_LEN, "IPv4 total length");
        assert_eq!(&frame[IPV4_AT + 4..IPV4_AT + 6], &[0xbe, 0xef], "identification");
        assert_eq!(frame[IPV4_AT + 9], PROTO_UDP);
        assert_eq!(&frame[IPV4_AT + 12..IPV4_AT + 16], &[198, 18, 0, 7]);
        assert_eq!(&frame[IPV4_AT + 16..IPV4_AT + 20], &[198, 18, 0, 1]);
        assert_eq!(&frame[UDP_AT..UDP_AT + 4], &[0x9c, 0x40, 0, 53], "ports");
        let udp_len = u16::from_be_bytes([frame[UDP_AT + 4], frame[UDP_AT + 5]]);
        assert_eq!(usize::from(udp_len), UDP_LEN + payload.len(), "UDP length");
        assert_eq!(&frame[PAYLOAD_AT..], payload);
    }

    #[test]
    fn checksums_verify() {
        // Odd and even payload lengths, empty ones, and full-size ones.
        for len in [0, 1, 4, 11, 12, 47, 468, 1400, 1472] {
            for (id, port) in [(0, 1), (0xffff, 53), (0x1234, 11211)] {
                let payload: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
                let to = Endpoints {
                    src_port: port,
                    ..endpoints()
                };
                let frame = udp_ipv4(&to, id, &payload);
                assert!(ipv4_header_verifies(&frame), "IPv4 checksum, payload {len}, id {id}");
                assert!(udp_verifies(&frame), "UDP checksum, payload {len}, port {port}");
                assert_ne!(&frame[UDP_AT + 6..UDP_AT + 8], &[0, 0], "UDP checksum present");
            }
        }
    }

    #[test]
    fn a_corrupted_frame_does_not_verify() {
        let mut frame = udp_ipv4(&endpoints(), 1, b"some payload");
        frame[PAYLOAD_AT] ^= 0x40;
        assert!(
            !udp_verifies(&frame),
            "a flipped payload bit must break the UDP checksum"
        );
        frame[IPV4_AT + 8] -= 1; // TTL
        assert!(
            !ipv4_header_verifies(&frame),
            "a changed TTL must break the header checksum"
        );
    }

    #[test]
    fn header_checksum_of_a_known_header() {
        // A textbook IPv4 header (192.168.0.1 -> 192.168.0.199, UDP, DF, TTL 64,
        // total length 0x73, id 0), whose checksum is 0xb861.
        let to = Endpoints {
            src: Ipv4Addr::new(192, 168, 0, 1),
            dst: Ipv4Addr::new(192, 168, 0, 199),
            ..endpoints()
        };
        let frame = udp_ipv4(&to, 0, &[0; 0x73 - IPV4_LEN - UDP_LEN]);
        assert_eq!(&frame[IPV4_AT + 10..IPV4_AT + 12], &[0xb8, 0x61]);
    }

    #[test]
    fn a_zero_udp_checksum_is_sent_as_all_ones() {
        // Search for a payload whose checksum computes to zero.
        let to = endpoints();
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
        let frame = udp_ipv4(&to, 0, &payload);
        assert_eq!(&frame[UDP_AT + 6..UDP_AT + 8], &[0xff, 0xff]);
        assert!(udp_verifies(&frame), "all ones verifies like zero would");
    }
}
