//! The Ethernet frames of the AF_XDP path: where the DNS query sits in one,
//! and the reply written over it (addresses and ports swapped, lengths and
//! checksums set), as the XDP program rewrites the frames it answers.
//!
//! The program checked each frame as the kernel's IP and UDP input would
//! (lengths, IPv4 header checksum, UDP checksum, martians) before it
//! redirected it; this code still reads nothing outside the frame.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use dns_wire::csum;
use xdp_abi::frame::{
    ETH_HLEN, ETH_P_8021AD, ETH_P_8021Q, ETH_P_IPV4, ETH_P_IPV6, IPPROTO_UDP, IPV4_HLEN, IPV6_HLEN, RESPONSE_TTL,
    UDP_HLEN,
};

/// Where a UDP datagram's parts sit in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Datagram {
    /// Offset of the IP header.
    l3: usize,
    /// Offset of the UDP header.
    l4: usize,
    /// Length of the DNS message (from the UDP length).
    pub(super) dns_len: usize,
    /// The client.
    pub(super) peer: SocketAddr,
    /// The address the query was sent to (ours).
    pub(super) local: SocketAddr,
}

impl Datagram {
    /// Offset of the DNS message.
    pub(super) fn dns(&self) -> usize {
        self.l4 + UDP_HLEN
    }

    /// The DNS message in `frame`.
    pub(super) fn message<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        &frame[self.dns()..self.dns() + self.dns_len]
    }
}

/// Why a reply was not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unsent {
    /// The IP packet would exceed the interface's MTU.
    TooBig,
    /// The frame's buffer has no room for it.
    NoRoom,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The UDP datagram in an Ethernet frame (up to two VLAN tags, IPv4
/// without options or IPv6 without extension headers, as the program
/// redirects nothing else); `None` for anything else or a short frame.
pub(super) fn parse(frame: &[u8]) -> Option<Datagram> {
    let mut l3 = ETH_HLEN;
    let mut ethertype = be16(frame.get(..ETH_HLEN)?, 12);
    for _ in 0..2 {
        if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
            ethertype = be16(frame.get(l3..l3 + 4)?, 2);
            l3 += 4;
        }
    }
    let (l4, peer, local) = match ethertype {
        ETH_P_IPV4 => {
            let ip = frame.get(l3..l3 + IPV4_HLEN)?;
            if ip[0] != 0x45 || ip[9] != IPPROTO_UDP || be16(ip, 6) & 0x3fff != 0 {
                return None;
            }
            let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            (l3 + IPV4_HLEN, IpAddr::V4(src), IpAddr::V4(dst))
        }
        ETH_P_IPV6 => {
            let ip = frame.get(l3..l3 + IPV6_HLEN)?;
            if ip[0] >> 4 != 6 || ip[6] != IPPROTO_UDP {
                return None;
            }
            let src: [u8; 16] = ip[8..24].try_into().ok()?;
            let dst: [u8; 16] = ip[24..40].try_into().ok()?;
            (
                l3 + IPV6_HLEN,
                IpAddr::V6(Ipv6Addr::from(src)),
                IpAddr::V6(Ipv6Addr::from(dst)),
            )
        }
        _ => return None,
    };
    let udp = frame.get(l4..l4 + UDP_HLEN)?;
    let udp_len = be16(udp, 4) as usize;
    if udp_len < UDP_HLEN || l4 + udp_len > frame.len() {
        return None;
    }
    Some(Datagram {
        l3,
        l4,
        dns_len: udp_len - UDP_HLEN,
        peer: SocketAddr::new(peer, be16(udp, 0)),
        local: SocketAddr::new(local, be16(udp, 2)),
    })
}

