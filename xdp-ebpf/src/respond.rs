//! Turns the query frame into the response in place: addresses and ports
//! swapped, header set, question kept as received, body from the map,
//! lengths and checksums fixed.

use aya_ebpf::{
    helpers::{bpf_xdp_adjust_head, bpf_xdp_adjust_tail, bpf_xdp_load_bytes, bpf_xdp_store_bytes},
    programs::XdpContext,
};
use xdp_common::{
    abi::{CacheValue, MAX_BODY},
    csum,
    question::Question,
    wire::MAX_NAME_LEN,
};

use crate::{
    csum::be16_sum,
    maps::{HEAD_BUF, SCRATCH},
    parse::{Datagram, UDP_HLEN, ptr_at},
};

/// TTL / hop limit of our responses.
const RESPONSE_TTL: u8 = 64;

/// The response header's flags and counts (QDCOUNT is always 1).
pub struct Header {
    /// Flags, RD and CD already merged from the query.
    pub flags: u16,
    /// ANCOUNT, NSCOUNT, ARCOUNT.
    pub counts: [u16; 3],
}

/// Rewrites the frame into the response; `body` follows the question.
#[inline(always)]
pub fn rewrite(
    ctx: &XdpContext,
    d: &Datagram,
    q: &Question,
    hdr: &Header,
    body: Option<&CacheValue>,
) -> Result<(), ()> {
    let body_len = match body {
        Some(v) => v.body_len as usize,
        None => 0,
    };
    if body_len > MAX_BODY {
        return Err(());
    }
    let dns_len = q.end + body_len;
    let old_total = ctx.data_end() - ctx.data();
    let new_total = d.dns + dns_len;
    let delta = new_total as i32 - old_total as i32;
    resize(ctx, delta, d.dns + q.end)?;
    if let Some(v) = body
        && body_len > 0
    {
        // The body follows the name in the value. Its offset is read from the
        // value, not taken from the question: the verifier knows the name's
        // length in a different range on each path out of the name comparison
        // and would check everything from here once per range.
        // (The mask, 255, bounds it for the verifier.)
        let body = v.bytes().as_ptr().wrapping_add(v.body_at as usize & MAX_NAME_LEN);
        // SAFETY: the source is `body_len` (<= MAX_BODY) bytes of a map value;
        // the helper checks the destination range against the frame.
        let rc = unsafe { bpf_xdp_store_bytes(ctx.ctx, (d.dns + q.end) as u32, body as *mut _, body_len as u32) };
        if rc != 0 {
            return Err(());
        }
    }
    swap_ethernet(ctx)?;
    let udp_len = (UDP_HLEN + dns_len) as u16;
    let mut sum = if d.v6 {
        ipv6(ctx, d.l3, udp_len)?
    } else {
        ipv4(ctx, d.l3, (new_total - d.l3) as u16)?
    };
    sum += 17 + udp_len as u32;
    sum += dns_header(ctx, d.dns, hdr)?;
    sum += q.csum;
    if let Some(v) = body {
        let b = csum::fold(v.body_csum);
        sum += if q.end & 1 == 0 { b } else { csum::shift_odd(b) } as u32;
    }
    udp(ctx, d.l4, udp_len, sum)
}

/// Grows or shrinks the frame by `delta` at its end. When there is no room
/// at the end (veth hands over small socket buffers as they are), the frame
/// grows at the front instead and its first `keep` bytes (headers and
/// question) move to the new start.
#[inline(always)]
fn resize(ctx: &XdpContext, delta: i32, keep: usize) -> Result<(), ()> {
    if delta == 0 {
        return Ok(());
    }
    // SAFETY: the helper checks the new size against the frame's room.
    if unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) } == 0 {
        return Ok(());
    }
    if delta < 0 || keep == 0 || keep > HEAD_BUF {
        return Err(());
    }
    // SAFETY: only the address is taken; the per-CPU slot is ours.
    let buf = unsafe { &raw mut (*SCRATCH.get_ptr_mut(0).ok_or(())?).head };
    // SAFETY: `buf` is this CPU's HEAD_BUF-byte slot and 0 < keep <= HEAD_BUF;
    // the helpers check the frame side.
    unsafe {
        if bpf_xdp_load_bytes(ctx.ctx, 0, buf as *mut _, keep as u32) != 0 {
            return Err(());
        }
        if bpf_xdp_adjust_head(ctx.ctx, -delta) != 0 {
            return Err(());
        }
        if bpf_xdp_store_bytes(ctx.ctx, 0, buf as *mut _, keep as u32) != 0 {
            return Err(());
        }
    }
    Ok(())
}

