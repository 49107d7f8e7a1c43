//! DNS cookies in the program's answers (RFC 7873, RFC 9018): the client's
//! server cookie judged and ours made by `dns_wire::cookie`, the very code
//! userspace runs, from the secrets userspace writes into `COOKIES`.

use aya_ebpf::programs::XdpContext;
use dns_wire::{
    cookie::{self, ClientAddr, Secret, Validity},
    fast_question,
};
use xdp_abi::{COOKIE_ENABLED, COOKIE_PREVIOUS, COOKIE_REQUIRE, Stat};

use crate::{
    maps::{COOKIE_MEMO, COOKIES, MEMO_SLOTS, Scratch},
    parse::{Datagram, ptr_at},
    stats::count,
};

/// Bytes of the COOKIE option an answer carries: code, length, the
/// client's cookie and our server cookie.
pub const OPTION_LEN: usize = cookie::RESPONSE_OPTION_LEN;

/// The COOKIE option of an answer as `judge` leaves it for `respond`:
/// the client's cookie and our server cookie as the little-endian words
/// of their bytes. Words, not bytes: `respond` stores them straight into
/// the frame and sums them for the checksum word by word.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Words {
    /// The client cookie, echoed.
    pub client: u64,
    /// Our server cookie's first 8 bytes (Version, Reserved, Timestamp).
    pub head: u64,
    /// Our server cookie's hash.
    pub mac: u64,
}

/// What a query's COOKIE option makes of its answer.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Judged {
    /// No COOKIE option.
    None,
    /// Userspace must answer (cookies off in the program, or
    /// `require_cookies` turning this one away with BADCOOKIE).
    Pass,
    /// The answer carries the option made of [`Scratch::cookie`]; the query's
    /// server cookie was absent or not ours.
    Answer,
    /// As `Answer`, and the query's server cookie was ours.
    AnswerValid,
}

/// Judges the COOKIE option of this CPU's question (in its [`Scratch`])
/// from the frame's source, writing the answer's option's words to
/// [`Scratch::cookie`].
///
/// A function of its own (a BPF-to-BPF call) rather than inlined: SipHash
/// and the cookie's bytes get a stack frame of their own, which keeps the
/// caller's within the 512 bytes BPF allows.
#[inline(never)]
pub fn judge(ctx: &XdpContext, scratch: &mut Scratch) -> Judged {
    judged(ctx, scratch).unwrap_or(Judged::Pass)
}

#[inline(always)]
fn judged(ctx: &XdpContext, scratch: &mut Scratch) -> Result<Judged, ()> {
    let Some((client, server)) = fast_question::cookie(&scratch.msg, &scratch.question) else {
        return Ok(Judged::None);
    };
    let Some(cfg) = COOKIES.get(0) else {
        return Ok(Judged::Pass);
    };
    if cfg.flags & COOKIE_ENABLED == 0 {
        return Ok(Judged::Pass);
    }
    let addr = source(ctx, &scratch.datagram)?;
    // Userspace's second, not the program's clock: see `CookieConfig::now`.
    let now = cfg.now;
    let previous = if cfg.flags & COOKIE_PREVIOUS != 0 {
        Some(&cfg.previous)
    } else {
        None
    };
    let (validity, ours) = cookie::judge_with(client, server, &addr, now, &cfg.current, previous, mac);
    count(match validity {
        Validity::Missing => Stat::CookieAbsent,
        Validity::Invalid => Stat::CookieInvalid,
        Validity::Fresh | Validity::Renew => Stat::CookieValid,
    });
    let valid = validity.is_valid();
    if cfg.flags & COOKIE_REQUIRE != 0 && !valid {
        return Ok(Judged::Pass);
    }
    scratch.cookie = Words {
        client,
        head: ours.head,
        mac: ours.mac,
    };
    Ok(if valid { Judged::AnswerValid } else { Judged::Answer })
}

/// The frame's source address, as RFC 9018 hashes it (an IPv4-mapped IPv6
/// source never gets here: `validate` drops it as a martian).
#[inline(always)]
fn source(ctx: &XdpContext, d: &Datagram) -> Result<ClientAddr, ()> {
    if d.v6 {
        let src = ptr_at::<[u8; 16]>(ctx, d.l3 + 8)?;
        // SAFETY: ptr_at checked the 16 bytes.
        Ok(ClientAddr::V6(unsafe { *src }))
    } else {
        let src = ptr_at::<[u8; 4]>(ctx, d.l3 + 12)?;
        // SAFETY: ptr_at checked the 4 bytes.
        Ok(ClientAddr::V4(unsafe { *src }))
    }
}

/// A server-cookie hash and everything it was computed from (a slot of
/// `COOKIE_MEMO`). All zero, as the map starts, is no entry (`filled`).
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Memo {
    /// The secret, as two little-endian words.
    secret: [u64; 2],
    /// The client cookie.
    client: u64,
    /// The server cookie's first 8 bytes.
    head: u64,
    /// The client's address: IPv4 in the low half of the first word.
    addr: [u64; 2],
    /// 1 for an entry (2 when its address is IPv6).
    filled: u64,
    /// `cookie::hash` of the above.
    mac: u64,
}

/// `cookie::hash`, remembered per CPU: the same inputs (every one of them
/// compared, the secret included, so a rollover or another client never
/// gets another's hash) give the remembered hash; others are hashed and
/// take the slot.
#[inline(always)]
fn mac(secret: &Secret, client: u64, head: u64, addr: &ClientAddr) -> u64 {
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    let key = [word(&secret[..8]), word(&secret[8..])];
    let (ip, filled) = match addr {
        ClientAddr::V4(ip) => ([u64::from(u32::from_le_bytes(*ip)), 0], 1),
        ClientAddr::V6(ip) => ([word(&ip[..8]), word(&ip[8..])], 2),
    };
    let slot = (client as u32 ^ (client >> 32) as u32) & (MEMO_SLOTS - 1);
    let Some(memo) = COOKIE_MEMO.get_ptr_mut(slot) else {
        return cookie::hash(secret, client, head, addr);
    };
    // SAFETY: a per-CPU slot, ours until the program returns.
    let memo = unsafe { &mut *memo };
    if memo.filled == filled && memo.client == client && memo.head == head && memo.addr == ip && memo.secret == key {
        return memo.mac;
    }
    let mac = cookie::hash(secret, client, head, addr);
    *memo = Memo {
        secret: key,
        client,
        head,
        addr: ip,
        filled,
        mac,
    };
    mac
}
