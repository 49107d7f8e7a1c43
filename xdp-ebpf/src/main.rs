//! XDP entry point: answers cached DNS queries with `XDP_TX`, drops junk
//! aimed at the DNS port, passes everything else to the kernel untouched.
//!
//! Roles, as in Katran: [`parse`] (headers), [`validate`] (what the
//! kernel's IP and UDP input would refuse), [`filter`] (drops by source),
//! [`maps`], [`recursive`] (who gets the resolver's entries), [`respond`] (the
//! rewrite and its checksums), [`af_xdp`] (hits without room, to userspace
//! through AF_XDP), [`stats`]. The DNS question itself is parsed
//! by `dns_wire::fast_question`, shared with the host.
// Built for bpfel-unknown-none by dns-server's build.rs; on the host (clippy,
// `cargo test --workspace`) it compiles to a stub so the workspace checks.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

mod af_xdp;
mod cookie;
mod filter;
mod maps;
mod parse;
mod recursive;
mod respond;
mod rrl;
mod stats;
#[cfg_attr(feature = "no-frame-checks", allow(dead_code))]
mod validate;

use aya_ebpf::{bindings::xdp_action, helpers::bpf_xdp_load_bytes, macros::xdp, programs::XdpContext};
use aya_log_ebpf::{debug, trace, warn};
use dns_wire::{
    fast_question::{self, MSG_BUF, Question, Verdict},
    wire::{FLAG_CD, FLAG_QR, FLAG_RD, FLAG_TC, HEADER_LEN, OPCODE_MASK},
};
use xdp_abi::{CacheKey, CacheValue, Stat};

use crate::{
    maps::{CACHE_A, CACHE_B, CONFIG, SCRATCH},
    parse::{Datagram, Flow},
    respond::Header,
    stats::count,
};

/// The program attached to each configured interface.
#[xdp]
pub fn xdp_dns(ctx: XdpContext) -> u32 {
    try_xdp_dns(&ctx).unwrap_or(xdp_action::XDP_PASS)
}

