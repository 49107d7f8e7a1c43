//! Ethernet (with up to two VLAN tags), IPv4/IPv6 and UDP: is this DNS for us?
//! (Whether the stack would take it is [`crate::validate`]'s question.)

use aya_ebpf::programs::XdpContext;
use xdp_abi::{CONFIG_SERVICE_FILTER, Stat, XdpConfig, service_hint_v4, service_hint_v6};

use crate::maps::{SERVICE_V4, SERVICE_V6};

pub use xdp_abi::frame::{ETH_HLEN, IPV4_HLEN, IPV6_HLEN, UDP_HLEN};
use xdp_abi::frame::{ETH_P_8021AD, ETH_P_8021Q, ETH_P_IPV4, ETH_P_IPV6, IPPROTO_UDP};
/// Largest frame offset looked at (a page holds every frame XDP sees unfragmented).
const MAX_FRAME: usize = 4096;

/// A UDP datagram to our DNS port. Without implicit padding: it goes
/// through map memory (`launder` in main.rs) by volatile copies, which copy
/// padding too, a byte at a time.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Datagram {
    /// Offset of the IP header.
    pub l3: usize,
    /// Offset of the UDP header.
    pub l4: usize,
    /// Offset of the DNS message.
    pub dns: usize,
    /// Length of the DNS message (from the UDP length, which [`crate::validate`]
    /// checks against the IP length and the frame; padding excluded).
    pub dns_len: usize,
    /// The client's UDP port.
    pub src_port: u16,
    /// IPv6 rather than IPv4.
    pub v6: bool,
    /// Zero.
    pub _pad: u8,
    /// Zero.
    pub _pad2: u32,
}

/// What [`crate::validate`] needs beyond the [`Datagram`] (kept out of it:
/// the datagram goes through map memory, and every byte of it costs).
#[derive(Clone, Copy)]
pub struct Headers {
    /// The UDP header as loaded (memory order).
    pub udp: u64,
    /// IPv4 with options.
    pub ipv4_options: bool,
}

/// What the headers say about a frame.
pub enum Flow {
    /// Not DNS for us: hand it to the stack untouched.
    NotOurs,
    /// DNS for us that must be dropped.
    Drop(Stat),
    /// DNS for us.
    Dns(Datagram, Headers),
}

/// The one bounds-checked way to look at packet bytes: a pointer to a `T` at `offset`.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Result<*mut T, ()> {
    let start = ctx.data();
    let end = ctx.data_end();
    // Offsets that went through the stack or a map reach the verifier as
    // unknown numbers; this bound is what lets it accept the pointer math.
    if offset > MAX_FRAME {
        return Err(());
    }
    if start + offset + core::mem::size_of::<T>() > end {
        return Err(());
    }
    Ok((start + offset) as *mut T)
}

/// A big-endian u16 at `offset`.
#[inline(always)]
pub fn u16_at(ctx: &XdpContext, offset: usize) -> Result<u16, ()> {
    let p = ptr_at::<[u8; 2]>(ctx, offset)?;
    // SAFETY: ptr_at checked both bytes.
    Ok(u16::from_be_bytes(unsafe { *p }))
}

/// A little-endian view of packet bytes: `N` bytes at `offset`, read and
/// written in wide, possibly misaligned loads and stores (see build.rs).
pub struct Bytes<const N: usize>(*mut u8);

impl<const N: usize> Bytes<N> {
    #[inline(always)]
    pub fn at(ctx: &XdpContext, offset: usize) -> Result<Self, ()> {
        Ok(Bytes(ptr_at::<[u8; N]>(ctx, offset)?.cast()))
    }

    /// The `T` at byte `k`, as it lies in memory.
    #[inline(always)]
    pub fn get<T: Copy>(&self, k: usize) -> T {
        // SAFETY: ptr_at checked the N bytes; callers stay inside them.
        unsafe { self.0.add(k).cast::<T>().read_unaligned() }
    }

    #[inline(always)]
    pub fn set<T: Copy>(&self, k: usize, v: T) {
        // SAFETY: as in `get`.
        unsafe { self.0.add(k).cast::<T>().write_unaligned(v) }
    }
}

