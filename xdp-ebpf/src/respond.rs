//! Turns the query frame into the response in place: addresses and ports
//! swapped, header set, question kept as received, body from the map,
//! lengths and checksums fixed.

use aya_ebpf::{
    helpers::{bpf_xdp_adjust_head, bpf_xdp_adjust_tail, bpf_xdp_load_bytes, bpf_xdp_store_bytes},
    programs::XdpContext,
};
use dns_wire::{
    csum,
    fast_question::Question,
    wire::{MAX_NAME_LEN, edns_option},
};
use xdp_abi::{CacheValue, DATA_BUF, MAX_BODY, Stat, frame::RESPONSE_TTL};

use crate::{
    cookie::{OPTION_LEN, Words},
    maps::{HEAD_BUF, SCRATCH},
    parse::{Bytes, Datagram, UDP_HLEN},
};

/// The response header's flags and counts (QDCOUNT is always 1).
pub struct Header {
    /// Flags, RD and CD already merged from the query.
    pub flags: u16,
    /// ANCOUNT, NSCOUNT, ARCOUNT.
    pub counts: [u16; 3],
}

/// Whether the body of `v` ends with an OPT record without options (as
/// every answer to an EDNS query is cached), so a COOKIE option can follow.
#[inline(always)]
pub fn ends_with_bare_opt(v: &CacheValue) -> bool {
    let end = v.body_at as usize + v.body_len as usize;
    if (v.body_len as usize) < OPT_LEN || end > DATA_BUF {
        return false;
    }
    let b = v.bytes();
    // Owner (the root), TYPE 41, ..., RDLENGTH 0.
    let at = end - OPT_LEN;
    b[at] == 0 && b[at + 1] == 0 && b[at + 2] == 41 && b[end - 2] == 0 && b[end - 1] == 0
}

/// Bytes of an OPT record without options.
const OPT_LEN: usize = 11;

/// Rewrites the frame into the response; `body` follows the question, and
/// `cookie` (a COOKIE option) follows the body, whose OPT record it joins
/// (the caller checked with [`ends_with_bare_opt`]). On failure, the
/// counter that says why: [`Stat::NoRoom`] when the frame cannot grow to
/// the response (it is then as it was), else [`Stat::TxError`].
#[inline(always)]
pub fn rewrite(
    ctx: &XdpContext,
    d: &Datagram,
    q: &Question,
    hdr: &Header,
    body: Option<&CacheValue>,
    cookie: Option<&Words>,
) -> Result<(), Stat> {
    let body_len = match body {
        Some(v) => v.body_len as usize,
        None => 0,
    };
    if body_len > MAX_BODY || (cookie.is_some() && body_len < OPT_LEN) {
        return Err(Stat::TxError);
    }
    let extra = if cookie.is_some() { OPTION_LEN } else { 0 };
    let dns_len = q.end + body_len + extra;
    let old_total = ctx.data_end() - ctx.data();
    let new_total = d.dns + dns_len;
    let delta = new_total as i32 - old_total as i32;
    resize(ctx, delta, d.dns + q.end)?;
    write(ctx, d, q, hdr, body, cookie, body_len, dns_len, new_total).map_err(|()| Stat::TxError)
}

