//! Ethernet frames (optional VLAN tags) carrying IPv4 or IPv6 and UDP, built
//! byte by byte with every checksum filled in by [`crate::checksum`].
use std::net::{IpAddr, Ipv4Addr};

use crate::checksum::{self, PROTO_UDP};

/// Ethernet header: two MAC addresses and the EtherType.
pub const ETH_LEN: usize = 14;
/// IPv4 header without options.
pub const IPV4_LEN: usize = 20;
/// IPv6 header without extension headers.
pub const IPV6_LEN: usize = 40;
/// UDP header.
pub const UDP_LEN: usize = 8;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q tag.
pub const TPID_8021Q: u16 = 0x8100;
/// 802.1ad (QinQ) outer tag.
pub const TPID_8021AD: u16 = 0x88a8;

/// Don't Fragment.
const FLAG_DF: u16 = 0x4000;
/// More Fragments.
const FLAG_MF: u16 = 0x2000;

/// How to build a frame: who it is from and to, and the header fields tests vary.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// VLAN tags, outer first: one is 802.1Q, the outer of two is 802.1ad.
    pub vlans: Vec<u16>,
    /// Source address; its family picks IPv4 or IPv6.
    pub src: IpAddr,
    /// Destination address, of the same family.
    pub dst: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// IPv4 identification, or the IPv6 flow label.
    pub ip_id: u16,
    /// TTL or hop limit.
    pub ttl: u8,
    /// The protocol number written in the IP header (UDP unless a test says otherwise).
    pub protocol: u8,
    /// IPv4 options (a multiple of 4 bytes).
    pub ip_options: Vec<u8>,
    /// IPv4: More Fragments instead of Don't Fragment.
    pub more_fragments: bool,
    /// Written as the IPv4 total length or the IPv6 payload length instead
    /// of the true one (the IPv4 header checksum covers what is written).
    pub ip_length: Option<u16>,
    /// Written as the IPv4 header checksum instead of the right one.
    pub ip_checksum: Option<u16>,
    /// Written as the UDP length instead of the true one (the UDP checksum
    /// is still computed over the segment as built, with its true length).
    pub udp_length: Option<u16>,
    /// Written as the UDP checksum instead of the right one (0: "none").
    pub udp_checksum: Option<u16>,
    /// Zero bytes appended after the IP packet until the frame is this long,
    /// as Ethernet pads short frames (60 bytes without the FCS).
    pub pad_to: usize,
}

impl Frame {
    /// A UDP frame from `src` to `dst` (one family), MACs 02:00:00:00:00:02 to
    /// 02:00:00:00:00:01, TTL 64, Don't Fragment.
    pub fn udp(src: (IpAddr, u16), dst: (IpAddr, u16)) -> Frame {
        Frame {
            src_mac: [2, 0, 0, 0, 0, 2],
            dst_mac: [2, 0, 0, 0, 0, 1],
            vlans: Vec::new(),
            src: src.0,
            dst: dst.0,
            src_port: src.1,
            dst_port: dst.1,
            ip_id: 0,
            ttl: 64,
            protocol: PROTO_UDP,
            ip_options: Vec::new(),
            more_fragments: false,
            ip_length: None,
            ip_checksum: None,
            udp_length: None,
            udp_checksum: None,
            pad_to: 0,
        }
    }

    /// The frame with a UDP header around `payload`; every checksum filled in.
    /// Panics for a payload too long for one datagram, or addresses of two families.
    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        let udp_len = u16::try_from(UDP_LEN + payload.len()).expect("payload fits in one UDP datagram");
        let mut l4 = Vec::with_capacity(usize::from(udp_len));
        l4.extend_from_slice(&self.src_port.to_be_bytes());
        l4.extend_from_slice(&self.dst_port.to_be_bytes());
        l4.extend_from_slice(&self.udp_length.unwrap_or(udp_len).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
        l4.extend_from_slice(payload);
        let check = self
            .udp_checksum
            .unwrap_or_else(|| checksum::udp(self.src, self.dst, &l4));
        l4[6..8].copy_from_slice(&check.to_be_bytes());
        self.build_raw(&l4)
    }