#[inline(always)]
fn swap_ethernet(ctx: &XdpContext) -> Result<(), ()> {
    // SAFETY: ptr_at checked the 12 bytes.
    let eth = unsafe { &mut *ptr_at::<[u8; 12]>(ctx, 0)? };
    let old = *eth;
    eth[0..6].copy_from_slice(&old[6..12]);
    eth[6..12].copy_from_slice(&old[0..6]);
    Ok(())
}

/// Swaps addresses, sets length and TTL, fixes the header checksum;
/// returns the pseudo-header's address sum.
#[inline(always)]
fn ipv4(ctx: &XdpContext, l3: usize, total_len: u16) -> Result<u32, ()> {
    // SAFETY: ptr_at checked the 20 bytes.
    let ip = unsafe { &mut *ptr_at::<[u8; 20]>(ctx, l3)? };
    {
        let old = *ip;
        let mut check = u16::from_be_bytes([old[10], old[11]]);
        check = csum::replace16(check, u16::from_be_bytes([old[2], old[3]]), total_len);
        let ttl_proto = u16::from_be_bytes([RESPONSE_TTL, old[9]]);
        check = csum::replace16(check, u16::from_be_bytes([old[8], old[9]]), ttl_proto);
        ip[2..4].copy_from_slice(&total_len.to_be_bytes());
        ip[8] = RESPONSE_TTL;
        ip[10..12].copy_from_slice(&check.to_be_bytes());
        ip[12..16].copy_from_slice(&old[16..20]);
        ip[16..20].copy_from_slice(&old[12..16]);
        // Swapped addresses sum as before: sum the bytes already loaded.
        Ok(be16_sum(&old, 12, 20))
    }
}

/// Swaps addresses, sets payload length and hop limit; returns the address sum.
#[inline(always)]
fn ipv6(ctx: &XdpContext, l3: usize, payload_len: u16) -> Result<u32, ()> {
    // SAFETY: ptr_at checked the 40 bytes.
    let ip = unsafe { &mut *ptr_at::<[u8; 40]>(ctx, l3)? };
    ip[4..6].copy_from_slice(&payload_len.to_be_bytes());
    ip[7] = RESPONSE_TTL;
    // Byte by byte in place (the packet's alignment is unknown), summing
    // the bytes on the way rather than loading them again.
    let mut sum = 0u32;
    for i in 0..16 {
        let (src, dst) = (ip[8 + i], ip[24 + i]);
        ip[8 + i] = dst;
        ip[24 + i] = src;
        sum += (src as u32 + dst as u32) << if i % 2 == 0 { 8 } else { 0 };
    }
    Ok(sum)
}

/// Writes flags and counts (the ID stays); returns the header's sum.
#[inline(always)]
fn dns_header(ctx: &XdpContext, dns: usize, hdr: &Header) -> Result<u32, ()> {
    // SAFETY: ptr_at checked the 12 bytes.
    let h = unsafe { &mut *ptr_at::<[u8; 12]>(ctx, dns)? };
    h[2..4].copy_from_slice(&hdr.flags.to_be_bytes());
    h[4..6].copy_from_slice(&1u16.to_be_bytes());
    h[6..8].copy_from_slice(&hdr.counts[0].to_be_bytes());
    h[8..10].copy_from_slice(&hdr.counts[1].to_be_bytes());
    h[10..12].copy_from_slice(&hdr.counts[2].to_be_bytes());
    // The sum from the values written, not from the packet again.
    let id = u16::from_be_bytes([h[0], h[1]]);
    Ok([id, hdr.flags, 1, hdr.counts[0], hdr.counts[1], hdr.counts[2]]
        .iter()
        .map(|w| *w as u32)
        .sum())
}

/// Swaps ports, sets the length and the checksum over `sum` plus the header.
#[inline(always)]
fn udp(ctx: &XdpContext, l4: usize, udp_len: u16, sum: u32) -> Result<(), ()> {
    // SAFETY: ptr_at checked the 8 bytes.
    let u = unsafe { &mut *ptr_at::<[u8; UDP_HLEN]>(ctx, l4)? };
    {
        let old = *u;
        u[0..2].copy_from_slice(&old[2..4]);
        u[2..4].copy_from_slice(&old[0..2]);
        u[4..6].copy_from_slice(&udp_len.to_be_bytes());
        let ports = u16::from_be_bytes([old[0], old[1]]) as u32 + u16::from_be_bytes([old[2], old[3]]) as u32;
        let check = csum::udp_field(sum + ports + udp_len as u32);
        u[6..8].copy_from_slice(&check.to_be_bytes());
    }
    Ok(())
}
