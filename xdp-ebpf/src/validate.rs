//! What the kernel's IPv4, IPv6 and UDP input would refuse, checked before
//! anything is answered: the IPv4 header checksum, lengths against the
//! frame, martian sources, and the UDP pseudo-header's part of the UDP
//! checksum (the message's part is summed once it is copied, in main.rs).
//! The stack drops what fails (and so do we, counted); what it would
//! accept but we cannot answer exactly as it would goes to it.

use aya_ebpf::programs::XdpContext;
use dns_wire::csum;
use xdp_abi::{CONFIG_SERVICE_FILTER, Stat, XdpConfig};

use crate::{
    maps::{SERVICE_V4, SERVICE_V6},
    parse::{Bytes, ETH_HLEN, IPV4_HLEN, IPV6_HLEN, UDP_HLEN},
};

/// The shortest Ethernet frame (without its FCS): senders pad shorter ones.
const ETH_ZLEN: usize = 60;
/// IP protocol number of UDP, in the pseudo-header.
const IPPROTO_UDP: u32 = 17;

/// What the IP header says about a UDP datagram to our port.
pub enum Check {
    /// The stack would drop it.
    Drop(Stat),
    /// The stack would take it, but not exactly as it stands: let it.
    Pass(Stat),
    /// Sound so far: the UDP checksum is to be verified (`verify`, not for a
    /// zero one over IPv4) with `pseudo_sum`, the pseudo-header's sum.
    Udp { verify: bool, pseudo_sum: u32 },
}

/// An IPv4 header without options at `l3` carrying a UDP header that says
/// `udp_len` and `udp_check`.
#[inline(always)]
pub fn ipv4(ctx: &XdpContext, cfg: &XdpConfig, l3: usize, udp_len: u16, udp_check: u16) -> Result<Check, ()> {
    let ip = Bytes::<IPV4_HLEN>::at(ctx, l3)?;
    // Ones'-complement sums do not care for byte order, and a right header sums to 0xffff.
    let (a, b, c) = (ip.get::<u64>(0), ip.get::<u64>(8), ip.get::<u32>(16) as u64);
    let sum = (a & 0xffff_ffff) + (a >> 32) + (b & 0xffff_ffff) + (b >> 32) + c;
    if csum::fold64(sum) != 0xffff {
        return Ok(Check::Drop(Stat::DropIpChecksum));
    }
    let total_len = u16::from_be(ip.get::<u16>(2)) as usize;
    if let Some(bad) = lengths(ctx, l3, total_len, IPV4_HLEN, udp_len) {
        return Ok(bad);
    }
    let (src, dst) = (ip.get::<[u8; 4]>(12), ip.get::<[u8; 4]>(16));
    if martian_v4(cfg, src, dst) {
        return Ok(Check::Drop(Stat::DropMartian));
    }
    Ok(Check::Udp {
        verify: udp_check != 0,
        pseudo_sum: csum::sum_be_words(ip.get::<u64>(12)) + IPPROTO_UDP + udp_len as u32,
    })
}

/// An IPv6 header at `l3` whose next header is the UDP header that says
/// `udp_len` and `udp_check`.
#[inline(always)]
pub fn ipv6(ctx: &XdpContext, cfg: &XdpConfig, l3: usize, udp_len: u16, udp_check: u16) -> Result<Check, ()> {
    let ip = Bytes::<IPV6_HLEN>::at(ctx, l3)?;
    let payload_len = u16::from_be(ip.get::<u16>(4)) as usize;
    if let Some(bad) = lengths(ctx, l3, IPV6_HLEN + payload_len, IPV6_HLEN, udp_len) {
        return Ok(bad);
    }
    let (s0, s1, d0, d1) = (
        ip.get::<u64>(8),
        ip.get::<u64>(16),
        ip.get::<u64>(24),
        ip.get::<u64>(32),
    );
    if martian_v6(cfg, &ip, (s0, s1), (d0, d1)) {
        return Ok(Check::Drop(Stat::DropMartian));
    }
    // RFC 8200 8.1: a zero UDP checksum is not allowed over IPv6 (the
    // stack drops it unless a socket opted in to RFC 6936, which ours do not).
    if udp_check == 0 {
        return Ok(Check::Drop(Stat::DropUdpChecksum));
    }
    let addresses = csum::sum_be_words(s0) + csum::sum_be_words(s1) + csum::sum_be_words(d0) + csum::sum_be_words(d1);
    Ok(Check::Udp {
        verify: true,
        pseudo_sum: csum::fold(addresses) as u32 + IPPROTO_UDP + udp_len as u32,
    })
}