    /// The frame with `l4` as the IP payload, as it is (another protocol, or a
    /// UDP header made by hand).
    pub fn build_raw(&self, l4: &[u8]) -> Vec<u8> {
        let mut frame = Vec::with_capacity(ETH_LEN + 8 + IPV6_LEN + l4.len());
        frame.extend_from_slice(&self.dst_mac);
        frame.extend_from_slice(&self.src_mac);
        for (i, tci) in self.vlans.iter().enumerate() {
            let tpid = if i == 0 && self.vlans.len() == 2 {
                TPID_8021AD
            } else {
                TPID_8021Q
            };
            frame.extend_from_slice(&tpid.to_be_bytes());
            frame.extend_from_slice(&tci.to_be_bytes());
        }
        match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
                frame.extend_from_slice(&self.ipv4_header(src, dst, l4.len()));
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let len = u16::try_from(l4.len()).expect("payload fits in one IPv6 packet");
                let len = self.ip_length.unwrap_or(len);
                frame.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
                // Version 6, traffic class 0, the flow label from `ip_id`.
                frame.extend_from_slice(&(0x6000_0000u32 | u32::from(self.ip_id)).to_be_bytes());
                frame.extend_from_slice(&len.to_be_bytes());
                frame.extend_from_slice(&[self.protocol, self.ttl]);
                frame.extend_from_slice(&src.octets());
                frame.extend_from_slice(&dst.octets());
            }
            _ => panic!("source and destination of one family"),
        }
        frame.extend_from_slice(l4);
        if frame.len() < self.pad_to {
            frame.resize(self.pad_to, 0);
        }
        frame
    }

    fn ipv4_header(&self, src: Ipv4Addr, dst: Ipv4Addr, l4_len: usize) -> Vec<u8> {
        assert!(self.ip_options.len().is_multiple_of(4), "IPv4 options fill whole words");
        let header_len = IPV4_LEN + self.ip_options.len();
        let total = u16::try_from(header_len + l4_len).expect("datagram fits in one IPv4 packet");
        let mut ip = vec![0x40 | (header_len / 4) as u8, 0];
        ip.extend_from_slice(&self.ip_length.unwrap_or(total).to_be_bytes());
        ip.extend_from_slice(&self.ip_id.to_be_bytes());
        let flags = if self.more_fragments { FLAG_MF } else { FLAG_DF };
        ip.extend_from_slice(&flags.to_be_bytes());
        ip.extend_from_slice(&[self.ttl, self.protocol, 0, 0]);
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        ip.extend_from_slice(&self.ip_options);
        let check = self.ip_checksum.unwrap_or_else(|| checksum::internet(&ip));
        ip[10..12].copy_from_slice(&check.to_be_bytes());
        ip
    }
}

/// Where the IP header of `frame` starts (after any VLAN tags).
pub fn ip_at(frame: &[u8]) -> usize {
    let mut at = 12;
    while [TPID_8021Q, TPID_8021AD].contains(&u16::from_be_bytes([frame[at], frame[at + 1]])) {
        at += 4;
    }
    at + 2
}

/// Where the UDP header of `frame` starts.
pub fn udp_at(frame: &[u8]) -> usize {
    let ip = ip_at(frame);
    if frame[ip] >> 4 == 6 {
        ip + IPV6_LEN
    } else {
        ip + usize::from(frame[ip] & 0x0f) * 4
    }
}

/// Where the UDP payload of `frame` starts.
pub fn payload_at(frame: &[u8]) -> usize {
    udp_at(frame) + UDP_LEN
}

/// The source and destination addresses of `frame`, read back from its IP header.
pub fn addresses(frame: &[u8]) -> (IpAddr, IpAddr) {
    let ip = ip_at(frame);
    if frame[ip] >> 4 == 6 {
        let a = |at: usize| IpAddr::from(<[u8; 16]>::try_from(&frame[ip + at..ip + at + 16]).unwrap());
        (a(8), a(24))
    } else {
        let a = |at: usize| IpAddr::from(<[u8; 4]>::try_from(&frame[ip + at..ip + at + 4]).unwrap());
        (a(12), a(16))
    }
}

