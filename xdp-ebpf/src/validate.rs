//! What the kernel's IPv4, IPv6 and UDP input would refuse, checked before
//! anything is answered: IPv4 options, the IPv4 header checksum, lengths
//! against the frame, martian sources, and the UDP pseudo-header's and
//! header's part of the UDP checksum (the message's part is summed once
//! the message is copied, in main.rs: [`UdpSum::verifies`]). The stack drops what fails (and so
//! do we, counted); what it would take but not as it stands goes to it.
//!
//! Sums are taken over words as they lie in memory (little-endian): a
//! ones'-complement sum of byte-swapped words is the byte-swapped sum, so
//! one swap at the end gives the usual big-endian sum, and 0xffff (what a
//! right checksum sums to) is its own swap. No byte swap per word.

use aya_ebpf::{bindings::xdp_action, programs::XdpContext};
use dns_wire::csum;
use xdp_abi::{CONFIG_SERVICE_FILTER, Stat, XdpConfig};

use crate::parse::{self, Bytes, Datagram, ETH_HLEN, Flow, Headers, IPV4_HLEN, IPV6_HLEN, UDP_HLEN, udp_fields};

/// The shortest Ethernet frame (without its FCS): senders pad shorter ones.
const ETH_ZLEN: usize = 60;
/// The pseudo-header's zero byte and protocol (UDP, 17) as a memory-order word.
const PROTO_UDP_WORD: u32 = 17 << 8;

/// What becomes of a datagram to our port.
enum Verdict {
    /// The stack would take it as it stands, if its UDP checksum verifies
    /// (`None`: zero over IPv4, none to verify).
    Sound(Option<UdpSum>),
    /// The stack would drop it.
    Drop(Stat),
    /// The stack would take it, but not as it stands (options, trailing bytes): let it.
    Pass(Stat),
}

/// The UDP checksum's pseudo-header and header, waiting for the message's part.
#[derive(Clone, Copy)]
pub struct UdpSum {
    /// Unfolded memory-order sum of the pseudo-header and the UDP header.
    sum: u64,
    /// The pseudo-header's part of it.
    pseudo: u64,
    /// The checksum field as loaded (memory order).
    check: u16,
}

impl UdpSum {
    /// Whether the datagram whose message sums to `message` (unfolded,
    /// memory order) has a checksum the stack takes.
    #[inline(always)]
    pub fn verifies(&self, message: u64) -> bool {
        // The pseudo-header's sum alone: what a sender with checksum
        // offload leaves for its device to complete (CHECKSUM_PARTIAL).
        // Frames from a local peer (veth: containers, our lab) arrive so,
        // and the stack takes them on the sender's word; XDP cannot tell
        // where a frame came from, so it does the same. (Anyone can write
        // this value; such a frame gets no more from us than one with a
        // right checksum.) Tried second: a right checksum is the rule.
        csum::sums_to_ffff(self.sum + message) || self.check == csum::fold64(self.pseudo)
    }
}

/// Whether the stack would take `d` (whose headers classify read into
/// `h`) as it stands: its UDP checksum's sum if so (`Some(None)`: none to
/// verify), `None` if not ([`refuse`] then says why).
///
/// The hit's path: every check that fails leads to the one `None`, so no
/// check stores its reason ahead of its branch, and the sums stay in
/// registers instead of going through a verdict merged from every exit.
#[inline(always)]
pub fn sound(ctx: &XdpContext, cfg: &XdpConfig, d: &Datagram, h: Headers) -> Option<Option<UdpSum>> {
    match datagram(ctx, cfg, d, h) {
        Ok(Verdict::Sound(sum)) => Some(sum),
        _ => None,
    }
}

