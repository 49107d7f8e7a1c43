//! Map keys, values, counters and settings shared by the XDP program and userspace.
//!
//! Every type is `#[repr(C)]`, `Copy`, without `bool` and with explicit
//! padding, so both sides agree on the bytes; userspace gets `aya::Pod`
//! impls through the `user` feature.

use crate::wire::MAX_NAME_LEN;

/// Bytes of a cached response after the question. Answers above this stay
/// in userspace; 1024 holds every answer of a typical zone without DNSSEC
/// and most with it, while keeping a map entry near 1.3 KiB.
pub const MAX_BODY: usize = 1024;

/// Size of the name buffer in a [`CacheValue`] (a wire name plus one spare byte, keeping alignment).
pub const NAME_BUF: usize = MAX_NAME_LEN + 1;
/// The same in 8-byte words (a power of two, so a word index can be masked into range).
pub const NAME_WORDS: usize = NAME_BUF / 8;
/// Size of [`CacheValue::data`]: room for the longest name and the largest body.
pub const DATA_BUF: usize = NAME_BUF + MAX_BODY;

/// [`CacheKey::flags`]: the query carried an OPT record.
pub const KEY_EDNS: u8 = 1;
/// [`CacheKey::flags`]: the OPT record had the DO bit.
pub const KEY_DO: u8 = 2;

/// Key of the response maps: what changes the bytes of an answer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// [`crate::hash::name_hash`] of the lower-cased wire name.
    pub name_hash: u64,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// [`KEY_EDNS`] | [`KEY_DO`].
    pub flags: u8,
    /// Wire length of the name, root label included.
    pub name_len: u8,
    /// Zero.
    pub _pad: [u8; 2],
}

/// A precomputed response: everything after the question, plus what the
/// header needs. The name is kept so a hash collision is never served.
/// Laid out for the cache: what every hit reads comes first, then the name
/// and the body back to back, so a typical hit reads one or two lines of it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CacheValue {
    /// Header flags: QR, opcode, AA, TC, RA, AD, RCODE; RD and CD come from the query.
    pub header_flags: u16,
    /// ANCOUNT.
    pub ancount: u16,
    /// NSCOUNT.
    pub nscount: u16,
    /// ARCOUNT (the OPT record included).
    pub arcount: u16,
    /// Bytes of body in `data`.
    pub body_len: u16,
    /// Where the body starts in `data`: the name's length.
    pub body_at: u16,
    /// Folded ones'-complement sum of the body as if it started at an even offset.
    pub body_csum: u32,
    /// 0 for our zones' answers. For the resolver's, a deadline on the
    /// program's clock (`bpf_ktime_get_coarse_ns`, CLOCK_MONOTONIC as of
    /// the last tick; userspace allows for the lag): the entry
    /// answers only before it, only queries with RD set, and only sources
    /// in the allow lists. Userspace writes such an entry with its TTLs
    /// lowered by the time until the deadline and rewrites it before the
    /// deadline passes, so an answer from XDP never carries a TTL longer
    /// than the record has left, even when userspace stops rewriting.
    pub recursive_until_ns: u64,
    /// The lower-cased wire name this answers (its first `name_len` bytes;
    /// words so the program compares it a word at a time), then right after
    /// the name the body: the answer, authority and additional sections,
    /// compressed against the question at offset 12.
    pub data: [u64; DATA_BUF / 8],
}

impl CacheValue {
    /// An all-zero value, to fill in.
    pub const fn zeroed() -> Self {
        CacheValue {
            header_flags: 0,
            ancount: 0,
            nscount: 0,
            arcount: 0,
            body_len: 0,
            body_at: 0,
            body_csum: 0,
            recursive_until_ns: 0,
            data: [0; DATA_BUF / 8],
        }
    }

    /// A value answering the lower-cased wire name `lower` with `body`
    /// (which must fit: at most [`MAX_NAME_LEN`] and [`MAX_BODY`] bytes).
    pub fn set_name_and_body(&mut self, lower: &[u8], body: &[u8]) {
        let bytes = self.bytes_mut();
        bytes[..lower.len()].copy_from_slice(lower);
        bytes[lower.len()..lower.len() + body.len()].copy_from_slice(body);
        self.body_len = body.len() as u16;
        self.body_at = lower.len() as u16;
    }

    /// The name's words (and whatever follows the name in them).
    #[inline(always)]
    pub fn name_words(&self) -> &[u64; NAME_WORDS] {
        // SAFETY: `data` starts with at least NAME_WORDS words.
        unsafe { &*self.data.as_ptr().cast::<[u64; NAME_WORDS]>() }
    }

    /// `data` as bytes: the name, then from byte `name_len` the body.
    #[inline(always)]
    pub fn bytes(&self) -> &[u8; DATA_BUF] {
        // SAFETY: DATA_BUF / 8 words are DATA_BUF bytes; u8 has no alignment or invalid values.
        unsafe { &*self.data.as_ptr().cast::<[u8; DATA_BUF]>() }
    }

    /// `data` as bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8; DATA_BUF] {
        // SAFETY: as in `bytes`.
        unsafe { &mut *self.data.as_mut_ptr().cast::<[u8; DATA_BUF]>() }
    }
}