/// Whether `frame`'s IPv4 header checksum and UDP checksum verify, as a receiver checks them.
pub fn checksums_verify(frame: &[u8]) -> bool {
    let (ip, udp) = (ip_at(frame), udp_at(frame));
    let header_ok = frame[ip] >> 4 == 6 || checksum::ones_sum(&frame[ip..udp]) == 0xffff;
    let (src, dst) = addresses(frame);
    header_ok && checksum::udp_verifies(src, dst, &frame[udp..])
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4() -> Frame {
        Frame::udp(
            (Ipv4Addr::new(198, 18, 0, 7).into(), 40_000),
            (Ipv4Addr::new(198, 18, 0, 1).into(), 53),
        )
    }

    fn v6() -> Frame {
        Frame::udp(
            (Ipv6Addr::new(0xfd00, 0xb0, 0, 0, 0, 0, 0, 7).into(), 40_000),
            (Ipv6Addr::new(0xfd00, 0xb0, 0, 0, 0, 0, 0, 1).into(), 53),
        )
    }

    #[test]
    fn ipv4_headers_and_lengths() {
        let payload = b"\x12\x34\x81\x80hello";
        let frame = Frame { ip_id: 0xbeef, ..v4() }.build(payload);
        assert_eq!(&frame[..6], &[2, 0, 0, 0, 0, 1], "destination MAC first");
        assert_eq!(&frame[12..14], &[0x08, 0x00], "EtherType IPv4");
        assert_eq!(frame[ETH_LEN], 0x45);
        let total = u16::from_be_bytes([frame[ETH_LEN + 2], frame[ETH_LEN + 3]]);
        assert_eq!(usize::from(total), frame.len() - ETH_LEN, "IPv4 total length");
        assert_eq!(&frame[ETH_LEN + 4..ETH_LEN + 8], &[0xbe, 0xef, 0x40, 0], "id, DF");
        assert_eq!(
            &frame[udp_at(&frame)..udp_at(&frame) + 4],
            &[0x9c, 0x40, 0, 53],
            "ports"
        );
        assert_eq!(&frame[payload_at(&frame)..], payload);
        assert!(checksums_verify(&frame));
    }

    #[test]
    fn ipv6_headers_and_lengths() {
        let frame = Frame { ip_id: 0xbeef, ..v6() }.build(b"hello");
        assert_eq!(&frame[12..14], &[0x86, 0xdd], "EtherType IPv6");
        assert_eq!(&frame[ETH_LEN..ETH_LEN + 4], &[0x60, 0, 0xbe, 0xef], "flow label");
        assert_eq!(usize::from(u16::from_be_bytes([frame[18], frame[19]])), UDP_LEN + 5);
        assert_eq!(frame.len(), ETH_LEN + IPV6_LEN + UDP_LEN + 5);
        assert!(checksums_verify(&frame));
    }

    #[test]
    fn vlan_tags_options_and_fragments() {
        let frame = Frame {
            vlans: vec![200, 100],
            ip_options: vec![1, 1, 1, 0],
            more_fragments: true,
            ..v4()
        }
        .build(b"x");
        assert_eq!(
            &frame[12..20],
            &[0x88, 0xa8, 0, 200, 0x81, 0, 0, 100],
            "QinQ outer first"
        );
        assert_eq!(ip_at(&frame), 22);
        assert_eq!(frame[22], 0x46, "six words of header");
        assert_eq!(frame[22 + 6], 0x20, "MF");
        assert_eq!(udp_at(&frame), 22 + 24);
        assert!(checksums_verify(&frame));
    }

    #[test]
    fn lengths_checksums_and_padding_can_be_set() {
        let right = v4().build(b"abc");
        let set = Frame {
            ip_length: Some(7),
            udp_length: Some(9),
            udp_checksum: Some(0),
            pad_to: 60,
            ..v4()
        }
        .build(b"abc");
        assert_eq!(set.len(), 60, "padded to the minimum");
        assert!(set[right.len()..].iter().all(|&b| b == 0), "padding is zeroes");
        assert_eq!(&set[ETH_LEN + 2..ETH_LEN + 4], &[0, 7], "total length as set");
        assert_eq!(
            checksum::ones_sum(&set[ETH_LEN..ETH_LEN + IPV4_LEN]),
            0xffff,
            "the header checksum covers the length as set"
        );
        let udp = udp_at(&set);
        assert_eq!(&set[udp + 4..udp + 8], &[0, 9, 0, 0], "UDP length and checksum as set");
        let bad = Frame {
            ip_checksum: Some(0x1234),
            ..v4()
        }
        .build(b"abc");
        assert_eq!(&bad[ETH_LEN + 10..ETH_LEN + 12], &[0x12, 0x34]);
        assert!(!checksums_verify(&bad));
        let v6 = Frame {
            ip_length: Some(3),
            ..v6()
        }
        .build(b"abc");
        assert_eq!(&v6[ETH_LEN + 4..ETH_LEN + 6], &[0, 3], "IPv6 payload length as set");
    }

    #[test]
    fn checksums_verify_for_every_length_and_break_on_a_flipped_bit() {
        for base in [v4(), v6()] {
            for len in [0, 1, 4, 11, 12, 47, 468, 1400, 1452] {
                let payload: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
                let mut frame = base.build(&payload);
                assert!(checksums_verify(&frame), "payload {len}");
                let at = udp_at(&frame);
                assert_ne!(&frame[at + 6..at + 8], &[0, 0], "UDP checksum present");
                frame[at + 4] ^= 0x40;
                assert!(!checksums_verify(&frame), "a flipped bit must break it");
            }
        }
    }
}
