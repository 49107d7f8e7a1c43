//! The resolver's entries in the response map: only for clients allowed to
//! recurse, only for queries with RD set (userspace refuses the others),
//! and only until each entry's deadline, so a stalled userspace cannot
//! make XDP serve TTLs longer than the records have left.

use aya_ebpf::{helpers::bpf_ktime_get_coarse_ns, programs::XdpContext};
use dns_wire::{fast_question::Question, wire::FLAG_RD};
use xdp_abi::{CONFIG_RECURSION, CacheValue, XdpConfig};

use crate::{
    filter,
    maps::{ALLOW_V4, ALLOW_V6},
    parse::Datagram,
};

/// Whether this client may get `value`, one of the resolver's entries.
#[inline(always)]
pub fn may_answer(
    ctx: &XdpContext,
    d: &Datagram,
    q: &Question,
    cfg: &XdpConfig,
    value: &CacheValue,
) -> Result<bool, ()> {
    if cfg.flags & CONFIG_RECURSION == 0 || q.flags & FLAG_RD == 0 {
        return Ok(false);
    }
    // The clock as of the last tick: the fine one (`bpf_ktime_get_ns`) reads
    // the clock source, ~55 ns on a VM's pvclock; userspace writes each
    // deadline a few ticks early instead.
    // SAFETY: no preconditions.
    if unsafe { bpf_ktime_get_coarse_ns() } >= value.recursive_until_ns {
        return Ok(false);
    }
    filter::source_in(ctx, d, &ALLOW_V4, &ALLOW_V6)
}