/// The action for a frame [`sound`] turned down, counted by reason: the
/// headers parsed and checked again, off the hit's path, in a function of
/// its own. Only the frame and the config are passed: a datagram passed
/// by reference would take stack the caller's frame cannot spare (BPF
/// allows 512 bytes for a chain of calls, and `cookie::judge`'s is one).
#[inline(never)]
pub fn refuse(ctx: &XdpContext, cfg: &XdpConfig) -> u32 {
    let checked = match parse::classify(ctx, cfg) {
        Ok(Flow::Dns(d, h)) => datagram(ctx, cfg, &d, h),
        _ => Err(()),
    };
    match checked {
        Ok(Verdict::Drop(why)) => crate::drop(ctx, why),
        Ok(Verdict::Pass(why)) => crate::pass(ctx, why),
        // What `sound` took (the same bytes: only a config written by
        // userspace between the two reads could differ), or headers out
        // of reach: the stack's, as for any error in the program.
        Ok(Verdict::Sound(_)) | Err(()) => xdp_action::XDP_PASS,
    }
}

/// Checks `d`, whose headers classify read into `h`.
#[inline(always)]
fn datagram(ctx: &XdpContext, cfg: &XdpConfig, d: &Datagram, h: Headers) -> Result<Verdict, ()> {
    // Ports, length, checksum: memory-order 32-bit halves; the length again
    // for the pseudo-header. (Not read again from the packet: the compiler
    // would drop the repeated bounds check, and the verifier needs it.)
    let udp_words = (h.udp & 0xffff_ffff) + (h.udp >> 32);
    let udp_len_word = (h.udp >> 32) & 0xffff;
    // The checksum field in memory order, as the sums are.
    let check = udp_fields(h.udp)[3].to_be();
    let pseudo = if d.v6 {
        match ipv6(ctx, cfg, d.l3, d.dns_len + UDP_HLEN)? {
            Ok(addresses) => addresses,
            Err(verdict) => return Ok(verdict),
        }
    } else {
        if h.ipv4_options {
            // Never answered: an answer would carry the query's options back.
            return Ok(Verdict::Pass(Stat::PassIpOptions));
        }
        match ipv4(ctx, cfg, d.l3, d.dns_len + UDP_HLEN)? {
            Ok(addresses) => addresses,
            Err(verdict) => return Ok(verdict),
        }
    };
    if check == 0 {
        // RFC 768: none. RFC 8200 8.1: not allowed over IPv6 (the stack
        // drops it unless a socket opted in to RFC 6936; ours do not).
        if d.v6 {
            return Ok(Verdict::Drop(Stat::DropUdpChecksum));
        }
        return Ok(Verdict::Sound(None));
    }
    let pseudo = pseudo + PROTO_UDP_WORD as u64 + udp_len_word;
    Ok(Verdict::Sound(Some(UdpSum {
        sum: pseudo + udp_words,
        pseudo,
        check,
    })))
}

/// An IPv4 header without options at `l3` for a UDP datagram of
/// `udp_len`: its addresses' memory-order sum, or why not.
#[inline(always)]
fn ipv4(ctx: &XdpContext, cfg: &XdpConfig, l3: usize, udp_len: usize) -> Result<Result<u64, Verdict>, ()> {
    let ip = Bytes::<IPV4_HLEN>::at(ctx, l3)?;
    let (src, dst) = (ip.get::<u32>(12), ip.get::<u32>(16));
    let addresses = src as u64 + dst as u64;
    let header = ip.get::<u32>(0) as u64 + ip.get::<u32>(4) as u64 + ip.get::<u32>(8) as u64 + addresses;
    if !csum::sums_to_ffff(header) {
        return Ok(Err(Verdict::Drop(Stat::DropIpChecksum)));
    }
    let total_len = u16::from_be(ip.get::<u16>(2)) as usize;
    if let Some(bad) = lengths(ctx, l3, total_len, IPV4_HLEN, udp_len) {
        return Ok(Err(bad));
    }
    if martian_v4(cfg, src, dst) {
        return Ok(Err(Verdict::Drop(Stat::DropMartian)));
    }
    Ok(Ok(addresses))
}