/// The IP packet (`ip_len` bytes, `header_len` of them header) against the
/// frame, and the UDP length against the IP payload; `None` when they agree.
///
/// The stack drops a packet longer than its frame and trims a shorter one
/// to its length (RFC 1122 3.3.2): what follows is Ethernet padding (the
/// frame then is the 60-byte minimum, plus its VLAN tags) or trailing
/// junk. Padding is fine, as the answer is built from the lengths, not the
/// frame; junk goes to the stack. The same for UDP: longer than its IP
/// payload (or shorter than its header) is dropped, shorter is trimmed.
#[inline(always)]
fn lengths(ctx: &XdpContext, l3: usize, ip_len: usize, header_len: usize, udp_len: u16) -> Option<Check> {
    let frame_len = ctx.data_end() - ctx.data();
    // classify read the UDP header, so frame_len > l3 + header_len.
    let room = frame_len - l3;
    if ip_len > room || ip_len < header_len + UDP_HLEN {
        return Some(Check::Drop(Stat::DropLength));
    }
    if ip_len < room && frame_len > ETH_ZLEN + (l3 - ETH_HLEN) {
        return Some(Check::Pass(Stat::Pass));
    }
    let payload = ip_len - header_len;
    let udp_len = udp_len as usize;
    if udp_len > payload || udp_len < UDP_HLEN {
        return Some(Check::Drop(Stat::DropLength));
    }
    if udp_len < payload {
        return Some(Check::Pass(Stat::Pass));
    }
    None
}

/// A source no query comes from (the stack's `martian_source`, and ours).
#[inline(always)]
fn martian_v4(cfg: &XdpConfig, src: [u8; 4], dst: [u8; 4]) -> bool {
    let s = u32::from_be_bytes(src);
    let first = s >> 24;
    // To ourselves from ourselves, loopback 127/8, "this network" 0/8,
    // multicast 224/4, the limited broadcast.
    if src == dst || first == 127 || first == 0 || s >> 28 == 0xe || s == u32::MAX {
        return true;
    }
    // Another of our service addresses (the map is filled only with the filter on).
    cfg.flags & CONFIG_SERVICE_FILTER != 0 && SERVICE_V4.get_ptr(src).is_some()
}

/// A source no query comes from (the stack drops these in `ipv6_rcv`, and ours).
/// `src` and `dst` are the addresses' two halves as loaded (memory order).
#[inline(always)]
fn martian_v6(cfg: &XdpConfig, ip: &Bytes<IPV6_HLEN>, src: (u64, u64), dst: (u64, u64)) -> bool {
    let (hi, lo) = (u64::from_be(src.0), u64::from_be(src.1));
    // Unspecified ::, loopback ::1, IPv4-mapped ::ffff:0:0/96.
    let low_zero = hi == 0 && (lo <= 1 || lo >> 32 == 0xffff);
    // Multicast ff00::/8, or to ourselves from ourselves.
    if low_zero || hi >> 56 == 0xff || src == dst {
        return true;
    }
    // Another of our service addresses (the map is filled only with the filter on).
    cfg.flags & CONFIG_SERVICE_FILTER != 0 && SERVICE_V6.get_ptr(ip.get::<[u8; 16]>(8)).is_some()
}