/// [`rewrite`] once the frame has its new size.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn write(
    ctx: &XdpContext,
    d: &Datagram,
    q: &Question,
    hdr: &Header,
    body: Option<&CacheValue>,
    cookie: Option<&Words>,
    body_len: usize,
    dns_len: usize,
    new_total: usize,
) -> Result<(), ()> {
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
    let mut cookie_sum = 0;
    if let Some(option) = cookie {
        cookie_sum = add_cookie(ctx, d.dns + q.end + body_len, option)?;
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
    // The OPT RDLENGTH and the option sit at the same parity as the body's end.
    let cookie_sum = csum::fold(cookie_sum);
    sum += if (q.end + body_len) & 1 == 0 {
        cookie_sum
    } else {
        csum::shift_odd(cookie_sum)
    } as u32;
    udp(ctx, d.l4, udp_len, sum)
}

/// Writes `option` at `at` (the end of the body) and makes the OPT record's
/// RDLENGTH, the body's last two bytes, count it; returns the sum of what
/// changed as if `at` were even (RDLENGTH was 0, so its new value adds as is).
///
/// Stored straight into the frame (one bounds check, five stores) and
/// summed from the words themselves: no helper call, no byte loop.
#[inline(always)]
fn add_cookie(ctx: &XdpContext, at: usize, option: &Words) -> Result<u32, ()> {
    let rdlen = OPTION_LEN as u16;
    let code_len = (u32::from(edns_option::COOKIE) << 16) | (OPTION_LEN - 4) as u32;
    // RDLENGTH, code and length, the client's cookie, ours.
    let b = Bytes::<{ 2 + OPTION_LEN }>::at(ctx, at - 2)?;
    b.set::<u16>(0, rdlen.to_be());
    b.set::<u32>(2, code_len.to_be());
    b.set::<u64>(6, option.client.to_le());
    b.set::<u64>(14, option.head.to_le());
    b.set::<u64>(22, option.mac.to_le());
    // The words' bytes lie in memory as a little-endian load would read them.
    Ok(u32::from(rdlen)
        + (code_len >> 16)
        + (code_len & 0xffff)
        + csum::sum_be_words(option.client.to_le())
        + csum::sum_be_words(option.head.to_le())
        + csum::sum_be_words(option.mac.to_le()))
}

/// Grows or shrinks the frame by `delta` at its end. When there is no room
/// at the end (veth hands over small socket buffers as they are), the frame
/// grows at the front instead, or at both ends when neither has the room
/// alone, and its first `keep` bytes (headers and question) move to the new
/// start. [`Stat::NoRoom`] when the two ends together lack the room (the
/// frame is then as it was).
#[inline(always)]
fn resize(ctx: &XdpContext, delta: i32, keep: usize) -> Result<(), Stat> {
    if delta == 0 || adjust_tail(ctx, delta) {
        return Ok(());
    }
    if delta < 0 || keep == 0 || keep > HEAD_BUF {
        return Err(if delta < 0 { Stat::TxError } else { Stat::NoRoom });
    }
    let front = if adjust_head(ctx, -delta) {
        delta
    } else if delta > FRONT_ROOM && adjust_tail(ctx, delta - FRONT_ROOM) {
        // The rest at the end. A frame of veth's has ~40 bytes there, or
        // ~600 (one buffer in five of its page pool's): with the front's,
        // room for a signed NXDOMAIN in the latter.
        if !adjust_head(ctx, -FRONT_ROOM) {
            // Less at the front than drivers give (metadata there): as it was.
            return Err(if adjust_tail(ctx, FRONT_ROOM - delta) {
                Stat::NoRoom
            } else {
                Stat::TxError
            });
        }
        FRONT_ROOM
    } else {
        return Err(Stat::NoRoom);
    };
    // The bytes stay where they were: the first `keep` are now `front` in.
    // SAFETY: only the address is taken; the per-CPU slot is ours.
    let buf = unsafe { &raw mut (*SCRATCH.get_ptr_mut(0).ok_or(Stat::TxError)?).head };
    // SAFETY: `buf` is this CPU's HEAD_BUF-byte slot and 0 < keep <= HEAD_BUF;
    // the helpers check the frame side.
    unsafe {
        if bpf_xdp_load_bytes(ctx.ctx, front as u32, buf as *mut _, keep as u32) != 0
            || bpf_xdp_store_bytes(ctx.ctx, 0, buf as *mut _, keep as u32) != 0
        {
            return Err(Stat::TxError);
        }
    }
    Ok(())
}

/// Moves the frame's end by `delta`; false, and the frame as it was, when
/// it has not the room.
#[inline(always)]
fn adjust_tail(ctx: &XdpContext, delta: i32) -> bool {
    // SAFETY: the helper checks the new end against the frame's room and
    // changes nothing when it is short.
    unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) == 0 }
}

/// Moves the frame's start by `delta` (negative: it grows); false, and the
/// frame as it was, when it has not the room.
#[inline(always)]
fn adjust_head(ctx: &XdpContext, delta: i32) -> bool {
    // SAFETY: the helper checks the new start against the frame's headroom
    // and changes nothing when it is short.
    unsafe { bpf_xdp_adjust_head(ctx.ctx, delta) == 0 }
}

/// What a frame can grow by at the front: the headroom every driver gives
/// XDP (`XDP_PACKET_HEADROOM`, 256) less the `struct xdp_frame` that
/// `XDP_TX` keeps there (40 bytes), which `bpf_xdp_adjust_head` leaves free.
const FRONT_ROOM: i32 = 256 - 40;

