//! Hits without room to grow, redirected to userspace's AF_XDP socket of
//! their RX queue (`[xdp] af_xdp`) rather than up the kernel's stack.
//!
//! Our zones' answers and the resolver's entries come here: their frame is
//! as it arrived (a failed resize leaves it so), already checked as the
//! stack would check it. A resolver's entry the cache no longer holds is
//! resolved by the socket's thread, which holds the frame until then.

use aya_ebpf::{bindings::xdp_action, programs::XdpContext};
use xdp_abi::{Stat, XSK_QUEUES};

use crate::{
    maps::{XSK_IFACES, XSKS},
    stats::count,
};

/// `XDP_REDIRECT` into the socket of the frame's interface and RX queue;
/// `None` when no socket is registered there (AF_XDP off, or a queue
/// beyond [`XSK_QUEUES`]).
#[inline(always)]
pub fn redirect(ctx: &XdpContext) -> Option<u32> {
    // SAFETY: `ctx.ctx` is the kernel's xdp_md for this run.
    let (ifindex, queue) = unsafe { ((*ctx.ctx).ingress_ifindex, (*ctx.ctx).rx_queue_index) };
    if queue >= XSK_QUEUES {
        return None;
    }
    let first = XSK_IFACES.get_ptr(ifindex)?;
    // SAFETY: a map value stays valid for the whole program run (RCU).
    let slot = unsafe { *first } + queue;
    // An empty slot makes the helper return the flags' action, XDP_PASS.
    match XSKS.redirect(slot, u64::from(xdp_action::XDP_PASS)) {
        Ok(action) => {
            count(Stat::AfXdp);
            Some(action)
        }
        Err(_) => None,
    }
}