/// Classifies a frame.
#[inline(always)]
pub fn classify(ctx: &XdpContext, cfg: &XdpConfig) -> Result<Flow, ()> {
    let mut ethertype = u16_at(ctx, 12)?;
    let mut l3 = ETH_HLEN;
    for _ in 0..2 {
        if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
            ethertype = u16_at(ctx, l3 + 2)?;
            l3 += 4;
        }
    }
    let (l4, v6, fragment, options) = match ethertype {
        ETH_P_IPV4 => {
            let ip = ptr_at::<[u8; 20]>(ctx, l3)?;
            // SAFETY: ptr_at checked the 20 bytes.
            let ip = unsafe { *ip };
            let ihl = ((ip[0] & 0x0f) as usize) * 4;
            // The stack drops another version or a short header itself.
            if ip[0] >> 4 != 4 || ihl < IPV4_HLEN || ip[9] != IPPROTO_UDP {
                return Ok(Flow::NotOurs);
            }
            let frag = u16::from_be_bytes([ip[6], ip[7]]);
            if frag & 0x1fff != 0 {
                // A later fragment has no UDP header to judge by.
                return Ok(Flow::NotOurs);
            }
            if cfg.flags & CONFIG_SERVICE_FILTER != 0 {
                // One load, memory order.
                let dst = Bytes::<IPV4_HLEN>::at(ctx, l3)?.get::<u32>(16);
                if !service_v4(cfg, dst) {
                    return Ok(Flow::NotOurs);
                }
            }
            (l3 + ihl, false, frag & 0x2000 != 0, ihl != IPV4_HLEN)
        }
        ETH_P_IPV6 => {
            let ip = ptr_at::<[u8; IPV6_HLEN]>(ctx, l3)?;
            // SAFETY: ptr_at checked the 40 bytes.
            let ip = unsafe { &*ip };
            if ip[0] >> 4 != 6 || ip[6] != IPPROTO_UDP {
                return Ok(Flow::NotOurs);
            }
            if cfg.flags & CONFIG_SERVICE_FILTER != 0 {
                // Two loads, memory order.
                let header = Bytes::<IPV6_HLEN>::at(ctx, l3)?;
                let (high, low) = (header.get::<u64>(24), header.get::<u64>(32));
                if !service_v6(cfg, high, low) {
                    return Ok(Flow::NotOurs);
                }
            }
            (l3 + IPV6_HLEN, true, false, false)
        }
        _ => return Ok(Flow::NotOurs),
    };
    // One wide load: ports, length, checksum in memory order.
    let udp = Bytes::<UDP_HLEN>::at(ctx, l4)?.get::<u64>(0);
    let [src_port, dst_port, udp_len, _] = udp_fields(udp);
    if dst_port == 0 || (dst_port != cfg.dns_port && dst_port != cfg.dns_port_alt) {
        return Ok(Flow::NotOurs);
    }
    if fragment {
        return Ok(Flow::Drop(Stat::DropFragment));
    }
    let udp_len = udp_len as usize;
    if udp_len < UDP_HLEN {
        // The stack drops it too; [`crate::validate`] checks the rest of the lengths.
        return Ok(Flow::Drop(Stat::DropLength));
    }
    let d = Datagram {
        l3,
        l4,
        dns: l4 + UDP_HLEN,
        dns_len: udp_len - UDP_HLEN,
        src_port,
        v6,
        _pad: 0,
        _pad2: 0,
    };
    Ok(Flow::Dns(
        d,
        Headers {
            udp,
            ipv4_options: options,
        },
    ))
}

/// Whether the IPv4 address loaded as `address` (memory order) is one of
/// the service's: its hint bit first, so that other addresses cost no
/// lookup (the caller checks that the filter is on).
#[inline(always)]
pub fn service_v4(cfg: &XdpConfig, address: u32) -> bool {
    cfg.may_serve(service_hint_v4(address)) && SERVICE_V4.get_ptr(address.to_ne_bytes()).is_some()
}

/// [`service_v4`] for an IPv6 address loaded as two memory-order words.
#[inline(always)]
pub fn service_v6(cfg: &XdpConfig, high: u64, low: u64) -> bool {
    cfg.may_serve(service_hint_v6(high, low)) && SERVICE_V6.get_ptr(octets(high, low)).is_some()
}

/// The 16 octets of an IPv6 address loaded as two memory-order words (two
/// stores, where copying the octets takes sixteen).
#[inline(always)]
pub fn octets(high: u64, low: u64) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..8].copy_from_slice(&high.to_ne_bytes());
    a[8..].copy_from_slice(&low.to_ne_bytes());
    a
}

/// Source port, destination port, length and checksum from a UDP header
/// loaded as one little-endian word.
#[inline(always)]
pub fn udp_fields(udp: u64) -> [u16; 4] {
    let be = |k: u32| u16::from_be((udp >> (16 * k)) as u16);
    [be(0), be(1), be(2), be(3)]
}