#[inline(always)]
fn swap_ethernet(ctx: &XdpContext) -> Result<(), ()> {
    let eth = Bytes::<12>::at(ctx, 0)?;
    // Bytes 0..8 and 8..12, little-endian: destination 0..6, source 6..12.
    let (low, high) = (eth.get::<u64>(0), eth.get::<u32>(8) as u64);
    let dst = low & 0xffff_ffff_ffff;
    let src = (low >> 48) | (high << 16);
    eth.set::<u64>(0, src | (dst << 48));
    eth.set::<u32>(8, (dst >> 16) as u32);
    Ok(())
}

/// Swaps addresses, sets length and TTL, fixes the header checksum;
/// returns the pseudo-header's address sum.
#[inline(always)]
fn ipv4(ctx: &XdpContext, l3: usize, total_len: u16) -> Result<u32, ()> {
    let ip = Bytes::<20>::at(ctx, l3)?;
    let old_len = u16::from_be(ip.get::<u16>(2));
    let old_ttl_proto = u16::from_be(ip.get::<u16>(8));
    let ttl_proto = (u16::from(RESPONSE_TTL) << 8) | (old_ttl_proto & 0xff);
    let mut check = u16::from_be(ip.get::<u16>(10));
    check = csum::replace16(check, old_len, total_len);
    check = csum::replace16(check, old_ttl_proto, ttl_proto);
    ip.set::<u16>(2, total_len.to_be());
    ip.set::<u16>(8, ttl_proto.to_be());
    ip.set::<u16>(10, check.to_be());
    // Source and destination, 12..20, swap halves.
    let addrs = ip.get::<u64>(12);
    ip.set::<u64>(12, addrs.rotate_left(32));
    // Swapped addresses sum as before.
    Ok(csum::sum_be_words(addrs))
}

/// Swaps addresses, sets payload length and hop limit; returns the address sum.
#[inline(always)]
fn ipv6(ctx: &XdpContext, l3: usize, payload_len: u16) -> Result<u32, ()> {
    let ip = Bytes::<40>::at(ctx, l3)?;
    ip.set::<u16>(4, payload_len.to_be());
    ip.set::<u8>(7, RESPONSE_TTL);
    let (s0, s1, d0, d1) = (
        ip.get::<u64>(8),
        ip.get::<u64>(16),
        ip.get::<u64>(24),
        ip.get::<u64>(32),
    );
    ip.set::<u64>(8, d0);
    ip.set::<u64>(16, d1);
    ip.set::<u64>(24, s0);
    ip.set::<u64>(32, s1);
    Ok(csum::sum_be_words(s0) + csum::sum_be_words(s1) + csum::sum_be_words(d0) + csum::sum_be_words(d1))
}

/// Writes flags and counts (the ID stays); returns the header's sum.
#[inline(always)]
fn dns_header(ctx: &XdpContext, dns: usize, hdr: &Header) -> Result<u32, ()> {
    let h = Bytes::<12>::at(ctx, dns)?;
    let id = u16::from_be(h.get::<u16>(0));
    // Bytes 2..4 flags, 4..6 QDCOUNT = 1, 6..12 the three counts.
    let flags_qd = (u32::from(hdr.flags) << 16) | 1;
    h.set::<u32>(2, flags_qd.to_be());
    let [an, ns, ar] = hdr.counts;
    h.set::<u32>(6, ((u32::from(an) << 16) | u32::from(ns)).to_be());
    h.set::<u16>(10, ar.to_be());
    Ok(id as u32 + hdr.flags as u32 + 1 + hdr.counts[0] as u32 + hdr.counts[1] as u32 + hdr.counts[2] as u32)
}

/// Swaps ports, sets the length and the checksum over `sum` plus the header.
#[inline(always)]
fn udp(ctx: &XdpContext, l4: usize, udp_len: u16, sum: u32) -> Result<(), ()> {
    let u = Bytes::<UDP_HLEN>::at(ctx, l4)?;
    let ports = u.get::<u32>(0);
    u.set::<u32>(0, ports.rotate_left(16));
    let ports_sum = (ports & 0xffff) + (ports >> 16);
    // Little-endian halves are byte-swapped words: their folded sum, swapped back.
    let ports_sum = csum::fold(ports_sum).swap_bytes() as u32;
    let check = csum::udp_field(sum + ports_sum + udp_len as u32);
    // Length and checksum, 4..8.
    u.set::<u32>(4, ((u32::from(udp_len) << 16) | u32::from(check)).to_be());
    Ok(())
}