/// Turns the query frame at the start of `buf` (parsed as `d`) into the
/// reply carrying `answer`; returns the reply frame's length. `buf` is the
/// frame's whole buffer; `mtu` bounds the IP packet.
pub(super) fn reply(buf: &mut [u8], d: &Datagram, answer: &[u8], mtu: usize) -> Result<usize, Unsent> {
    let end = d.dns() + answer.len();
    if end - d.l3 > mtu {
        return Err(Unsent::TooBig);
    }
    if end > buf.len() {
        return Err(Unsent::NoRoom);
    }
    buf[d.dns()..end].copy_from_slice(answer);
    // Ethernet: destination and source swap.
    let (dst, src) = buf[..12].split_at_mut(6);
    dst.swap_with_slice(src);
    let udp_len = (UDP_HLEN + answer.len()) as u16;
    let ip = &mut buf[d.l3..d.l4];
    let addr_sum = if d.peer.is_ipv6() {
        ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
        ip[7] = RESPONSE_TTL;
        let (s, t) = ip[8..40].split_at_mut(16);
        s.swap_with_slice(t);
        csum::add_bytes(0, &ip[8..40])
    } else {
        let total = (end - d.l3) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[8] = RESPONSE_TTL;
        let (s, t) = ip[12..20].split_at_mut(4);
        s.swap_with_slice(t);
        ip[10..12].fill(0);
        let check = !csum::fold(csum::add_bytes(0, ip));
        ip[10..12].copy_from_slice(&check.to_be_bytes());
        csum::add_bytes(0, &ip[12..20])
    };
    let udp = &mut buf[d.l4..end];
    let (ports, rest) = udp[..4].split_at_mut(2);
    ports.swap_with_slice(rest);
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    udp[6..8].fill(0);
    // The pseudo-header (addresses, protocol, length), then the datagram.
    let sum = addr_sum + u32::from(IPPROTO_UDP) + u32::from(udp_len) + csum::add_bytes(0, udp);
    udp[6..8].copy_from_slice(&csum::udp_field(sum).to_be_bytes());
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    use test_support::frame::Frame;

    /// The query's frame, from port 40000 of the client (MAC 02:00:00:00:00:02)
    /// to port 53, with one VLAN tag or none.
    fn query_frame(v6: bool, vlan: bool) -> Frame {
        let (client, server): (IpAddr, IpAddr) = if v6 {
            ("fd00:b0::2".parse().unwrap(), "fd00:b0::1".parse().unwrap())
        } else {
            ("198.18.0.2".parse().unwrap(), "198.18.0.1".parse().unwrap())
        };
        let mut f = Frame::udp((client, 40000), (server, 53));
        if vlan {
            f.vlans = vec![7];
        }
        f
    }

    fn frame(v6: bool, vlan: bool, dns: &[u8]) -> Vec<u8> {
        query_frame(v6, vlan).build(dns)
    }

    /// The ones'-complement sum of `bytes` folds to 0xffff: a right checksum.
    fn sums_right(bytes: &[u8]) -> bool {
        csum::fold(csum::add_bytes(0, bytes)) == 0xffff
    }

    #[test]
    fn a_reply_swaps_addresses_and_ports_and_sums_right() {
        for (v6, vlan) in [(false, false), (false, true), (true, false), (true, true)] {
            let query = b"\x12\x34query-bytes";
            let mut buf = frame(v6, vlan, query);
            let len = buf.len();
            let d = parse(&buf).unwrap_or_else(|| panic!("parsed (v6 {v6}, vlan {vlan})"));
            assert_eq!(d.message(&buf), query);
            assert_eq!(d.peer.port(), 40000);
            assert_eq!(d.local.port(), 53);
            assert_eq!(
                parse(&buf[..len - query.len() - 1]),
                None,
                "a datagram longer than its frame"
            );
            let answer = vec![0xab; 700];
            buf.resize(4096, 0);
            assert_eq!(reply(&mut buf, &d, &answer, 700), Err(Unsent::TooBig), "over the MTU");
            let n = reply(&mut buf, &d, &answer, 1500).expect("room");
            let out = &buf[..n];
            let back = parse(out).expect("the reply parses");
            assert_eq!(
                (back.peer, back.local),
                (d.local, d.peer),
                "addresses and ports swapped"
            );
            assert_eq!(back.message(out), &answer[..]);
            assert_eq!(&out[..6], &[2, 0, 0, 0, 0, 2], "to the client's MAC");
            let (l3, l4) = (back.l3, back.l4);
            let mut pseudo = Vec::new();
            if v6 {
                assert_eq!(out[l3 + 7], RESPONSE_TTL);
                pseudo.extend_from_slice(&out[l3 + 8..l3 + 40]);
            } else {
                assert!(sums_right(&out[l3..l4]), "IPv4 header checksum");
                assert_eq!(be16(out, l3 + 2) as usize, n - l3);
                pseudo.extend_from_slice(&out[l3 + 12..l3 + 20]);
            }
            pseudo.extend_from_slice(&[0, IPPROTO_UDP]);
            pseudo.extend_from_slice(&((n - l4) as u16).to_be_bytes());
            pseudo.extend_from_slice(&out[l4..]);
            assert!(sums_right(&pseudo), "UDP checksum (v6 {v6}, vlan {vlan})");
            let longer = vec![0xcd; answer.len() + 1];
            assert_eq!(
                reply(&mut buf[..n], &back, &longer, 1500),
                Err(Unsent::NoRoom),
                "past the buffer"
            );
        }
    }

    #[test]
    fn what_the_program_never_redirects_is_not_parsed() {
        let mut options = query_frame(false, false);
        options.ip_options = vec![1, 1, 1, 0];
        assert_eq!(parse(&options.build(b"dns")), None, "IPv4 with options");
        let mut fragment = query_frame(false, false);
        fragment.more_fragments = true;
        assert_eq!(parse(&fragment.build(b"dns")), None, "a first fragment");
        let mut tcp = query_frame(true, false);
        tcp.protocol = 6;
        assert_eq!(parse(&tcp.build(b"dns")), None, "not UDP");
        assert_eq!(parse(&[0u8; 13]), None, "short");
        for cut in 0..frame(true, true, b"").len() {
            assert_eq!(parse(&frame(true, true, b"")[..cut]), None, "cut at {cut}");
        }
    }
}
