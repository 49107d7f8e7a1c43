//! The XDP program's interface with userspace: the names of its maps and of
//! the program itself, and the keys, values, counters and settings in the maps.
//!
//! Every type is `#[repr(C)]`, `Copy`, without `bool` and with explicit
//! padding, so both sides agree on the bytes; userspace gets `aya::Pod`
//! impls through the `user` feature. DNS itself (the parsers, the name
//! hash) is in `dns-wire`; this crate only says how it is laid out in maps.
#![no_std]
#![warn(missing_docs)]

pub use dns_wire::fast_question::{KEY_DO, KEY_EDNS, NAME_WORDS, QuestionKey};
use dns_wire::wire::MAX_NAME_LEN;

/// Names by which userspace finds the program and its maps in the object.
///
/// aya's `#[map]` takes a map's name from its static's identifier (or a
/// string literal), not from a constant, so the program declares each map as
/// a static of exactly this name; dns-server's tests check that every name
/// here is in the object it embeds.
pub mod names {
    /// The XDP entry point (`#[xdp] fn xdp_dns`).
    pub const PROGRAM: &str = "xdp_dns";
    /// Per-CPU counters indexed by [`crate::Stat`].
    pub const STATS: &str = "STATS";
    /// The single [`crate::XdpConfig`].
    pub const CONFIG: &str = "CONFIG";
    /// Responses of generation A ([`crate::CacheKey`] to [`crate::CacheValue`]).
    pub const CACHE_A: &str = "CACHE_A";
    /// Responses of generation B.
    pub const CACHE_B: &str = "CACHE_B";
    /// IPv4 client prefixes allowed to recurse.
    pub const ALLOW_V4: &str = "ALLOW_V4";
    /// IPv6 client prefixes allowed to recurse.
    pub const ALLOW_V6: &str = "ALLOW_V6";
    /// IPv4 source prefixes whose DNS traffic is dropped.
    pub const DENY_V4: &str = "DENY_V4";
    /// IPv6 source prefixes whose DNS traffic is dropped.
    pub const DENY_V6: &str = "DENY_V6";
    /// Entries in the two deny lists.
    pub const DENY_SIZE: &str = "DENY_SIZE";
    /// IPv4 service (anycast) addresses.
    pub const SERVICE_V4: &str = "SERVICE_V4";
    /// IPv6 service (anycast) addresses.
    pub const SERVICE_V6: &str = "SERVICE_V6";
    /// Rate-limit token buckets ([`crate::Bucket`]).
    pub const RRL: &str = "RRL";
    /// Per-CPU working memory of one packet (the program's alone).
    pub const SCRATCH: &str = "SCRATCH";
    /// The single [`crate::CookieConfig`].
    pub const COOKIES: &str = "COOKIES";
    /// Per-CPU server-cookie hashes the program computed, by their inputs
    /// (the program's alone).
    pub const COOKIE_MEMO: &str = "COOKIE_MEMO";
    /// AF_XDP sockets by slot ([`crate::XSK_QUEUES`] per interface, then
    /// the RX queue): where a hit without room goes.
    pub const XSKS: &str = "XSKS";
    /// Each interface's first slot in [`XSKS`], by ifindex.
    pub const XSK_IFACES: &str = "XSK_IFACES";

    /// Every map userspace opens by name.
    pub const MAPS: [&str; 17] = [
        STATS,
        CONFIG,
        CACHE_A,
        CACHE_B,
        ALLOW_V4,
        ALLOW_V6,
        DENY_V4,
        DENY_V6,
        DENY_SIZE,
        SERVICE_V4,
        SERVICE_V6,
        RRL,
        SCRATCH,
        COOKIES,
        COOKIE_MEMO,
        XSKS,
        XSK_IFACES,
    ];
}

/// The frames the program answers and rewrites, and the AF_XDP threads
/// after it: Ethernet, IP and UDP numbers both read the same way.
pub mod frame {
    /// Ethernet header without VLAN tags.
    pub const ETH_HLEN: usize = 14;
    /// EtherType of IPv4.
    pub const ETH_P_IPV4: u16 = 0x0800;
    /// EtherType of IPv6.
    pub const ETH_P_IPV6: u16 = 0x86dd;
    /// EtherType of an 802.1Q VLAN tag.
    pub const ETH_P_8021Q: u16 = 0x8100;
    /// EtherType of an 802.1ad (QinQ) service tag.
    pub const ETH_P_8021AD: u16 = 0x88a8;
    /// IPv4 header without options.
    pub const IPV4_HLEN: usize = 20;
    /// IPv6 header (no extension headers are followed).
    pub const IPV6_HLEN: usize = 40;
    /// UDP header.
    pub const UDP_HLEN: usize = 8;
    /// IP protocol number of UDP.
    pub const IPPROTO_UDP: u8 = 17;
    /// TTL / hop limit of every answer.
    pub const RESPONSE_TTL: u8 = 64;
}