fn try_xdp_dns(ctx: &XdpContext) -> Result<u32, ()> {
    // A reference into the map: each field is read where it is used, once.
    let cfg = CONFIG.get(0).ok_or(())?;
    let (d, headers) = match parse::classify(ctx, cfg)? {
        Flow::NotOurs => return Ok(xdp_action::XDP_PASS),
        Flow::Drop(why) => return Ok(drop(ctx, why)),
        Flow::Dns(d, headers) => (d, headers),
    };
    if let Some(why) = filter::check(ctx, &d)? {
        return Ok(drop(ctx, why));
    }
    // The header's drops straight from the packet, before anything is copied:
    // junk costs little. `fast_question::header` repeats them for the host's sake.
    if d.dns_len < HEADER_LEN {
        return Ok(drop(ctx, Stat::DropTooShort));
    }
    let head = parse::ptr_at::<[u8; 6]>(ctx, d.dns)?;
    // SAFETY: ptr_at checked the 6 bytes.
    let head = unsafe { *head };
    if u16::from_be_bytes([head[2], head[3]]) & FLAG_QR != 0 {
        return Ok(drop(ctx, Stat::DropResponse));
    }
    match u16::from_be_bytes([head[4], head[5]]) {
        1 => {}
        // No question: a query for a server cookie (RFC 7873 5.4) or another
        // opcode's message, which userspace answers (NOERROR, NOTIMP, FORMERR).
        0 => return Ok(pass(ctx, Stat::Pass)),
        _ => return Ok(drop(ctx, Stat::DropQdcount)),
    }
    // What the stack would refuse, before anything is answered (after the
    // drops above, so that junk costs what it did).
    #[cfg(not(feature = "no-frame-checks"))]
    let Some(udp_sum) = validate::sound(ctx, cfg, &d, headers) else {
        return Ok(validate::refuse(ctx, cfg));
    };
    // A build for measuring what the checks cost (`xdp_bench
    // --without-checks`), never shipped: nothing checked, no UDP checksum.
    #[cfg(feature = "no-frame-checks")]
    let udp_sum: Option<validate::UdpSum> = {
        let _ = headers;
        None
    };
    // This CPU's slot, ours until the program returns. Each use borrows its
    // own field (`respond::resize` uses `head`).
    let scratch = SCRATCH.get_ptr_mut(0).ok_or(())?;
    // SAFETY: (for each field borrowed below) the slot is valid and ours.
    let d = launder(unsafe { &mut (*scratch).datagram }, d);
    // Checked above, but the verifier forgets bounds across the round trip.
    if d.dns_len < HEADER_LEN {
        return Ok(drop(ctx, Stat::DropTooShort));
    }
    if d.dns_len > MSG_BUF {
        return Ok(pass(ctx, Stat::Pass));
    }
    // SAFETY: see `scratch`.
    let msg = unsafe { &mut (*scratch).msg };
    // SAFETY: the message's place holds MSG_BUF bytes and dns_len is in 12..=MSG_BUF.
    let copied = unsafe { bpf_xdp_load_bytes(ctx.ctx, d.dns as u32, msg.start_mut() as *mut _, d.dns_len as u32) };
    if copied != 0 {
        return Ok(pass(ctx, Stat::TxError));
    }
    // The UDP checksum, now that the message is in the buffer (and before
    // its name is lower-cased there). Summed here, not from the parse's
    // own sums: a loop after the parse is walked by the verifier once per
    // path through it, far beyond its budget.
    if let Some(sum) = udp_sum
        && !sum.verifies(msg.csum_native(d.dns_len))
    {
        return Ok(drop(ctx, Stat::DropUdpChecksum));
    }
    // fast_question::parse in three steps, each result laundered.
    let header = match fast_question::header(msg, d.dns_len) {
        Ok(h) => h,
        Err(v) => return Ok(verdict(ctx, v)),
    };
    let Some(name) = fast_question::name(msg, d.dns_len) else {
        return Ok(pass(ctx, Stat::Pass));
    };
    // SAFETY: see `scratch`.
    let name = launder(unsafe { &mut (*scratch).name }, name);
    let q = match fast_question::rest(msg, d.dns_len, header, name) {
        // SAFETY: see `scratch`.
        Ok(q) => launder(unsafe { &mut (*scratch).question }, q),
        Err(v) => return Ok(verdict(ctx, v)),
    };
    // SAFETY: see `scratch`; `judge` reads the slots written above and
    // writes only the cookie's.
    let cookie = cookie::judge(ctx, unsafe { &mut *scratch });
    if cookie == cookie::Judged::Pass {
        return Ok(pass(ctx, Stat::Pass));
    }
    // A client that shows a server cookie of ours is no spoofed source:
    // the rate limit is for those (Unbound lets valid cookies past its
    // ip-ratelimit too).
    if cookie != cookie::Judged::AnswerValid {
        match rrl::check(ctx, &d, cfg)? {
            rrl::Limit::Allow => {}
            rrl::Limit::Drop => return Ok(drop(ctx, Stat::RateLimited)),
            rrl::Limit::Slip => return slip(ctx, &d, &q),
        }
    }
    let cache = if cfg.active == 0 { &CACHE_A } else { &CACHE_B };
    let Some(value) = cache.get_ptr(CacheKey(q.key)) else {
        return Ok(pass(ctx, Stat::Miss));
    };
    // SAFETY: a map value stays valid for the whole program run (RCU).
    let value = unsafe { &*value };
    // Our zones' answers, or the resolver's (names no zone holds) for those allowed.
    let stat = if value.recursive_until_ns == 0 {
        Stat::Hit
    } else if recursive::may_answer(ctx, &d, &q, cfg, value)? {
        Stat::RecursiveHit
    } else {
        return Ok(pass(ctx, Stat::Miss));
    };
    if !fast_question::same_name(value.name_words(), msg, q.key.name_len as usize) {
        return Ok(pass(ctx, Stat::Miss));
    }
    let option = match cookie {
        cookie::Judged::None | cookie::Judged::Pass => None,
        // SAFETY: see `scratch`.
        _ if respond::ends_with_bare_opt(value) => Some(unsafe { &(*scratch).cookie }),
        // No OPT record to carry the cookie at the end: userspace's.
        _ => return Ok(pass(ctx, Stat::Pass)),
    };
    let extra = if option.is_some() { cookie::OPTION_LEN } else { 0 };
    if q.end + value.body_len as usize + extra > q.size_limit(cfg.udp_limit) {
        return Ok(pass(ctx, Stat::Pass));
    }
    answer(ctx, &d, &q, value, option, stat)
}

