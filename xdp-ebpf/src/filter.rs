//! Drops before any DNS parsing: reflection source ports and the deny lists;
//! and the source prefix lookup the deny and allow lists share.

use aya_ebpf::{
    maps::{LpmTrie, lpm_trie::Key},
    programs::XdpContext,
};
use xdp_abi::Stat;

use crate::{
    maps::{DENY_SIZE, DENY_V4, DENY_V6},
    parse::{Datagram, ptr_at},
};

/// Source ports of UDP services abused for reflection/amplification
/// (echo, qotd, chargen, NTP, NetBIOS, SNMP, CLDAP, SSDP, WS-Discovery,
/// memcached). No resolver sends queries from them. Port 53 is not here:
/// some resolvers still query from it.
const REFLECTION_PORTS: [u16; 10] = [7, 17, 19, 123, 137, 161, 389, 1900, 3702, 11211];

/// Why the packet must be dropped, if it must.
#[inline(always)]
pub fn check(ctx: &XdpContext, d: &Datagram) -> Result<Option<Stat>, ()> {
    if d.src_port == 0 || REFLECTION_PORTS.contains(&d.src_port) {
        return Ok(Some(Stat::DropReflectionPort));
    }
    let family = u32::from(d.v6);
    if DENY_SIZE.get(family).is_none_or(|n| *n == 0) {
        return Ok(None);
    }
    let denied = source_in(ctx, d, &DENY_V4, &DENY_V6)?;
    Ok(denied.then_some(Stat::DropDenied))
}

/// Whether the packet's source address is in `v4` or `v6` (by its family).
#[inline(always)]
pub fn source_in(
    ctx: &XdpContext,
    d: &Datagram,
    v4: &LpmTrie<[u8; 4], u8>,
    v6: &LpmTrie<[u8; 16], u8>,
) -> Result<bool, ()> {
    Ok(if d.v6 {
        let src = ptr_at::<[u8; 16]>(ctx, d.l3 + 8)?;
        // SAFETY: ptr_at checked the 16 bytes.
        v6.get(Key::new(128, unsafe { *src })).is_some()
    } else {
        let src = ptr_at::<[u8; 4]>(ctx, d.l3 + 12)?;
        // SAFETY: ptr_at checked the 4 bytes.
        v4.get(Key::new(32, unsafe { *src })).is_some()
    })
}