/// Slots of `XSKS` per interface: RX queues above this have no AF_XDP
/// socket (their hits without room go to the stack, as without AF_XDP).
pub const XSK_QUEUES: u32 = 64;
/// Interfaces with AF_XDP sockets at most.
pub const XSK_INTERFACES: u32 = 16;

/// Bytes of a cached response after the question. Answers above this stay
/// in userspace; 1024 holds every answer of a typical zone without DNSSEC
/// and most with it, while keeping a map entry near 1.3 KiB.
pub const MAX_BODY: usize = 1024;

/// Size of the name buffer in a [`CacheValue`] (a wire name plus one spare byte, keeping alignment).
pub const NAME_BUF: usize = MAX_NAME_LEN + 1;
const _: () = assert!(
    NAME_WORDS * 8 == NAME_BUF,
    "the program compares a stored name word by word"
);
/// Size of [`CacheValue::data`]: room for the longest name and the largest body.
pub const DATA_BUF: usize = NAME_BUF + MAX_BODY;

/// Key of the response maps: the [`QuestionKey`] the program's parser
/// computes (name hash, type, class, [`KEY_EDNS`] | [`KEY_DO`], name
/// length), wrapped so that the `aya::Pod` impl can live here.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey(pub QuestionKey);

impl CacheKey {
    /// The key of a lower-cased wire name's answer to a question of type `qtype`
    /// and class `qclass`, with EDNS `flags` ([`KEY_EDNS`] | [`KEY_DO`]).
    pub fn new(lower: &[u8], qtype: u16, qclass: u16, flags: u8) -> Self {
        CacheKey(QuestionKey {
            name_hash: dns_wire::hash::name_hash(lower),
            qtype,
            qclass,
            flags,
            name_len: lower.len() as u8,
            _pad: [0; 2],
        })
    }
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
    /// large or odd messages, too big for the client, bytes after the IP
    /// packet or the UDP datagram other than Ethernet padding): passed to
    /// the stack and userspace.
    Pass,
    /// Shorter than a DNS header: dropped.
    DropTooShort,
    /// A response (QR=1) aimed at us: dropped.
    DropResponse,
    /// More than one question (QDCOUNT 0 is passed: a query for a server
    /// cookie, or another opcode's): dropped.
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
    /// The packet could not be rewritten (or moved when it grew at the
    /// front), which should not happen: passed. A frame without room to
    /// grow is [`Stat::NoRoom`].
    TxError,
    /// Answered from one of the resolver's entries with `XDP_TX`.
    RecursiveHit,
    /// IPv4 with options, to our port: passed (the stack handles options;
    /// XDP never copies them into an answer).
    PassIpOptions,
    /// IPv4 header checksum wrong: dropped, as the stack drops it.
    DropIpChecksum,
    /// IP or UDP length longer than what carries it (or a UDP length under
    /// 8): dropped, as the stack drops it.
    DropLength,
    /// UDP checksum wrong, or zero over IPv6: dropped, as the stack drops it.
    DropUdpChecksum,
    /// From a source no query comes from: one of our service addresses (or
    /// the destination itself), loopback, multicast, broadcast,
    /// unspecified, IPv4-mapped IPv6: dropped.
    DropMartian,
    /// A query with a valid server cookie of ours, judged by XDP (counted
    /// beside its outcome; such a client is exempt from the rate limit).
    CookieValid,
    /// A query with a server cookie that is not (or no longer) ours,
    /// judged by XDP; it gets a new one.
    CookieInvalid,
    /// A query with a client cookie alone, judged by XDP; it gets its first
    /// server cookie.
    CookieAbsent,
    /// A hit whose answer the frame has no room to grow to (both
    /// `bpf_xdp_adjust_tail` and `bpf_xdp_adjust_head` refused: on veth an
    /// answer more than ~216 bytes longer than its query): passed, and
    /// userspace answers it.
    NoRoom,
    /// A hit without room (see [`Stat::NoRoom`]) redirected to the AF_XDP
    /// socket of its RX queue (`[xdp] af_xdp`), which answers it from the
    /// same responder as the UDP server, bypassing the kernel's stack.
    AfXdp,
}