/// Writes the cached response (with `cookie` added to its OPT record) and
/// sends it back out of the interface.
#[inline(always)]
fn answer(
    ctx: &XdpContext,
    d: &Datagram,
    q: &Question,
    value: &CacheValue,
    cookie: Option<&cookie::Words>,
    stat: Stat,
) -> Result<u32, ()> {
    let hdr = Header {
        flags: value.header_flags | (q.flags & (FLAG_RD | FLAG_CD)),
        counts: [value.ancount, value.nscount, value.arcount],
    };
    match respond::rewrite(ctx, d, q, &hdr, Some(value), cookie) {
        Ok(()) => {
            count(stat);
            trace!(ctx, "answered: {}", stat.name());
            Ok(xdp_action::XDP_TX)
        }
        // A failed resize (no room) leaves the frame as it was, for userspace to answer:
        // through its AF_XDP socket when there is one (a zone's answer or the
        // resolver's). A failed write after it cannot happen (every offset was
        // checked before), but if it did the stack would drop the mess.
        Err(Stat::NoRoom) => Ok(af_xdp::redirect(ctx).unwrap_or_else(|| pass(ctx, Stat::NoRoom))),
        Err(why) => Ok(pass(ctx, why)),
    }
}

/// A rate-limited query that slips through: the question alone with TC=1,
/// so the client retries over TCP.
#[inline(always)]
fn slip(ctx: &XdpContext, d: &Datagram, q: &Question) -> Result<u32, ()> {
    let hdr = Header {
        flags: FLAG_QR | FLAG_TC | (q.flags & (OPCODE_MASK | FLAG_RD | FLAG_CD)),
        counts: [0, 0, 0],
    };
    match respond::rewrite(ctx, d, q, &hdr, None, None) {
        Ok(()) => {
            count(Stat::Slip);
            debug!(ctx, "rate limited: TC=1 slip sent");
            Ok(xdp_action::XDP_TX)
        }
        Err(why) => Ok(pass(ctx, why)),
    }
}

/// Returns `v` after a round trip through `slot`, map memory. The verifier
/// does not track values stored in maps, so every path that reaches this
/// point continues as one (bounded loops before it would otherwise multiply
/// the paths through everything after, far beyond the verifier's budget).
#[inline(always)]
fn launder<T: Copy>(slot: &mut T, v: T) -> T {
    // SAFETY: `slot` is a valid, exclusive reference; volatile keeps the
    // compiler from short-cutting the round trip.
    unsafe {
        core::ptr::write_volatile(slot, v);
        core::ptr::read_volatile(slot)
    }
}

#[inline(always)]
fn verdict(ctx: &XdpContext, v: Verdict) -> u32 {
    match v {
        Verdict::Pass => pass(ctx, Stat::Pass),
        Verdict::DropTooShort => drop(ctx, Stat::DropTooShort),
        Verdict::DropResponse => drop(ctx, Stat::DropResponse),
        Verdict::DropQdcount => drop(ctx, Stat::DropQdcount),
    }
}

// Log statements cost nothing unless userspace enables their level before
// loading (`[xdp] log_level`, aya-log's AYA_LOG_LEVEL): the verifier then
// removes them as dead code.

#[inline(always)]
fn drop(ctx: &XdpContext, why: Stat) -> u32 {
    count(why);
    debug!(ctx, "dropped: {}", why.name());
    xdp_action::XDP_DROP
}

#[inline(always)]
fn pass(ctx: &XdpContext, why: Stat) -> u32 {
    count(why);
    if why == Stat::TxError {
        warn!(ctx, "frame not rewritten; passed to the stack");
    } else {
        trace!(ctx, "passed: {}", why.name());
    }
    xdp_action::XDP_PASS
}

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[cfg(not(target_arch = "bpf"))]
fn main() {
    eprintln!("xdp-dns is an eBPF program: it is built for bpfel-unknown-none and loaded by dns-server");
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