/// An IPv6 header at `l3` whose next header is a UDP datagram of
/// `udp_len`: its addresses' memory-order sum, or why not.
#[inline(always)]
fn ipv6(ctx: &XdpContext, cfg: &XdpConfig, l3: usize, udp_len: usize) -> Result<Result<u64, Verdict>, ()> {
    let ip = Bytes::<IPV6_HLEN>::at(ctx, l3)?;
    let payload_len = u16::from_be(ip.get::<u16>(4)) as usize;
    if let Some(bad) = lengths(ctx, l3, IPV6_HLEN + payload_len, IPV6_HLEN, udp_len) {
        return Ok(Err(bad));
    }
    let (s0, s1, d0, d1) = (
        ip.get::<u64>(8),
        ip.get::<u64>(16),
        ip.get::<u64>(24),
        ip.get::<u64>(32),
    );
    if martian_v6(cfg, (s0, s1), (d0, d1)) {
        return Ok(Err(Verdict::Drop(Stat::DropMartian)));
    }
    let halves = |w: u64| (w & 0xffff_ffff) + (w >> 32);
    Ok(Ok(halves(s0) + halves(s1) + halves(d0) + halves(d1)))
}

/// The IP packet (`ip_len` bytes, `header_len` of them header) against the
/// frame, and the UDP length against the IP payload; `None` when they agree.
///
/// The stack drops a packet longer than its frame and trims a shorter one
/// to its length (RFC 1122 3.3.2): what follows is Ethernet padding (the
/// frame then is the 60-byte minimum, plus its VLAN tags) or trailing
/// junk. Padding is fine, as the answer is built from the lengths, not the
/// frame; junk goes to the stack. The same for UDP: longer than its IP
/// payload is dropped, shorter is trimmed.
#[inline(always)]
fn lengths(ctx: &XdpContext, l3: usize, ip_len: usize, header_len: usize, udp_len: usize) -> Option<Verdict> {
    let frame_len = ctx.data_end() - ctx.data();
    // classify read the UDP header, so frame_len > l3 + header_len.
    let room = frame_len - l3;
    // The usual frame, first: the packet fills it and the datagram the
    // packet (two compares on a hit instead of the five below).
    if ip_len == room && ip_len == header_len + udp_len {
        return None;
    }
    if ip_len > room || ip_len < header_len + udp_len {
        return Some(Verdict::Drop(Stat::DropLength));
    }
    if ip_len < room && frame_len > ETH_ZLEN + (l3 - ETH_HLEN) {
        return Some(Verdict::Pass(Stat::Pass));
    }
    if ip_len > header_len + udp_len {
        return Some(Verdict::Pass(Stat::Pass));
    }
    None
}

/// A source no query comes from (the stack's `martian_source`, and ours);
/// the addresses as loaded (memory order).
#[inline(always)]
fn martian_v4(cfg: &XdpConfig, src: u32, dst: u32) -> bool {
    // The first octet is the first byte in memory: no byte swap.
    let [first, ..] = src.to_ne_bytes();
    // To ourselves from ourselves, loopback 127/8, "this network" 0/8,
    // multicast 224/4, the limited broadcast.
    if src == dst || first == 127 || first == 0 || first >> 4 == 0xe || src == u32::MAX {
        return true;
    }
    // Another of our service addresses (the map is filled only with the filter on).
    cfg.flags & CONFIG_SERVICE_FILTER != 0 && parse::service_v4(cfg, src)
}

/// A source no query comes from (the stack drops these in `ipv6_rcv`, and ours);
/// `src` and `dst` are the addresses' halves as loaded (memory order).
#[inline(always)]
fn martian_v6(cfg: &XdpConfig, src: (u64, u64), dst: (u64, u64)) -> bool {
    let (hi, lo) = (u64::from_be(src.0), u64::from_be(src.1));
    // Unspecified ::, loopback ::1, IPv4-mapped ::ffff:0:0/96.
    let low_zero = hi == 0 && (lo <= 1 || lo >> 32 == 0xffff);
    // Multicast ff00::/8, or to ourselves from ourselves.
    if low_zero || hi >> 56 == 0xff || src == dst {
        return true;
    }
    // Another of our service addresses (the map is filled only with the filter on).
    cfg.flags & CONFIG_SERVICE_FILTER != 0 && parse::service_v6(cfg, src.0, src.1)
}
