//! The program's maps. Each static's name is its map's name, which userspace
//! opens by the constant in `xdp_abi::names` (dns-server's tests check they agree).

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    macros::map,
    maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, XskMap},
};
use dns_wire::fast_question::{Message, Question, WalkedName};
use xdp_abi::{Bucket, CacheKey, CacheValue, CookieConfig, Stat, XSK_INTERFACES, XSK_QUEUES, XdpConfig};

use crate::parse::Datagram;

/// Default entries per response map; userspace sets the real bound before loading.
const CACHE_ENTRIES: u32 = 65536;

/// Packet counters indexed by [`Stat`], one slot per CPU (no atomics needed).
#[map]
pub static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Stat::COUNT, 0);

/// Settings from userspace (ports, our payload size, the live response map).
/// All zero, as before userspace writes it, means "pass everything".
#[map]
pub static CONFIG: Array<XdpConfig> = Array::with_max_entries(1, 0);

/// Responses of generation A. Not preallocated: memory follows the zones' size.
#[map]
pub static CACHE_A: HashMap<CacheKey, CacheValue> = HashMap::with_max_entries(CACHE_ENTRIES, BPF_F_NO_PREALLOC);

/// Responses of generation B; userspace fills the idle one and flips `CONFIG.active`.
#[map]
pub static CACHE_B: HashMap<CacheKey, CacheValue> = HashMap::with_max_entries(CACHE_ENTRIES, BPF_F_NO_PREALLOC);

/// IPv4 client prefixes allowed to recurse: whom the resolver's entries answer.
#[map]
pub static ALLOW_V4: LpmTrie<[u8; 4], u8> = LpmTrie::with_max_entries(4096, 0);

/// IPv6 client prefixes allowed to recurse.
#[map]
pub static ALLOW_V6: LpmTrie<[u8; 16], u8> = LpmTrie::with_max_entries(4096, 0);

/// Bytes of headers and question kept when a response grows at the front:
/// VLAN tags, IPv4 with options, UDP, DNS header and the longest question fit.
pub const HEAD_BUF: usize = 512;

/// This CPU's working memory for one packet. One map rather than one per
/// use: every map a packet touches costs a cache line for the map's own
/// header besides the value's, and a hit is mostly cache misses.
#[repr(C)]
pub struct Scratch {
    /// Slots each parsing step's result goes through (see `launder` in main.rs).
    pub datagram: Datagram,
    /// See `datagram`.
    pub name: WalkedName,
    /// See `datagram`.
    pub question: Question,
    /// The DNS message copied out of the packet, so parsing works on a fixed-size buffer.
    pub msg: Message,
    /// Headers and question saved while the frame grows at the front (see `respond::resize`).
    pub head: [u8; HEAD_BUF],
    /// The COOKIE option of the answer (see `cookie::judge`).
    pub cookie: crate::cookie::Words,
}

/// The [`Scratch`] of each CPU.
#[map]
pub static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// IPv4 source prefixes whose DNS traffic is dropped (changed at run time).
#[map]
pub static DENY_V4: LpmTrie<[u8; 4], u8> = LpmTrie::with_max_entries(65536, 0);

/// IPv6 source prefixes whose DNS traffic is dropped (changed at run time).
#[map]
pub static DENY_V6: LpmTrie<[u8; 16], u8> = LpmTrie::with_max_entries(65536, 0);

/// Entries in [`DENY_V4`] (index 0) and [`DENY_V6`] (index 1), kept by
/// userspace: an empty list then costs no lookup (a trie lookup is an
/// indirect call, 15-35 ns a packet on the test VM).
#[map]
pub static DENY_SIZE: Array<u32> = Array::with_max_entries(2, 0);

/// IPv4 service (anycast) addresses, used when the service filter is on.
#[map]
pub static SERVICE_V4: HashMap<[u8; 4], u8> = HashMap::with_max_entries(256, 0);

/// IPv6 service (anycast) addresses, used when the service filter is on.
#[map]
pub static SERVICE_V6: HashMap<[u8; 16], u8> = HashMap::with_max_entries(256, 0);

/// Rate-limit token buckets per source /24 (IPv4) or /56 (IPv6); LRU, so a
/// spoofed flood of prefixes evicts old buckets instead of failing.
#[map]
pub static RRL: LruHashMap<[u8; 8], Bucket> = LruHashMap::with_max_entries(65536, 0);

/// DNS cookie secrets and the clock offset; all zero (cookies off: cookie
/// queries go to userspace) until userspace writes it.
#[map]
pub static COOKIES: Array<CookieConfig> = Array::with_max_entries(1, 0);

/// Slots of [`COOKIE_MEMO`] per CPU (a power of two: the slot is masked).
pub const MEMO_SLOTS: u32 = 256;

/// Server-cookie hashes this CPU computed, each by its inputs in full (see
/// `cookie::mac`): a client that keeps presenting its cookie (a resolver
/// does, for the half hour before it is renewed) costs a lookup, not a
/// SipHash. A slot is picked by the client cookie, which RFC 7873 makes
/// random per client; a collision only replaces the slot.
#[map]
pub static COOKIE_MEMO: PerCpuArray<crate::cookie::Memo> = PerCpuArray::with_max_entries(MEMO_SLOTS, 0);

/// AF_XDP sockets of userspace (`[xdp] af_xdp`), [`XSK_QUEUES`] slots per
/// interface: a hit without room to grow is redirected to its RX queue's.
#[map]
pub static XSKS: XskMap = XskMap::with_max_entries(XSK_QUEUES * XSK_INTERFACES, 0);

/// Each interface's first slot in [`XSKS`], by ifindex: the program is
/// attached to several interfaces, whose RX queues share numbers.
#[map]
pub static XSK_IFACES: HashMap<u32, u32> = HashMap::with_max_entries(XSK_INTERFACES, 0);