impl Stat {
    /// Number of counters.
    pub const COUNT: u32 = 23;
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
        Stat::PassIpOptions,
        Stat::DropIpChecksum,
        Stat::DropLength,
        Stat::DropUdpChecksum,
        Stat::DropMartian,
        Stat::CookieValid,
        Stat::CookieInvalid,
        Stat::CookieAbsent,
        Stat::NoRoom,
        Stat::AfXdp,
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
            Stat::PassIpOptions => "pass_ip_options",
            Stat::DropIpChecksum => "drop_ip_checksum",
            Stat::DropLength => "drop_length",
            Stat::DropUdpChecksum => "drop_udp_checksum",
            Stat::DropMartian => "drop_martian",
            Stat::CookieValid => "cookie_valid",
            Stat::CookieInvalid => "cookie_invalid",
            Stat::CookieAbsent => "cookie_absent",
            Stat::NoRoom => "no_room",
            Stat::AfXdp => "af_xdp",
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
    /// One bit per [`service_hint_v4`] or [`service_hint_v6`] of each
    /// address in the service maps: a source whose bit is clear is none of
    /// ours, without a lookup (every query's source is checked: a hash
    /// lookup each cost a hit more than all the other frame checks).
    pub service_hint: [u64; SERVICE_HINT_WORDS],
}

/// Words of [`XdpConfig::service_hint`]: 512 bits, one cache line. With
/// a few service addresses, a source's bit is set by chance a few times in
/// a thousand (then looked up).
pub const SERVICE_HINT_WORDS: usize = 8;

/// The bit of [`XdpConfig::service_hint`] for an IPv4 address, from its
/// octets as a native-order word (as the program loads it): the top nine
/// bits of a multiplicative hash.
#[inline(always)]
pub const fn service_hint_v4(address: u32) -> u32 {
    address.wrapping_mul(0x9e37_79b1) >> 23
}

/// The bit of [`XdpConfig::service_hint`] for an IPv6 address, from its
/// octets as two native-order words (as the program loads them).
#[inline(always)]
pub const fn service_hint_v6(high: u64, low: u64) -> u32 {
    ((high ^ low.rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 55) as u32
}

/// The word of [`XdpConfig::service_hint`] that holds `bit`, and its mask there.
#[inline(always)]
const fn hint_slot(bit: u32) -> (usize, u64) {
    ((bit as usize >> 6) % SERVICE_HINT_WORDS, 1 << (bit & 63))
}

impl XdpConfig {
    /// Whether the address whose hint is `bit` may be a service address
    /// (`false`: certainly not).
    #[inline(always)]
    pub const fn may_serve(&self, bit: u32) -> bool {
        let (word, mask) = hint_slot(bit);
        self.service_hint[word] & mask != 0
    }

    /// Sets the hint of `address`.
    pub fn hint_service(&mut self, address: core::net::IpAddr) {
        let bit = match address {
            core::net::IpAddr::V4(a) => service_hint_v4(u32::from_ne_bytes(a.octets())),
            core::net::IpAddr::V6(a) => {
                let [high, low] = [0, 8].map(|k| {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&a.octets()[k..k + 8]);
                    u64::from_ne_bytes(w)
                });
                service_hint_v6(high, low)
            }
        };
        let (word, mask) = hint_slot(bit);
        self.service_hint[word] |= mask;
    }
}

/// [`CookieConfig::flags`]: the program answers queries with a COOKIE
/// option itself (without it they go to userspace).
pub const COOKIE_ENABLED: u32 = 1;
/// [`CookieConfig::flags`]: [`CookieConfig::previous`] holds the secret of
/// a rollover, still accepted.
pub const COOKIE_PREVIOUS: u32 = 2;
/// [`CookieConfig::flags`]: `require_cookies`: a query without a valid
/// server cookie goes to userspace, which answers BADCOOKIE.
pub const COOKIE_REQUIRE: u32 = 4;

/// DNS cookie settings (RFC 7873, RFC 9018), the single entry of the
/// `COOKIES` array: the secrets userspace uses too, and the time. The
/// default, all zero, is cookies off.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct CookieConfig {
    /// [`COOKIE_ENABLED`] | [`COOKIE_PREVIOUS`] | [`COOKIE_REQUIRE`].
    pub flags: u32,
    /// The Unix time in seconds, what cookies are dated with: written by
    /// userspace at every turn of the wall clock's second (a map read
    /// costs a hit less than the program's clock read and the division
    /// that would turn nanoseconds into seconds).
    pub now: u32,
    /// The secret that makes and checks server cookies.
    pub current: [u8; 16],
    /// The previous secret during a rollover: checks, never makes.
    pub previous: [u8; 16],
}

