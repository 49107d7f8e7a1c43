//! Answers from the resolver's cache: only to clients allowed to recurse,
//! only for queries with RD set (userspace refuses the others), and only
//! until each entry's deadline, so a stalled userspace cannot make XDP
//! serve TTLs longer than the records have left.

use aya_ebpf::{helpers::bpf_ktime_get_ns, programs::XdpContext};
use xdp_common::{
    abi::{CONFIG_RECURSION, CacheValue, XdpConfig},
    question::Question,
    wire::FLAG_RD,
};

use crate::{
    filter,
    maps::{ALLOW_V4, ALLOW_V6, RECURSIVE},
    parse::Datagram,
};

/// The resolver's response to `q` for this client, if XDP may send it.
#[inline(always)]
pub fn lookup(ctx: &XdpContext, d: &Datagram, q: &Question, cfg: &XdpConfig) -> Result<Option<*const CacheValue>, ()> {
    if cfg.flags & CONFIG_RECURSION == 0 || q.flags & FLAG_RD == 0 {
        return Ok(None);
    }
    let Some(entry) = RECURSIVE.get_ptr(q.key) else {
        return Ok(None);
    };
    // SAFETY: a map value stays valid for the whole program run (RCU).
    let entry = unsafe { &*entry };
    // SAFETY: no preconditions.
    if unsafe { bpf_ktime_get_ns() } >= entry.expires_ns {
        return Ok(None);
    }
    if !filter::source_in(ctx, d, &ALLOW_V4, &ALLOW_V6)? {
        return Ok(None);
    }
    Ok(Some(&entry.answer))
}