/// Why a packet went where it went: indexes of the per-CPU counter array.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    /// Answered from the map with `XDP_TX`.
    Hit = 0,
    /// A query we could answer, but not in the map: passed to userspace.
    Miss,
    /// DNS for us that XDP does not answer (EDNS options, other opcodes,
    /// large or odd messages, too big for the client): passed to userspace.
    Pass,
    /// Shorter than a DNS header: dropped.
    DropTooShort,
    /// A response (QR=1) aimed at us: dropped.
    DropResponse,
    /// QDCOUNT is not 1: dropped.
    DropQdcount,
    /// An IPv4 first fragment to our port: dropped.
    DropFragment,
    /// From a well-known reflection source port: dropped.
    DropReflectionPort,
    /// From a source in the deny list: dropped.
    DropDenied,
    /// Over the per-prefix rate: dropped.
    RateLimited,
    /// Over the per-prefix rate, answered with TC=1 ("slip").
    Slip,
    /// The packet could not be resized or rewritten: passed.
    TxError,
    /// Answered from one of the resolver's entries with `XDP_TX`.
    RecursiveHit,
}

impl Stat {
    /// Number of counters.
    pub const COUNT: u32 = 13;
    /// Every counter, in index order.
    pub const ALL: [Stat; Self::COUNT as usize] = [
        Stat::Hit,
        Stat::Miss,
        Stat::Pass,
        Stat::DropTooShort,
        Stat::DropResponse,
        Stat::DropQdcount,
        Stat::DropFragment,
        Stat::DropReflectionPort,
        Stat::DropDenied,
        Stat::RateLimited,
        Stat::Slip,
        Stat::TxError,
        Stat::RecursiveHit,
    ];

    /// The counter's name in logs and `dns-server stats`.
    pub const fn name(self) -> &'static str {
        match self {
            Stat::Hit => "hit",
            Stat::Miss => "miss",
            Stat::Pass => "pass",
            Stat::DropTooShort => "drop_too_short",
            Stat::DropResponse => "drop_response",
            Stat::DropQdcount => "drop_qdcount",
            Stat::DropFragment => "drop_fragment",
            Stat::DropReflectionPort => "drop_reflection_port",
            Stat::DropDenied => "drop_denied",
            Stat::RateLimited => "rate_limited",
            Stat::Slip => "slip",
            Stat::TxError => "tx_error",
            Stat::RecursiveHit => "recursive_hit",
        }
    }
}

/// [`XdpConfig::flags`]: only packets to addresses in the service maps are ours.
pub const CONFIG_SERVICE_FILTER: u32 = 1;
/// [`XdpConfig::flags`]: per-prefix rate limiting is on.
pub const CONFIG_RATE_LIMIT: u32 = 2;

/// [`XdpConfig::flags`]: the resolver's entries answer (sources in the allow lists only).
pub const CONFIG_RECURSION: u32 = 4;

/// Run-time settings, the single entry of the `CONFIG` array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpConfig {
    /// UDP port DNS is served on (53 in production).
    pub dns_port: u16,
    /// A second port, or 0.
    pub dns_port_alt: u16,
    /// Our EDNS UDP payload: the cap on answers to EDNS queries.
    pub udp_limit: u16,
    /// Zero.
    pub _pad: u16,
    /// [`CONFIG_SERVICE_FILTER`] | [`CONFIG_RATE_LIMIT`] | [`CONFIG_RECURSION`].
    pub flags: u32,
    /// Which response map is live: 0 for A, 1 for B.
    pub active: u32,
    /// Rate limit: queries per second allowed per /24 or /56.
    pub rrl_rate: u32,
    /// Rate limit: burst, in queries.
    pub rrl_burst: u32,
    /// Rate limit: every Nth limited query gets a TC=1 reply; 0 never.
    pub rrl_slip: u32,
    /// Zero.
    pub _pad2: u32,
}

/// Token bucket of one source prefix (rate limiting).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Time of the last refill, ns of CLOCK_MONOTONIC as of the last tick.
    pub last_ns: u64,
    /// Tokens left, scaled by [`TOKEN_SCALE`].
    pub tokens: u64,
    /// Queries limited so far (for slip).
    pub limited: u64,
}

/// Fixed-point scale of [`Bucket::tokens`].
pub const TOKEN_SCALE: u64 = 1 << 20;

#[cfg(feature = "user")]
mod pod {
    // SAFETY: every type is repr(C), Copy, with explicit padding and no invalid bit patterns.
    unsafe impl aya::Pod for super::CacheKey {}
    unsafe impl aya::Pod for super::CacheValue {}
    unsafe impl aya::Pod for super::XdpConfig {}
    unsafe impl aya::Pod for super::Bucket {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_no_hidden_padding() {
        assert_eq!(core::mem::size_of::<CacheKey>(), 16);
        assert_eq!(core::mem::size_of::<CacheValue>(), NAME_BUF + 24 + MAX_BODY);
        assert_eq!(core::mem::size_of::<XdpConfig>(), 32);
        for (i, s) in Stat::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i, "Stat::ALL is in index order");
        }
    }
}