impl core::fmt::Debug for CookieConfig {
    // The secrets stay out of logs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CookieConfig")
            .field("flags", &self.flags)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
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
    // The layout test checks the sizes and offsets the program relies on.
    // SAFETY: the type is repr(C) and Copy, its padding is explicit fields,
    // and every bit pattern is a valid value (as for each impl below).
    unsafe impl aya::Pod for super::CacheKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::CacheValue {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::XdpConfig {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Bucket {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::CookieConfig {}
}

#[cfg(test)]
mod tests {
    use dns_wire::fast_question::{self, Message};

    use super::*;

    #[test]
    fn service_hints_mark_their_addresses_and_few_others() {
        let mut config = XdpConfig::default();
        let v4 = [[198, 18, 0, 1], [203, 0, 113, 53], [192, 0, 2, 1]];
        let v6 = [
            [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53],
        ];
        // As the program computes them, from the octets loaded as words.
        let bit4 = |a: [u8; 4]| service_hint_v4(u32::from_ne_bytes(a));
        let bit6 = |a: [u8; 16]| {
            let (h, l) = a.split_at(8);
            service_hint_v6(
                u64::from_ne_bytes(h.try_into().unwrap()),
                u64::from_ne_bytes(l.try_into().unwrap()),
            )
        };
        for a in v4 {
            config.hint_service(a.into());
            assert!(config.may_serve(bit4(a)), "{a:?}");
        }
        for a in v6 {
            config.hint_service(a.into());
            assert!(config.may_serve(bit6(a)), "{a:?}");
        }
        // Other sources: a neighbour of each, a /24 of clients, a /64's hosts.
        let mut hits = 0;
        let mut tried = 0;
        for x in 0..=255u8 {
            for a in [[198, 18, 0, x], [10, 1, x, 7], [x, 51, 100, 9]] {
                tried += 1;
                hits += usize::from(!v4.contains(&a) && config.may_serve(bit4(a)));
            }
            let mut a = v6[1];
            a[15] = x;
            a[7] = x;
            tried += 1;
            hits += usize::from(!v6.contains(&a) && config.may_serve(bit6(a)));
        }
        // Five of 512 bits set: about 1% by chance; 3% allows for the hash's luck.
        assert!(
            hits * 100 <= 3 * tried,
            "{hits} of {tried} other sources would be looked up"
        );
    }

    #[test]
    fn layouts_have_no_hidden_padding() {
        assert_eq!(core::mem::size_of::<CacheKey>(), 16);
        assert_eq!(core::mem::size_of::<CacheValue>(), NAME_BUF + 24 + MAX_BODY);
        assert_eq!(core::mem::size_of::<XdpConfig>(), 32 + 8 * SERVICE_HINT_WORDS);
        assert_eq!(core::mem::size_of::<CookieConfig>(), 40);
        for (i, s) in Stat::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i, "Stat::ALL is in index order");
        }
    }

    #[test]
    fn a_stored_name_matches_the_question_it_answers() {
        let www = b"\x03WwW\x07ExAmple\x03com\x00";
        let mut query = [0u8; 12 + 17 + 4];
        query[5] = 1; // QDCOUNT
        query[12..12 + www.len()].copy_from_slice(www);
        query[12 + www.len()..].copy_from_slice(&[0, 1, 0, 1]);
        let mut m = Message::from_bytes(&query);
        let q = fast_question::parse(&mut m, query.len()).expect("answerable");
        let n = q.key.name_len as usize;
        let lower = b"\x03www\x07example\x03com\x00";
        assert_eq!(
            CacheKey(q.key),
            CacheKey::new(lower, 1, 1, 0),
            "userspace computes the program's key"
        );
        let mut stored = CacheValue::zeroed();
        stored.set_name_and_body(lower, &[0xc0, 0x0c, 0, 1]);
        assert!(fast_question::same_name(stored.name_words(), &m, n));
        stored.bytes_mut()[5] = b'x';
        assert!(
            !fast_question::same_name(stored.name_words(), &m, n),
            "one byte differs"
        );
        let mut longer = stored;
        longer.bytes_mut()[n] = 1;
        longer.bytes_mut()[5] = b'e';
        assert!(
            fast_question::same_name(longer.name_words(), &m, n),
            "bytes past the length (the body) are not compared"
        );
    }
}
